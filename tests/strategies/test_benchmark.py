"""Planning-time figures (no timed assertions): ``pytest -m benchmark tests/strategies -s``."""

from __future__ import annotations

import math
import random
import statistics
import time
from datetime import UTC, datetime, timedelta

import pytest

from smartcharge.domain import PriceCurve, PriceSlot
from strategies import STRATEGIES, get_strategy
from strategies.base import PlanRequest

T0 = datetime(2025, 10, 1, 12, tzinfo=UTC)
Q = timedelta(minutes=15)


def synthetic_requests(
    count: int, quarters: int, *, hourly: bool, seed: int = 1
) -> list[PlanRequest]:
    """NL-like curves: a daily shape, an AR(1) hourly drift, optional 15-minute noise."""
    rng = random.Random(seed)
    out: list[PlanRequest] = []
    for _ in range(count):
        drift = 0.0
        slots: list[PriceSlot] = []
        for q in range(quarters):
            if q % 4 == 0:
                drift = 0.8 * drift + rng.gauss(0, 0.015)
            hour = (12 + q / 4) % 24
            noise = 0.0 if hourly else rng.gauss(0, 0.004)
            p = round(0.25 + 0.08 * math.sin((hour - 6) / 24 * 2 * math.pi) + drift + noise, 5)
            slots.append(PriceSlot(T0 + q * Q, T0 + (q + 1) * Q, p * 1000, p))
        out.append(
            PlanRequest(
                now=T0,
                ready_by=T0 + quarters * Q + timedelta(minutes=30),
                energy_needed_kwh=rng.uniform(5, 50),
                prices=PriceCurve(slots),
                max_interruptions=3,
            )
        )
    return out


@pytest.mark.benchmark
@pytest.mark.parametrize("name", list(STRATEGIES))
@pytest.mark.parametrize(("quarters", "hourly"), [(192, True), (192, False), (52, False)])
def test_planning_time(name: str, quarters: int, hourly: bool) -> None:
    """Print p50/p99 planning time per session."""
    strategy = get_strategy(name, max_price="p30")
    requests = synthetic_requests(400, quarters, hourly=hourly)
    times: list[float] = []
    for request in requests:
        start = time.perf_counter()
        plan = strategy.plan(request)
        times.append((time.perf_counter() - start) * 1e3)
        assert plan.is_reachable
    times.sort()
    kind = "hourly" if hourly else "15-min"
    print(
        f"\n{name:<10} {quarters} slots {kind}: p50 {statistics.median(times):.3f} ms, "
        f"p90 {times[int(0.9 * len(times))]:.3f} ms, p99 {times[int(0.99 * len(times))]:.3f} ms, "
        f"mean {statistics.fmean(times):.3f} ms"
    )
