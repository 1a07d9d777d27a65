"""``cheapest`` on real 48-hour windows of NL quarter-hour prices equals the HiGHS optimum.

The prices are ``smartcharge/simulator/data/prices_nl_sample.csv`` (real NL day-ahead prices,
see its ``SOURCE.md``): October 2025 (the first weeks of the 15-minute market, with the
100-quarter fall-back day) and 14-20 December 2025. These are the windows the planner is tuned
for: the exact optimiser searches its multiplier on a reduced window there and gives its DP
bounds spread back from it, so this also checks that the reduction changes no plan.
"""

from __future__ import annotations

import csv
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from smartcharge.domain import PriceCurve, PriceSlot, utc
from strategies._optimiser import optimise
from strategies._slots import build_window
from strategies.base import PlanRequest
from tests.strategies.helpers import check_against_the_optimum

CSV = Path(__file__).parents[2] / "smartcharge" / "simulator" / "data" / "prices_nl_sample.csv"
#: The all-in price the benchmarks use: NL 2026 energy tax, 21 % VAT, no supplier margin.
TAX_EUR_PER_KWH = 0.09161
VAT = 1.21


def _quarter_hours() -> list[PriceSlot]:
    with CSV.open(encoding="utf-8") as fh:
        rows = [
            (
                datetime.fromisoformat(r["start_utc"].replace("Z", "+00:00")),
                float(r["price_eur_per_mwh"]),
            )
            for r in csv.DictReader(fh)
        ]
    step = timedelta(minutes=15)
    return [
        PriceSlot(start, start + step, p, (p / 1000 + TAX_EUR_PER_KWH) * VAT)
        for (start, p), (nxt, _) in zip(rows, rows[1:], strict=False)
        if nxt - start == step
    ]


SLOTS = _quarter_hours()
# Every 48 h of contiguous quarter hours starting at a day boundary (22:00 or 23:00 UTC).
STARTS = [
    s.start
    for i, s in enumerate(SLOTS)
    if s.start.hour in (22, 23)
    and s.start.minute == 0
    and i + 192 <= len(SLOTS)
    and SLOTS[i + 191].end - s.start == timedelta(hours=48)
][::2]


def _request(start: datetime, energy_kwh: float, blocks: int) -> PlanRequest:
    window = [s for s in SLOTS if start <= s.start < start + timedelta(hours=48)]
    return PlanRequest(
        now=start,
        ready_by=start + timedelta(hours=48),
        energy_needed_kwh=energy_kwh,
        prices=PriceCurve(window),
        max_current_a=16,
        phases=3,
        max_interruptions=blocks,
        deadline_margin=timedelta(0),
    )


def test_the_sample_has_real_quarter_hour_windows() -> None:
    assert len(STARTS) >= 12
    assert STARTS[0] == utc(2025, 9, 30, 22)


@pytest.mark.parametrize("energy_kwh", [6.0, 20.0, 40.0])
@pytest.mark.parametrize("start", STARTS, ids=lambda s: s.strftime("%Y-%m-%d"))
def test_cheapest_equals_the_optimum_on_a_real_window(start: datetime, energy_kwh: float) -> None:
    check_against_the_optimum(_request(start, energy_kwh, 3))


@pytest.mark.parametrize("blocks", [1, 2, 3, 4])
@pytest.mark.parametrize("energy_kwh", [6.0, 20.0, 40.0])
def test_the_reduced_search_changes_no_plan(energy_kwh: float, blocks: int) -> None:
    """On every window the reduced and the plain multiplier search give the same plan."""
    for start in STARTS:
        window = build_window(_request(start, energy_kwh, blocks))
        args = (window.effective_prices(), window.caps, window.los, energy_kwh, blocks)
        assert optimise(*args) == optimise(*args, reduce=False), start
