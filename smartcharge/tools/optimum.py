"""The exact optimum of a charging request, by linear programming (HiGHS), for checking planners.

This is the independent reference the backtest and the tests hold every strategy against. It
writes the shared planning model (the contract of ``strategies/base.py``) as a linear or
mixed-integer program and lets HiGHS solve it; it shares no code with the strategies.

The model, for the slots ``t`` of ``request.prices.split(request.slot_minutes)`` clipped to
``[now, deadline)`` (``d_t`` hours long, all-in price ``p_t`` EUR/kWh):

* minimise ``sum p_t e_t`` subject to ``sum e_t = E`` (the energy needed) and
  ``0 <= e_t <= P_max d_t``;
* at most ``K = max_interruptions`` charging blocks; a slot strictly inside a block (an interior
  slot) carries at least ``P_min d_t``; a slot where a block begins and/or ends (an edge slot)
  carries anything in ``[0, P_max d_t]``.

**LP** (no block limit): every slot may be a block of its own, so the only constraints are
the bounds and the energy balance. It is exact whenever ``K`` is at least the number of slots,
and whenever its solution happens to need no more than ``K`` blocks.

**MILP** (the block limit binds). Binaries ``start_t`` (a block begins in slot ``t``) and
``end_t`` (a block ends in slot ``t``), and the number of blocks open on entering slot ``t``,
``o_t = sum_{s<t} (start_s - end_s)``, kept in ``[0, 1]`` with ``o_0 = o_n = 0``::

    o_{t+1} = o_t + start_t - end_t,      0 <= o_t <= 1
    e_t <= P_max d_t (o_t + start_t)      (no energy outside a block)
    e_t >= P_min d_t (o_t - start_t - end_t)   (interior slots: o_t = 1, no start, no end)
    sum start_t <= K

Starts and ends therefore alternate, so ``sum start_t`` is the true number of blocks. A slot with
``start_t = end_t = 1`` is either a lone one-slot block (``o_t = 0``) or the slot where one block
ends and the next begins (``o_t = 1``); both are edge slots in the model.

Why not the shorter ``on_t`` formulation (``start_t >= on_t - on_{t-1}``,
``end_t >= on_t - on_{t+1}``, ``sum start_t <= K``, ``sum end_t <= K``, min energy on
``on_t - start_t - end_t``)? It lets starts and ends be placed freely inside one run of ``on``
slots, so a run marked start, start, end, end relieves two interior slots with two starts and two
ends but really holds three blocks. ``tests/test_optimum.py`` keeps that counterexample (seven
slots, ``K = 2``), where it reports a cost below the true optimum.

HiGHS (``highspy``) is a development dependency only: the daemon never imports this module.
"""

from __future__ import annotations

import contextlib
import enum
import math
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from strategies.base import PlanRequest

# HiGHS's own tolerances, tightened so that costs agree with a float re-computation to far
# better than the 1e-6 EUR the tests allow (its default relative MIP gap is 1e-4).
_TOLERANCE = 1e-9
_ENERGY_EPS_KWH = 1e-9


class OptimumMethod(enum.StrEnum):
    """How the optimum was found."""

    TRIVIAL = "trivial"  # nothing to charge, or nothing can be chosen
    LP = "lp"
    MILP = "milp"


@dataclass(frozen=True, slots=True)
class OptimumResult:
    """The exact optimum of a request.

    Attributes:
        cost_eur: the lowest cost ``sum p_t e_t``; when infeasible, the cost of charging at full
            power over the whole window.
        energies_kwh: the energy per planner slot.
        slot_starts: the start of each planner slot (UTC), clipped to the window.
        slot_ends: the end of each planner slot (UTC), clipped to the window.
        is_feasible: whether the energy needed fits in the window.
        method: LP, MILP or trivial.
        blocks: the number of charging blocks of the solution (runs of slots with energy,
            split where an interior slot carries less than the minimum).
    """

    cost_eur: float
    energies_kwh: tuple[float, ...]
    slot_starts: tuple[datetime, ...]
    slot_ends: tuple[datetime, ...]
    is_feasible: bool
    method: OptimumMethod
    blocks: int

    @property
    def energy_kwh(self) -> float:
        """Return the energy the solution delivers."""
        return math.fsum(self.energies_kwh)


@dataclass(frozen=True, slots=True)
class _Slots:
    starts: tuple[datetime, ...]
    ends: tuple[datetime, ...]
    hours: tuple[float, ...]
    prices: tuple[float, ...]


