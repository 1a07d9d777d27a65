"""The Lagrangian relaxation at one price ``lam``: its tables and a least-value plan.

For a price ``lam`` each slot has a value: 0 outside every block, ``min(0, (p - lam) * cap)`` at
a block's edge, ``(p - lam) * (cap if p < lam else lo)`` inside. The least total with at most
``max_blocks`` blocks, ``G(lam)``, makes ``lam * energy + G(lam)`` a lower bound on every plan
(``search`` looks for the best ``lam``). A DP over the slots with the states "k blocks used,
the k-th open or not" gives it: ``lagrange_tables`` (unrolled for three blocks in
``lagrange_tables3``, the block limit the daemon uses) keeps per slot the least values before
it, and ``lagrange`` traces a least-value plan back through them.

A table row ``row`` of slot t holds, for the slots before t, the least value with k blocks all
closed at ``row[k - 1]`` and with the k-th still open at ``row[max_blocks + k - 1]``
(k = 1..max_blocks; with no block the value is 0).
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Sequence


def lagrange_tables(
    prices: Sequence[float],
    caps: Sequence[float],
    los: Sequence[float],
    lam: float,
    max_blocks: int,
) -> list[Sequence[float]]:
    """Return ``lagrange``'s table: per slot t, the least values closed and open.

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


def lagrange_tables3(
    prices: Sequence[float], caps: Sequence[float], los: Sequence[float], lam: float
) -> list[Sequence[float]]:
    """Return ``lagrange``'s table for three blocks, the same recurrence unrolled."""
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


def tables(
    prices: Sequence[float],
    caps: Sequence[float],
    los: Sequence[float],
    lam: float,
    max_blocks: int,
) -> list[Sequence[float]]:
    """Return ``lagrange_tables`` (unrolled for three blocks)."""
    if max_blocks == 3:
        return lagrange_tables3(prices, caps, los, lam)
    return lagrange_tables(prices, caps, los, lam, max_blocks)


def lagrange(
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
        value with exactly ``j >= 1`` blocks, all closed, before slot ``t`` (``ends_before``
        turns it into "at most"); and the blocks of a least-value plan with at most
        ``max_blocks`` blocks.
    """
    n = len(prices)
    kk = max_blocks + 1
    hist = tables(prices, caps, los, lam, max_blocks)
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


def ends_before(hist: Sequence[Sequence[float]], t: int, j: int) -> float:
    """Return the least Lagrangian value with at most ``j`` blocks, all ending before slot ``t``."""
    return min(0.0, *hist[t][:j])


def empty_prefix(prices: Sequence[float], caps: Sequence[float], lam: float) -> list[float]:
    """Return per slot (and one past the end) the penalty of leaving every slot before it empty."""
    return list(
        itertools.accumulate(
            [(lam - p) * c if p < lam else 0.0 for p, c in zip(prices, caps, strict=True)],
            initial=0.0,
        )
    )
