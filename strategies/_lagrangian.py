"""The Lagrangian relaxation behind the exact optimiser, and the bounds it gives.

For a price ``lam`` each slot has a value: 0 outside every block, ``min(0, (p - lam) * cap)`` at
a block's edge, ``(p - lam) * (cap if p < lam else lo)`` inside. The least total with at most
``max_blocks`` blocks, ``G(lam)``, makes ``lam * energy + G(lam)`` a lower bound on every plan
(``strategies._exact`` searches the best ``lam``). Here: the forward tables and their traceback
(``_lagrange``), the same recurrence backwards as penalties for the exact DP's pruning
(``_suffix_bounds``), and the reduced window (``_Reduced``) that gives the same values with
runs of dear slots merged. Pure numbers in and out.
"""

from __future__ import annotations

import bisect
import itertools
import math
import operator
from collections.abc import Sequence
from dataclasses import dataclass


def _suffix_bounds3(
    prices: Sequence[float],
    caps: Sequence[float],
    los: Sequence[float],
    lam: float,
    hist: Sequence[Sequence[float]],
) -> tuple[list[Sequence[float]], list[float]]:
    """Return ``_suffix_bounds`` for three blocks, the same recurrences unrolled."""
    inf = math.inf
    # c<k>: k blocks used, none open; o<k>: the k-th block open (after slot t, while at t).
    c0 = c1 = c2 = c3 = 0.0
    o0 = o1 = o2 = o3 = inf
    out: list[Sequence[float]] = [(c0, o0, c1, o1, c2, o2, c3, o3)]
    add = out.append
    through: list[float] = []
    add_through = through.append
    for t in range(len(prices) - 1, -1, -1):
        d = prices[t] - lam
        if d < 0:
            base = -d * caps[t]
            inner = 0.0
        else:
            base = 0.0
            inner = d * los[t]
        # Slot t in a block: start one after k closed blocks (h<k>, h0 = 0), or continue or
        # end the open k-th block (g<k>), with the bounds after t.
        h1, h2, h3, g1, g2, g3 = hist[t]
        m = o1 if o1 < c1 else c1
        a = o2 if o2 < c2 else c2
        a += h1
        if a < m:
            m = a
        a = o3 if o3 < c3 else c3
        a += h2
        if a < m:
            m = a
        a = inner + o1
        if c1 < a:
            a = c1
        a += g1
        if a < m:
            m = a
        a = inner + o2
        if c2 < a:
            a = c2
        a += g2
        if a < m:
            m = a
        a = inner + o3
        if c3 < a:
            a = c3
        a += g3
        if a < m:
            m = a
        add_through(m)
        # cur[2k] = min(base + nxt[2k], nxt[2k + 2], nxt[2k + 3]); cur[2k + 1] = min(inner +
        # nxt[2k + 1], nxt[2k]), all from the old values.
        a = o1 if o1 < c1 else c1
        b = c0 + base
        n0 = a if a < b else b
        a = o2 if o2 < c2 else c2
        b = c1 + base
        n1 = a if a < b else b
        a = o3 if o3 < c3 else c3
        b = c2 + base
        n2 = a if a < b else b
        n3 = c3 + base
        a = o0 + inner
        o0 = c0 if c0 < a else a
        a = o1 + inner
        o1 = c1 if c1 < a else a
        a = o2 + inner
        o2 = c2 if c2 < a else a
        a = o3 + inner
        o3 = c3 if c3 < a else a
        c0, c1, c2, c3 = n0, n1, n2, n3
        add((c0, o0, c1, o1, c2, o2, c3, o3))
    out.reverse()
    through.reverse()
    return out, through