def planner_slots(request: PlanRequest) -> tuple[tuple[datetime, datetime, float], ...]:
    """Return ``(start, end, all-in EUR/kWh)`` for each planner slot of the request's window.

    Raises:
        ValueError: when a price is unknown somewhere in ``[now, deadline)``; the optimum is
            defined for fully known prices only.
    """
    now, deadline = request.now, request.deadline
    if deadline <= now:
        return ()
    out: list[tuple[datetime, datetime, float]] = []
    cursor = now
    for s in request.prices.split(request.slot_minutes).between(now, deadline):
        start, end = max(s.start, now), min(s.end, deadline)
        if start > cursor:
            break
        out.append((start, end, s.price_eur_per_kwh))
        cursor = end
    if cursor < deadline:
        raise ValueError(
            f"prices unknown from {cursor.isoformat()} (window {now.isoformat()} to "
            f"{deadline.isoformat()}); the optimum needs every price of the window"
        )
    return tuple(out)


def _power_limits_kw(request: PlanRequest) -> tuple[float, float]:
    kw_per_a = request.phases * request.voltage_v / 1000.0
    p_max = request.max_current_a * kw_per_a
    if request.measured_power_kw is not None:
        p_max = min(p_max, request.measured_power_kw)
    p_min = min(request.min_current_a * kw_per_a, p_max)
    return p_max, p_min


def count_blocks(energies_kwh: tuple[float, ...], hours: tuple[float, ...], p_min: float) -> int:
    """Return the fewest blocks that realise ``energies_kwh`` under the model.

    A block is a run of slots with energy; a slot inside a run that carries less than the
    minimum must be an edge, where one block ends and the next begins.
    """
    blocks = 0
    n = len(energies_kwh)
    t = 0
    while t < n:
        if energies_kwh[t] <= _ENERGY_EPS_KWH:
            t += 1
            continue
        run_end = t
        while run_end + 1 < n and energies_kwh[run_end + 1] > _ENERGY_EPS_KWH:
            run_end += 1
        blocks += 1
        for i in range(t + 1, run_end):
            if energies_kwh[i] < p_min * hours[i] - 1e-7:
                blocks += 1
        t = run_end + 1
    return blocks


def optimal_cost(request: PlanRequest, *, limit_blocks: bool | None = None) -> OptimumResult:
    """Return the exact lowest cost of ``request`` under the planning model.

    Args:
        request: the charging request; its prices must cover ``[now, deadline)``.
        limit_blocks: True solves the MILP with the block limit; False the LP without it;
            None (the default) solves the LP and keeps its solution when it needs no more than
            ``max_interruptions`` blocks (then it is also the MILP's optimum), and otherwise
            solves the MILP.

    Returns:
        The optimum. When the energy needed exceeds what full power over the window delivers,
        ``is_feasible`` is False and the energies are full power in every slot.

    Raises:
        ValueError: prices are missing inside the window.
        RuntimeError: ``highspy`` is not installed, or HiGHS did not reach an optimum.
    """
    raw = planner_slots(request)
    slots = _Slots(
        starts=tuple(s for s, _, _ in raw),
        ends=tuple(e for _, e, _ in raw),
        hours=tuple((e - s) / timedelta(hours=1) for s, e, _ in raw),
        prices=tuple(p for _, _, p in raw),
    )
    p_max, p_min = _power_limits_kw(request)
    caps = tuple(p_max * h for h in slots.hours)
    needed = request.energy_needed_kwh

    if needed <= _ENERGY_EPS_KWH:
        return _result(slots, tuple(0.0 for _ in caps), True, OptimumMethod.TRIVIAL, p_min)
    if needed > math.fsum(caps) + _ENERGY_EPS_KWH:
        return _result(slots, caps, False, OptimumMethod.TRIVIAL, p_min)

    limit = request.max_interruptions
    if limit_blocks is not True:
        energies = _solve_lp(slots, needed, p_max)
        # The LP is a relaxation of the MILP: when its solution already fits in the block
        # limit, it is the MILP's optimum too (this saves the MILP on most real days).
        if limit_blocks is False or count_blocks(energies, slots.hours, p_min) <= limit:
            return _result(slots, energies, True, OptimumMethod.LP, p_min)
    energies = _solve_milp(slots, needed, p_max, p_min, limit)
    return _result(slots, energies, True, OptimumMethod.MILP, p_min)


def _result(
    slots: _Slots,
    energies: tuple[float, ...],
    feasible: bool,
    method: OptimumMethod,
    p_min: float,
) -> OptimumResult:
    cost = math.fsum(p * e for p, e in zip(slots.prices, energies, strict=True))
    return OptimumResult(
        cost_eur=cost,
        energies_kwh=energies,
        slot_starts=slots.starts,
        slot_ends=slots.ends,
        is_feasible=feasible,
        method=method,
        blocks=count_blocks(energies, slots.hours, p_min),
    )


