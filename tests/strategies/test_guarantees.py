"""The Strategy protocol's guarantees, proved for every registered strategy with Hypothesis."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from strategies import STRATEGIES, get_strategy
from strategies.base import PlanRequest, Strategy
from tests.strategies.helpers import check_guarantees, rates

START = datetime(2025, 3, 29, 12, 0, tzinfo=UTC)
NAMES = sorted(STRATEGIES)


def make(name: str) -> Strategy:
    return get_strategy(name, max_price="p30" if name == "threshold" else None)


price = st.one_of(
    st.floats(-0.2, 0.6, allow_nan=False),
    st.sampled_from([0.1, 0.2, 0.25, 0.0, -0.05, 2.5]),  # plateaus, negatives, spikes
)


@st.composite
def requests(draw: st.DrawFn) -> PlanRequest:
    minutes = draw(st.sampled_from([15, 60]))
    n = draw(st.integers(0, 16 if minutes == 60 else 40))
    prices = draw(
        st.lists(
            st.one_of(price, st.none()) if draw(st.booleans()) else price, min_size=n, max_size=n
        )
    )
    curve = rates(prices, START, timedelta(minutes=minutes))
    now = START + timedelta(minutes=draw(st.integers(-30, 300)))
    ready_by = now + timedelta(minutes=draw(st.integers(-60, 20 * 60)))
    phases = draw(st.sampled_from([1, 3]))
    max_a = draw(st.integers(6, 32))
    min_a = draw(st.integers(6, max_a))
    measured = draw(st.one_of(st.none(), st.floats(0.5, 25)))
    return PlanRequest(
        now=now,
        ready_by=ready_by,
        energy_needed_kwh=draw(st.one_of(st.just(0.0), st.floats(0, 80))),
        prices=curve,
        min_current_a=min_a,
        max_current_a=max_a,
        phases=phases,
        voltage_v=230.0,
        measured_power_kw=measured,
        max_interruptions=draw(st.integers(1, 4)),
        deadline_margin=timedelta(minutes=draw(st.sampled_from([0, 30, 45]))),
        slot_minutes=15,
    )


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(request=requests())
def test_every_strategy_keeps_the_guarantees(name: str, request: PlanRequest) -> None:
    """Limits, energy, deadline, block count and slot layout hold for random requests."""
    strategy = make(name)

    plan = strategy.plan(request)

    assert name == plan.strategy
    check_guarantees(plan, request)


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=40, deadline=None)
@given(request=requests())
def test_every_strategy_is_deterministic(name: str, request: PlanRequest) -> None:
    """The same request gives the same plan, also from a fresh instance."""
    first = make(name).plan(request)

    second = make(name).plan(request)

    assert first == second


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=60, deadline=None)
@given(
    request=requests(),
    delivered=st.floats(0, 1),
    power_share=st.floats(0.3, 1),
    step_min=st.integers(0, 240),
    new_prices=st.lists(price, min_size=8, max_size=8),
)
def test_replanning_keeps_the_guarantees(
    name: str,
    request: PlanRequest,
    delivered: float,
    power_share: float,
    step_min: int,
    new_prices: list[float],
) -> None:
    """Re-planning later, with energy delivered, a lower measured power and new prices, holds."""
    strategy = make(name)
    strategy.plan(request)
    full_kw = request.max_current_a * request.phases * request.voltage_v / 1000
    later = PlanRequest(
        now=request.now + timedelta(minutes=step_min),
        ready_by=request.ready_by,
        energy_needed_kwh=request.energy_needed_kwh * (1 - delivered),
        prices=request.prices.merged(rates(new_prices, request.now, timedelta(hours=1)).slots),
        min_current_a=request.min_current_a,
        max_current_a=request.max_current_a,
        phases=request.phases,
        voltage_v=request.voltage_v,
        measured_power_kw=full_kw * power_share,
        max_interruptions=request.max_interruptions,
        deadline_margin=request.deadline_margin,
    )

    plan = strategy.plan(later)

    check_guarantees(plan, later)


def test_every_builtin_satisfies_the_protocol() -> None:
    """mypy proves conformance through typed assignments; the registry holds all four."""
    from strategies.cheapest import CheapestStrategy
    from strategies.contiguous import ContiguousStrategy
    from strategies.immediate import ImmediateStrategy
    from strategies.threshold import ThresholdStrategy

    a: Strategy = CheapestStrategy()
    b: Strategy = ContiguousStrategy()
    c: Strategy = ImmediateStrategy()
    d: Strategy = ThresholdStrategy("0.2")

    assert ["cheapest", "contiguous", "immediate", "threshold"] == sorted(
        s.name for s in (a, b, c, d)
    )
