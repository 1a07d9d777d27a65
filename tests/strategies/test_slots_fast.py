"""The fast ``build_window`` and ``realise`` return exactly what the frozen reference returns.

The oracle is ``tests/strategies/_slots_reference.py``, a copy of both functions before the fast
paths. "Exactly" means field by field: floats bit for bit (``float.hex``), datetimes with their
tzinfo, PlanSlots by equality and the plan's cost and energy bit for bit.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smartcharge.domain import PriceCurve, PriceSlot
from strategies import _slots as fast
from strategies.base import Plan, PlanRequest, PlanSlot
from tests.strategies import _slots_reference as reference

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
ZONE_UTC = ZoneInfo("UTC")
#: Local midnights around both DST changes of 2025, and an ordinary day.
DAYS = [
    datetime(2025, 3, 29, tzinfo=AMSTERDAM).astimezone(UTC),
    datetime(2025, 3, 30, 1, tzinfo=AMSTERDAM).astimezone(UTC),
    datetime(2025, 10, 25, 12, tzinfo=AMSTERDAM).astimezone(UTC),
    datetime(2025, 10, 26, tzinfo=AMSTERDAM).astimezone(UTC),
    datetime(2025, 6, 1, tzinfo=AMSTERDAM).astimezone(UTC),
]
H0 = timedelta(0)
FIELDS = [f.name for f in dataclasses.fields(reference.Window)]
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def canon(value: Any) -> Any:
    """Return ``value`` with every float as its hex and every datetime with its tzinfo."""
    if isinstance(value, float):
        return ("float", value.hex())
    if isinstance(value, datetime):
        return ("datetime", value, value.tzinfo, value.fold)
    if isinstance(value, tuple | list):
        return (type(value).__name__, [canon(v) for v in value])
    return (type(value).__name__, value)


def window_fields(window: reference.Window | fast.Window) -> list[Any]:
    return [canon(getattr(window, name)) for name in FIELDS]


def plan_fields(plan: Plan) -> list[Any]:
    slots = [
        canon((s.start, s.end, s.current_a, s.energy_kwh, s.price_eur_per_kwh)) for s in plan.slots
    ]
    return [plan.strategy, slots, canon(plan.cost_eur), canon(plan.energy_kwh), plan.is_reachable]


price = st.one_of(
    st.floats(-0.2, 0.6, allow_nan=False),
    st.sampled_from([0.1, 0.25, 0.0, -0.0, 2.5]),  # plateaus (merged neighbours), spikes
)


@st.composite
def curves(draw: st.DrawFn, begin: datetime, step_minutes: int) -> PriceCurve:
    """Return a curve from ``begin``: 15/60-minute slots, sometimes odd lengths and gaps."""
    minutes = draw(st.sampled_from([step_minutes, step_minutes, 15, 30, 60]))
    n = draw(st.one_of(st.integers(0, 6), st.integers(8, 60 if minutes == 15 else 20)))
    irregular = draw(st.sampled_from([False, False, True]))
    gappy = draw(st.sampled_from([False, False, True]))
    tz = draw(st.sampled_from([UTC, UTC, ZONE_UTC]))
    at = begin.astimezone(tz)
    slots = []
    for _ in range(n):
        length = timedelta(minutes=minutes)
        if irregular and draw(st.integers(0, 5)) == 0:
            length = draw(
                st.sampled_from(
                    [
                        timedelta(minutes=m)
                        for m in (5, 10, 15, 20, 29, 30, 45, 60, 90, 120, 7.5, 0.0001)
                    ]
                )
            )
        if gappy and draw(st.integers(0, 4)) == 0:
            at += timedelta(minutes=draw(st.sampled_from([15, 60, 7, 0.5])))
        p = draw(price)
        slots.append(PriceSlot(at, at + length, p * 1000, p))
        at += length
    return PriceCurve(slots)


@st.composite
def requests(draw: st.DrawFn) -> PlanRequest:
    day = draw(st.sampled_from(DAYS))
    # The curve's first instant: on the hour, or a few seconds or microseconds off it.
    shift = draw(st.sampled_from([0, 0, 0, 1_000_000, 123_456, 1]))
    begin = day + timedelta(microseconds=shift)
    step_minutes = draw(st.sampled_from([15, 15, 60]))
    curve = draw(curves(begin, step_minutes))
    # ``now``: on a slot boundary, on a whole second, or anywhere to the microsecond.
    kind = draw(st.sampled_from(["boundary", "second", "micro"]))
    if kind == "boundary":
        now = begin + timedelta(minutes=15 * draw(st.integers(-4, 20)))
    elif kind == "second":
        now = begin + timedelta(seconds=draw(st.integers(-3600, 6 * 3600)))
    else:
        now = begin + timedelta(microseconds=draw(st.integers(-3600 * 10**6, 6 * 3600 * 10**6)))
    now = now.astimezone(draw(st.sampled_from([UTC, UTC, ZONE_UTC])))
    margin = timedelta(minutes=draw(st.sampled_from([0, 30, 45])))
    minutes = st.one_of(st.integers(-60, 40 * 60), st.sampled_from([90, 600, 1440, 2400, 2880]))
    ahead = timedelta(minutes=draw(minutes))
    if draw(st.booleans()):
        ahead += timedelta(microseconds=draw(st.integers(-(10**8), 10**8)))
    ready_by = now + margin + ahead
    max_a = draw(st.integers(6, 32))
    return PlanRequest(
        now=now,
        ready_by=ready_by,
        energy_needed_kwh=10.0,
        prices=curve,
        min_current_a=draw(st.integers(6, max_a)),
        max_current_a=max_a,
        phases=draw(st.sampled_from([1, 3])),
        voltage_v=230.0,
        measured_power_kw=draw(st.one_of(st.none(), st.floats(0.5, 25), st.just(0.0))),
        max_interruptions=3,
        deadline_margin=margin,
        slot_minutes=step_minutes,
    )


@st.composite
def realisations(draw: st.DrawFn) -> tuple[PlanRequest, list[float], list[tuple[int, int]] | None]:
    """Return a request with energies per planner slot and the blocks they were planned in."""
    request = draw(requests())
    window = reference.build_window(request)
    energies: list[float] = []
    for cap, lo in zip(window.caps, window.los, strict=True):
        kind = draw(st.sampled_from(["paused", "paused", "full", "part", "lo", "tiny", "edge"]))
        if kind == "paused":
            energies.append(0.0)
        elif kind == "full":
            energies.append(cap)
        elif kind == "part":
            energies.append(cap * draw(st.floats(0.01, 0.99)))
        elif kind == "lo":
            energies.append(lo)
        elif kind == "tiny":
            energies.append(draw(st.sampled_from([1e-12, fast.TOL_KWH, 2e-9])))
        else:
            energies.append(max(cap - draw(st.sampled_from([1e-10, 1e-9, 1e-8])), 0.0))
    how = draw(st.sampled_from(["runs", "none", "random"]))
    blocks: list[tuple[int, int]] | None
    if how == "runs":
        blocks = reference.runs(energies)
    elif how == "none":
        blocks = None
    else:
        # Disjoint blocks in order, not necessarily matching the charged slots.
        last = len(energies) - 1
        cuts = sorted(draw(st.sets(st.integers(0, last), max_size=8))) if last >= 0 else []
        blocks = [(a, b) for a, b in zip(cuts[::2], cuts[1::2], strict=False)]
        if len(cuts) % 2:
            blocks.append((cuts[-1], cuts[-1]))
    return request, energies, blocks


@SETTINGS
@given(request=requests())
def test_build_window_matches_the_reference(request: PlanRequest) -> None:
    assert window_fields(fast.build_window(request)) == window_fields(
        reference.build_window(request)
    )


@SETTINGS
@given(case=realisations())
def test_realise_matches_the_reference(
    case: tuple[PlanRequest, list[float], list[tuple[int, int]] | None],
) -> None:
    request, energies, blocks = case
    old = reference.realise(
        reference.build_window(request), "cheapest", energies, blocks, is_reachable=True
    )
    new = fast.realise(fast.build_window(request), "cheapest", energies, blocks, is_reachable=True)
    assert new == old
    assert plan_fields(new) == plan_fields(old)
    assert all(type(s) is PlanSlot for s in new.slots)
    assert [hash(s) for s in new.slots] == [hash(s) for s in old.slots]


def regular_request(now: datetime, slots: int = 192, minutes: int = 15) -> PlanRequest:
    start = datetime(2025, 10, 25, 22, tzinfo=UTC)
    curve = PriceCurve(
        PriceSlot(
            start + timedelta(minutes=minutes * i),
            start + timedelta(minutes=minutes * (i + 1)),
            float(i % 17),
            0.1 + 0.01 * (i % 17),
        )
        for i in range(slots)
    )
    return PlanRequest(
        now=now,
        ready_by=now + timedelta(hours=48),
        energy_needed_kwh=20.0,
        prices=curve,
        deadline_margin=timedelta(0),
    )


def test_a_regular_curve_takes_the_contiguous_path() -> None:
    """48 h of quarter-hours across the autumn DST change: no general cut, same window."""
    start = datetime(2025, 10, 25, 22, tzinfo=UTC)
    for now in (start, start + timedelta(minutes=7, seconds=3, microseconds=17)):
        request = regular_request(now)
        width = (request.deadline - now).total_seconds()
        assert fast._contiguous_grid(request, width, 900.0) is not None
        assert window_fields(fast.build_window(request)) == window_fields(
            reference.build_window(request)
        )


def test_a_curve_ending_early_leaves_unknown_slots_on_the_grid() -> None:
    """Prices for 30 h of a 48 h window: the rest is unknown, cut on the UTC quarter-hours."""
    start = datetime(2025, 10, 25, 22, tzinfo=UTC)
    request = regular_request(start + timedelta(seconds=100), slots=120)
    window = fast.build_window(request)
    assert window.prices[-1] is None
    assert window_fields(window) == window_fields(reference.build_window(request))


def test_made_plan_slots_are_ordinary_frozen_plan_slots() -> None:
    """The bulk-built slots are PlanSlots like any other: equal, hashable, immutable."""
    start = datetime(2025, 10, 25, 22, tzinfo=UTC)
    slot = fast._plan_slot(start, start + timedelta(minutes=15), 16.0, 2.76, 0.25)
    assert type(slot) is PlanSlot
    assert slot == PlanSlot(start, start + timedelta(minutes=15), 16.0, 2.76, 0.25)
    assert hash(slot) == hash(PlanSlot(start, start + timedelta(minutes=15), 16.0, 2.76, 0.25))
    with pytest.raises(dataclasses.FrozenInstanceError):
        slot.current_a = 0.0  # type: ignore[misc]


def test_a_gap_falls_back_to_the_general_cut() -> None:
    start = datetime(2025, 10, 25, 22, tzinfo=UTC)
    request = regular_request(start)
    curve = PriceCurve(s for i, s in enumerate(request.prices.slots) if i != 50)
    request = dataclasses.replace(request, prices=curve)
    assert fast._contiguous_grid(request, 172800.0, 900.0) is None
    window = fast.build_window(request)
    assert None in window.prices
    assert window_fields(window) == window_fields(reference.build_window(request))


def test_price_slots_of_two_steps_are_cut_like_the_reference() -> None:
    """A quarter-hour, then half-hours at a 15-minute step: the half-hours are cut in two."""
    start = datetime(2025, 10, 25, 22, tzinfo=UTC)
    bounds = [start, start + timedelta(minutes=15)]
    bounds += [bounds[-1] + timedelta(minutes=30 * k) for k in range(1, 9)]
    curve = PriceCurve(
        PriceSlot(a, b, 100.0 + i, 0.1 + 0.01 * i)
        for i, (a, b) in enumerate(zip(bounds, bounds[1:], strict=False))
    )
    request = PlanRequest(
        now=start, ready_by=bounds[-1], energy_needed_kwh=5.0, prices=curve, deadline_margin=H0
    )
    assert fast._contiguous_grid(request, 4.25 * 3600, 900.0) is None
    window = fast.build_window(request)
    assert len(window.hours) == 17
    assert window_fields(window) == window_fields(reference.build_window(request))