def _suffix_bounds(
    prices: Sequence[float],
    caps: Sequence[float],
    los: Sequence[float],
    lam: float,
    max_blocks: int,
    hist: Sequence[Sequence[float]],
) -> tuple[list[Sequence[float]], list[float]]:
    """Return the DP's bounds on the rest of the window, and per slot the least "through" value.

    ``bounds[t][2 * k + open]`` is the least penalty of the slots from t on, in the state
    "k blocks used, the k-th open or not". ``through[t]`` is the least penalty of a plan that
    has slot t in a block, less the penalty of leaving every slot before t empty: the slots
    before t are valued from ``hist`` (``_lagrange``'s table at ``lam``), whose values are the
    penalties less that same amount (a slot's penalty is its value less
    ``min(0, (p - lam) * cap)`` whatever its role). Adding the empty-prefix penalty back gives
    a bound on every plan that charges in slot t.
    """
    if max_blocks == 3:
        return _suffix_bounds3(prices, caps, los, lam, hist)
    return _suffix_bounds_any(prices, caps, los, lam, max_blocks, hist)


def _suffix_bounds_any(
    prices: Sequence[float],
    caps: Sequence[float],
    los: Sequence[float],
    lam: float,
    max_blocks: int,
    hist: Sequence[Sequence[float]],
) -> tuple[list[Sequence[float]], list[float]]:
    """Return ``_suffix_bounds`` for any block limit."""
    n = len(prices)
    inf = math.inf
    width = 2 * (max_blocks + 1)
    nxt = [inf] * width
    for k in range(max_blocks + 1):
        nxt[2 * k] = 0.0
    out: list[Sequence[float]] = [tuple(nxt)]
    through: list[float] = []
    # An edge slot's penalty is 0 (it may take exactly the LP's choice); an interior slot costs
    # ``d * lo`` when dearer than lam (it must take lo) and 0 otherwise; an empty slot costs base.
    for t in range(n - 1, -1, -1):
        d = prices[t] - lam
        if d < 0:
            base = -d * caps[t]
            inner = 0.0
        else:
            base = 0.0
            inner = d * los[t]
        row = hist[t]
        m = inf
        for k in range(max_blocks):
            # Start a block at t with k blocks closed before it.
            a = nxt[2 * k + 2]
            b = nxt[2 * k + 3]
            v = b if b < a else a
            if k:
                v += row[k - 1]
            if v < m:
                m = v
        for k in range(1, max_blocks + 1):
            # Continue the open k-th block through t, or end it at t.
            a = inner + nxt[2 * k + 1]
            b = nxt[2 * k]
            v = b if b < a else a
            v += row[max_blocks + k - 1]
            if v < m:
                m = v
        through.append(m)
        cur = [inf] * width
        for k in range(max_blocks + 1):
            i = 2 * k
            skip = base + nxt[i]
            if k < max_blocks:
                a = nxt[i + 2]
                b = nxt[i + 3]
                if b < a:
                    a = b
                if a < skip:
                    skip = a
            cur[i] = skip
            a = inner + nxt[i + 1]
            b = nxt[i]
            cur[i + 1] = b if b < a else a
        out.append(tuple(cur))
        nxt = cur
    out.reverse()
    through.reverse()
    return out, through


def _lagrange_tables(
    prices: Sequence[float],
    caps: Sequence[float],
    los: Sequence[float],
    lam: float,
    max_blocks: int,
) -> list[Sequence[float]]:
    """Return ``_lagrange``'s table: per slot t, the least values closed and open.

    Row t holds, for the slots before t, the least value with k blocks all closed
    (``row[k - 1]``, k = 1..max_blocks; with none it is 0) and with the k-th block open
    (``row[max_blocks + k - 1]``).
    """
    n = len(prices)
    inf = math.inf
    kk = max_blocks + 1
    closed = [0.0] + [inf] * max_blocks  # closed[k]: k blocks used, none open
    opened = [inf] * kk  # opened[k]: k blocks used, the k-th still open
    hist: list[Sequence[float]] = [(inf,) * (2 * max_blocks)]
    ks = range(1, kk)
    for t in range(n):
        d = prices[t] - lam
        nc = [0.0] * kk
        no = [inf] * kk
        prev = 0.0  # closed[k - 1]
        if d < 0:
            x = d * caps[t]
            for k in ks:
                v = closed[k]
                a = prev + x
                b = opened[k] + x
                if a < v:
                    v = a
                if b < v:
                    v = b
                nc[k] = v
                no[k] = a if a < b else b
                prev = closed[k]
        else:
            y = d * los[t]
            for k in ks:
                v = closed[k]
                o = opened[k]
                if prev < v:
                    v = prev
                if o < v:
                    v = o
                nc[k] = v
                w = o + y
                no[k] = prev if prev < w else w
                prev = closed[k]
        closed, opened = nc, no
        hist.append((*nc[1:], *no[1:]))
    return hist


