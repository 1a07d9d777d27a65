"""``optimise``: the three steps in order, each run only when the one before cannot certify.

1. **LP fast path** (``fast_path``): fill the cheapest slots first; often that is the answer.
2. **Lagrangian certificate** (``search``): search a price ``lam`` whose relaxation bounds
   every plan from below; when a plan meets the bound (and the tie rules are certified), done.
3. **Exact dynamic programme** (``exact_dp``), with the best ``lam`` of step 2: every plan
   costs the LP's cost plus non-negative per-slot penalties relative to ``lam``, so the DP
   explores only plans within a penalty budget. The budget starts at the least penalty any
   plan can have plus a little slack, widens until a plan is found, and then to that plan's
   cost plus the tie tolerance; the best plan of step 2 plus the tolerance caps it.
"""

from __future__ import annotations

from collections.abc import Sequence

from strategies._optimiser.bounds import suffix_bounds
from strategies._optimiser.exact_dp import exact_dp
from strategies._optimiser.fast_path import fast_path
from strategies._optimiser.model import TIE_EUR, TOL, Solution
from strategies._optimiser.relaxation import empty_prefix, tables
from strategies._optimiser.search import lagrangian_search

#: The exact DP first explores plans within this (EUR) of the least penalty any plan can have;
#: the slack grows fourfold until a plan is found.
_FIRST_SLACK_EUR = 0.002


def optimise(
    prices: Sequence[float],
    caps: Sequence[float],
    los: Sequence[float],
    energy: float,
    max_blocks: int,
    *,
    reduce: bool = True,
) -> Solution:
    """Return the exact optimum under the tie rules.

    Args:
        prices: EUR/kWh per slot (the values to minimise against).
        caps: the most kWh per slot.
        los: the least kWh in an interior slot of a block.
        energy: the kWh to deliver; must be positive and at most ``sum(caps)``.
        max_blocks: the most blocks allowed (at least 1).
        reduce: search the multiplier on the reduced window (``Reduced``); False only to
            check that the reduction changes nothing.
    """
    fast = fast_path(prices, caps, los, energy, max_blocks)
    if fast.solution is not None:
        return fast.solution
    search = lagrangian_search(prices, caps, los, energy, max_blocks, fast.lam, reduce=reduce)
    if search.solution is not None:
        return search.solution
    lam, hist, red = search.lam, search.table, search.reduced
    acc = empty_prefix(prices, caps, lam)
    # Every plan costs ``lp_cost + sum(penalties)`` (penalties relative to ``lam``).
    lp_cost = lam * energy - acc[-1]
    # ``enough`` (the best plan so far plus the tie tolerance; inf without one) holds the
    # optimum and its ties, but a poor plan makes it wide and the DP slow. So the search starts
    # at the least penalty any plan can have plus a little slack, and widens the slack until a
    # plan is found; its cost then says exactly how wide the budget must be.
    enough = search.upper - lp_cost + TIE_EUR + 1e-7
    slack = _FIRST_SLACK_EUR
    if red is not None:
        # The best multiplier's table is the reduced window's: so are the bounds, spread back.
        reduced = suffix_bounds(red.prices, red.caps, red.los, lam, max_blocks, hist)
        limit = min(enough, reduced[0][0][0] + slack) + 2 * TOL
        bounds, through, in_play = red.spread(*reduced, hist, lam, prices, los, acc, limit)
        # The bounds inside merged runs are looser than the window's own: where much of them
        # stays in play, the DP is faster with the window's.
        if 4 * in_play > len(prices):
            red = None
            hist = tables(prices, caps, los, lam, max_blocks)
    if red is None:
        bounds, through = suffix_bounds(prices, caps, los, lam, max_blocks, hist)
    floor = bounds[0][0]
    budget = min(enough, floor + slack)
    while True:
        found, best = exact_dp(
            prices, caps, los, energy, max_blocks, lam, budget, bounds, through, acc
        )
        if found is not None and best - lp_cost + TIE_EUR <= budget:
            return found
        if found is not None:
            # The optimum is ``best`` (every plan within the budget was seen): widen to its ties.
            budget = min(enough, best - lp_cost + TIE_EUR + 1e-7)
        else:
            slack *= 4
            budget = min(enough, floor + slack)
