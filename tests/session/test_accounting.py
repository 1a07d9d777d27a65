"""session.accounting: energy attributed to price slots, and what it costs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from smartcharge.domain import PriceCurve, PriceSlot
from smartcharge.session.accounting import (
    attribute_energy,
    immediate_cost,
    merge_slot_energy,
    slot_cost_eur,
)
from smartcharge.session.model import SlotEnergy

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

    assert (SlotEnergy(T0, T0 + Q, 2.0, 0.3),) == out


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
