"""The price model: validation, lookup, splitting, merging."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from smartcharge.domain import ChargerStatus, PriceCurve, PriceSlot, utc


def _slot(hour: int, minutes: int = 60, spot: float = 100.0, day: int = 2) -> PriceSlot:
    start = utc(2024, 9, day, hour)
    return PriceSlot(start, start + timedelta(minutes=minutes), spot, spot / 1000 + 0.1, "entsoe")


def test_slot_rejects_naive_non_utc_and_empty_intervals():
    """A slot must be UTC and end after it starts."""
    with pytest.raises(ValueError, match="UTC"):
        PriceSlot(datetime(2024, 1, 1), datetime(2024, 1, 1, 1), 1.0, 0.1)
    cet = timezone(timedelta(hours=1))
    with pytest.raises(ValueError, match="UTC"):
        PriceSlot(datetime(2024, 1, 1, tzinfo=cet), datetime(2024, 1, 1, 1, tzinfo=cet), 1.0, 0.1)
    with pytest.raises(ValueError, match="before it starts"):
        PriceSlot(utc(2024, 1, 1, 1), utc(2024, 1, 1, 1), 1.0, 0.1)


def test_curve_sorts_and_rejects_overlaps():
    """Slots are kept in order; overlapping slots are refused."""
    curve = PriceCurve([_slot(3), _slot(1), _slot(2)])

    assert [1, 2, 3] == [s.start.hour for s in curve]
    with pytest.raises(ValueError, match="overlap"):
        PriceCurve([_slot(1), _slot(1, minutes=15)])


def test_price_at_and_known_until_with_gap():
    """The price at an instant is found; gaps and the end are unknown."""
    curve = PriceCurve([_slot(0, spot=50), _slot(1, spot=60), _slot(3, spot=80)])

    assert pytest.approx(0.16) == curve.price_at(utc(2024, 9, 2, 1, 59))
    assert curve.price_at(utc(2024, 9, 2, 2, 30)) is None
    assert curve.price_at(utc(2024, 9, 2, 4)) is None
    assert utc(2024, 9, 2, 4) == curve.known_until
    assert utc(2024, 9, 2, 2) == curve.known_until_from(utc(2024, 9, 2, 0, 10))
    assert utc(2024, 9, 2, 2, 30) == curve.known_until_from(utc(2024, 9, 2, 2, 30))


def test_split_turns_an_hour_into_four_quarters_of_the_same_price():
    """A 60-minute price becomes four 15-minute slots; quarter slots stay as they are."""
    quarter = PriceSlot(utc(2024, 9, 2, 1), utc(2024, 9, 2, 1, 15), 70.0, 0.2)
    curve = PriceCurve([_slot(0, spot=42.0), quarter]).split(15)

    assert 5 == len(curve)
    assert [utc(2024, 9, 2, 0, m) for m in (0, 15, 30, 45)] == [s.start for s in curve.slots[:4]]
    assert {42.0} == {s.spot_eur_per_mwh for s in curve.slots[:4]}
    assert quarter == curve.slots[4]


def test_between_and_merged():
    """between() returns overlapping slots; merged() lets newer slots replace older ones."""
    old = PriceCurve([_slot(0, spot=1), _slot(1, spot=2), _slot(2, spot=3)])
    newer = [_slot(1, spot=99)]

    merged = old.merged(newer)

    assert [1.0, 99.0, 3.0] == [s.spot_eur_per_mwh for s in merged]
    assert [utc(2024, 9, 2, 1)] == [
        s.start for s in old.between(utc(2024, 9, 2, 1), utc(2024, 9, 2, 2))
    ]


def test_status_groups_know_whether_a_car_is_connected():
    """Car presence and pausability follow wallbox-api.md §5."""
    assert ChargerStatus.PAUSED.is_car_connected
    assert ChargerStatus.CHARGING.can_pause_or_resume
    assert not ChargerStatus.READY.is_car_connected
    assert not ChargerStatus.LOCKED_CAR_CONNECTED.can_pause_or_resume
    assert not ChargerStatus.UNKNOWN.is_car_connected
    assert UTC == utc(2024, 1, 1).tzinfo
