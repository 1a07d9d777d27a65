"""One tick of the session, pure: ``step(state, reading, now, prices, rules) -> Step``.

From the last state and a fresh reading of the charger it follows the session (plug-in, energy,
unplug), notes an error, settles the daemon's pending commands against the reading, takes in
commands sent by hand, applies the manual-override rule (``override``) and says whether (and
why) to plan again. What it has to say is in ``Step.events``, for the runtime to log. Planning
itself is ``smartcharge.session.planning``; the commands to send and what a sent one changes
are ``smartcharge.session.commands``.

Re-plans happen on: a new session, the user's override (``session.steer``), new prices, energy
delivered falling behind the plan, the measured draw differing from the assumed one by more
than the rules allow, a current set by hand, the charger coming back after a restart for an
error, and a plan whose last block ended with a little still missing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from smartcharge.carprofile import deviates, draw_share
from smartcharge.domain import ChargerSnapshot, ChargerStatus, Command, PriceCurve
from smartcharge.session.accounting import (
    TARGET_TOLERANCE_KWH,
    attribute_energy,
    merge_slot_energy,
)
from smartcharge.session.decide import (
    COMMAND_SETTLE,
    MAX_SENDS,
    observed_baseline,
    review_pending,
)
from smartcharge.session.events import Event, Level, event
from smartcharge.session.model import (
    Baseline,
    DaemonState,
    DrawSample,
    ReplanReason,
    SessionState,
)
from smartcharge.session.override import (
    ManualCommandSeen,
    note_manual_change,
    take_manual_commands,
)
from smartcharge.session.rules import Rules
from smartcharge.session.steer import ended_at_unplug, session_need, take_waiting
from smartcharge.session.steering import SteerMode

# Energy behind plan: re-plan when the delivered energy lags the plan by more than this share of
# the need, or this many kWh, whichever is larger (a 90 s poll at 11 kW is 0.27 kWh).
BEHIND_SHARE = 0.05
BEHIND_MIN_KWH = 0.5
# A plan must run this long before "energy behind" may judge it (ramp-up, the first poll).
BEHIND_GRACE = timedelta(minutes=15)
# The session ends only on a clear "no car" reading; never in the first minutes after the
# daemon restarted the charger (it reports Ready for ~10 s while rebooting, wallbox-api.md §4.4).
RESTART_QUIET = timedelta(minutes=5)

_NO_CAR = frozenset({ChargerStatus.READY, ChargerStatus.LOCKED})


@dataclass(frozen=True, slots=True)
class Step:
    """What one reading changed and asks for.

    Attributes:
        state: the new state.
        finished: the session the reading ended (the runtime records it in the ledger).
        replan: why to plan again now, or None.
        events: what to log, in order.
        not_applied: the commands found not applied, with how often each was sent (sending
            one again counts as its next send).
    """

    state: DaemonState
    finished: SessionState | None = None
    replan: ReplanReason | None = None
    events: tuple[Event, ...] = ()
    not_applied: Mapping[Command, int] = field(default_factory=dict)


def on_start(state: DaemonState) -> tuple[DaemonState, tuple[Event, ...]]:
    """Return the state a (re)started daemon begins from.

    A session carried over keeps its plan; the baseline and the user's hold are forgotten, so
    the charger is brought to the plan. The hold is carried for the on-exit rule only.
    """
    session = state.session
    if session is None:
        return state, ()
    events: tuple[Event, ...] = ()
    if session.hold is not None:
        events = (event("manual_override_ended", reason="daemon_started"),)
    session = replace(
        session,
        baseline=Baseline(command_at=session.baseline.command_at),
        carried_hold=session.hold,
        hold=None,
    )
    return replace(state, session=session), events


def unreachable(state: DaemonState, error: str) -> tuple[DaemonState, tuple[Event, ...]]:
    """Return the state after a failed read of the charger (the outage logged once)."""
    if state.charger_unreachable:
        return state, ()
    return (
        replace(state, charger_unreachable=True),
        (event("wallbox_unavailable", Level.WARNING, error=error),),
    )


def reading_share(snapshot: ChargerSnapshot, rules: Rules) -> float | None:
    """Return the draw share a charging reading shows, or None (not charging)."""
    if snapshot.status is not ChargerStatus.CHARGING:
        return None
    return draw_share(
        snapshot.charging_power_kw, snapshot.max_charging_current_a, rules.power_kw(1.0)
    )


def assumed_share(session: SessionState, rules: Rules) -> float:
    """Return the draw share the plan in force assumed (1.0: the nominal car)."""
    record = session.plan
    if record is None or record.measured_power_kw is None:
        return 1.0
    full_kw = rules.power_kw(rules.limits(session.user_max_current_a).max_current_a)
    return 1.0 if full_kw <= 0 else min(1.0, record.measured_power_kw / full_kw)


def step(
    state: DaemonState,
    snapshot: ChargerSnapshot,
    now: datetime,
    prices: PriceCurve,
    rules: Rules,
    manual: Sequence[ManualCommandSeen] = (),
) -> Step:
    """Take in one reading of the charger.

    Args:
        state: the state before.
        snapshot: what the charger reports.
        now: the time of the tick.
        prices: the known all-in prices.
        rules: the rules.
        manual: the commands sent by hand to this charger since ``state.manual_seen_at`` (or
            the plug-in), oldest first.
    """
    events: list[Event] = []
    if state.charger_unreachable:
        events.append(event("wallbox_recovered"))
    state = replace(
        state,
        charger_unreachable=False,
        last_poll_at=max(state.last_poll_at or snapshot.fetched_at, snapshot.fetched_at),
        last_status=snapshot,
    )
    if snapshot.status is ChargerStatus.UNKNOWN:
        events.append(event("wallbox_status_unknown", Level.WARNING, status_id=snapshot.status_id))
    session = state.session
    if session is None and snapshot.status.is_car_connected:
        state, session = _start_session(state, snapshot, now, rules, events)
    elif (
        session is not None
        and snapshot.status in _NO_CAR
        and (state.restarted_at is None or now - state.restarted_at > RESTART_QUIET)
    ):
        events.extend(ended_at_unplug(session))
        return Step(replace(state, session=None), finished=session, events=tuple(events))
    if session is None:
        return Step(state, events=tuple(events))
    session = _account_energy(session, snapshot, now, prices, events)
    session, state = _track_error(session, state, snapshot, now, events)
    session, not_applied = _review_pending(session, snapshot, now, events)
    session, state = take_manual_commands(session, state, snapshot, now, rules, manual, events)
    session = _note_draw(session, snapshot, rules)
    session = note_manual_change(session, snapshot, now, rules, events)
    session, reason = _replan_reason(session, state, snapshot, now, rules)
    return Step(
        replace(state, session=session),
        replan=reason,
        events=tuple(events),
        not_applied=not_applied,
    )


def _start_session(
    state: DaemonState,
    snapshot: ChargerSnapshot,
    now: datetime,
    rules: Rules,
    events: list[Event],
) -> tuple[DaemonState, SessionState]:
    """Start a session: the rules' need and ready-by, or those of the override waiting for it."""
    state, override, dropped = take_waiting(state, now)
    events.extend(dropped)
    target, ready_by = session_need(now, override, rules)
    session = SessionState(
        session_id=now.isoformat(),
        plugged_in_at=now,
        ready_by=ready_by,
        target_kwh=target,
        last_added_kwh=0.0,
        last_energy_at=now,
        override=override,
    )
    events.append(
        event(
            "session_started",
            session=session.session_id,
            status=snapshot.status.value,
            target_kwh=session.target_kwh,
            ready_by=ready_by.isoformat(),
            override=None if override is None else override.mode.value,
        )
    )
    return replace(state, session=session), session


