"""The plan kept in the charger (issue 15 item 4): every new plan also sent as one profile.

A charger whose link can keep the plan itself (``ChargerCapabilities.plan_profile``: OCPP's
multi-period TxDefaultProfile) gets the rest of the plan whenever the daemon makes one (its
``plan_made`` event), so that it charges as planned when smartcharge stops or loses the link.
The last period, from the planned end (at the latest the ready-by time minus the margin),
allows full current: a dead daemon never strands a car. The slot's own limit is still sent at
slot boundaries by the daemon's ticks (some firmware ignores schedules).

While the daemon runs it leads and the charger's copy follows: every change of the plan is
put ``PROFILE_LAG`` later in the profile than in the plan, so the daemon's own command at the
edge (a slot boundary or plan-edge tick) reaches the charger first. A charger that changed by
itself first would look to the session core like a person pausing or resuming by hand (a
hold), and the daemon would then leave it alone. For the same reason the full-current tail is
dropped once the target is met (``target_met``): the daemon pauses then, and the charger must
not resume on its own afterwards.

This is the runtime's, not the pure core's: it observes the daemon's events and sends beside
its ticks (the charger's own lock orders the two).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Protocol, runtime_checkable

import structlog

from smartcharge.domain import ChargerSnapshot
from smartcharge.errors import SmartchargeError
from smartcharge.ocpp.profiles import PlannedLimit, whole_amps
from smartcharge.ports import Charger
from smartcharge.session.model import SessionState
from strategies.base import Plan

log = structlog.get_logger(__name__)

# Longer than a tick at an edge takes to send its command (the slot-boundary job may start up
# to its misfire grace late only after a host's suspend, when the charger leads anyway).
PROFILE_LAG = timedelta(minutes=2)


@runtime_checkable
class PlanKeeper(Charger, Protocol):
    """A charger that can keep the plan itself (``capabilities.plan_profile``)."""

    async def send_plan(
        self, limits: Sequence[PlannedLimit], full_from: datetime | None
    ) -> ChargerSnapshot:
        """Keep ``limits`` in the charger, full current from ``full_from``."""
        ...


def plan_limits(
    plan: Plan, now: datetime, max_current_a: int, lag: timedelta = PROFILE_LAG
) -> tuple[PlannedLimit, ...]:
    """Return the rest of ``plan`` from ``now`` as whole-amp limits, merged where equal.

    The limit in force starts ``now``; every later one ``lag`` after its slot's start.
    """
    out: list[PlannedLimit] = []
    for slot in plan.slots:
        if slot.end <= now:
            continue
        amps = whole_amps(slot.current_a, max_current_a)
        if out and out[-1].current_a == amps:
            continue
        out.append(PlannedLimit(now if slot.start <= now else slot.start + lag, amps))
    return tuple(out)


def full_from(plan: Plan, deadline: datetime, lag: timedelta = PROFILE_LAG) -> datetime:
    """Return where full current starts: ``lag`` after the plan's end.

    The plan's end is its last charging slot's end, at the latest ``deadline`` (the deadline
    when nothing is left to charge). At the plan's end the daemon itself charges at full
    current when the need is not met yet (and pauses when it is), so the charger's tail
    follows it like every other change.
    """
    ends = [slot.end for slot in plan.slots if slot.is_charging]
    return (min(max(ends), deadline) if ends else deadline) + lag


async def send_plan(
    charger: PlanKeeper, session: SessionState, now: datetime, margin: timedelta, max_a: int
) -> bool:
    """Send ``session``'s plan to ``charger``; True if it took it (a failure is logged only).

    The daemon's ticks keep sending the slot's own limit, so a plan that could not be kept
    in the charger (not connected, refused, no answer) costs only the charger's memory of it.
    """
    if session.plan is None:
        return False
    plan = session.plan.plan
    limits = plan_limits(plan, now, max_a)
    if not limits:
        return False
    until = full_from(plan, session.ready_by - margin)
    try:
        await charger.send_plan(limits, until)
    except SmartchargeError as exc:
        log.warning("plan_profile_failed", plan_id=session.plan.plan_id, error=str(exc))
        return False
    log.info(
        "plan_profile_sent",
        plan_id=session.plan.plan_id,
        periods=len(limits),
        full_from=until.isoformat(),
    )
    return True


async def drop_plan(charger: PlanKeeper) -> bool:
    """Keep only the limit in force in the charger (the target is met: no full-current tail).

    True if the charger took it; a failure is logged only.
    """
    try:
        await charger.send_plan((), None)
    except SmartchargeError as exc:
        log.warning("plan_profile_failed", error=str(exc))
        return False
    log.info("plan_profile_dropped", reason="target_met")
    return True


__all__ = ["PROFILE_LAG", "PlanKeeper", "drop_plan", "full_from", "plan_limits", "send_plan"]
