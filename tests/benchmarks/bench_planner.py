"""Planner benchmarks: print figures, assert nothing about time.

Run with ``python -m pytest tests/benchmarks -m benchmark -s``. They read the real NL prices
from ``../shared/data/`` next to the repository and skip when they are not there.
"""

from __future__ import annotations

import math
import time
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from smartcharge.config import Settings
from smartcharge.domain import PriceCurve
from smartcharge.pricing import Tariff
from smartcharge.tools.backtest import (
    BacktestConfig,
    known_until,
    percentile,
    read_price_csv,
    run_backtest,
    sessions,
)
from smartcharge.tools.optimum import optimal_cost
from strategies import get_strategy
from strategies.base import PlanRequest

pytestmark = pytest.mark.benchmark

NL_FILE = Path(__file__).resolve().parents[3] / "shared" / "data" / "nl_day_ahead_2023_2025.csv"
YEAR = BacktestConfig(first_day=date(2025, 1, 1), last_day=date(2025, 12, 31))


@pytest.fixture(scope="module")
def nl_prices() -> PriceCurve:
    """The NL 2023-2025 all-in prices under the default tariff."""
    if not NL_FILE.is_file():
        pytest.skip(f"{NL_FILE} is absent: the benchmarks need the shared NL price data")
    return read_price_csv(NL_FILE, Tariff.from_settings(Settings()))


def test_plan_one_session_of_192_quarter_hours(nl_prices: PriceCurve) -> None:
    """Planning 48 h of 15-minute slots (192 slots), from 352 real starting points."""
    cheapest = get_strategy("cheapest")
    go_live = datetime(2025, 9, 30, 22, tzinfo=UTC)  # 15-minute prices from here on
    requests = []
    for day in range(88):
        for hour in (0, 6, 12, 18):
            now = go_live + timedelta(days=day, hours=hour)
            prices = nl_prices.between(now, now + timedelta(hours=48))
            if prices.known_until_from(now) < now + timedelta(hours=48):
                continue
            requests.append(
                PlanRequest(
                    now=now,
                    ready_by=now + timedelta(hours=48),
                    energy_needed_kwh=40.0,
                    prices=prices,
                    max_current_a=16.0,
                    max_interruptions=3,
                    deadline_margin=timedelta(0),
                )
            )
    slots = len(requests[0].prices.split(15))
    for request in requests[:20]:  # warm-up
        cheapest.plan(request)
    times_ms = []
    for request in requests:
        began = time.perf_counter()
        cheapest.plan(request)
        times_ms.append((time.perf_counter() - began) * 1000)
    optimum_ms = []
    for request in requests[:50]:
        began = time.perf_counter()
        optimal_cost(request)
        optimum_ms.append((time.perf_counter() - began) * 1000)

    print(
        f"\nplan 48 h of 15-min slots ({slots} slots, 40 kWh at 11.04 kW, at most 3 blocks), "
        f"cheapest, {len(times_ms)} plans: p50 {percentile(times_ms, 50):.3f} ms, "
        f"p99 {percentile(times_ms, 99):.3f} ms, max {max(times_ms):.3f} ms"
    )
    print(
        f"  for scale, the HiGHS optimum of the first {len(optimum_ms)}: "
        f"p50 {percentile(optimum_ms, 50):.2f} ms"
    )
    assert 192 == slots


def _year_sessions(nl_prices: PriceCurve) -> list[PlanRequest]:
    """Return the plug-in requests of every 2025 session, prices as published at plug-in."""
    days, _ = sessions(nl_prices, YEAR)
    out = []
    for s in days:
        known = nl_prices.between(s.plug_in_at, known_until(s.plug_in_at))
        out.append(
            PlanRequest(
                now=s.plug_in_at,
                ready_by=s.ready_by_at,
                energy_needed_kwh=YEAR.energy_kwh,
                prices=known,
                min_current_a=YEAR.min_current_a,
                max_current_a=YEAR.max_current_a,
                phases=YEAR.phases,
                voltage_v=YEAR.voltage_v,
                max_interruptions=YEAR.max_interruptions,
                deadline_margin=YEAR.deadline_margin,
                slot_minutes=YEAR.slot_minutes,
            )
        )
    return out


def test_a_year_of_daily_sessions_with_cheapest(nl_prices: PriceCurve) -> None:
    """Wall time of planning every 2025 session with cheapest, then the whole simulation."""
    cheapest = get_strategy("cheapest")
    requests = _year_sessions(nl_prices)

    began = time.perf_counter()
    for request in requests:
        cheapest.plan(request)
    planning_s = time.perf_counter() - began

    began = time.perf_counter()
    report = run_backtest(nl_prices, [cheapest], YEAR)
    backtest_s = time.perf_counter() - began

    print(
        f"\na year of daily sessions (NL 2025, {len(requests)} sessions, 18:00 to 07:00, "
        f"20 kWh at 11 kW): planning with cheapest {planning_s:.3f} s wall time in all "
        f"({1000 * planning_s / len(requests):.3f} ms per session)"
    )
    print(
        f"  whole backtest of cheapest (simulation, whole-amp re-run, immediate and HiGHS "
        f"optimum per session): {backtest_s:.2f} s"
    )
    assert len(requests) == report.results[0].sessions


def test_cost_against_the_optimum_and_immediate_over_a_year(nl_prices: PriceCurve) -> None:
    """Cost ratio cheapest/optimum (must print 1.0000), whole-amp gap, saving vs immediate."""
    cheapest = get_strategy("cheapest")
    configs = [
        ("default: 3 blocks, 30 min margin", YEAR),
        ("1 block", replace(YEAR, max_interruptions=1)),
    ]
    for label, config in configs:
        result = run_backtest(nl_prices, [cheapest], config).results[0]
        print(
            f"\nNL 2025, {result.sessions} sessions, {label}: cheapest {result.cost_eur:.2f} EUR, "
            f"exact optimum {result.optimal_cost_eur:.2f} EUR, "
            f"ratio cheapest/optimum {result.cost_ratio:.4f}"
        )
        print(
            f"  whole-amp currents (fractional currents rounded up): "
            f"{result.whole_amp_cost_eur:.2f} EUR, gap {result.whole_amp_gap_eur:+.2f} EUR "
            f"({result.whole_amp_gap_percent:+.3f} %)"
        )
        print(
            f"  immediate {result.immediate_cost_eur:.2f} EUR; saving {result.saving_eur:.2f} EUR "
            f"({result.saving_percent:.1f} %); missed deadlines {result.missed_deadlines}; "
            f"switches per session {result.switches_per_session:.2f}"
        )
        assert math.isfinite(result.cost_ratio)
