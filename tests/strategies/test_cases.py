"""Hand-written planning cases, table-driven like evcc's planner_test.go."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from strategies import get_strategy
from strategies.base import Plan, PlanRequest
from tests.strategies.helpers import check_guarantees, rates

T0 = datetime(2025, 1, 15, 0, 0, tzinfo=UTC)
H = timedelta(hours=1)
KW = 16 * 3 * 230 / 1000  # 11.04 kW at 16 A, 3 phases


def request(
    prices: list[float | None],
    energy_kwh: float,
    *,
    now: datetime = T0,
    hours: float | None = None,
    margin_min: int = 0,
    blocks: int = 3,
    measured_kw: float | None = None,
    start: datetime = T0,
    slot: timedelta = H,
) -> PlanRequest:
    ready = start + (len(prices) * slot if hours is None else timedelta(hours=hours))
    return PlanRequest(
        now=now,
        ready_by=ready,
        energy_needed_kwh=energy_kwh,
        prices=rates(prices, start, slot),
        measured_power_kw=measured_kw,
        max_interruptions=blocks,
        deadline_margin=timedelta(minutes=margin_min),
    )


def charging_hours(plan: Plan) -> list[tuple[float, float]]:
    """Return the charging stretches as (start, end) hours after T0, merged."""
    out: list[tuple[float, float]] = []
    for s in plan.slots:
        if not s.is_charging:
            continue
        a = (s.start - T0) / H
        b = (s.end - T0) / H
        if out and abs(out[-1][1] - a) < 1e-9:
            out[-1] = (out[-1][0], b)
        else:
            out.append((a, b))
    return [(round(a, 4), round(b, 4)) for a, b in out]


@dataclass(frozen=True)
class Case:
    name: str
    req: PlanRequest
    expected: list[tuple[float, float]]
    reachable: bool = True


CASES = [
    Case("plan 0-0-60-0-0-0 (one hour needed)", request([0, 0, 0.6, 0, 0, 0], KW), [(0, 1)]),
    Case("plan 9-9-1-9-9-9", request([0.9, 0.9, 0.1, 0.9, 0.9, 0.9], KW), [(2, 3)]),
    Case(
        "plan 2-2-2-2-2-2 all equal: earliest, one block", request([0.2] * 6, 2.5 * KW), [(0, 2.5)]
    ),
    Case(
        "plan 3-1-3-1-3-1 negative: the three cheapest hours",
        request([0.3, -0.1, 0.3, -0.2, 0.3, -0.05], 3 * KW),
        [(1, 2), (3, 4), (5, 6)],
    ),
    Case(
        "plan 3-1-3-1-3-1 one block: dear hours bridged at 6 A, the rest at the end",
        request([0.3, -0.1, 0.3, -0.2, 0.3, -0.05], 3 * KW, blocks=1),
        [(1, 5.25)],
    ),
    Case("plan 5-4-3-2-1 half an hour", request([0.5, 0.4, 0.3, 0.2, 0.1], 0.5 * KW), [(4, 4.5)]),
    Case(
        "plan 1-1-9-1 margin: the last hour is after the deadline",
        request([0.1, 0.1, 0.9, 0.05], 2 * KW, margin_min=60),
        [(0, 2)],
    ),
    Case(
        "deadline already past",
        request([0.1, 0.2], 5.0, now=T0 + 3 * H),
        [],
        reachable=False,
    ),
    Case("target zero", request([0.1, 0.2, 0.3], 0.0), []),
    Case(
        "target unreachable: full power from now",
        request([0.3, 0.1, 0.2], 4 * KW),
        [(0, 3)],
        reachable=False,
    ),
    Case(
        "now in the middle of a slot",
        request([0.1, 0.5, 0.5, 0.2], KW, now=T0 + timedelta(minutes=30)),
        [(0.5, 1), (3, 3.5)],
    ),
    Case(
        "measured power lower than max: twice as long",
        request([0.5, 0.1, 0.1, 0.5], KW, measured_kw=KW / 2),
        [(1, 3)],
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_cheapest_cases(case: Case) -> None:
    """The plan charges exactly in the expected stretches."""
    plan = get_strategy("cheapest").plan(case.req)

    assert case.expected == charging_hours(plan)
    assert case.reachable == plan.is_reachable
    check_guarantees(plan, case.req)


def test_prices_ending_before_the_deadline_leave_the_rest_to_unknown_time() -> None:
    """Known 0-2 h, unknown 2-6 h: the unknown time carries what it can; none bought now."""
    req = request([0.3, 0.3], 3 * KW, hours=6)

    plan = get_strategy("cheapest").plan(req)

    assert [(2.0, 5.0)] == charging_hours(plan)
    assert 0.0 == plan.cost_eur
    assert all(s.price_eur_per_kwh is None for s in plan.slots if s.is_charging)
    check_guarantees(plan, req)


def test_unknown_time_too_short_buys_only_the_remainder() -> None:
    """Unknown 4-6 h carries 2 h at full power; the known hours buy only the third hour."""
    req = request([0.3, 0.1, 0.4, 0.2], 3 * KW, hours=6)

    plan = get_strategy("cheapest").plan(req)

    assert pytest.approx(0.1 * KW) == plan.cost_eur
    assert [(1.0, 2.0), (4.0, 6.0)] == charging_hours(plan)
    check_guarantees(plan, req)


def test_a_gap_in_the_prices_is_unknown_time() -> None:
    """A missing hour in the middle counts as unknown, planned first, priced None."""
    req = request([0.3, None, 0.1, 0.2], KW)

    plan = get_strategy("cheapest").plan(req)

    assert [(1.0, 2.0)] == charging_hours(plan)
    assert 0.0 == plan.cost_eur


def test_partial_edge_slots_and_a_reduced_interior_slot() -> None:
    """A dear slot bridged inside one block runs the whole slot at a current >= the minimum."""
    req = request([0.1, 0.9, 0.1], 2.2 * KW, blocks=1)

    plan = get_strategy("cheapest").plan(req)

    middle = [s for s in plan.slots if s.start == T0 + H]
    assert 1 == len(middle)
    assert 6.0 <= middle[0].current_a < 16.0
    assert 1 == plan.blocks
    check_guarantees(plan, req)


@pytest.mark.parametrize(
    ("day", "hours"), [(datetime(2025, 3, 30), 23), (datetime(2025, 10, 26), 25)]
)
@pytest.mark.parametrize("name", ["cheapest", "contiguous", "threshold", "immediate"])
def test_dst_nights(day: datetime, hours: int, name: str) -> None:
    """A local day of 23 or 25 hours, built from UTC slots, plans like any other."""
    tz = ZoneInfo("Europe/Amsterdam")
    start = day.replace(tzinfo=tz).astimezone(UTC)
    end = (day + timedelta(days=1)).replace(tzinfo=tz).astimezone(UTC)
    assert hours == (end - start) / H
    prices: list[float | None] = [0.3 - 0.01 * (i % 7) for i in range(hours)]
    req = PlanRequest(
        now=start,
        ready_by=end,
        energy_needed_kwh=3.5 * KW,
        prices=rates(prices, start, H),
        max_interruptions=2,
    )

    plan = get_strategy(name, max_price="p30").plan(req)

    check_guarantees(plan, req)
    assert plan.slots[-1].end == end - timedelta(minutes=30)


def test_contiguous_takes_the_cheapest_window_of_the_needed_length() -> None:
    """plan 5-1-1-5-2-1 for 2 h: the window 1-3 h at full power."""
    req = request([0.5, 0.1, 0.1, 0.5, 0.2, 0.1], 2 * KW)

    plan = get_strategy("contiguous").plan(req)

    assert [(1, 3)] == charging_hours(plan)
    assert all(s.current_a == 16 for s in plan.slots if s.is_charging)


def test_contiguous_may_start_inside_a_slot() -> None:
    """1.5 h between a dear and a cheap hour: the window ends on the cheap hour's end."""
    req = request([0.9, 0.5, 0.1, 0.9], 1.5 * KW)

    plan = get_strategy("contiguous").plan(req)

    assert [(1.5, 3.0)] == charging_hours(plan)


def test_immediate_charges_from_now() -> None:
    """Full power from now until the target, whatever the prices."""
    req = request([0.9, 0.1, 0.1], 1.25 * KW, now=T0 + timedelta(minutes=15))

    plan = get_strategy("immediate").plan(req)

    assert [(0.25, 1.5)] == charging_hours(plan)
