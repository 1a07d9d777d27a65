"""The plan kept in the charger (issue 15 item 4): every new plan also sent as one profile.

A charger whose link can keep the plan itself (``ChargerCapabilities.plan_profile``: OCPP's
multi-period TxDefaultProfile) gets the rest of the plan whenever the daemon makes one (its
``plan_made`` event), so that it charges as planned when smartcharge stops or loses the link.
The last period, from the planned end (at the latest the ready-by time minus the margin),
allows full current: a dead daemon never strands a car. The slot's own limit is still sent at
slot boundaries by the daemon's ticks (some firmware ignores schedules).

This is the runtime's, not the pure core's: it observes the daemon's events and sends beside
its ticks (the charger's own lock orders the two).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Protocol

import structlog

from smartcharge.domain import ChargerSnapshot
from smartcharge.errors import SmartchargeError
from smartcharge.ocpp.profiles import PlannedLimit, whole_amps
from smartcharge.ports import Charger
from smartcharge.session.model import SessionState
from strategies.base import Plan

log = structlog.get_logger(__name__)


class PlanKeeper(Charger, Protocol):
    """A charger that can keep the plan itself (``capabilities.plan_profile``)."""

    async def send_plan(
        self, limits: Sequence[PlannedLimit], full_from: datetime | None
    ) -> ChargerSnapshot:
        """Keep ``limits`` in the charger, full current from ``full_from``."""
        ...


def plan_limits(plan: Plan, now: datetime, max_current_a: int) -> tuple[PlannedLimit, ...]:
    """Return the rest of ``plan`` from ``now`` as whole-amp limits, merged where equal."""
    out: list[PlannedLimit] = []
    for slot in plan.slots:
        if slot.end <= now:
            continue
        amps = whole_amps(slot.current_a, max_current_a)
        if out and out[-1].current_a == amps:
            continue
        out.append(PlannedLimit(max(slot.start, now), amps))
    return tuple(out)


def full_from(plan: Plan, deadline: datetime) -> datetime:
    """Return where full current starts: the end of the last charging slot, by ``deadline``.

    A plan with nothing left to charge ends at its deadline.
    """
    ends = [slot.end for slot in plan.slots if slot.is_charging]
    return min(max(ends), deadline) if ends else deadline


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


__all__ = ["PlanKeeper", "full_from", "plan_limits", "send_plan"]