def _lagrange_tables3(
    prices: Sequence[float], caps: Sequence[float], los: Sequence[float], lam: float
) -> list[Sequence[float]]:
    """Return ``_lagrange``'s table for three blocks, the same recurrence unrolled."""
    inf = math.inf
    c1 = c2 = c3 = o1 = o2 = o3 = inf
    hist: list[Sequence[float]] = [(inf, inf, inf, inf, inf, inf)]
    add = hist.append
    for p, cap, lo in zip(prices, caps, los, strict=True):
        d = p - lam
        if d < 0:
            x = d * cap
            # no[k] = min(closed[k - 1], opened[k]) + x; nc[k] = min(closed[k], no[k]).
            o1 = x if o1 > 0.0 else o1 + x
            a = c1 + x
            b = o2 + x
            o2 = a if a < b else b
            a = c2 + x
            b = o3 + x
            o3 = a if a < b else b
            if o1 < c1:
                c1 = o1
            if o2 < c2:
                c2 = o2
            if o3 < c3:
                c3 = o3
        else:
            # no[k] = min(closed[k - 1], opened[k] + y); nc[k] = min(closed[k], closed[k - 1],
            # opened[k]) with the old values.
            y = d * lo
            n3 = c3
            if c2 < n3:
                n3 = c2
            if o3 < n3:
                n3 = o3
            n2 = c2
            if c1 < n2:
                n2 = c1
            if o2 < n2:
                n2 = o2
            n1 = c1
            if n1 > 0.0:
                n1 = 0.0
            if o1 < n1:
                n1 = o1
            w = o3 + y
            o3 = c2 if c2 < w else w
            w = o2 + y
            o2 = c1 if c1 < w else w
            w = o1 + y
            o1 = 0.0 if w > 0.0 else w
            c1, c2, c3 = n1, n2, n3
        add((c1, c2, c3, o1, o2, o3))
    return hist


def _tables(
    prices: Sequence[float],
    caps: Sequence[float],
    los: Sequence[float],
    lam: float,
    max_blocks: int,
) -> list[Sequence[float]]:
    """Return ``_lagrange_tables`` (unrolled for three blocks)."""
    if max_blocks == 3:
        return _lagrange_tables3(prices, caps, los, lam)
    return _lagrange_tables(prices, caps, los, lam, max_blocks)


