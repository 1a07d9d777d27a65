"""Price figures: parsing a day of 15-minute prices, a year's curve, and its memory.

Run with ``python -m pytest tests/benchmarks -m benchmark -s``. Prints figures, asserts only
that the work was done (nothing about time).
"""

from __future__ import annotations

import gc
import statistics
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from smartcharge.domain import PriceCurve
from smartcharge.prices.entsoe import parse_day_ahead
from smartcharge.pricing import Tariff
from smartcharge.simulator.entsoe_server import a44_document, read_price_csv

DATA = Path("/work/shared/data/nl_day_ahead_2023_2025.csv")
SAMPLE = Path(__file__).parents[2] / "smartcharge" / "simulator" / "data" / "prices_nl_sample.csv"
AMS = ZoneInfo("Europe/Amsterdam")
TARIFF = Tariff(0.0, 0.09161, 21.0)
RUNS = 30


def _local(y: int, m: int, d: int) -> datetime:
    return datetime(y, m, d, tzinfo=AMS).astimezone(UTC)


@pytest.mark.benchmark
def test_parse_one_day_of_quarter_hours() -> None:
    """Median time to parse one day of 15-minute prices through entsoe-py into PriceSlots."""
    from entsoe.parsers import parse_prices  # noqa: PLC0415

    start, end = _local(2025, 10, 1), _local(2025, 10, 2)
    rows = read_price_csv(SAMPLE, start, end)
    text = a44_document([(at, p) for at, p, _ in rows], 15, "NL")
    body = text.split("?>", 1)[1]  # without the XML declaration, as our adapter hands it over
    parse_day_ahead(text, start, end, tariff=TARIFF, source="entsoe")  # warm-up (imports)

    ours, theirs = [], []
    for _ in range(RUNS):
        t0 = time.perf_counter()
        slots = parse_day_ahead(text, start, end, tariff=TARIFF, source="entsoe")
        ours.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        parse_prices(body)  # type: ignore[no-untyped-call]  # entsoe-py is untyped
        theirs.append(time.perf_counter() - t0)

    print(
        f"\nparse one day of 15-min prices ({len(slots)} slots, {len(text)} bytes, {RUNS} runs):"
        f" median {statistics.median(ours) * 1000:.1f} ms end to end"
        f" (entsoe-py parse_prices alone {statistics.median(theirs) * 1000:.1f} ms)"
    )
    assert 96 == len(slots)


@pytest.mark.benchmark
def test_year_curve_build_time_and_memory() -> None:
    """Build the PriceCurve of NL 2025 (hourly, then quarter-hourly) and measure its memory."""
    start, end = _local(2025, 1, 1), _local(2026, 1, 1)
    t0 = time.perf_counter()
    rows = read_price_csv(DATA, start, end)
    t_read = time.perf_counter() - t0

    def build() -> PriceCurve:
        return PriceCurve(
            TARIFF.slot(at, at + timedelta(minutes=m), p, "entsoe") for at, p, m in rows
        )

    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        curve = build()
        times.append(time.perf_counter() - t0)
    t_build = statistics.median(times)
    del curve
    gc.collect()
    tracemalloc.start()
    curve = build()
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    t0 = time.perf_counter()
    split = curve.split(15)
    t_split = time.perf_counter() - t0
    probe = _local(2025, 7, 1)
    t0 = time.perf_counter()
    for _ in range(10_000):
        curve.price_at(probe)
    t_lookup = (time.perf_counter() - t0) / 10_000

    print(
        f"\nNL 2025 curve: {len(curve)} slots; read CSV {t_read * 1000:.0f} ms, "
        f"build (median of 5) {t_build * 1000:.0f} ms, split to 15 min ({len(split)} slots) "
        f"{t_split * 1000:.0f} ms, price_at {t_lookup * 1e6:.1f} us; "
        f"memory: {current / 2**20:.1f} MiB held, {peak / 2**20:.1f} MiB peak while building"
    )
    assert 15_387 == len(curve)
