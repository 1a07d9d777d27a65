"""ledger: energy attributed to price slots, costs, and the sessions file."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from smartcharge.domain import PriceCurve, PriceSlot
from smartcharge.ledger import (
    Ledger,
    attribute_energy,
    finish_session,
    immediate_cost,
    merge_slot_energy,
    slot_cost_eur,
    totals,
)
from smartcharge.simulator.clock import SimulatedClock
from smartcharge.state import SessionState, SlotEnergy

T0 = datetime(2025, 1, 15, 17, 0, tzinfo=UTC)
Q = timedelta(minutes=15)


def curve(prices: list[float], minutes: int = 15) -> PriceCurve:
    step = timedelta(minutes=minutes)
    return PriceCurve(
        PriceSlot(T0 + i * step, T0 + (i + 1) * step, p * 1000, p) for i, p in enumerate(prices)
    )


def test_energy_within_one_slot_goes_to_that_slot():
    """A delta between two readings in the same slot is all that slot's."""
    out = attribute_energy(
        T0 + timedelta(minutes=1), T0 + timedelta(minutes=14), 2.0, curve([0.3, 0.1])
    )

    assert [SlotEnergy(T0, T0 + Q, 2.0, 0.3)] == out


def test_energy_across_a_boundary_is_split_by_time():
    """A delta spanning two slots is split in proportion to the time in each."""
    out = attribute_energy(
        T0 + timedelta(minutes=10), T0 + timedelta(minutes=20), 1.0, curve([0.3, 0.1])
    )

    assert [0.5, 0.5] == [pytest.approx(s.energy_kwh) for s in out]
    assert [0.3, 0.1] == [s.price_eur_per_kwh for s in out]


def test_hourly_prices_are_recorded_per_quarter_hour():
    """An hour-long price slot gives quarter-hour rows at that price."""
    out = attribute_energy(
        T0 + timedelta(minutes=10), T0 + timedelta(minutes=20), 1.0, curve([0.2], 60)
    )

    assert [T0, T0 + Q] == [s.start for s in out]
    assert [0.2, 0.2] == [s.price_eur_per_kwh for s in out]


def test_energy_without_a_price_is_kept_unpriced():
    """Energy where no price is known is recorded with price None and excluded from the cost."""
    out = attribute_energy(
        T0 + timedelta(minutes=25), T0 + timedelta(minutes=35), 1.0, curve([0.3, 0.1])
    )
    cost, unpriced = slot_cost_eur(out)

    assert [0.1, None] == [s.price_eur_per_kwh for s in out]
    assert pytest.approx(0.05) == cost
    assert pytest.approx(0.5) == unpriced


def test_merge_adds_energy_of_the_same_slot():
    """Readings within one slot add up in one row."""
    a = [SlotEnergy(T0, T0 + Q, 1.0, 0.3)]
    b = [SlotEnergy(T0, T0 + Q, 0.5, 0.3), SlotEnergy(T0 + Q, T0 + 2 * Q, 0.25, 0.1)]

    merged = merge_slot_energy(a, b)

    assert [1.5, 0.25] == [s.energy_kwh for s in merged]


def test_immediate_cost_charges_from_plug_in_at_full_power():
    """11 kW from plug-in for 5.5 kWh covers the first two quarter hours at their prices."""
    cost = immediate_cost(T0, 5.5, 11.0, curve([0.4, 0.3, 0.1]))

    assert pytest.approx(2.75 * 0.4 + 2.75 * 0.3) == cost


def test_immediate_cost_is_unknown_without_prices():
    """When the immediate stretch has no known price, the comparison is unknown."""
    assert immediate_cost(T0, 20.0, 11.0, curve([0.4])) is None


def session(slots: list[SlotEnergy], met_at: datetime | None) -> SessionState:
    return SessionState(
        session_id=T0.isoformat(),
        plugged_in_at=T0,
        ready_by=T0 + timedelta(hours=2),
        target_kwh=5.5,
        delivered_kwh=sum(s.energy_kwh for s in slots),
        slot_energy=slots,
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
