"""Step 3's partial plans, and the layer of them the DP keeps after each slot.

A fixed block set is solved by filling (interior minimums, then the cheapest upgrades), so some
optimum has every slot at a bound (``cap``, or ``lo`` inside a block) except one marginal slot.
A partial plan is therefore either all at bounds (``Partial``) or has chosen its marginal, a
full slot later cut back by the overshoot (``MarginalPartial``). Each links to its last
``Choice`` (slot, energy, ``BlockRole``), from which the plan is rebuilt. A ``Layer`` keeps
them per ``State`` and per energy (micro-kWh): the cheapest at bounds, and with the marginal a
Pareto set of (cost, price, room).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from strategies._optimiser.model import TOL
from strategies._slots import BlockRole

_SCALE = 1e6  # energy keys in micro-kWh


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
class Summary:
    """Per closed state with the marginal chosen: what the state's plans allow next.

    Attributes:
        gate: the dearest slot that may start a block after the state's plans.
        least: the least stored penalty of its plans.
    """

    gate: float
    least: float


class Layer:
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
        #: the penalty of leaving every slot up to this one empty (``empty_prefix``)
        self.acc = acc
        self.done = done
        self.plain: dict[State, dict[int, Partial]] = {}
        #: per closed state, the least stored penalty of its plain plans
        self.least: dict[State, float] = {}
        self.marginal: dict[State, dict[int, list[MarginalPartial]]] = {}
        self.summary: dict[State, Summary] = {}

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
        if over > room + TOL:
            return
        if not state[1]:
            if over >= -TOL:
                final = cost - price * over if over > 0 else cost
                cur = self.done.get(state[0])
                if cur is None or final < cur.cost - 1e-12:
                    self.done[state[0]] = Finished(final, last, energy_kwh)
            penalty -= self.acc
            gate = price if price < low else low
            summary = self.summary.get(state)
            if summary is None:
                self.summary[state] = Summary(gate, penalty)
            else:
                if gate > summary.gate:
                    summary.gate = gate
                if penalty < summary.least:
                    summary.least = penalty
        key = round(energy_kwh * _SCALE)
        bucket = self.marginal.get(state)
        if bucket is None:
            entry = MarginalPartial(cost, energy_kwh, penalty, price, room, last, hi, low)
            self.marginal[state] = {key: [entry]}
            return
        entries = bucket.get(key)
        if entries is None:
            bucket[key] = [MarginalPartial(cost, energy_kwh, penalty, price, room, last, hi, low)]
            return
        for x in entries:
            if (
                x.room >= room - TOL
                and x.cost <= cost + 1e-12
                and x.cost - x.marginal_price * room <= cost - price * room + 1e-12
            ):
                return
        kept = [
            x
            for x in entries
            if not (
                room >= x.room - TOL
                and cost <= x.cost + 1e-12
                and cost - price * x.room <= x.cost - x.marginal_price * x.room + 1e-12
            )
        ]
        kept.append(MarginalPartial(cost, energy_kwh, penalty, price, room, last, hi, low))
        bucket[key] = kept