def _lagrange(
    prices: Sequence[float],
    caps: Sequence[float],
    los: Sequence[float],
    lam: float,
    max_blocks: int,
) -> tuple[list[float], list[Sequence[float]], list[tuple[int, int]]]:
    """Solve the Lagrangian relaxation at price ``lam`` (no energy constraint).

    A slot outside every block is worth 0, an edge slot ``min(0, (p - lam) * cap)``, an interior
    slot ``(p - lam) * (cap if p < lam else lo)``.

    Returns:
        ``root[j]``: the least value with at most ``j`` blocks; ``hist[t][j - 1]``: the least
        value with exactly ``j >= 1`` blocks, all closed, before slot ``t`` (``_ends`` turns it
        into "at most"); and the blocks of a least-value plan with at most ``max_blocks`` blocks.
    """
    n = len(prices)
    kk = max_blocks + 1
    hist = _tables(prices, caps, los, lam, max_blocks)
    closed = (0.0, *hist[-1][:max_blocks])
    best = 0.0
    root = [best]
    for k in range(1, kk):
        if closed[k] < best:
            best = closed[k]
        root.append(best)
    k = min(range(kk), key=lambda j: (closed[j], j))
    opened = max_blocks - 1  # row[opened + k]: the k-th block open
    blocks: list[tuple[int, int]] = []
    is_open = False
    end = -1
    t = n - 1
    while k and t >= 0:
        d = prices[t] - lam
        edge = d * caps[t] if d < 0 else 0.0
        if is_open:
            row = hist[t]
            before = row[k - 2] if k > 1 else 0.0  # k - 1 blocks, all closed
            inner = edge if d < 0 else d * los[t]
            if before + edge < row[opened + k] + inner:
                blocks.append((t, end))
                k -= 1
                is_open = False
            t -= 1
            continue
        # Closed with k blocks: the value of "k blocks closed before slot t" never rises with
        # t, and slot t idles exactly while it still equals the state's value. Jump to the
        # first slot before which it does (bisect): the slot before that one is not idle.
        col = k - 1
        target = -hist[t + 1][col]
        t = bisect.bisect_left(hist, target, 0, t + 1, key=lambda r: -r[col]) - 1
        if t < 0:
            break
        d = prices[t] - lam
        edge = d * caps[t] if d < 0 else 0.0
        row = hist[t]
        before = row[k - 2] if k > 1 else 0.0
        v = row[col]
        c = 0
        w = before + edge
        if w < v:
            v, c = w, 1
        w = row[opened + k] + edge
        if w < v:
            c = 2
        if c == 1:
            blocks.append((t, t))
            k -= 1
        elif c == 2:
            end = t
            is_open = True
        t -= 1
    blocks.reverse()
    return root, hist, blocks


def _ends(hist: Sequence[Sequence[float]], t: int, j: int) -> float:
    """Return the least Lagrangian value with at most ``j`` blocks, all ending before slot ``t``."""
    return min(0.0, *hist[t][:j])


#: The Lagrangian search runs on a reduced window: slots dearer than the price below which the
#: cheapest slots hold this many times the energy are merged into runs (see ``_Reduced``).
_REDUCE_FACTOR = 3.0
#: Shorter windows (slots) are searched as they are: there a pass costs little more than
#: making the reduced window.
REDUCE_FROM = 96


@dataclass(frozen=True, slots=True)
class _Reduced:
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
        """Return lower bounds for ``_suffix_bounds`` of the window from the reduced window's.

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
        the empty-prefix penalty, ``_empty_prefix``) gets that least value on every slot, which
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


def _reduce(
    prices: Sequence[float],
    caps: Sequence[float],
    los: Sequence[float],
    energy: float,
    ordered: Sequence[float],
) -> _Reduced | None:
    """Return the reduced window, or None when it would not be much smaller.

    ``ordered`` is ``sorted(prices)``. ``tau`` is the price below which the cheapest slots hold
    ``_REDUCE_FACTOR`` times the energy (counting every slot at the largest capacity: any
    ``tau`` is exact, this one only decides how much is merged).
    """
    n = len(prices)
    held = math.ceil(_REDUCE_FACTOR * energy / max(caps))
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
    return _Reduced(tau, rp, rc, rl, first, last, n)


def _empty_prefix(prices: Sequence[float], caps: Sequence[float], lam: float) -> list[float]:
    """Return per slot (and one past the end) the penalty of leaving every slot before it empty."""
    return list(
        itertools.accumulate(
            [(lam - p) * c if p < lam else 0.0 for p, c in zip(prices, caps, strict=True)],
            initial=0.0,
        )
    )
