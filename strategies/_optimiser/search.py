"""Step 2, the Lagrangian certificate: search the best price ``lam`` of the relaxation.

``L(lam) = lam * energy + G(lam)`` (``relaxation``) is concave and bounds every plan from
below. It is searched by tangent lines: each probe's slope says on which side the top lies,
and the next probe is the top of their lower envelope. Each probe's block set, filled exactly
(``fill_blocks``), is a feasible plan. When the best plan meets the best bound it is optimal;
the same tables bound the plans with fewer blocks and those ending earlier, which certifies
the tie rules (or a search of its own on that smaller problem does). Otherwise step 3 runs
with the best multiplier found.
"""

from __future__ import annotations

import bisect
import math
import operator
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from strategies._optimiser.model import TIE_EUR, TOL, Solution
from strategies._optimiser.reduced import REDUCE_FROM, Reduced, reduce_window
from strategies._optimiser.relaxation import ends_before, lagrange


class Tangent(NamedTuple):
    """A tangent line of the concave dual ``L(lam) = lam * E + G(lam)``."""

    lam: float
    value: float
    slope: float


class Probe(NamedTuple):
    """One multiplier tried: the least values per block count and the table they come from."""

    lam: float
    root: list[float]
    table: Sequence[Sequence[float]]
    reduced: Reduced | None  #: the reduced window the table is of (None: the window's own)


@dataclass(frozen=True, slots=True)
class SearchResult:
    """What the multiplier search found.

    Attributes:
        solution: the certified optimum (tie rules included), or None.
        upper: the cost of the best feasible plan seen (``inf`` if none).
        lower: the best lower bound.
        lam: the multiplier that gave ``lower``.
        table: ``lagrange``'s table at ``lam``.
        reduced: the reduced window that table is of (None: the window's own).
    """

    solution: Solution | None
    upper: float
    lower: float
    lam: float
    table: Sequence[Sequence[float]]
    reduced: Reduced | None


def fill_blocks(
    prices: Sequence[float],
    caps: Sequence[float],
    los: Sequence[float],
    energy: float,
    blocks: Sequence[tuple[int, int]],
) -> tuple[list[float], float] | None:
    """Return the cheapest energies in a fixed block set and their cost."""
    n = len(prices)
    e = [0.0] * n
    left = energy
    items: list[int] = []
    for a, b in blocks:
        items.append(a)
        for i in range(a + 1, b):
            e[i] = los[i]
            left -= los[i]
            items.append(i)
        if b > a:
            items.append(b)
    if left < -TOL:
        return None
    items.sort(key=prices.__getitem__)
    for i in items:
        if left <= TOL:
            break
        room = caps[i] - e[i]
        if left <= room:
            e[i] += left
            left = 0.0
            break
        e[i] = caps[i]
        left -= room
    if left > TOL:
        return None
    cost = math.fsum(prices[i] * e[i] for i in items)
    return e, cost


def at_bounds(
    prices: Sequence[float],
    caps: Sequence[float],
    los: Sequence[float],
    lam: float,
    blocks: Sequence[tuple[int, int]],
) -> float:
    """Return the energy of ``blocks`` with every slot at the bound the price ``lam`` picks."""
    w = 0.0
    for a, b in blocks:
        for i in range(a, b + 1):
            if prices[i] < lam:
                w += caps[i]
            elif a < i < b:
                w += los[i]
    return w


