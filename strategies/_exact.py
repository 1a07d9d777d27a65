"""The exact optimiser behind ``cheapest`` (and ``threshold``): pure numbers in, energies out.

The model (see the project's planning model): slots with price ``p``, capacity ``cap`` and
interior minimum ``lo``; at most ``max_blocks`` blocks; an interior slot of a block takes
``[lo, cap]``, an edge slot ``[0, cap]``; minimise ``sum(p * e)`` with ``sum(e) = energy``.
Ties (cost within ``TIE_EUR``): fewer blocks, then the earlier finish (at slot granularity:
the earliest slot in which a plan within the tie tolerance can end), then the lower cost.

Algorithm:

1. **LP fast path.** Fill the cheapest slots first (equal prices: earlier first). This is the
   optimum of the relaxation without the block limit and the interior minimum, so when its
   runs number at most ``max_blocks`` and its one partial slot is not an interior slot below
   the minimum, it is optimal. With the LP's marginal price ``lam`` the cost of any plan is
   ``LP + sum(penalty)`` (``(lam - p) * missing`` on cheap slots, ``(p - lam) * e`` on dear ones),
   which certifies the tie-breaks cheaply: fewer blocks need a whole run emptied or a whole gap
   bridged at ``lo``; an earlier finish needs the LP restricted to the earlier window.
2. **Lagrangian certificate** (the relaxation itself is ``strategies._lagrangian``). For a
   price ``lam`` a DP over slots with states (blocks used, inside a block) gives
   ``L(lam) = lam * E + min(sum of per-slot values)`` (outside 0, edge
   ``min(0, (p - lam) * cap)``, interior ``(p - lam) * (cap if p < lam else lo)``), a lower
   bound on every plan. ``lam`` is searched by tangent lines of the concave ``L``; each DP's
   block set, filled exactly, is a feasible plan. When the best plan meets the best bound, it
   is optimal; the same tables bound the plans with fewer blocks and those ending earlier,
   which certifies the tie rules. Otherwise the DP of step 3 runs with the best multiplier.
   The search runs on a reduced window (``_Reduced``): every run of slots dearer than a price
   level ``tau`` (where the cheapest slots hold three times the energy) is merged into one
   slot, which leaves every value with ``lam <= tau`` unchanged; 192 quarter hours become
   about 30 slots. A multiplier above ``tau`` is evaluated on the whole window.
3. **Exact dynamic programme** otherwise. A fixed block set is solved by filling (interior
   minimums, then cheapest upgrades), so some optimum has every slot at a bound (``cap``, or
   ``lo`` inside a block) except one marginal slot. The DP runs over slots with states
   (blocks used, inside a block, marginal chosen) and keys the energy at bounds; the marginal is
   a full slot later reduced by the overshoot, kept as a Pareto set of (cost, price, room).
   Partial plans are cut when their penalty plus a block-limited bound on the rest of the
   window exceeds the budget (slots where even the forward bound plus that bound exceeds it
   are only idled through, without visiting the states). The bounds are the suffix form of
   step 2's recurrence, computed on the reduced window and spread back, as lower bounds inside
   merged runs (``_Reduced.spread``). Plans are never extended where a slot at
   cap is dearer than an interior slot at lo, or (after the marginal) dearer than the
   marginal, or a slot at lo cheaper than it: moving energy between them is strictly cheaper in
   the same blocks (or, with the marginal at its bound, the same plan is found with another
   marginal), so it never wins a tie rule. The budget starts at the least penalty any plan
   can have plus a little slack, widens until a plan is found, and then to that plan's cost
   plus the tie tolerance; the best plan of step 2 plus the tolerance caps it.
"""

from __future__ import annotations

import bisect
import itertools
import math
import operator
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from strategies._lagrangian import (
    REDUCE_FROM,
    _empty_prefix,
    _ends,
    _lagrange,
    _reduce,
    _Reduced,
    _suffix_bounds,
    _tables,
)
from strategies._slots import TOL_KWH, BlockRole, runs

