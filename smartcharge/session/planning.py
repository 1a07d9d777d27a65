"""Planning, pure: the request for the strategy, and the session once the plan is made.

The runtime asks when ``policy.step`` says so: ``plan_request`` builds the strategy's
``PlanRequest`` (with the car's draw share), the strategy plans, ``after_plan`` records the plan
in the session (a new plan ends the user's hold and forgets the baseline). ``current_slot``,
``next_action`` and ``next_plan_edge`` read the plan in force.

The user's override (``session.steer``) shapes the request: ``now`` asks for the need at full
power from now (a window just long enough for it: the runtime plans it with the ``immediate``
strategy), ``off`` asks for nothing (every slot paused, and paused past the plan too).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from smartcharge.carprofile import deviates
from smartcharge.domain import ChargerSnapshot, CommandKind, PriceCurve
from smartcharge.session.accounting import TARGET_TOLERANCE_KWH, immediate_cost
from smartcharge.session.events import Event, event
from smartcharge.session.model import (
    Baseline,
    DaemonState,
    NextAction,
    PlanRecord,
    ReplanReason,
    SessionState,
)
from smartcharge.session.policy import assumed_share, reading_share
from smartcharge.session.rules import Rules
from smartcharge.session.steering import SteerMode
from strategies.base import Plan, PlanRequest, PlanSlot

SLOT = timedelta(minutes=15)
_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class PlanAsk:
    """What the strategy is asked, and the car's measured power it assumes.

    Attributes:
        request: the strategy's input.
        measured_power_kw: the car's power at full current, when it draws less than nominal.
    """

    request: PlanRequest
    measured_power_kw: float | None


def first_share(
    snapshot: ChargerSnapshot | None, car_draw_share: float | None, rules: Rules
) -> float | None:
    """Return the draw share a new session's first plan assumes, or None (nominal).

    The session's own first reading when the car is charging; otherwise what was learnt
    about the car (``car_draw_share``), when it differs from the nominal car by more than the
    deviation.
    """
    share = None if snapshot is None else reading_share(snapshot, rules)
    if share is not None:
        return share
    if car_draw_share is not None and deviates(car_draw_share, 1.0, rules.replan_power_deviation):
        return car_draw_share
    return None


def plan_request(
    session: SessionState,
    now: datetime,
    prices: PriceCurve,
    rules: Rules,
    first: float | None,
) -> PlanAsk:
    """Return the strategy's request for ``session`` now.

    Args:
        session: the session.
        now: the time.
        prices: the known all-in prices.
        rules: the rules.
        first: the draw share for a session without a measured or assumed one (``first_share``).
    """
    limits = rules.limits(session.user_max_current_a)
    share = session.measured_share
    if share is None and session.plan is not None:
        share = assumed_share(session, rules)
    if share is None:
        share = first
    nominal_full_kw = rules.power_kw(limits.max_current_a)
    # The plan assumes the car's draw share at every current (see smartcharge.carprofile):
    # the voltage scaled by it gives the right energy at full and at a lower current.
    measured = None if share is None or share >= 1.0 else share * nominal_full_kw
    ready_by, energy = session.ready_by, session.remaining_kwh
    if session.mode is SteerMode.NOW:
        full_kw = nominal_full_kw * (1.0 if share is None else min(1.0, share))
        ready_by = now + rules.deadline_margin + _time_for(energy, full_kw)
    elif session.mode is SteerMode.OFF:
        energy = 0.0
    request = PlanRequest(
        now=now,
        ready_by=ready_by,
        energy_needed_kwh=energy,
        prices=prices,
        min_current_a=float(limits.min_current_a),
        max_current_a=float(limits.max_current_a),
        phases=rules.phases,
        voltage_v=rules.voltage_v * (1.0 if share is None else min(1.0, share)),
        max_interruptions=rules.max_interruptions,
        deadline_margin=rules.deadline_margin,
    )
    return PlanAsk(request, measured)


def _time_for(energy_kwh: float, power_kw: float) -> timedelta:
    """Return the whole quarter hours ``energy_kwh`` takes at ``power_kw``, and one more."""
    if power_kw <= 0:
        return SLOT
    return SLOT * (math.ceil(energy_kwh / power_kw * 3600 / SLOT.total_seconds()) + 1)


def after_plan(
    state: DaemonState,
    ask: PlanAsk,
    plan: Plan,
    reason: ReplanReason,
    rules: Rules,
) -> tuple[DaemonState, tuple[Event, ...]]:
    """Return the state with ``plan`` in force, and what to log."""
    session = state.session
    assert session is not None
    now = ask.request.now
    limits = rules.limits(session.user_max_current_a)
    full_kw = rules.power_kw(limits.max_current_a)
    if ask.measured_power_kw is not None:
        full_kw = min(full_kw, ask.measured_power_kw)
    immediate = immediate_cost(now, plan.energy_kwh, full_kw, ask.request.prices)
    plans_made = session.plans_made + 1
    plan_id = f"{now.isoformat()}#{plans_made}"
    events: list[Event] = []
    if session.hold is not None:
        events.append(event("manual_override_ended", reason="new_plan", plan_id=plan_id))
    session = replace(
        session,
        plans_made=plans_made,
        plan=PlanRecord(
            plan_id=plan_id,
            plan=plan,
            made_at=now,
            reason=reason,
            delivered_kwh=session.delivered_kwh,
            measured_power_kw=ask.measured_power_kw,
            immediate_cost_eur=immediate,
        ),
        hold=None,
        measured_share=None,
        # A new plan brings the charger to the plan: forget what was last seen.
        baseline=Baseline(command_at=session.baseline.command_at),
    )
    events.append(
        event(
            "plan_made",
            reason=reason.value,
            plan_id=plan_id,
            strategy=plan.strategy,
            slots=slot_summary(plan),
            energy_kwh=round(plan.energy_kwh, 3),
            cost_eur=round(plan.cost_eur, 4),
            immediate_cost_eur=None if immediate is None else round(immediate, 4),
            saving_eur=None if immediate is None else round(immediate - plan.cost_eur, 4),
            is_reachable=plan.is_reachable,
            blocks=plan.blocks,
            deadline=ask.request.deadline.isoformat(),
        )
    )
    return replace(state, session=session, prices_changed=False), tuple(events)


def slot_summary(plan: Plan) -> list[dict[str, Any]]:
    """Return the plan's charging stretches (consecutive slots merged) for the log."""
    out: list[dict[str, Any]] = []
    for s in plan.slots:
        if not s.is_charging:
            continue
        if out and out[-1]["end"] == s.start.isoformat():
            out[-1]["end"] = s.end.isoformat()
            out[-1]["energy_kwh"] = round(out[-1]["energy_kwh"] + s.energy_kwh, 3)
            continue
        out.append(
            {
                "start": s.start.isoformat(),
                "end": s.end.isoformat(),
                "energy_kwh": round(s.energy_kwh, 3),
            }
        )
    return out


