"""The reduced window: every run of dear slots merged into one, with the same relaxation.

Every run of slots dearer than a price level ``tau`` (where the cheapest slots hold three
times the energy) is merged into one slot, which leaves every relaxation value with
``lam <= tau`` unchanged: 192 quarter hours become about 30 slots. ``search`` evaluates a
multiplier up to ``tau`` on it and a larger one on the whole window; ``Reduced.spread`` turns
its bounds back into (lower) bounds on the whole window's slots.
"""

from __future__ import annotations

import bisect
import itertools
import math
import operator
from collections.abc import Sequence
from dataclasses import dataclass

#: The Lagrangian search runs on a reduced window: slots dearer than the price below which the
#: cheapest slots hold this many times the energy are merged into runs (see ``Reduced``).
REDUCE_FACTOR = 3.0


#: Shorter windows (slots) are searched as they are: there a pass costs little more than
#: making the reduced window.
REDUCE_FROM = 96


@dataclass(frozen=True, slots=True)
class Reduced:
    """A window with every maximal run of slots dearer than ``tau`` merged into one slot.

    For any multiplier ``lam <= tau`` the Lagrangian value is the same as the window's: a slot
    dearer than ``lam`` is worth 0 outside a block or at its edge and ``(p - lam) * lo`` inside,
    so a run of them inside a block is worth ``sum(p * lo) - lam * sum(lo)``: one slot with
    ``lo = sum(lo)`` and the ``lo``-weighted mean price. Ending (or starting) a block inside a
    run is never worth more than ending it before the run (or starting after it), so the merged
    slot needs no other roles.

    Attributes:
        tau: the largest multiplier the reduction is exact for.
        prices: per reduced slot, the price (a run's ``lo``-weighted mean).
        caps: per reduced slot, the capacity (a run's is never used: it is always dear).
        los: per reduced slot, the interior minimum (a run's total).
        first: per reduced slot, its first window slot.
        last: per reduced slot, its last window slot.
        size: the number of window slots.
    """

    tau: float
    prices: list[float]
    caps: list[float]
    los: list[float]
    first: list[int]
    last: list[int]
    size: int

    def index(self, t: int) -> int:
        """Return the reduced slot that holds window slot ``t`` (one past the end: the end)."""
        return bisect.bisect_right(self.first, t) - 1 if t < self.size else len(self.first)

    def blocks(self, reduced: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
        """Return window blocks with the reduced blocks' values and energies at bounds.

        A block's edges go to the end of an edge run next to the block's interior (where the
        edge is worth 0 and the run's other slots are outside); a lone run becomes its first
        slot.
        """
        first, last = self.first, self.last
        return [(first[a], first[a]) if a == b else (last[a], first[b]) for a, b in reduced]

    def spread(
        self,
        bounds: Sequence[Sequence[float]],
        through: Sequence[float],
        hist: Sequence[Sequence[float]],
        lam: float,
        prices: Sequence[float],
        los: Sequence[float],
        acc: Sequence[float],
        limit: float,
    ) -> tuple[list[Sequence[float]], list[float], int]:
        """Return lower bounds for ``suffix_bounds`` of the window from the reduced window's.

        ``bounds``, ``through`` and ``hist`` are the reduced window's at ``lam <= tau``. A
        normal slot keeps its values (they are the window's). Inside a merged run every slot is
        dearer than ``lam``: there a slot costs at least 0 whatever its role, and ``dlo`` (its
        ``(p - lam) * lo``) as an interior slot. With ``c``/``o`` the values before the run and
        ``x``/``y`` the bounds after it (closed/open), a plan that charges slot s of the run
        either crosses the whole run (``o[k] + sum(dlo) + y[k]``), enters it and ends at or
        after s (``o[k] + dlo before s + x[k]``), starts at or before s and leaves it
        (``f[k] + dlo after s + y[k + 1]``), or starts and ends inside it
        (``f[k] + x[k + 1]``). Here ``f[k]`` bounds the part before from a closed state with k
        blocks inside the run (``min(c[j], o[j])`` for j <= k), and ``x[k]`` the rest from a
        closed state with k blocks inside it: starting more blocks there leads to a bound
        after it that is never below ``x[k]`` (``x`` and ``y`` of more blocks, ``x[k]``
        included starting a block right after the run). The least of these bounds the slot's
        value through it. From a slot inside the run on, a closed state is bounded by ``x[k]``
        and an open one by ``min(x[k], y[k])``.

        A run that no plan within ``limit`` charges even by the least of these (``acc`` is
        the empty-prefix penalty, ``empty_prefix``) gets that least value on every slot, which
        is still a lower bound. Also returns how many slots inside merged runs are in play.
        """
        n = self.size
        kk = (len(bounds[0]) - 2) // 2  # the block limit
        inf = math.inf
        out: list[Sequence[float]] = [()] * (n + 1)
        spread_through: list[float] = [0.0] * n
        in_play = 0
        for j, (a, b) in enumerate(zip(self.first, self.last, strict=True)):
            out[a] = bounds[j]
            if b == a:
                spread_through[a] = through[j]
                continue
            row = hist[j]
            c = [0.0, *row[:kk]]
            o = [inf, *row[kk:]]
            after = bounds[j + 1]
            x = after[0::2]
            y = after[1::2]
            # f[k]: closed with k blocks, reached inside the run.
            f = [0.0] * (kk + 1)
            least = inf
            for k in range(kk + 1):
                least = min(least, c[k], o[k])
                f[k] = least
            enter = min(o[k] + x[k] for k in range(1, kk + 1))
            leave = min(f[k] + y[k + 1] for k in range(kk))
            inside = min(f[k] + x[k + 1] for k in range(kk))
            weak = tuple(v for k in range(kk + 1) for v in (x[k], min(x[k], y[k])))
            out[a + 1 : b + 1] = [weak] * (b - a)
            # The least over the run (``sum(dlo) >= 0`` left out of the crossing).
            least = min(enter, leave, inside, min(o[k] + y[k] for k in range(1, kk + 1)))
            if least + acc[a] > limit:
                spread_through[a : b + 1] = [least] * (b - a + 1)
                continue
            dlo = [(prices[t] - lam) * los[t] for t in range(a, b + 1)]
            total = math.fsum(dlo)
            cross = min(o[k] + total + y[k] for k in range(1, kk + 1))
            base = min(cross, inside)
            before = 0.0
            rest = total
            for i, v in enumerate(dlo):
                rest -= v
                m = enter + before
                if leave + rest < m:
                    m = leave + rest
                if m > base:
                    m = base
                spread_through[a + i] = m
                if m + acc[a] <= limit:
                    in_play += 1
                before += v
        out[n] = bounds[-1]
        return out, spread_through, in_play


def reduce_window(
    prices: Sequence[float],
    caps: Sequence[float],
    los: Sequence[float],
    energy: float,
    ordered: Sequence[float],
) -> Reduced | None:
    """Return the reduced window, or None when it would not be much smaller.

    ``ordered`` is ``sorted(prices)``. ``tau`` is the price below which the cheapest slots hold
    ``REDUCE_FACTOR`` times the energy (counting every slot at the largest capacity: any
    ``tau`` is exact, this one only decides how much is merged).
    """
    n = len(prices)
    held = math.ceil(REDUCE_FACTOR * energy / max(caps))
    if held >= n:
        return None
    tau = ordered[max(held - 1, 0)]
    rp: list[float] = []
    rc: list[float] = []
    rl: list[float] = []
    first: list[int] = []
    last: list[int] = []
    dear = [tau < p for p in prices]
    # The slots where a run of dear (or cheap) slots starts, and the end.
    cuts = [0, *itertools.compress(range(1, n), map(operator.ne, dear[1:], dear)), n]
    for i, j in itertools.pairwise(cuts):
        if dear[i]:
            run = prices[i:j]
            lo_run = los[i:j]
            total_lo = sum(lo_run)
            cheapest = min(run)
            mean = sum(map(operator.mul, run, lo_run)) / total_lo if total_lo > 0 else 0.0
            rp.append(mean if mean > cheapest else cheapest)
            rc.append(sum(caps[i:j]))
            rl.append(total_lo)
            first.append(i)
            last.append(j - 1)
        else:
            rp.extend(prices[i:j])
            rc.extend(caps[i:j])
            rl.extend(los[i:j])
            first.extend(range(i, j))
            last.extend(range(i, j))
    if 4 * len(rp) > 3 * n:
        return None
    return Reduced(tau, rp, rc, rl, first, last, n)
