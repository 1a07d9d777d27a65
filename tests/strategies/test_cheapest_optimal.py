"""``cheapest`` is the exact optimum: it matches HiGHS (LP or MILP) within 1e-6 EUR.

The prices are random but fully known over the window: negative prices, plateaus (repeated
values, where ties decide) and spikes, on 15- and 60-minute slots. The plan is re-costed here
from its currents and durations at the curve's prices, so a plan whose own ``cost_eur`` were
right but whose slots were not would still fail.
"""

from __future__ import annotations

import math
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smartcharge.domain import PriceCurve, PriceSlot, utc
from smartcharge.tools.optimum import OptimumMethod, optimal_cost, planner_slots
from strategies.base import PlanRequest
from tests.strategies.helpers import check_against_the_optimum as check

T0 = utc(2025, 3, 1, 17)


@st.composite
def price_lists(draw: st.DrawFn, size: int) -> list[float]:
    """Prices with plateaus, negative stretches and spikes (all-in EUR/kWh)."""
    levels = draw(
        st.lists(
            st.sampled_from([-0.30, -0.02, 0.0, 0.05, 0.11, 0.18, 0.18, 0.25, 0.40]),
            min_size=1,
            max_size=5,
        )
    )
    out: list[float] = []
    while len(out) < size:
        level = draw(st.sampled_from(levels))
        run = draw(st.integers(min_value=1, max_value=6))  # a plateau
        out.extend([level] * run)
    out = out[:size]
    for _ in range(draw(st.integers(min_value=0, max_value=2))):
        i = draw(st.integers(min_value=0, max_value=size - 1))
        out[i] = draw(st.sampled_from([1.5, -0.8, 0.9]))  # a spike
    return out


@st.composite
def requests(draw: st.DrawFn, *, limited: bool) -> PlanRequest:
    """A request over a fully known curve of 15- or 60-minute slots."""
    minutes = draw(st.sampled_from([15, 60]))
    size = draw(st.integers(min_value=1, max_value=24 if minutes == 15 else 8))
    prices = draw(price_lists(size))
    step = timedelta(minutes=minutes)
    curve = PriceCurve(
        PriceSlot(T0 + i * step, T0 + (i + 1) * step, p * 1000, p) for i, p in enumerate(prices)
    )
    now = T0 + timedelta(minutes=draw(st.sampled_from([0, 0, 5, 10])))
    margin = timedelta(minutes=draw(st.sampled_from([0, 0, 5, 30])))
    ready_by = T0 + size * step
    if ready_by - margin <= now:
        margin = timedelta(0)
    max_current = draw(st.sampled_from([16.0, 11000 / 690, 10.0, 32.0]))
    measured = draw(st.sampled_from([None, None, None, 3.0, 5.5]))
    kw_per_a = 3 * 230 / 1000
    p_max = max_current * kw_per_a if measured is None else min(max_current * kw_per_a, measured)
    hours = (ready_by - margin - now) / timedelta(hours=1)
    share = draw(
        st.one_of(st.floats(min_value=0.0, max_value=1.0), st.sampled_from([0.0, 1.0, 1.2]))
    )
    slots = len(range(0, int(hours * 60), 15)) + 2
    limit = draw(st.integers(min_value=1, max_value=3)) if limited else slots
    return PlanRequest(
        now=now,
        ready_by=ready_by,
        energy_needed_kwh=share * p_max * hours,
        prices=curve,
        max_current_a=max_current,
        measured_power_kw=measured,
        max_interruptions=limit,
        deadline_margin=margin,
    )


_SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_SETTINGS
@given(request=requests(limited=False))
def test_cheapest_equals_lp_optimum_without_a_binding_block_limit(request: PlanRequest) -> None:
    """With as many blocks allowed as there are slots, cheapest costs the LP optimum."""
    check(request)


@_SETTINGS
@given(request=requests(limited=True))
def test_cheapest_equals_milp_optimum_with_few_blocks(request: PlanRequest) -> None:
    """With one to three blocks, cheapest costs the MILP optimum."""
    check(request)


def test_small_block_limit_is_solved_as_a_milp() -> None:
    """The MILP path is exercised: a dear slot between cheap ones with one block allowed."""
    step = timedelta(minutes=15)
    prices = [0.1, 0.1, 0.9, 0.1, 0.1]
    curve = PriceCurve(
        PriceSlot(T0 + i * step, T0 + (i + 1) * step, p * 1000, p) for i, p in enumerate(prices)
    )
    request = PlanRequest(
        now=T0,
        ready_by=T0 + 5 * step,
        energy_needed_kwh=4 * 11.04 * 0.25,
        prices=curve,
        max_interruptions=1,
        deadline_margin=timedelta(0),
    )

    optimum = optimal_cost(request)

    assert OptimumMethod.MILP == optimum.method
    assert 5 == len(planner_slots(request))
    assert math.isclose(
        optimum.cost_eur, 0.1 * (4 * 11.04 - 4.14) * 0.25 + 0.9 * 4.14 * 0.25, abs_tol=1e-9
    )
    check(request)
