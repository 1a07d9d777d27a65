"""ledger: a finished session's entry, and the sessions file."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from smartcharge.domain import PriceCurve, PriceSlot
from smartcharge.ledger import Ledger, finish_session, totals
from smartcharge.session.model import SessionState, SlotEnergy
from smartcharge.simulator.clock import SimulatedClock

T0 = datetime(2025, 1, 15, 17, 0, tzinfo=UTC)
Q = timedelta(minutes=15)


def curve(prices: list[float], minutes: int = 15) -> PriceCurve:
    step = timedelta(minutes=minutes)
    return PriceCurve(
        PriceSlot(T0 + i * step, T0 + (i + 1) * step, p * 1000, p) for i, p in enumerate(prices)
    )


def session(slots: list[SlotEnergy], met_at: datetime | None) -> SessionState:
    return SessionState(
        session_id=T0.isoformat(),
        plugged_in_at=T0,
        ready_by=T0 + timedelta(hours=2),
        target_kwh=5.5,
        delivered_kwh=sum(s.energy_kwh for s in slots),
        slot_energy=tuple(slots),
        target_met_at=met_at,
    )


def test_finished_session_cost_is_energy_times_slot_price():
    """The entry's cost sums energy times all-in price; the saving compares with immediate."""
    prices = curve([0.4, 0.3, 0.1, 0.1])
    slots = [
        SlotEnergy(T0 + 2 * Q, T0 + 3 * Q, 2.75, 0.1),
        SlotEnergy(T0 + 3 * Q, T0 + 4 * Q, 2.75, 0.1),
    ]

    entry = finish_session(session(slots, T0 + 4 * Q), T0 + timedelta(hours=3), prices, 11.0)

    assert pytest.approx(0.55) == entry.cost_eur
    assert pytest.approx(1.925) == entry.immediate_cost_eur
    assert pytest.approx(1.375) == entry.saving_eur
    assert entry.target_met


def test_target_met_after_the_deadline_is_not_met():
    """Meeting the need after ready_by does not count."""
    entry = finish_session(
        session([], T0 + timedelta(hours=2, minutes=1)), T0 + timedelta(hours=3), curve([0.1]), 11.0
    )

    assert not entry.target_met


def test_ledger_keeps_one_entry_per_session_and_sums(tmp_path):
    """Recording the same session twice keeps one; totals add up; entries survive reloading."""
    clock = SimulatedClock(T0)
    prices = curve([0.4, 0.3, 0.1, 0.1])
    slots = [SlotEnergy(T0 + 2 * Q, T0 + 3 * Q, 2.75, 0.1)]
    first = finish_session(session(slots, None), T0 + timedelta(hours=3), prices, 11.0)
    ledger = Ledger(tmp_path, clock)

    ledger.record(first)
    ledger.record(first)
    entries = Ledger(tmp_path, clock).entries()
    sums = totals(entries)

    assert [first] == entries
    assert 1 == sums.sessions
    assert pytest.approx(0.275) == sums.cost_eur
    assert 0 == sums.targets_met
