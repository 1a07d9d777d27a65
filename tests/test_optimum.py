"""The HiGHS optimum: hand-computed cases and a brute force over every block layout."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smartcharge.domain import PriceCurve, PriceSlot, utc
from smartcharge.tools.optimum import OptimumMethod, count_blocks, optimal_cost, planner_slots
from strategies.base import PlanRequest

T0 = utc(2025, 1, 15, 18)
KW_PER_A = 3 * 230 / 1000  # 0.69 kW per amp on three phases
P_MAX = 16 * KW_PER_A  # 11.04 kW
P_MIN = 6 * KW_PER_A  # 4.14 kW
Q = 0.25  # a quarter-hour, in hours


def curve(prices: Sequence[float], minutes: int = 15, start: datetime = T0) -> PriceCurve:
    """Build consecutive slots of ``minutes`` with the given all-in prices."""
    step = timedelta(minutes=minutes)
    return PriceCurve(
        PriceSlot(start + i * step, start + (i + 1) * step, 0.0, p) for i, p in enumerate(prices)
    )


def request(
    prices: Sequence[float],
    energy_kwh: float,
    *,
    minutes: int = 15,
    max_interruptions: int = 3,
    measured_power_kw: float | None = None,
    now: datetime = T0,
    ready_by: datetime | None = None,
    margin_min: int = 0,
) -> PlanRequest:
    """Build a request whose window is exactly the price curve (no margin unless asked)."""
    end = T0 + len(prices) * timedelta(minutes=minutes)
    return PlanRequest(
        now=now,
        ready_by=ready_by or end,
        energy_needed_kwh=energy_kwh,
        prices=curve(prices, minutes),
        max_interruptions=max_interruptions,
        measured_power_kw=measured_power_kw,
        deadline_margin=timedelta(minutes=margin_min),
    )


# --- An independent brute force: every layout of at most K blocks, then a greedy fill.


def _layouts(n: int, k: int) -> Iterator[list[str]]:
    """Yield per-slot labels (off, edge, interior) for every set of at most ``k`` blocks."""

    def extend(first_free: int, left: int, labels: list[str]) -> Iterator[list[str]]:
        yield labels
        if left == 0:
            return
        for a in range(first_free, n):
            for b in range(a, n):
                new = list(labels)
                new[a] = new[b] = "edge"
                for t in range(a + 1, b):
                    new[t] = "interior"
                # The next block may begin in the slot where this one ends.
                yield from extend(b if b > a else b + 1, left - 1, new)

    yield from extend(0, k, ["off"] * n)


def brute_force_cost(prices: Sequence[float], energy_kwh: float, k: int, p_max: float) -> float:
    """Return the lowest cost over all block layouts (``inf`` when none fits)."""
    p_min = min(P_MIN, p_max)
    best = math.inf
    for labels in _layouts(len(prices), k):
        lo = [p_min * Q if lab == "interior" else 0.0 for lab in labels]
        hi = [0.0 if lab == "off" else p_max * Q for lab in labels]
        if sum(lo) > energy_kwh + 1e-9 or sum(hi) < energy_kwh - 1e-9:
            continue
        energy, left = list(lo), energy_kwh - sum(lo)
        for t in sorted(range(len(prices)), key=lambda i: prices[i]):
            take = min(hi[t] - energy[t], left)
            energy[t] += take
            left -= take
        best = min(best, sum(p * e for p, e in zip(prices, energy, strict=True)))
    return best


# --- Hand-computed cases.


def test_equal_prices_cost_energy_times_price() -> None:
    """With one price everywhere, the optimum is the energy times that price."""
    result = optimal_cost(request([0.25] * 8, 10.0))

    assert result.is_feasible
    assert 10.0 * 0.25 == pytest.approx(result.cost_eur, abs=1e-9)
    assert 10.0 == pytest.approx(result.energy_kwh, abs=1e-9)


def test_lp_fills_cheapest_slots_first() -> None:
    """Without a binding block limit the cheapest slots fill up, the next one partly."""
    result = optimal_cost(request([0.30, 0.10, 0.20, 0.40], 1.5 * P_MAX * Q))

    assert OptimumMethod.LP == result.method
    assert P_MAX * Q * (0.10 + 0.5 * 0.20) == pytest.approx(result.cost_eur, abs=1e-9)
    assert (0.0, P_MAX * Q, 0.5 * P_MAX * Q, 0.0) == pytest.approx(result.energies_kwh, abs=1e-9)


def test_negative_prices_are_filled_even_when_energy_allows_less() -> None:
    """A negative price is the first choice; the balance still holds exactly."""
    result = optimal_cost(request([0.2, -0.1, 0.3], P_MAX * Q))

    assert -0.1 * P_MAX * Q == pytest.approx(result.cost_eur, abs=1e-9)


@pytest.mark.parametrize(
    ("k", "expected"),
    [
        # One block over all seven slots: slots 2 and 4 are interior and carry the minimum.
        (1, 1.0 * (5 * P_MAX * Q - 2 * P_MIN * Q) + 10.0 * 2 * P_MIN * Q),
        # Two blocks: one of the two dear slots stays interior, at the minimum.
        (2, 1.0 * (5 * P_MAX * Q - P_MIN * Q) + 10.0 * P_MIN * Q),
        # Three blocks: both dear slots are skipped.
        (3, 1.0 * 5 * P_MAX * Q),
    ],
)
def test_block_limit_forces_minimum_current_in_dear_interior_slots(k: int, expected: float) -> None:
    """Cheap, cheap, dear, cheap, dear, cheap, cheap: each lost block costs a dear minimum.

    With K = 2 the ``on_t`` formulation (starts and ends free inside a run of ``on`` slots)
    would report 5 * P_MAX * Q, as if both dear slots could be skipped with two blocks.
    """
    prices = [1.0, 1.0, 10.0, 1.0, 10.0, 1.0, 1.0]
    energy = 5 * P_MAX * Q

    result = optimal_cost(request(prices, energy, max_interruptions=k), limit_blocks=True)

    assert OptimumMethod.MILP == result.method
    assert expected == pytest.approx(result.cost_eur, abs=1e-9)
    assert expected == pytest.approx(brute_force_cost(prices, energy, k, P_MAX), abs=1e-9)
    assert result.blocks <= k


def test_infeasible_charges_full_power_over_the_window() -> None:
    """More energy than the window holds: not feasible, full power everywhere."""
    result = optimal_cost(request([0.1, 0.2], 3 * P_MAX * Q))

    assert not result.is_feasible
    assert (P_MAX * Q, P_MAX * Q) == pytest.approx(result.energies_kwh)
    assert P_MAX * Q * 0.3 == pytest.approx(result.cost_eur)


def test_zero_energy_costs_nothing() -> None:
    """Nothing to charge: zero cost, feasible."""
    result = optimal_cost(request([0.1, 0.2], 0.0))

    assert result.is_feasible
    assert 0.0 == result.cost_eur
    assert OptimumMethod.TRIVIAL == result.method


def test_deadline_already_past() -> None:
    """A window that has closed cannot take any energy."""
    past = optimal_cost(request([0.1], 1.0, now=T0 + timedelta(hours=2)))
    nothing = optimal_cost(request([0.1], 0.0, now=T0 + timedelta(hours=2)))

    assert not past.is_feasible
    assert () == past.energies_kwh
    assert nothing.is_feasible


def test_measured_power_caps_both_limits() -> None:
    """A car drawing 3 kW caps P_max at 3 kW and P_min (4.14 kW) down to it."""
    result = optimal_cost(
        request([1.0, 5.0, 1.0], 3 * 3.0 * Q, measured_power_kw=3.0, max_interruptions=1)
    )

    assert result.is_feasible
    assert 3.0 * Q * (1 + 5 + 1) == pytest.approx(result.cost_eur)
    assert not optimal_cost(
        request([1.0, 5.0, 1.0], 3 * 3.0 * Q + 0.01, measured_power_kw=3.0)
    ).is_feasible


def test_window_is_clipped_to_now_and_deadline_and_hours_split() -> None:
    """Hourly prices become quarters; a late start and the margin shorten the edge slots."""
    req = request(
        [0.1, 0.2],
        minutes=60,
        energy_kwh=0.0,
        now=T0 + timedelta(minutes=10),
        margin_min=20,
    )

    slots = planner_slots(req)

    assert 7 == len(slots)
    assert (T0 + timedelta(minutes=10), T0 + timedelta(minutes=15), 0.1) == slots[0]
    assert (T0 + timedelta(minutes=90), T0 + timedelta(minutes=100), 0.2) == slots[-1]


def test_partial_edge_slot_is_priced_by_its_length() -> None:
    """A five-minute first slot holds a third of a quarter's energy."""
    req = request([0.1, 0.2], 0.0, now=T0 + timedelta(minutes=10))
    full = P_MAX * (5 / 60)

    result = optimal_cost(
        PlanRequest(
            now=req.now,
            ready_by=req.ready_by,
            energy_needed_kwh=full + 0.1,
            prices=req.prices,
            deadline_margin=timedelta(0),
        )
    )

    assert full * 0.1 + 0.1 * 0.2 == pytest.approx(result.cost_eur)


