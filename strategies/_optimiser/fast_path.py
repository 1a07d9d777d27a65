"""Step 1, the LP fast path: the cheapest-first fill when it is provably the optimum.

Fill the cheapest slots first (equal prices: earlier first). This is the optimum of the
relaxation without the block limit and the interior minimum, so when its runs number at most
``max_blocks`` and its one partial slot is not an interior slot below the minimum, it is
optimal. With the LP's marginal price ``lam`` the cost of any plan is ``LP + sum(penalty)``
(``(lam - p) * missing`` on cheap slots, ``(p - lam) * e`` on dear ones), which certifies the
tie rules cheaply: fewer blocks need a whole run emptied or a whole gap bridged at ``lo``
(``_fewer_blocks_bound``); an earlier finish needs the LP restricted to the earlier window.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import NamedTuple

from strategies._optimiser.model import TIE_EUR, TOL, Solution
from strategies._slots import TOL_KWH, runs


class FastPath(NamedTuple):
    """The fast path's answer: the optimum when the LP's fill is provably it, and the LP's price."""

    solution: Solution | None
    lam: float  #: the LP's marginal price


def _lp_fill(
    order: Sequence[int], caps: Sequence[float], energy: float, limit: int
) -> tuple[list[float], int, float] | None:
    """Fill cheapest-first over slots below ``limit``; return energies, marginal, leftover."""
    e = [0.0] * len(caps)
    left = energy
    marginal = -1
    for i in order:
        if i >= limit:
            continue
        cap = caps[i]
        marginal = i
        if left <= cap + TOL:
            e[i] = min(left, cap)
            left = 0.0
            break
        e[i] = cap
        left -= cap
    if left > TOL:
        return None
    return e, marginal, left


def _fewer_blocks_bound(
    order: Sequence[int],
    prices: Sequence[float],
    caps: Sequence[float],
    los: Sequence[float],
    e: Sequence[float],
    blocks: Sequence[tuple[int, int]],
    lam: float,
) -> float:
    """Return a lower bound on the extra cost of any plan with fewer blocks than the LP's.

    Widen each LP run by the adjacent slots priced exactly ``lam`` (they can move the run
    freely). A plan with fewer blocks either leaves a widened run without charge (its energy is
    bought elsewhere, above ``lam``, and its cheap slots are lost) or bridges a whole gap
    between two of them with interior slots at the minimum (that energy displaces the
    cheapest-to-lose energy elsewhere). Costs are reduced costs relative to ``lam``, so each part
    is a valid lower bound.
    """
    n = len(prices)
    wide: list[tuple[int, int]] = []
    for a, b in blocks:
        while a > 0 and e[a - 1] <= TOL and prices[a - 1] == lam:
            a -= 1
        while b < n - 1 and e[b + 1] <= TOL and prices[b + 1] == lam:
            b += 1
        if wide and a <= wide[-1][1] + 1:
            wide[-1] = (wide[-1][0], b)
        else:
            wide.append((a, b))
    if len(wide) < len(blocks):
        return 0.0  # two runs already join through slots at the marginal price
    best = math.inf
    for a, b in wide:
        moved = 0.0
        lost = 0.0
        for i in range(a, b + 1):
            moved += e[i]
            lost += (lam - prices[i]) * e[i]
        # Buy ``moved`` again outside [a, b] where there is room, cheapest reduced cost first.
        for i in order:
            if moved <= TOL or lost >= best:
                break
            if a <= i <= b:
                continue
            room = caps[i] - e[i]
            if room > TOL:
                take = min(room, moved)
                lost += (prices[i] - lam) * take
                moved -= take
        if moved > TOL:
            lost = math.inf
        best = min(best, lost)
    for (_, b), (a, _) in itertools.pairwise(wide):
        added = 0.0
        extra = 0.0
        for i in range(b + 1, a):
            added += los[i]
            extra += (prices[i] - lam) * los[i]
        # Give up ``added`` elsewhere, where losing it costs least (dearest charged slots first).
        for i in reversed(order):
            if added <= TOL or extra >= best:
                break
            if b < i < a or e[i] <= TOL:
                continue
            take = min(e[i], added)
            extra += (lam - prices[i]) * take
            added -= take
        best = min(best, extra)
    return best