#: Plans whose costs differ by at most this (EUR) are ties: fewer blocks, then the earlier finish.
TIE_EUR = 1e-4

_TOL = 1e-9
_SCALE = 1e6  # energy keys in micro-kWh
#: The exact DP first explores plans within this (EUR) of the least penalty any plan can have;
#: the slack grows fourfold until a plan is found.
_FIRST_SLACK_EUR = 0.002


@dataclass(frozen=True, slots=True)
class Solution:
    """The optimiser's answer.

    Attributes:
        energies: kWh per slot.
        blocks: the blocks ``(first, last)`` the energies are planned in.
        cost: ``sum(price * energy)`` with the prices the optimiser was given.
    """

    energies: tuple[float, ...]
    blocks: tuple[tuple[int, int], ...]
    cost: float


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
        if left <= cap + _TOL:
            e[i] = min(left, cap)
            left = 0.0
            break
        e[i] = cap
        left -= cap
    if left > _TOL:
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
        while a > 0 and e[a - 1] <= _TOL and prices[a - 1] == lam:
            a -= 1
        while b < n - 1 and e[b + 1] <= _TOL and prices[b + 1] == lam:
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
            if moved <= _TOL or lost >= best:
                break
            if a <= i <= b:
                continue
            room = caps[i] - e[i]
            if room > _TOL:
                take = min(room, moved)
                lost += (prices[i] - lam) * take
                moved -= take
        if moved > _TOL:
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
            if added <= _TOL or extra >= best:
                break
            if b < i < a or e[i] <= _TOL:
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
    if left < -_TOL:
        return None
    strict = runs(e)
    bridges: list[tuple[float, int, int]] = []
    for (_, b), (a, _) in itertools.pairwise(strict):
        if all(prices[i] == lam for i in range(b + 1, a)):
            bridges.append((math.fsum(los[b + 1 : a]), b + 1, a - 1))
    bridges.sort()
    chosen: list[tuple[int, int]] = []
    for need, a, b in bridges:
        if need <= left + _TOL:
            for i in range(a, b + 1):
                e[i] = los[i]
            left -= need
            chosen.append((a, b))
    for a, b in sorted(chosen):
        for i in range(a, b + 1):
            take = min(caps[i] - e[i], max(left, 0.0))
            e[i] += take
            left -= take
    if left > _TOL:
        # Grow blocks outwards through slots priced lam, nearest first, then the earliest.
        ties = [i for i in range(n) if prices[i] == lam and e[i] <= _TOL]
        charged = [i for i in range(n) if e[i] > _TOL]

        def distance(i: int) -> int:
            return min((abs(i - j) for j in charged), default=n)

        for i in sorted(ties, key=lambda i: (distance(i), i)):
            if left <= _TOL:
                break
            take = min(caps[i], left)
            e[i] = take
            left -= take
    if left > _TOL:
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
            if e[i] < los[i] - _TOL:
                return None
    return blocks


def _fast_path(
    prices: Sequence[float],
    caps: Sequence[float],
    los: Sequence[float],
    energy: float,
    max_blocks: int,
) -> tuple[Solution | None, float, float]:
    """Return the LP solution when it is provably the answer, its marginal price and its cost."""
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
        return None, lam, cost
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
        return None, lam, cost
    _, _, e, blocks = best
    cost = math.fsum(prices[i] * e[i] for i in range(n) if e[i] > 0)
    # Fewer blocks: empty a whole run or bridge a whole gap at the minimum.
    if len(blocks) > 1 and _fewer_blocks_bound(order, prices, caps, los, e, blocks, lam) <= (
        TIE_EUR + _TOL
    ):
        return None, lam, cost
    # Earlier finish: the LP of the window that ends before the last charged slot.
    earlier = _lp_fill(order, caps, energy, blocks[-1][1])
    if earlier is not None:
        ee = earlier[0]
        if math.fsum(prices[i] * ee[i] for i in range(n) if ee[i] > 0) <= cost + TIE_EUR + _TOL:
            return None, lam, cost
    return Solution(tuple(e), tuple(blocks), cost), lam, cost