def _account_energy(
    session: SessionState,
    snapshot: ChargerSnapshot,
    now: datetime,
    prices: PriceCurve,
    events: list[Event],
) -> SessionState:
    added = snapshot.added_energy_kwh
    last = session.last_added_kwh or 0.0
    # The counter is per session; a drop means it was reset (a new session on the charger).
    delta = added - last if added >= last else added
    start = session.last_energy_at or now
    if delta > 0:
        pieces = attribute_energy(min(start, now), now, delta, prices)
        session = replace(
            session,
            slot_energy=merge_slot_energy(session.slot_energy, pieces),
            delivered_kwh=session.delivered_kwh + delta,
        )
    session = replace(session, last_added_kwh=added, last_energy_at=now)
    if snapshot.status is ChargerStatus.CHARGING:
        session = replace(
            session, max_power_seen_kw=max(session.max_power_seen_kw, snapshot.charging_power_kw)
        )
    if (
        session.target_met_at is None
        and session.delivered_kwh >= session.target_kwh - TARGET_TOLERANCE_KWH
    ):
        session = replace(session, target_met_at=now)
        events.append(
            event(
                "target_met",
                session=session.session_id,
                delivered_kwh=round(session.delivered_kwh, 3),
                ready_by=session.ready_by.isoformat(),
                on_time=now <= session.ready_by,
            )
        )
    return session


