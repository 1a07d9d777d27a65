"""Builders and the guarantee checker shared by the strategy tests."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from datetime import datetime, timedelta

from smartcharge.domain import PriceCurve, PriceSlot
from strategies._slots import build_window
from strategies.base import Plan, PlanRequest

TOL = 1e-6


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
