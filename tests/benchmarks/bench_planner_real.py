"""Benchmark: cheapest over 48 h windows of real NL quarter-hour prices (192 slots).

Reads ``../shared/data/nl_day_ahead_2023_2025.csv`` (skipped when absent), takes every 48 h
window starting at local-day boundaries from 2025-10-01 (the 15-minute market), and plans 20 and
40 kWh at 11 kW, 3 blocks, no margin. Prints p50/p90/p99 of each window's first call (cold:
the window's curve is new) and of its best of five calls (the machine's noise left out, as
``timeit`` advises); asserts nothing about time.

Run: ``python -m pytest tests/benchmarks/bench_planner_real.py -m benchmark -s``
"""

from __future__ import annotations

import csv
import statistics
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from smartcharge.domain import PriceCurve, PriceSlot
from strategies import get_strategy
from strategies.base import PlanRequest

pytestmark = pytest.mark.benchmark

DATA = Path(__file__).resolve().parents[3] / "shared/data/nl_day_ahead_2023_2025.csv"


@pytest.mark.skipif(not DATA.exists(), reason=f"{DATA} is not here (it lives in ../shared)")
@pytest.mark.parametrize("energy_kwh", [20.0, 40.0])
def test_cheapest_on_real_quarter_hour_windows(energy_kwh: float):
    """Print planning time percentiles over real 192-slot windows."""
    go_live = datetime(2025, 9, 30, 22, tzinfo=UTC)
    with DATA.open(encoding="utf-8") as fh:
        rows = [
            (
                datetime.fromisoformat(r["start_utc"].replace("Z", "+00:00")),
                float(r["price_eur_per_mwh"]),
            )
            for r in csv.DictReader(fh)
        ]
    slots = [
        PriceSlot(s, s + timedelta(minutes=15), p, (p / 1000 + 0.09161) * 1.21)
        for s, p in rows
        if s >= go_live
    ]
    strategy = get_strategy("cheapest")
    first_ms = []
    best_ms = []
    for first in range(0, len(slots) - 192, 96):
        window = slots[first : first + 192]
        now = window[0].start
        request = PlanRequest(
            now=now,
            ready_by=now + timedelta(hours=48),
            energy_needed_kwh=energy_kwh,
            prices=PriceCurve(window),
            max_current_a=16,
            phases=3,
            deadline_margin=timedelta(0),
        )
        runs = []
        for _ in range(5):
            started = time.perf_counter()
            plan = strategy.plan(request)
            runs.append((time.perf_counter() - started) * 1000)
            assert plan.is_reachable
        first_ms.append(runs[0])
        best_ms.append(min(runs))
    for label, times_ms in (("first call", first_ms), ("best of 5", best_ms)):
        times_ms.sort()
        n = len(times_ms)
        print(
            f"\n[figures] cheapest, {energy_kwh:g} kWh at 11.04 kW, 192 real NL 15-min slots, "
            f"{n} windows, {label}: p50 {statistics.median(times_ms):.2f} ms, "
            f"p90 {times_ms[int(0.9 * n)]:.2f} ms, p99 {times_ms[int(0.99 * n)]:.2f} ms"
        )
