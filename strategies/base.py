"""The planning contract: ``Strategy.plan(PlanRequest) -> Plan``. Pure data, no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from smartcharge.domain import PriceCurve


@dataclass(frozen=True, slots=True)
class PlanRequest:
    """Everything a strategy may know.

    Attributes:
        now: the planning instant (UTC); nothing is planned before it.
        ready_by: when the car must be charged (UTC), before the margin is taken off.
        energy_needed_kwh: energy still to deliver.
        prices: the known all-in prices (gaps and an early end mean "unknown").
        min_current_a: the lowest current the charger accepts when charging.
        max_current_a: the highest current allowed.
        phases: 1 or 3.
        voltage_v: phase voltage.
        measured_power_kw: the power the car really draws at full current, when known.
        max_interruptions: the most charging blocks the session may be split into.
        deadline_margin: finish this long before ``ready_by``.
        slot_minutes: the planner's resolution.
    """

    now: datetime
    ready_by: datetime
    energy_needed_kwh: float
    prices: PriceCurve
    min_current_a: float = 6.0
    max_current_a: float = 16.0
    phases: int = 3
    voltage_v: float = 230.0
    measured_power_kw: float | None = None
    max_interruptions: int = 3
    deadline_margin: timedelta = timedelta(minutes=30)
    slot_minutes: int = 15

    @property
    def deadline(self) -> datetime:
        """Return the instant by which charging must be finished."""
        return self.ready_by - self.deadline_margin


@dataclass(frozen=True, slots=True)
class PlanSlot:
    """One stretch of the plan.

    Attributes:
        start: first instant (UTC).
        end: first instant after (UTC).
        current_a: the current to set; 0 means paused.
        energy_kwh: the energy expected in this slot.
        price_eur_per_kwh: the all-in price, or None where it is not known yet.
    """

    start: datetime
    end: datetime
    current_a: float
    energy_kwh: float
    price_eur_per_kwh: float | None

    @property
    def is_charging(self) -> bool:
        """Return whether the charger should deliver energy in this slot."""
        return self.current_a > 0


@dataclass(frozen=True, slots=True)
class Plan:
    """A strategy's answer.

    Attributes:
        strategy: the name of the strategy that made it.
        slots: consecutive slots from the request's ``now`` to its deadline.
        cost_eur: expected cost over slots with known prices.
        energy_kwh: expected energy delivered.
        is_reachable: whether the target can be met by the deadline.
    """

    strategy: str
    slots: tuple[PlanSlot, ...]
    cost_eur: float
    energy_kwh: float
    is_reachable: bool

    def slot_at(self, instant: datetime) -> PlanSlot | None:
        """Return the plan's slot containing ``instant``, if any."""
        for s in self.slots:
            if s.start <= instant < s.end:
                return s
        return None

    @property
    def blocks(self) -> int:
        """Return the number of separate charging blocks."""
        count, was = 0, False
        for s in self.slots:
            if s.is_charging and not was:
                count += 1
            was = s.is_charging
        return count


class Strategy(Protocol):
    """A planning rule.

    **Protocol:** ``plan`` is pure and deterministic: no clock, no I/O, no logging, no state.
    It never plans above ``max_current_a`` or between 0 and ``min_current_a``; never more blocks
    than ``max_interruptions``; nothing after ``deadline``; it reaches the target before the
    deadline whenever that is possible; otherwise charges at full power from ``now`` and says
    the target is unreachable.
    """

    name: str

    def plan(self, request: PlanRequest) -> Plan:
        """Return the plan for ``request``."""
        ...