class Choice(NamedTuple):
    """One slot of a partial plan: the DP's back-pointer to the slot charged before it."""

    before: Choice | None
    slot: int
    energy_kwh: float  #: at a bound (the marginal's is cut back to the target at the end)
    is_marginal: bool
    role: BlockRole


class Partial(NamedTuple):
    """A partial plan whose slots are all at a bound (its marginal slot is not chosen yet).

    ``hi`` is the dearest price of a slot at cap above its lower bound, ``low`` the cheapest
    price of an interior slot at lo below cap: a plan with ``hi > low`` is strictly dominated in
    its own blocks (move energy from the one to the other), so it is never extended.
    """

    cost: float  #: EUR
    energy_kwh: float  #: at the bounds
    penalty: float  #: relative to ``lam``; in a closed state less the empty-prefix penalty
    last: Choice | None
    hi: float
    low: float


class MarginalPartial(NamedTuple):
    """A partial plan with its marginal slot chosen, at cap; it may give back ``room`` kWh.

    The fields are ``Partial``'s and the marginal's price and room.
    """

    cost: float
    energy_kwh: float
    penalty: float
    marginal_price: float
    room: float
    last: Choice
    hi: float
    low: float


class Finished(NamedTuple):
    """The cheapest complete plan of a block count: its cost with the marginal cut back."""

    cost: float
    last: Choice | None
    energy_kwh: float  #: at the bounds, before the marginal is cut back


#: A DP state: (blocks used, 1 while the last of them is open).
State = tuple[int, int]


@dataclass(slots=True)
class _Summary:
    """Per closed state with the marginal chosen: what the state's plans allow next.

    Attributes:
        gate: the dearest slot that may start a block after the state's plans.
        least: the least stored penalty of its plans.
    """

    gate: float
    least: float


class _Layer:
    """The DP's partial plans after one slot, filled while that slot is visited.

    Plans at bounds (``plain``) and with the marginal chosen (``marginal``) are kept per state
    and per energy key (micro-kWh); ``done`` holds the cheapest complete plan per block count.
    """

    __slots__ = ("acc", "big_room", "done", "energy", "least", "marginal", "plain", "summary")

    def __init__(
        self, energy: float, big_room: float, acc: float, done: dict[int, Finished]
    ) -> None:
        self.energy = energy
        self.big_room = big_room
        #: the penalty of leaving every slot up to this one empty (``_empty_prefix``)
        self.acc = acc
        self.done = done
        self.plain: dict[State, dict[int, Partial]] = {}
        #: per closed state, the least stored penalty of its plain plans
        self.least: dict[State, float] = {}
        self.marginal: dict[State, dict[int, list[MarginalPartial]]] = {}
        self.summary: dict[State, _Summary] = {}

    def add(
        self,
        state: State,
        energy_kwh: float,
        cost: float,
        penalty: float,
        last: Choice | None,
        hi: float,
        low: float,
    ) -> None:
        """Keep a plan at bounds unless one as cheap has the same energy.

        The caller checks the penalty bound (``penalty + ext[state] <= limit``).
        """
        if energy_kwh - self.energy > self.big_room:
            return
        if not state[1]:
            penalty -= self.acc
            least = self.least.get(state)
            if least is None or penalty < least:
                self.least[state] = penalty
        key = round(energy_kwh * _SCALE)
        bucket = self.plain.get(state)
        if bucket is None:
            self.plain[state] = {key: Partial(cost, energy_kwh, penalty, last, hi, low)}
            return
        old = bucket.get(key)
        if old is None or cost < old.cost - 1e-12:
            bucket[key] = Partial(cost, energy_kwh, penalty, last, hi, low)

    def add_marginal(
        self,
        state: State,
        energy_kwh: float,
        cost: float,
        penalty: float,
        price: float,
        room: float,
        last: Choice,
        hi: float,
        low: float,
    ) -> None:
        """Keep a plan with its marginal unless another dominates it; note it when complete.

        Of two plans with the same energy the one with no less room, no more cost and no more
        cost once the room is given back dominates.
        """
        over = energy_kwh - self.energy
        if over > room + _TOL:
            return
        if not state[1]:
            if over >= -_TOL:
                final = cost - price * over if over > 0 else cost
                cur = self.done.get(state[0])
                if cur is None or final < cur.cost - 1e-12:
                    self.done[state[0]] = Finished(final, last, energy_kwh)
            penalty -= self.acc
            gate = price if price < low else low
            summary = self.summary.get(state)
            if summary is None:
                self.summary[state] = _Summary(gate, penalty)
            else:
                if gate > summary.gate:
                    summary.gate = gate
                if penalty < summary.least:
                    summary.least = penalty
        key = round(energy_kwh * _SCALE)
        entry = MarginalPartial(cost, energy_kwh, penalty, price, room, last, hi, low)
        bucket = self.marginal.get(state)
        if bucket is None:
            self.marginal[state] = {key: [entry]}
            return
        entries = bucket.get(key)
        if entries is None:
            bucket[key] = [entry]
            return
        for x in entries:
            if (
                x.room >= room - _TOL
                and x.cost <= cost + 1e-12
                and x.cost - x.marginal_price * room <= cost - price * room + 1e-12
            ):
                return
        kept = [
            x
            for x in entries
            if not (
                room >= x.room - _TOL
                and cost <= x.cost + 1e-12
                and cost - price * x.room <= x.cost - x.marginal_price * x.room + 1e-12
            )
        ]
        kept.append(entry)
        bucket[key] = kept