def _track_error(
    session: SessionState,
    state: DaemonState,
    snapshot: ChargerSnapshot,
    now: datetime,
    events: list[Event],
) -> tuple[SessionState, DaemonState]:
    if snapshot.status is ChargerStatus.ERROR:
        if session.error_since is None:
            session = replace(session, error_since=now)
            events.append(event("charger_in_error", Level.WARNING, status_id=snapshot.status_id))
        return session, state
    if session.error_since is not None and snapshot.status not in (
        ChargerStatus.OFFLINE,
        ChargerStatus.UNKNOWN,
    ):
        session = replace(session, error_since=None)
        events.append(event("charger_error_cleared", status=snapshot.status.value))
        if state.restarted_at is not None and session.plan is not None:
            # Back from a restart for an error: plan again (as for new prices).
            state = replace(state, prices_changed=True, restarted_at=None)
    return session, state


def _review_pending(
    session: SessionState, snapshot: ChargerSnapshot, now: datetime, events: list[Event]
) -> tuple[SessionState, dict[Command, int]]:
    """Settle the daemon's pending commands against this reading (``decide.review_pending``)."""
    not_applied: dict[Command, int] = {}
    if not session.pending:
        return session, not_applied
    review = review_pending(session.pending, snapshot, now)
    pending = review.pending
    baseline = session.baseline
    for p in review.confirmed:
        events.append(
            event(
                "command_confirmed",
                Level.DEBUG,
                command=str(p.command),
                after_s=round((snapshot.fetched_at - p.sent_at).total_seconds()),
                sends=p.sends,
            )
        )
    for p in review.not_applied:
        gave_up = p.sends >= MAX_SENDS
        events.append(
            event(
                "command_not_applied",
                Level.ERROR if gave_up else Level.WARNING,
                command=str(p.command),
                sent_at=p.sent_at.isoformat(),
                sends=p.sends,
                status=snapshot.status.value,
                status_id=snapshot.status_id,
                max_charging_current_a=snapshot.max_charging_current_a,
                next="not sent again" if gave_up else "sent once more if the plan still wants it",
            )
        )
        # The reading is the truth now, not a change by hand: the baseline takes it.
        others = [o for o in pending if o.aspect is not p.aspect]
        baseline = observed_baseline(snapshot, baseline, others)
        if gave_up:
            # The same command is not sent again while the plan asks for it.
            pending = (*pending, replace(p, gave_up=True))
        else:
            not_applied[p.command] = p.sends
    return replace(session, pending=pending, baseline=baseline), not_applied


def _note_draw(session: SessionState, snapshot: ChargerSnapshot, rules: Rules) -> SessionState:
    """Keep the session's charging readings for the car profile."""
    if reading_share(snapshot, rules) is None:
        return session
    sample = DrawSample(snapshot.max_charging_current_a, snapshot.charging_power_kw)
    return replace(session, draw_samples=(*session.draw_samples, sample))