@contextlib.contextmanager
def _stdout_silenced() -> Iterator[None]:
    """Keep HiGHS's one-time banner (written by C++ to fd 1) out of our stdout (``--json``)."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def _new_solver() -> Any:
    try:
        import highspy  # noqa: PLC0415 - optional dependency, only for checking planners
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise RuntimeError(
            "the exact optimum needs HiGHS: pip install highspy (a development dependency)"
        ) from exc
    with _stdout_silenced():
        solver = highspy.Highs()  # type: ignore[no-untyped-call]  # unannotated __init__
    for name, value in (
        ("output_flag", False),
        ("threads", 1),
        ("mip_rel_gap", 0.0),
        ("mip_abs_gap", _TOLERANCE),
        ("mip_feasibility_tolerance", _TOLERANCE),
        ("primal_feasibility_tolerance", _TOLERANCE),
        ("dual_feasibility_tolerance", _TOLERANCE),
    ):
        solver.setOptionValue(name, value)
    return solver


def _solve(
    costs: list[float],
    lower: list[float],
    upper: list[float],
    integer: list[bool],
    rows: list[tuple[float, float, list[tuple[int, float]]]],
) -> list[float]:
    """Minimise ``costs . x`` over the bounds and ``lo <= row . x <= hi``; return ``x``."""
    import highspy  # noqa: PLC0415 - _new_solver has checked it is there

    solver = _new_solver()
    lp = highspy.HighsLp()
    lp.num_col_ = len(costs)
    lp.num_row_ = len(rows)
    lp.col_cost_ = costs
    lp.col_lower_ = lower
    lp.col_upper_ = upper
    lp.row_lower_ = [lo for lo, _, _ in rows]
    lp.row_upper_ = [hi for _, hi, _ in rows]
    starts, index, value = [0], [], []
    for _, _, entries in rows:
        for col, coef in entries:
            index.append(col)
            value.append(coef)
        starts.append(len(index))
    lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    lp.a_matrix_.num_col_ = len(costs)
    lp.a_matrix_.num_row_ = len(rows)
    lp.a_matrix_.start_ = starts
    lp.a_matrix_.index_ = index
    lp.a_matrix_.value_ = value
    if any(integer):
        lp.integrality_ = [
            highspy.HighsVarType.kInteger if flag else highspy.HighsVarType.kContinuous
            for flag in integer
        ]
    solver.passModel(lp)
    solver.run()
    status = solver.getModelStatus()
    if status != highspy.HighsModelStatus.kOptimal:
        raise RuntimeError(f"HiGHS did not find an optimum: {solver.modelStatusToString(status)}")
    return list(solver.getSolution().col_value)


def _clean_energies(values: list[float], caps: tuple[float, ...]) -> tuple[float, ...]:
    """Clip solver noise (1e-12 below zero, a hair above a cap) back into the bounds."""
    return tuple(min(v, cap) if v > 0.0 else 0.0 for v, cap in zip(values, caps, strict=True))


def _solve_lp(slots: _Slots, needed: float, p_max: float) -> tuple[float, ...]:
    caps = tuple(p_max * h for h in slots.hours)
    n = len(caps)
    x = _solve(
        costs=list(slots.prices),
        lower=[0.0] * n,
        upper=list(caps),
        integer=[False] * n,
        rows=[(needed, needed, [(t, 1.0) for t in range(n)])],
    )
    return _clean_energies(x, caps)


def _solve_milp(
    slots: _Slots, needed: float, p_max: float, p_min: float, max_blocks: int
) -> tuple[float, ...]:
    n = len(slots.hours)
    caps = tuple(p_max * h for h in slots.hours)
    # Columns: e_0..e_{n-1}, start_0.., end_0.., o_0..o_n (o_0 and o_n fixed at 0).
    e_col, s_col, f_col, o_col = 0, n, 2 * n, 3 * n
    num = 4 * n + 1
    costs = [0.0] * num
    lower = [0.0] * num
    upper = [1.0] * num
    integer = [False] * num
    for t in range(n):
        costs[e_col + t] = slots.prices[t]
        upper[e_col + t] = caps[t]
        integer[s_col + t] = integer[f_col + t] = True
    upper[o_col] = upper[o_col + n] = 0.0

    rows: list[tuple[float, float, list[tuple[int, float]]]] = [
        (needed, needed, [(e_col + t, 1.0) for t in range(n)]),
        (-math.inf, float(max_blocks), [(s_col + t, 1.0) for t in range(n)]),
    ]
    for t in range(n):
        cap, floor = caps[t], p_min * slots.hours[t]
        # o_{t+1} - o_t - start_t + end_t = 0: starts and ends alternate.
        rows.append(
            (
                0.0,
                0.0,
                [(o_col + t + 1, 1.0), (o_col + t, -1.0), (s_col + t, -1.0), (f_col + t, 1.0)],
            )
        )
        # e_t - cap (o_t + start_t) <= 0: no energy outside a block.
        rows.append((-math.inf, 0.0, [(e_col + t, 1.0), (o_col + t, -cap), (s_col + t, -cap)]))
        # e_t - floor (o_t - start_t - end_t) >= 0: an interior slot carries the minimum.
        rows.append(
            (
                0.0,
                math.inf,
                [(e_col + t, 1.0), (o_col + t, -floor), (s_col + t, floor), (f_col + t, floor)],
            )
        )
    x = _solve(costs, lower, upper, integer, rows)
    return _clean_energies(x[e_col : e_col + n], caps)