def current_slot(session: SessionState, now: datetime, rules: Rules) -> PlanSlot:
    """Return what the charger should do now: the plan's slot, or a fallback.

    The need met, or the user's ``off``: paused. Outside the plan (past its deadline with the
    need not met, or no plan): charge at full current ("when in doubt, charge").
    """
    if session.remaining_kwh <= TARGET_TOLERANCE_KWH or session.mode is SteerMode.OFF:
        return PlanSlot(now, now + SLOT, 0.0, 0.0, None)
    slot = None if session.plan is None else session.plan.plan.slot_at(now)
    if slot is not None:
        return slot
    top = float(rules.limits(session.user_max_current_a).max_current_a)
    return PlanSlot(now, now + SLOT, top, rules.power_kw(top) / 4, None)


def next_action(session: SessionState | None, now: datetime, rules: Rules) -> NextAction | None:
    """Return the plan's next pause or resume after ``now``, if any."""
    if session is None or session.plan is None:
        return None
    charging = current_slot(session, now, rules).is_charging
    for s in session.plan.plan.slots:
        if s.end <= now:
            continue
        if s.start > now and s.is_charging != charging:
            return NextAction(s.start, CommandKind.RESUME if s.is_charging else CommandKind.PAUSE)
    return None


def next_plan_edge(session: SessionState | None, after: datetime) -> datetime | None:
    """Return the next plan edge after ``after`` that no quarter-hour tick covers, or None.

    An edge is where the plan starts charging or raises the current. A block that begins
    inside a quarter hour (a plan made between ticks, a partial slot) starts at its
    planned instant through a one-off job there, not at the next poll. A block that ends
    inside a quarter hour ends at the next poll (at most a poll interval later, at the same
    quarter hour's price): the status read there may come from the read budget's cache,
    and energy drawn after a cached reading would be counted in the wrong price slot.
    """
    if session is None or session.plan is None:
        return None
    previous: PlanSlot | None = None
    for s in session.plan.plan.slots:
        if (
            previous is not None
            and s.start > after
            and s.current_a > previous.current_a
            and (s.start - _EPOCH) % SLOT
        ):
            return s.start
        previous = s
    return None
