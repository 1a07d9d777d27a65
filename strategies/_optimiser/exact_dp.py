"""Step 3, the exact dynamic programme over the slots, and the tie rules on its plans.

The DP runs over the slots with the states (blocks used, inside a block) of ``states``. Every
plan costs ``LP + sum(penalty)`` relative to the multiplier ``lam``; partial plans are cut when
their penalty plus the bound on the rest of the window (``bounds``) exceeds the budget, and
slots where even the least bound through them exceeds it are only idled through, without
visiting the states. Plans are never extended where a slot at cap is dearer than an interior
slot at lo, or (after the marginal) dearer than the marginal, or a slot at lo cheaper than it:
moving energy between them is strictly cheaper in the same blocks (or, with the marginal at its
bound, the same plan is found with another marginal), so it never wins a tie rule.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

from strategies._optimiser.model import TIE_EUR, TOL, Solution
from strategies._optimiser.states import (
    Choice,
    Finished,
    Layer,
    Partial,
    Summary,
)
from strategies._slots import BlockRole


def exact_dp(
    prices: Sequence[float],
    caps: Sequence[float],
    los: Sequence[float],
    energy: float,
    max_blocks: int,
    lam: float,
    budget: float,
    bounds: Sequence[Sequence[float]],
    through: Sequence[float],
    acc: Sequence[float],
) -> tuple[Solution | None, float]:
    """Solve exactly among plans whose LP penalty stays within ``budget``.

    Every plan costs ``LP + sum(penalty)`` with non-negative per-slot penalties relative to the
    LP's marginal price ``lam``; partial plans whose penalty already exceeds ``budget`` are cut.

    Args:
        prices: as for ``optimise``.
        caps: as for ``optimise``.
        los: as for ``optimise``.
        energy: as for ``optimise``.
        max_blocks: as for ``optimise``.
        lam: the price the penalties are relative to.
        budget: the most penalty a plan explored may have.
        bounds: ``suffix_bounds`` at ``lam``.
        through: ``suffix_bounds``' least values with a slot in a block, at ``lam``.
        acc: per slot, the penalty of leaving every slot before it empty (``empty_prefix``).

    Returns:
        The plan chosen under the tie rules among those explored (None if none was), and the
        smallest penalty of a complete plan seen (``inf`` if none).
    """
    n = len(prices)
    big_room = max(caps) + TOL
    # suffix[i]: sum(caps[i:]), added from the end.
    suffix = list(itertools.accumulate(reversed(caps), initial=0.0))
    suffix.reverse()
    inf = math.inf
    # The layer of the slot before: plans per state, and the closed states' summaries (the
    # closed states' stored penalties are less ``acc[t]``, so idling leaves them unchanged).
    prev = Layer(energy, big_room, 0.0, {})
    prev.plain[(0, 0)] = {0: Partial(0.0, 0.0, 0.0, None, -inf, inf)}
    prev.least[(0, 0)] = 0.0
    # best_at[t][k]: the cheapest complete plan with k blocks, all closed before slot t (kept
    # up to date as complete plans are added: a plan complete before t is complete before t + 1).
    best_at: list[dict[int, Finished]] = [{}]
    limit_pen = budget + TOL
    # Slots no plan within the budget charges in (see ``suffix_bounds``).
    cut = limit_pen + TOL
    active = [t for t, (m, a) in enumerate(zip(through, acc, strict=False)) if m + a <= cut]
    idle_from = 0  # the first slot not yet passed
    for t in active:
        if t > idle_from:
            # No plan within the budget charges the slots before t: open states end there and
            # closed ones idle (their stored penalties do not change, see ``acc``); nothing
            # completes, so those slots share the last table.
            prev.plain = {s: b for s, b in prev.plain.items() if not s[1]}
            prev.marginal = {s: b for s, b in prev.marginal.items() if not s[1]}
            best_at.extend([best_at[-1]] * (t - idle_from))
        idle_from = t + 1
        p = prices[t]
        cap = caps[t]
        lo = los[t]
        d = p - lam
        base = -d * cap if d < 0 else 0.0  # penalty of leaving the slot empty
        pen_lo = d * lo + base
        pen_cap = d * cap + base
        # The marginal's final energy lies in [cap - room, cap]: its penalty is at least this.
        marg_mid = min(pen_cap, d * lo + base)
        marg_edge = min(pen_cap, base)
        need = energy - suffix[t] - TOL
        mid_room = cap - lo
        has_mid = mid_room > TOL  # an interior slot can lie strictly between lo and cap
        ext = bounds[t + 1]
        nxt = Layer(energy, big_room, acc[t + 1], dict(best_at[-1]))
        acc_t = acc[t]

        for (k, is_open), bucket0 in prev.plain.items():
            s_c, s_o, s_c1, s_o1 = (k, 0), (k, 1), (k + 1, 0), (k + 1, 1)
            x_c, x_o = ext[2 * k], ext[2 * k + 1]
            more = k < max_blocks
            y_c, y_o = (ext[2 * k + 2], ext[2 * k + 3]) if more else (inf, inf)
            off = 0.0
            if not is_open:
                # Idle: as for the closed marginal buckets below, the bucket moves over whole.
                off = acc_t
                least = prev.least[s_c]
                target0 = nxt.plain.get(s_c)
                if target0 is None:
                    nxt.plain[s_c] = bucket0
                    nxt.least[s_c] = least
                else:
                    for key, v in bucket0.items():
                        old = target0.get(key)
                        if old is None or v.cost < old.cost - 1e-12:
                            target0[key] = v
                    nxt.least[s_c] = min(nxt.least.get(s_c, inf), least)
                if not more or least + off + marg_edge + min(y_c, y_o) > limit_pen:
                    continue
            for c, eb, pen, node, hi, low in bucket0.values():
                if eb < need:
                    continue
                pen += off
                full = c + p * cap
                ecap = eb + cap
                q = pen + pen_cap
                # An edge at cap may go down to 0: it must not be dearer than a slot at lo.
                edge_ok = p <= low + 1e-12
                hi_edge = hi if hi >= p else p
                if is_open:
                    q1 = pen + pen_lo
                    if q1 + x_o <= limit_pen and (not has_mid or p >= hi - 1e-12):
                        low_lo = low if not has_mid or low <= p else p
                        at_lo = Choice(node, t, lo, False, BlockRole.MIDDLE)
                        nxt.add(s_o, eb + lo, c + p * lo, q1, at_lo, hi, low_lo)
                    if q + x_o <= limit_pen and (not has_mid or edge_ok):
                        hi_cap = hi_edge if has_mid else hi
                        at_cap = Choice(node, t, cap, False, BlockRole.MIDDLE)
                        nxt.add(s_o, ecap, full, q, at_cap, hi_cap, low)
                    q2 = pen + marg_mid
                    if q2 + x_o <= limit_pen:
                        marg = Choice(node, t, cap, True, BlockRole.MIDDLE)
                        nxt.add_marginal(s_o, ecap, full, q2, p, mid_room, marg, hi, low)
                    if q + x_c <= limit_pen and edge_ok:
                        at_cap = Choice(node, t, cap, False, BlockRole.LAST)
                        nxt.add(s_c, ecap, full, q, at_cap, hi_edge, low)
                    q2 = pen + marg_edge
                    if q2 + x_c <= limit_pen:
                        marg = Choice(node, t, cap, True, BlockRole.LAST)
                        nxt.add_marginal(s_c, ecap, full, q2, p, cap, marg, hi, low)
                elif more:
                    q2 = pen + marg_edge
                    if q + y_c <= limit_pen and edge_ok:
                        at_cap = Choice(node, t, cap, False, BlockRole.LONE)
                        nxt.add(s_c1, ecap, full, q, at_cap, hi_edge, low)
                    if q2 + y_c <= limit_pen:
                        marg = Choice(node, t, cap, True, BlockRole.LONE)
                        nxt.add_marginal(s_c1, ecap, full, q2, p, cap, marg, hi, low)
                    if q + y_o <= limit_pen and edge_ok:
                        at_cap = Choice(node, t, cap, False, BlockRole.FIRST)
                        nxt.add(s_o1, ecap, full, q, at_cap, hi_edge, low)
                    if q2 + y_o <= limit_pen:
                        marg = Choice(node, t, cap, True, BlockRole.FIRST)
                        nxt.add_marginal(s_o1, ecap, full, q2, p, cap, marg, hi, low)
        for (k, is_open), bucket1 in prev.marginal.items():
            s_c, s_o, s_c1, s_o1 = (k, 0), (k, 1), (k + 1, 0), (k + 1, 1)
            x_c, x_o = ext[2 * k], ext[2 * k + 1]
            more = k < max_blocks
            y_c, y_o = (ext[2 * k + 2], ext[2 * k + 3]) if more else (inf, inf)
            off = 0.0
            if not is_open:
                # Idle: every entry keeps its key, room and stored penalty (see ``acc``), so a
                # bucket's entries stay mutually undominated and move over as they are (those
                # over the budget or short of energy are skipped when extended).
                off = acc_t
                summary = prev.summary[s_c]
                gate, least = summary.gate, summary.least
                target = nxt.marginal.get(s_c)
                if target is None:
                    nxt.marginal[s_c] = bucket1
                    nxt.summary[s_c] = summary
                else:
                    for key, entries in bucket1.items():
                        if key not in target:
                            target[key] = entries
                            continue
                        for x in entries:
                            nxt.add_marginal(
                                s_c,
                                x.energy_kwh,
                                x.cost,
                                x.penalty + nxt.acc,
                                x.marginal_price,
                                x.room,
                                x.last,
                                x.hi,
                                x.low,
                            )
                    merged = nxt.summary.get(s_c)
                    if merged is None:
                        nxt.summary[s_c] = Summary(gate, least)
                    else:
                        merged.gate = max(merged.gate, gate)
                        merged.least = min(merged.least, least)
                # A new block starts at cap, at an edge: only at a slot no dearer than the gate.
                if (
                    not more
                    or p > gate + 1e-12
                    or least + off + pen_cap + min(y_c, y_o) > limit_pen
                ):
                    continue
            for entries in bucket1.values():
                for c, eb, pen, pm, rm, node, hi, low in entries:
                    if eb < need:
                        continue
                    pen += off
                    # Once the marginal is chosen, a slot dearer than it at cap (above its
                    # lower bound) or cheaper than it at lo (below cap) is never needed: moving
                    # energy between it and the marginal is strictly cheaper in the same
                    # blocks, or, with the marginal at its bound, the same plan is found with
                    # that slot as the marginal.
                    edge_ok = p <= pm + 1e-12 and p <= low + 1e-12
                    hi_edge = hi if hi >= p else p
                    q = pen + pen_cap
                    full = c + p * cap
                    if is_open:
                        q1 = pen + pen_lo
                        if q1 + x_o <= limit_pen and (
                            not has_mid or (p >= pm - 1e-12 and p >= hi - 1e-12)
                        ):
                            low_lo = low if not has_mid or low <= p else p
                            at_lo = Choice(node, t, lo, False, BlockRole.MIDDLE)
                            nxt.add_marginal(
                                s_o, eb + lo, c + p * lo, q1, pm, rm, at_lo, hi, low_lo
                            )
                        if q + x_o <= limit_pen and (not has_mid or edge_ok):
                            hi_cap = hi_edge if has_mid else hi
                            at_cap = Choice(node, t, cap, False, BlockRole.MIDDLE)
                            nxt.add_marginal(s_o, eb + cap, full, q, pm, rm, at_cap, hi_cap, low)
                        if q + x_c <= limit_pen and edge_ok:
                            at_cap = Choice(node, t, cap, False, BlockRole.LAST)
                            nxt.add_marginal(s_c, eb + cap, full, q, pm, rm, at_cap, hi_edge, low)
                    elif edge_ok:
                        if q + y_c <= limit_pen:
                            at_cap = Choice(node, t, cap, False, BlockRole.LONE)
                            nxt.add_marginal(s_c1, eb + cap, full, q, pm, rm, at_cap, hi_edge, low)
                        if q + y_o <= limit_pen:
                            at_cap = Choice(node, t, cap, False, BlockRole.FIRST)
                            nxt.add_marginal(s_o1, eb + cap, full, q, pm, rm, at_cap, hi_edge, low)
        prev = nxt
        best_at.append(nxt.done)
    best_at.extend([best_at[-1]] * (n - idle_from))

    final = best_at[n]
    overall = _upto(final, max_blocks)
    if overall is None:
        return None, math.inf
    return _choose(best_at, overall[0], max_blocks, n, energy), overall[0]


def _upto(best: dict[int, Finished], kmax: int) -> tuple[float, int] | None:
    """Return the least cost and its block count among the plans with at most ``kmax`` blocks."""
    found: tuple[float, int] | None = None
    for k in sorted(best):
        if k <= kmax and (found is None or best[k].cost < found[0] - 1e-12):
            found = (best[k].cost, k)
    return found


def _choose(
    best_at: list[dict[int, Finished]],
    optimum: float,
    max_blocks: int,
    n: int,
    energy: float,
) -> Solution:
    """Apply the tie rules: fewest blocks within TIE_EUR, then the earliest window end."""
    limit = optimum + TIE_EUR + TOL
    final = best_at[n]
    k_star = max_blocks
    for k in range(1, max_blocks + 1):
        got = _upto(final, k)
        if got is not None and got[0] <= limit:
            k_star = k
            break
    seen: object = None
    for t in range(n + 1):
        if best_at[t] is seen:
            continue  # an idle slot shares its predecessor's table, which did not qualify
        seen = best_at[t]
        got = _upto(best_at[t], k_star)
        if got is not None and got[0] <= limit:
            cost, k = got
            finished = best_at[t][k]
            return _rebuild(finished.last, n, energy, finished.energy_kwh, cost)
    raise AssertionError("unreachable: the full window holds the optimum")


def _rebuild(last: Choice | None, n: int, energy: float, eb: float, cost: float) -> Solution:
    """Return the plan that ends in ``last``, its marginal cut back to deliver ``energy``."""
    e = [0.0] * n
    marginal = -1
    roles: dict[int, BlockRole] = {}
    choice = last
    while choice is not None:
        e[choice.slot] = choice.energy_kwh
        roles[choice.slot] = choice.role
        if choice.is_marginal:
            marginal = choice.slot
        choice = choice.before
    over = eb - energy
    if marginal >= 0 and over > 0:
        e[marginal] = max(e[marginal] - over, 0.0)
    blocks: list[tuple[int, int]] = []
    start = -1
    for t in sorted(roles):
        r = roles[t]
        if r is BlockRole.LONE:
            blocks.append((t, t))
        elif r is BlockRole.FIRST:
            start = t
        elif r is BlockRole.LAST:
            blocks.append((start, t))
    return Solution(tuple(e), tuple(blocks), cost)
