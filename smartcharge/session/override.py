"""The manual-override rule, pure: a change made by hand, seen in a reading or sent with the CLI.

Only a change made by hand *after* the daemon's own last command counts as the user's choice
(``decide.detect_manual_change``). With ``OverrideRule.RESPECT`` a pause or resume becomes a
``Hold`` until the next plan change, and a current becomes the session's upper limit and asks
for a new plan; with ``IGNORE`` the daemon logs that it overrules it and brings the charger back
to the plan. Either way the baseline takes the change, so it is seen once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from smartcharge.domain import ChargerSnapshot, Command, CommandKind
from smartcharge.session.decide import ManualChange, detect_manual_change, pending_after_send
from smartcharge.session.events import Event, event
from smartcharge.session.model import Aspect, DaemonState, Hold, SessionState, aspect_of
from smartcharge.session.rules import OverrideRule, Rules


@dataclass(frozen=True, slots=True)
class ManualCommandSeen:
    """A command the user sent by hand with ``smartcharge charger`` (read by the runtime).

    Attributes:
        command: what was sent.
        at: when the cloud accepted it (UTC).
    """

    command: Command
    at: datetime


def take_manual_commands(
    session: SessionState,
    state: DaemonState,
    snapshot: ChargerSnapshot,
    now: datetime,
    rules: Rules,
    manual: Sequence[ManualCommandSeen],
    events: list[Event],
) -> tuple[SessionState, DaemonState]:
    """Take a command sent by hand with ``smartcharge charger`` for the user's, at once."""
    for seen in manual:
        state = replace(state, manual_seen_at=seen.at)
        command = seen.command
        aspect = aspect_of(command)
        if aspect is None:
            continue
        # The user's command supersedes a pending one of ours that changes the same thing,
        # and is itself pending: the charger may show it only a minute later, and the
        # daemon must not send it a second time meanwhile.
        pending = tuple(p for p in session.pending if p.aspect is not aspect)
        session = replace(session, pending=(*pending, pending_after_send(command, seen.at)))
        if session.plan is None:
            continue
        if aspect is Aspect.ENABLED:
            change = ManualChange(enabled=command.kind is CommandKind.RESUME)
        elif command.value is not None:
            change = ManualChange(current_a=round(command.value))
        else:
            continue
        session = user_changed(session, change, snapshot, now, rules, "smartcharge charger", events)
    return session, state


def note_manual_change(
    session: SessionState,
    snapshot: ChargerSnapshot,
    now: datetime,
    rules: Rules,
    events: list[Event],
) -> SessionState:
    """Take a change the reading shows against the baseline for the user's."""
    if session.plan is None:
        return session
    change = detect_manual_change(snapshot, session.baseline, session.pending)
    if change is None:
        return session
    return user_changed(session, change, snapshot, now, rules, "reading", events)


def user_changed(
    session: SessionState,
    change: ManualChange,
    snapshot: ChargerSnapshot,
    now: datetime,
    rules: Rules,
    source: str,
    events: list[Event],
) -> SessionState:
    """Apply the manual-override rule to a change made by hand (``source`` says how seen)."""
    assert session.plan is not None
    respect = rules.manual_override is OverrideRule.RESPECT
    if change.enabled is not None:
        if respect:
            session = replace(session, hold=Hold(change.enabled, now, session.plan.plan_id))
            events.append(
                event(
                    "manual_override_detected",
                    charge=change.enabled,
                    status=snapshot.status.value,
                    status_id=snapshot.status_id,
                    source=source,
                    holds_until="the next plan change",
                )
            )
        else:
            events.append(
                event(
                    "manual_change_overruled",
                    charge=change.enabled,
                    status=snapshot.status.value,
                    source=source,
                    setting="SMARTCHARGE_MANUAL_OVERRIDE=ignore",
                )
            )
        session = replace(session, baseline=replace(session.baseline, enabled=change.enabled))
    if change.current_a is not None:
        if respect:
            session = replace(
                session, user_max_current_a=change.current_a, replan_for_user_current=True
            )
            events.append(
                event("manual_current_detected", current_a=change.current_a, source=source)
            )
        else:
            events.append(
                event("manual_change_overruled", current_a=change.current_a, source=source)
            )
        session = replace(session, baseline=replace(session.baseline, current_a=change.current_a))
    return session
