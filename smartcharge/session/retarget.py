"""The session in progress under new rules: a live edit of the settings (issue 14 item 1).

A session takes its need and its ready-by from the rules when the car is plugged in
(``policy``). When the user edits ``SMARTCHARGE_TARGET_KWH`` or ``SMARTCHARGE_READY_BY`` (or the
time zone) while a car is plugged in, the session follows: the new need, and the ready-by
worked out again from the plug-in time, as at plug-in ("the next such time after plug-in").
What the user's override sets (``session.steer``: a target, a ready-by) stays: the edit changes
only what it leaves to the settings.
Whether the session is then planned again is the runtime's call (every planning setting asks
for it, ``ReplanReason.SETTINGS_CHANGED``).

Pure: no I/O, no clock; the events are data.
"""

from __future__ import annotations

from dataclasses import replace

from smartcharge.session.accounting import TARGET_TOLERANCE_KWH
from smartcharge.session.events import Event, event
from smartcharge.session.model import DaemonState
from smartcharge.session.rules import Rules
from smartcharge.session.steer import session_need


def retarget(state: DaemonState, rules: Rules) -> tuple[DaemonState, tuple[Event, ...]]:
    """Return ``state`` with the session's need and ready-by taken from ``rules``.

    Nothing changes without a session, or when the rules give the session what it has. A need
    raised above what was delivered is no longer met (``target_met_at`` is cleared); a need
    lowered to what was delivered is noted met by the next reading, as any other.
    """
    session = state.session
    if session is None:
        return state, ()
    target_kwh, ready_by = session_need(session.plugged_in_at, session.override, rules)
    if (session.target_kwh, session.ready_by) == (target_kwh, ready_by):
        return state, ()
    met = session.delivered_kwh >= target_kwh - TARGET_TOLERANCE_KWH
    changed = replace(
        session,
        target_kwh=target_kwh,
        ready_by=ready_by,
        target_met_at=session.target_met_at if met else None,
    )
    done = event(
        "session_retargeted",
        session=session.session_id,
        target_kwh=target_kwh,
        was_target_kwh=session.target_kwh,
        ready_by=ready_by.isoformat(),
        was_ready_by=session.ready_by.isoformat(),
        delivered_kwh=round(session.delivered_kwh, 3),
    )
    return replace(state, session=changed), (done,)