def _replan_reason(
    session: SessionState,
    state: DaemonState,
    snapshot: ChargerSnapshot,
    now: datetime,
    rules: Rules,
) -> tuple[SessionState, ReplanReason | None]:
    record = session.plan
    if record is None:
        return replace(session, replan_for_override=False), ReplanReason.SESSION_STARTED
    if session.replan_for_override:
        return replace(session, replan_for_override=False), ReplanReason.SESSION_OVERRIDE
    if session.replan_for_user_current:
        return replace(session, replan_for_user_current=False), ReplanReason.USER_CHANGED_CURRENT
    if state.prices_changed:
        return session, ReplanReason.PRICES_CHANGED
    if session.mode is SteerMode.OFF:
        # Nothing is to be charged: neither the energy nor the car's draw asks for a new plan.
        return session, None
    if session.hold is not None or session.remaining_kwh <= TARGET_TOLERANCE_KWH:
        # The user's own pause is why energy falls behind; the need met ends planning.
        return session, None
    plan_end = record.plan.slots[-1].end if record.plan.slots else record.made_at
    if now - record.made_at >= BEHIND_GRACE and now < plan_end:
        behind = record.expected_delivered_kwh(now) - session.delivered_kwh
        if behind > max(BEHIND_MIN_KWH, BEHIND_SHARE * session.target_kwh):
            return session, ReplanReason.ENERGY_BEHIND
    measured = _deviating_share(session, snapshot, now, rules)
    if measured is not None:
        return replace(session, measured_share=measured), ReplanReason.POWER_DEVIATED
    # The plan's last block is over and a little is still missing (a car that drew a bit
    # less than assumed): plan the rest into the cheapest time left, rather than topping
    # it up at full power once the plan has run out at the deadline.
    last_charge_end = max((s.end for s in record.plan.slots if s.is_charging), default=None)
    if last_charge_end is not None and record.made_at < last_charge_end <= now < plan_end:
        return session, ReplanReason.ENERGY_SHORT
    return session, None


def report_worth_a_tick(
    state: DaemonState, report: ChargerSnapshot, now: datetime, rules: Rules
) -> bool:
    """Return whether a charger's own report should be taken in before the next poll.

    A link whose charger reports by itself (OCPP: StatusNotification, MeterValues every 10 s)
    lets the daemon tick on a report that matters instead of waiting for its poll: the first
    after the last read failed, a status other than the last reading's (a car plugged in or
    out, charging begun, a car that stopped drawing), or, in a session being planned, a draw
    that ``step`` would re-plan for (``ReplanReason.POWER_DEVIATED``). Anything else waits
    for the poll.
    """
    last = state.last_status
    if state.charger_unreachable or last is None or report.status is not last.status:
        return True
    session = state.session
    if session is None or session.hold is not None:
        return False
    if session.remaining_kwh <= TARGET_TOLERANCE_KWH:
        return False
    return _deviating_share(session, report, now, rules) is not None


def _deviating_share(
    session: SessionState, snapshot: ChargerSnapshot, now: datetime, rules: Rules
) -> float | None:
    """Return the draw share of a charging reading that differs from the plan's, or None.

    Judged on every charging reading, whether or not the plan charges then (the car
    may still be charging before the plan's first pause has taken effect). A reading
    above the assumption at less than the full current is not trusted: a car whose own
    limit caps its power draws a larger share at a low current, and planning with that
    share would deliver too little at full current (too much at a low current is safe).
    """
    measured = reading_share(snapshot, rules)
    if session.plan is None or measured is None:
        return None
    if (
        session.baseline.command_at is not None
        and now - session.baseline.command_at < COMMAND_SETTLE
    ):
        return None
    assumed = assumed_share(session, rules)
    if not deviates(measured, assumed, rules.replan_power_deviation):
        return None
    if (
        measured > assumed
        and snapshot.max_charging_current_a < rules.limits(session.user_max_current_a).max_current_a
    ):
        return None
    return measured