def _exact_dp(
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
        bounds: ``_suffix_bounds`` at ``lam``.
        through: ``_suffix_bounds``' least values with a slot in a block, at ``lam``.
        acc: per slot, the penalty of leaving every slot before it empty (``_empty_prefix``).

    Returns:
        The plan chosen under the tie rules among those explored (None if none was), and the
        smallest penalty of a complete plan seen (``inf`` if none).
    """
    n = len(prices)
    big_room = max(caps) + _TOL
    # suffix[i]: sum(caps[i:]), added from the end.
    suffix = list(itertools.accumulate(reversed(caps), initial=0.0))
    suffix.reverse()
    inf = math.inf
    # The layer of the slot before: plans per state, and the closed states' summaries (the
    # closed states' stored penalties are less ``acc[t]``, so idling leaves them unchanged).
    prev = _Layer(energy, big_room, 0.0, {})
    prev.plain[(0, 0)] = {0: Partial(0.0, 0.0, 0.0, None, -inf, inf)}
    prev.least[(0, 0)] = 0.0
    # best_at[t][k]: the cheapest complete plan with k blocks, all closed before slot t (kept
    # up to date as complete plans are added: a plan complete before t is complete before t + 1).
    best_at: list[dict[int, Finished]] = [{}]
    limit_pen = budget + _TOL
    # Slots no plan within the budget charges in (see ``_suffix_bounds``).
    cut = limit_pen + _TOL
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
        need = energy - suffix[t] - _TOL
        mid_room = cap - lo
        has_mid = mid_room > _TOL  # an interior slot can lie strictly between lo and cap
        ext = bounds[t + 1]
        nxt = _Layer(energy, big_room, acc[t + 1], dict(best_at[-1]))
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
                        nxt.summary[s_c] = _Summary(gate, least)
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
    limit = optimum + TIE_EUR + _TOL
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


def _fill(
    prices: Sequence[float],
    caps: Sequence[float],
    los: Sequence[float],
    energy: float,
    blocks: Sequence[tuple[int, int]],
) -> tuple[list[float], float, float] | None:
    """Return the cheapest energies in a fixed block set, their cost and marginal price."""
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
    if left < -_TOL:
        return None
    items.sort(key=prices.__getitem__)
    marginal = math.nan
    for i in items:
        if left <= _TOL:
            break
        room = caps[i] - e[i]
        marginal = prices[i]
        if left <= room:
            e[i] += left
            left = 0.0
            break
        e[i] = caps[i]
        left -= room
    if left > _TOL:
        return None
    cost = math.fsum(prices[i] * e[i] for i in items)
    return e, cost, marginal


def _at_bounds(
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


def _trim(e: Sequence[float], blocks: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for a, b in blocks:
        while a <= b and e[a] <= _TOL:
            a += 1
        while b >= a and e[b] <= _TOL:
            b -= 1
        if a <= b:
            out.append((a, b))
    return out


def _lagrange_path(
    prices: Sequence[float],
    caps: Sequence[float],
    los: Sequence[float],
    energy: float,
    max_blocks: int,
    lam0: float,
    above: float = math.inf,
    *,
    reduce: bool = True,
    reduction: _Reduced | None = None,
) -> tuple[Solution | None, float, float, float, Sequence[Sequence[float]], _Reduced | None]:
    """Search the Lagrangian multiplier; return a certified optimum if the bound closes.

    With a finite ``above``, only the lower bound is wanted: the search stops as soon as it
    exceeds ``above`` and no solution is returned. ``reduction`` is the window's reduced
    window when the caller already has it; otherwise ``reduce`` says whether to make one.

    Returns:
        The certified solution (or None), the best upper bound (cost of a feasible plan, inf if
        none), the best lower bound, the multiplier that gave it, ``_lagrange``'s table there
        and the reduced window that table is of (None: the window's own).
    """
    cap_all = math.fsum(caps)
    ordered = sorted(prices)
    p_min = ordered[0]
    p_max = ordered[-1]
    # Tangent lines (value at lam, slope) of the concave dual L(lam) = lam * E + G(lam).
    lines: list[tuple[float, float, float]] = [
        (p_min - 1.0, (p_min - 1.0) * energy, energy),
        (
            p_max + 1.0,
            math.fsum(map(operator.mul, prices, caps)) + (p_max + 1.0) * (energy - cap_all),
            energy - cap_all,
        ),
    ]
    # Per multiplier tried: its value per block count, its table and the reduced window the
    # table is of (None: the window's own).
    evals: list[tuple[float, list[float], list[Sequence[float]], _Reduced | None]] = []
    red = reduction
    if red is None and reduce and len(prices) >= REDUCE_FROM:
        red = _reduce(prices, caps, los, energy, ordered)
    ub = math.inf
    ub_sol: tuple[list[float], list[tuple[int, int]]] | None = None
    lb = -math.inf
    lb_lam = lam0
    lb_hist: Sequence[Sequence[float]] = ()
    lb_red: _Reduced | None = None
    lam = lam0
    eps = 1e-9 * max(1.0, abs(energy * max(p_max, -p_min)))
    levels: list[float] | None = None
    step = 1
    for _ in range(12):
        table_of = red if red is not None and lam <= red.tau else None
        if table_of is not None:
            root, ends, reduced = _lagrange(
                table_of.prices, table_of.caps, table_of.los, lam, max_blocks
            )
            blocks = table_of.blocks(reduced)
        else:
            root, ends, blocks = _lagrange(prices, caps, los, lam, max_blocks)
        val = lam * energy + root[max_blocks]
        evals.append((lam, root, ends, table_of))
        if val > lb:
            lb, lb_lam, lb_hist, lb_red = val, lam, ends, table_of
        w = _at_bounds(prices, caps, los, lam, blocks)
        lines.append((lam, val, energy - w))
        if blocks:
            got = _fill(prices, caps, los, energy, blocks)
            if got is not None and got[1] < ub - 1e-12:
                ub = got[1]
                ub_sol = (got[0], blocks)
        if ub - lb <= eps or lb > above:
            break
        # Next multiplier: the top of the envelope of the tangent lines. The top of a lower
        # envelope of lines is the lowest crossing of a rising with a falling line (or a flat
        # line below it); the multiplier is where that pair crosses.
        best_lam, best_val = lam, -math.inf
        rising = [ln for ln in lines if ln[2] > 0]
        falling = [ln for ln in lines if ln[2] < 0]
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
        slope = lines[-1][2]
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
    if ub_sol is None or ub - lb > eps or not math.isinf(above):
        return None, ub, lb, lb_lam, lb_hist, lb_red
    e, blocks = ub_sol
    blocks = _trim(e, blocks)
    nb = len(blocks)
    limit = ub + TIE_EUR + _TOL
    # The tie rules: no plan with fewer blocks, and none with as many ending before the last
    # charged slot, may cost at most ``limit``. First the bounds already at hand, then (only
    # where they do not settle it) a multiplier search of its own for that smaller problem.
    if nb > 1 and max(x * energy + root[nb - 1] for x, root, _, _ in evals) <= limit:
        fewer = _lagrange_path(
            prices, caps, los, energy, nb - 1, lb_lam, limit, reduce=reduce, reduction=red
        )
        if fewer[2] <= limit:
            return None, ub, lb, lb_lam, lb_hist, lb_red
    f = blocks[-1][1]
    # (A plan ending inside a merged run is worth no less than one ending before the run.)
    ended = max(
        x * energy + _ends(hist, f if at is None else at.index(f), nb) for x, _, hist, at in evals
    )
    if ended <= limit and math.fsum(caps[:f]) >= energy - _TOL:
        earlier = _lagrange_path(
            prices[:f], caps[:f], los[:f], energy, nb, lb_lam, limit, reduce=reduce
        )
        if earlier[2] <= limit:
            return None, ub, lb, lb_lam, lb_hist, lb_red
    return Solution(tuple(e), tuple(blocks), ub), ub, lb, lb_lam, lb_hist, lb_red


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
        reduce: search the multiplier on the reduced window (``_Reduced``); False only to
            check that the reduction changes nothing.
    """
    fast, lam, lp_cost = _fast_path(prices, caps, los, energy, max_blocks)
    if fast is not None:
        return fast
    sol, ub, _, lam, hist, red = _lagrange_path(
        prices, caps, los, energy, max_blocks, lam, reduce=reduce
    )
    if sol is not None:
        return sol
    acc = _empty_prefix(prices, caps, lam)
    # Every plan costs ``lp_cost + sum(penalties)`` (penalties relative to ``lam``).
    lp_cost = lam * energy - acc[-1]
    # ``enough`` (the best plan so far plus the tie tolerance; inf without one) holds the
    # optimum and its ties, but a poor plan makes it wide and the DP slow. So the search starts
    # at the least penalty any plan can have plus a little slack, and widens the slack until a
    # plan is found; its cost then says exactly how wide the budget must be.
    enough = ub - lp_cost + TIE_EUR + 1e-7
    slack = _FIRST_SLACK_EUR
    if red is not None:
        # The best multiplier's table is the reduced window's: so are the bounds, spread back.
        reduced = _suffix_bounds(red.prices, red.caps, red.los, lam, max_blocks, hist)
        limit = min(enough, reduced[0][0][0] + slack) + 2 * _TOL
        bounds, through, in_play = red.spread(*reduced, hist, lam, prices, los, acc, limit)
        # The bounds inside merged runs are looser than the window's own: where much of them
        # stays in play, the DP is faster with the window's.
        if 4 * in_play > len(prices):
            red = None
            hist = _tables(prices, caps, los, lam, max_blocks)
    if red is None:
        bounds, through = _suffix_bounds(prices, caps, los, lam, max_blocks, hist)
    floor = bounds[0][0]
    budget = min(enough, floor + slack)
    while True:
        found, best = _exact_dp(
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
