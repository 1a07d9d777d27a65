"""Builders and the guarantee checker shared by the strategy tests."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from datetime import datetime, timedelta

import pytest

from smartcharge.domain import PriceCurve, PriceSlot
from smartcharge.tools.optimum import optimal_cost, planner_slots
from strategies import get_strategy
from strategies._slots import build_window
from strategies.base import Plan, PlanRequest

TOL = 1e-6
COST_TOLERANCE_EUR = 1e-6
TIE_EUR = 1e-4  # the model: costs within 0.01 ct are ties (fewer blocks, then earlier finish)


def rates(
    prices: Sequence[float | None], start: datetime, slot: timedelta = timedelta(hours=1)
) -> PriceCurve:
    """Build a curve like evcc's planner_test ``rates``: one price per slot, None = a gap."""
    return PriceCurve(
        PriceSlot(start + i * slot, start + (i + 1) * slot, p * 1000, p)
        for i, p in enumerate(prices)
        if p is not None
    )


def check_guarantees(plan: Plan, request: PlanRequest) -> None:
    """Assert every guarantee of the Strategy protocol for ``plan``."""
    now, deadline = request.now, request.deadline
    kw_per_amp = request.phases * request.voltage_v / 1000
    p_max = request.max_current_a * kw_per_amp
    if request.measured_power_kw is not None and 0 < request.measured_power_kw < p_max:
        p_max = request.measured_power_kw
    capacity = p_max * max((deadline - now).total_seconds(), 0) / 3600
    for s in plan.slots:
        assert now <= s.start < s.end <= deadline, s
        assert s.current_a <= request.max_current_a + TOL
        assert s.current_a == 0 or s.current_a >= request.min_current_a - TOL, s
        assert s.energy_kwh >= -TOL
        hours = (s.end - s.start).total_seconds() / 3600
        # Energy fits the slot: at most full power, at least the set current's power (interior).
        assert s.energy_kwh <= p_max * hours + TOL
        if s.current_a == 0:
            assert s.energy_kwh == 0
    for a, b in itertools.pairwise(plan.slots):
        assert a.end == b.start, (a, b)
    if plan.slots:
        assert plan.slots[0].start == now
        assert plan.slots[-1].end == deadline
    total = math.fsum(s.energy_kwh for s in plan.slots)
    assert abs(total - plan.energy_kwh) < TOL
    known_cost = math.fsum(
        s.energy_kwh * s.price_eur_per_kwh for s in plan.slots if s.price_eur_per_kwh is not None
    )
    assert abs(known_cost - plan.cost_eur) < TOL
    need = max(request.energy_needed_kwh, 0.0)
    if need <= 1e-9:
        assert plan.is_reachable
        assert total < TOL
    elif need <= capacity + 1e-9:
        assert plan.is_reachable
        assert abs(total - need) < 1e-6 * max(1.0, need)
        assert plan.blocks <= max(1, request.max_interruptions)
    else:
        assert not plan.is_reachable
        # Full power from now: every slot charges at the maximum current.
        assert all(s.current_a == request.max_current_a for s in plan.slots)
        assert abs(total - capacity) < 1e-6 * max(1.0, capacity)
    # Unknown-price slots carry no price; known ones carry the curve's price.
    for s in plan.slots:
        assert s.price_eur_per_kwh == request.prices.price_at(s.start)
    _ = build_window(request)


def recost(plan: Plan, request: PlanRequest) -> tuple[float, float]:
    """Return ``(cost EUR, energy kWh)`` of the plan from its currents, at the curve's prices."""
    kw_per_a = request.phases * request.voltage_v / 1000
    cost = energy = 0.0
    for slot in plan.slots:
        if slot.current_a <= 0:
            continue
        kw = slot.current_a * kw_per_a
        if request.measured_power_kw is not None:
            kw = min(kw, request.measured_power_kw)
        for price in request.prices.between(slot.start, slot.end):
            lo, hi = max(price.start, slot.start), min(price.end, slot.end)
            e = kw * (hi - lo) / timedelta(hours=1)
            cost += e * price.price_eur_per_kwh
            energy += e
    return cost, energy


def _last_slot(request: PlanRequest, finish: datetime) -> int:
    """Return the index of the planner slot in which charging that ends at ``finish`` ends."""
    starts = [start for start, _, _ in planner_slots(request)]
    return max(i for i, start in enumerate(starts) if start < finish)


def check_against_the_optimum(request: PlanRequest) -> None:
    """Compare cheapest's plan with the HiGHS optimum of the same request.

    The plan may cost more than the optimum by more than 1e-6 EUR only where the model's tie
    rule says so: costs within 0.01 ct are ties, won by fewer blocks, then the earlier finish.
    """
    plan = get_strategy("cheapest").plan(request)
    optimum = optimal_cost(request)
    cost, energy = recost(plan, request)

    assert plan.is_reachable == optimum.is_feasible
    assert cost == pytest.approx(plan.cost_eur, abs=COST_TOLERANCE_EUR)
    gap = cost - optimum.cost_eur
    assert gap >= -COST_TOLERANCE_EUR, "cheaper than the exact optimum: the plan breaks a limit"
    if gap > COST_TOLERANCE_EUR:
        assert gap <= TIE_EUR + 1e-12
        finish = max(s.end for s in plan.slots if s.is_charging)
        last = max(i for i, e in enumerate(optimum.energies_kwh) if e > 0)
        assert plan.blocks < optimum.blocks or _last_slot(request, finish) < last
    if optimum.is_feasible:
        assert request.energy_needed_kwh == pytest.approx(energy, abs=1e-6)
        assert plan.blocks <= request.max_interruptions
