"""The bounds step 3 prunes with: the relaxation's recurrence run backwards, as penalties.

``bounds[t][2 * k + open]`` is the least penalty of the slots from t on in the state "k blocks
used, the k-th open or not"; ``through[t]`` bounds every plan that charges in slot t. Unrolled
for three blocks (``suffix_bounds3``, the block limit the daemon uses) and generic
(``suffix_bounds_any``); a test holds the two equal.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def suffix_bounds(
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
    before t are valued from ``hist`` (``lagrange``'s table at ``lam``), whose values are the
    penalties less that same amount (a slot's penalty is its value less
    ``min(0, (p - lam) * cap)`` whatever its role). Adding the empty-prefix penalty back gives
    a bound on every plan that charges in slot t.
    """
    if max_blocks == 3:
        return suffix_bounds3(prices, caps, los, lam, hist)
    return suffix_bounds_any(prices, caps, los, lam, max_blocks, hist)


def suffix_bounds3(
    prices: Sequence[float],
    caps: Sequence[float],
    los: Sequence[float],
    lam: float,
    hist: Sequence[Sequence[float]],
) -> tuple[list[Sequence[float]], list[float]]:
    """Return ``suffix_bounds`` for three blocks, the same recurrences unrolled."""
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


def suffix_bounds_any(
    prices: Sequence[float],
    caps: Sequence[float],
    los: Sequence[float],
    lam: float,
    max_blocks: int,
    hist: Sequence[Sequence[float]],
) -> tuple[list[Sequence[float]], list[float]]:
    """Return ``suffix_bounds`` for any block limit."""
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