def test_unknown_prices_in_the_window_are_refused() -> None:
    """The optimum is defined for fully known prices; a gap names where it starts."""
    req = request([0.1, 0.2], 1.0, ready_by=T0 + timedelta(hours=1))

    with pytest.raises(ValueError, match="prices unknown from 2025-01-15T18:30"):
        optimal_cost(req)


def test_count_blocks_splits_runs_at_low_interior_slots() -> None:
    """A run full, low, full is two blocks; a low first or last slot is just an edge."""
    hours = (Q,) * 5
    low, full = 0.5 * P_MIN * Q, P_MAX * Q

    assert 2 == count_blocks((full, low, full, 0.0, 0.0), hours, P_MIN)
    assert 1 == count_blocks((low, full, low, 0.0, 0.0), hours, P_MIN)
    assert 2 == count_blocks((full, 0.0, full, full, 0.0), hours, P_MIN)


# --- The optimum against the brute force on random small instances.

_PRICES = st.lists(
    st.sampled_from([-0.2, -0.05, 0.0, 0.1, 0.1, 0.15, 0.3, 0.3, 0.9]), min_size=1, max_size=6
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    prices=_PRICES,
    share=st.floats(min_value=0.0, max_value=1.0),
    k=st.integers(min_value=1, max_value=3),
    measured=st.sampled_from([None, None, 3.0, 7.5]),
)
def test_milp_equals_brute_force(
    prices: list[float], share: float, k: int, measured: float | None
) -> None:
    """The MILP finds the cheapest of all block layouts (enumerated) within 1e-9 EUR."""
    p_max = P_MAX if measured is None else min(P_MAX, measured)
    energy = share * p_max * Q * len(prices)
    req = request(prices, energy, max_interruptions=k, measured_power_kw=measured)

    milp = optimal_cost(req, limit_blocks=True)
    auto = optimal_cost(req)
    lp = optimal_cost(req, limit_blocks=False)

    expected = brute_force_cost(prices, energy, k, p_max)
    assert expected == pytest.approx(milp.cost_eur, abs=1e-9)
    assert expected == pytest.approx(auto.cost_eur, abs=1e-9)
    assert lp.cost_eur <= milp.cost_eur + 1e-9
    assert energy == pytest.approx(milp.energy_kwh, abs=1e-9)
    assert milp.blocks <= k