def trim_blocks(e: Sequence[float], blocks: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for a, b in blocks:
        while a <= b and e[a] <= TOL:
            a += 1
        while b >= a and e[b] <= TOL:
            b -= 1
        if a <= b:
            out.append((a, b))
    return out


def lagrangian_search(
    prices: Sequence[float],
    caps: Sequence[float],
    los: Sequence[float],
    energy: float,
    max_blocks: int,
    lam0: float,
    above: float = math.inf,
    *,
    reduce: bool = True,
    reduction: Reduced | None = None,
) -> SearchResult:
    """Search the Lagrangian multiplier; return a certified optimum if the bound closes.

    With a finite ``above``, only the lower bound is wanted: the search stops as soon as it
    exceeds ``above`` and no solution is returned. ``reduction`` is the window's reduced
    window when the caller already has it; otherwise ``reduce`` says whether to make one.

    """
    cap_all = math.fsum(caps)
    ordered = sorted(prices)
    p_min = ordered[0]
    p_max = ordered[-1]
    # Tangent lines of the concave dual, first the two beyond every price.
    lines: list[Tangent] = [
        Tangent(p_min - 1.0, (p_min - 1.0) * energy, energy),
        Tangent(
            p_max + 1.0,
            math.fsum(map(operator.mul, prices, caps)) + (p_max + 1.0) * (energy - cap_all),
            energy - cap_all,
        ),
    ]
    evals: list[Probe] = []
    red = reduction
    if red is None and reduce and len(prices) >= REDUCE_FROM:
        red = reduce_window(prices, caps, los, energy, ordered)
    ub = math.inf
    ub_sol: tuple[list[float], list[tuple[int, int]]] | None = None
    lb = -math.inf
    lb_lam = lam0
    lb_hist: Sequence[Sequence[float]] = ()
    lb_red: Reduced | None = None
    lam = lam0
    eps = 1e-9 * max(1.0, abs(energy * max(p_max, -p_min)))
    levels: list[float] | None = None
    step = 1
    for _ in range(12):
        table_of = red if red is not None and lam <= red.tau else None
        if table_of is not None:
            root, ends, reduced = lagrange(
                table_of.prices, table_of.caps, table_of.los, lam, max_blocks
            )
            blocks = table_of.blocks(reduced)
        else:
            root, ends, blocks = lagrange(prices, caps, los, lam, max_blocks)
        val = lam * energy + root[max_blocks]
        evals.append(Probe(lam, root, ends, table_of))
        if val > lb:
            lb, lb_lam, lb_hist, lb_red = val, lam, ends, table_of
        w = at_bounds(prices, caps, los, lam, blocks)
        lines.append(Tangent(lam, val, energy - w))
        if blocks:
            got = fill_blocks(prices, caps, los, energy, blocks)
            if got is not None and got[1] < ub - 1e-12:
                ub_sol, ub = (got[0], blocks), got[1]
        if ub - lb <= eps or lb > above:
            break
        # Next multiplier: the top of the envelope of the tangent lines. The top of a lower
        # envelope of lines is the lowest crossing of a rising with a falling line (or a flat
        # line below it); the multiplier is where that pair crosses.
        best_lam, best_val = lam, -math.inf
        rising = [ln for ln in lines if ln.slope > 0]
        falling = [ln for ln in lines if ln.slope < 0]
        if rising and falling:
            best_val = math.inf
            for x0, v0, s0 in rising:
                for x1, v1, s1 in falling:
                    # v0 + s0 (x - x0) = v1 + s1 (x - x1)
                    x = (v1 - v0 + s0 * x0 - s1 * x1) / (s0 - s1)
                    top = v0 + s0 * (x - x0)
                    if top < best_val:
                        best_lam, best_val = x, top
            for _, v, s in lines:
                if s == 0 and v < best_val:
                    best_val = v
        if best_val - lb <= eps or any(abs(best_lam - x) <= 1e-12 for x, _, _ in lines):
            break
        # The envelope's top bounds every later lower bound: with a finite ``above`` the
        # search is done once the top is not over it.
        if best_val <= above < math.inf:
            break
        # Until the search is bracketed by tangents of both signs, step away from the start
        # over the price levels (1, 2, 4, ... levels): the extreme lines are far too steep.
        slope = lines[-1].slope
        if slope and all(s * slope > 0 for _, _, s in lines[2:]):
            if levels is None:
                levels = list(dict.fromkeys(ordered))
            if slope > 0:
                at = bisect.bisect_right(levels, lam) + step - 1
                nxt = levels[at] if at < len(levels) else best_lam
            else:
                at = bisect.bisect_left(levels, lam) - step
                nxt = levels[at] if at >= 0 else best_lam
            step *= 2
            if (nxt - lam) * slope > 0 and (best_lam - nxt) * slope > 0:
                best_lam = nxt
        lam = best_lam
    unsolved = SearchResult(None, ub, lb, lb_lam, lb_hist, lb_red)
    if ub_sol is None or ub - lb > eps or not math.isinf(above):
        return unsolved
    e, blocks = ub_sol
    blocks = trim_blocks(e, blocks)
    nb = len(blocks)
    limit = ub + TIE_EUR + TOL
    # The tie rules: no plan with fewer blocks, and none with as many ending before the last
    # charged slot, may cost at most ``limit``. First the bounds already at hand, then (only
    # where they do not settle it) a multiplier search of its own for that smaller problem.
    if nb > 1 and max(probe.lam * energy + probe.root[nb - 1] for probe in evals) <= limit:
        fewer = lagrangian_search(
            prices, caps, los, energy, nb - 1, lb_lam, limit, reduce=reduce, reduction=red
        )
        if fewer.lower <= limit:
            return unsolved
    f = blocks[-1][1]
    # (A plan ending inside a merged run is worth no less than one ending before the run.)
    ended = max(
        probe.lam * energy
        + ends_before(probe.table, f if probe.reduced is None else probe.reduced.index(f), nb)
        for probe in evals
    )
    if ended <= limit and math.fsum(caps[:f]) >= energy - TOL:
        earlier = lagrangian_search(
            prices[:f], caps[:f], los[:f], energy, nb, lb_lam, limit, reduce=reduce
        )
        if earlier.lower <= limit:
            return unsolved
    return SearchResult(Solution(tuple(e), tuple(blocks), ub), ub, lb, lb_lam, lb_hist, lb_red)