def _place_ties(
    prices: Sequence[float],
    caps: Sequence[float],
    los: Sequence[float],
    energy: float,
    lam: float,
) -> list[float] | None:
    """Return an LP-optimal fill that puts the energy priced exactly ``lam`` where it saves blocks.

    Every slot cheaper than ``lam`` is full; the rest of the energy goes to slots priced ``lam``:
    first whole gaps of such slots between two cheaper runs, at the minimum (a bridge joins two
    blocks), then upwards in those bridges, then next to a block (growing it outwards), then
    earliest first. None when that does not fit.
    """
    n = len(prices)
    e = [caps[i] if prices[i] < lam else 0.0 for i in range(n)]
    left = energy - math.fsum(e)
    if left < -TOL:
        return None
    strict = runs(e)
    bridges: list[tuple[float, int, int]] = []
    for (_, b), (a, _) in itertools.pairwise(strict):
        if all(prices[i] == lam for i in range(b + 1, a)):
            bridges.append((math.fsum(los[b + 1 : a]), b + 1, a - 1))
    bridges.sort()
    chosen: list[tuple[int, int]] = []
    for need, a, b in bridges:
        if need <= left + TOL:
            for i in range(a, b + 1):
                e[i] = los[i]
            left -= need
            chosen.append((a, b))
    for a, b in sorted(chosen):
        for i in range(a, b + 1):
            take = min(caps[i] - e[i], max(left, 0.0))
            e[i] += take
            left -= take
    if left > TOL:
        # Grow blocks outwards through slots priced lam, nearest first, then the earliest.
        ties = [i for i in range(n) if prices[i] == lam and e[i] <= TOL]
        charged = [i for i in range(n) if e[i] > TOL]

        def distance(i: int) -> int:
            return min((abs(i - j) for j in charged), default=n)

        for i in sorted(ties, key=lambda i: (distance(i), i)):
            if left <= TOL:
                break
            take = min(caps[i], left)
            e[i] = take
            left -= take
    if left > TOL:
        return None
    return e


def _valid(
    e: Sequence[float], los: Sequence[float], max_blocks: int
) -> list[tuple[int, int]] | None:
    """Return the runs of ``e`` when they are a valid plan (block limit, interior minimum)."""
    blocks = runs(e)
    if len(blocks) > max_blocks:
        return None
    for a, b in blocks:
        for i in range(a + 1, b):
            if e[i] < los[i] - TOL:
                return None
    return blocks


def fast_path(
    prices: Sequence[float],
    caps: Sequence[float],
    los: Sequence[float],
    energy: float,
    max_blocks: int,
) -> FastPath:
    """Return the LP solution when it is provably the answer, and the LP's marginal price."""
    n = len(prices)
    order = sorted(range(n), key=prices.__getitem__)
    filled = _lp_fill(order, caps, energy, n)
    assert filled is not None, "the caller checks feasibility"
    e, m, _ = filled
    charged = sorted(i for i in order[: order.index(m) + 1] if e[i] > TOL_KWH)
    cost = math.fsum(prices[i] * e[i] for i in charged)
    lam = prices[m]
    # With no other slot priced ``lam``, the LP's fill is the only one (placing ties is moot):
    # when its runs are more than the blocks allowed, the LP is not the answer.
    ties = prices.count(lam) > 1
    if not ties and sum(b > a + 1 for a, b in itertools.pairwise(charged)) >= max_blocks:
        return FastPath(None, lam)
    # Among the LP's optima (energy priced lam can move), the fewest blocks, then the earliest end.
    best: tuple[int, int, list[float], list[tuple[int, int]]] | None = None
    placed = _place_ties(prices, caps, los, energy, lam) if ties else None
    for cand in (e, placed):
        if cand is None:
            continue
        blocks = _valid(cand, los, max_blocks)
        if blocks is None:
            continue
        rank = (len(blocks), blocks[-1][1])
        if best is None or rank < best[:2]:
            best = (*rank, cand, blocks)
    if best is None:
        return FastPath(None, lam)
    _, _, e, blocks = best
    cost = math.fsum(prices[i] * e[i] for i in range(n) if e[i] > 0)
    # Fewer blocks: empty a whole run or bridge a whole gap at the minimum.
    if len(blocks) > 1 and _fewer_blocks_bound(order, prices, caps, los, e, blocks, lam) <= (
        TIE_EUR + TOL
    ):
        return FastPath(None, lam)
    # Earlier finish: the LP of the window that ends before the last charged slot.
    earlier = _lp_fill(order, caps, energy, blocks[-1][1])
    if earlier is not None:
        ee = earlier[0]
        if math.fsum(prices[i] * ee[i] for i in range(n) if ee[i] > 0) <= cost + TIE_EUR + TOL:
            return FastPath(None, lam)
    return FastPath(Solution(tuple(e), tuple(blocks), cost), lam)
