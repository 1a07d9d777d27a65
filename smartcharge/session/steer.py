"""The user's override applied to the state, pure: set, cleared, taken at plug-in, ended at unplug.

``steer`` applies a ``SteerRequest`` (checked by ``steering.resolve``): with a car plugged in to
the session in progress, whose need and ready-by become the override's (the settings' where it
gives none) and which plans again at the next tick (``SessionState.replan_for_override``); with
no car plugged in to ``DaemonState.next_override``, which the next session takes at plug-in
(``take_waiting``). The override ends when the car is unplugged (``policy.step`` logs
``session_override_ended``); the next session starts from the settings.

How each mode charges (``planning`` and ``runtime.steering``):

- ``plan``: by the strategy, with the override's need and ready-by.
- ``now``: at full current from now until the need is met (or the car is unplugged), whatever
  the price; refused when the need is already met (give a higher target with it).
- ``off``: not at all this session: the charger is paused and stays paused past the ready-by;
  the on-exit rule does not resume it either (the user said no, as with a pause by hand).

A live edit of ``.env`` (``retarget``) changes only what the override does not set.

Pure: no I/O, no clock; the events are data.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from smartcharge.localtime import ready_by_after
from smartcharge.session.accounting import TARGET_TOLERANCE_KWH
from smartcharge.session.events import Event, Level, event
from smartcharge.session.model import DaemonState, SessionState
from smartcharge.session.rules import Rules
from smartcharge.session.steering import (
    SessionOverride,
    SteerMode,
    SteerOutcome,
    SteerRefusal,
    SteerRequest,
    SteerSource,
    SteerTarget,
    resolve,
)


def session_need(
    plugged_in_at: datetime, override: SessionOverride | None, rules: Rules
) -> tuple[float, datetime]:
    """Return a session's need and ready-by: the override's where it sets them, else the rules'."""
    target = rules.target_kwh
    if override is not None and override.target_kwh is not None:
        target = override.target_kwh
    if override is not None and override.ready_by is not None:
        return target, override.ready_by
    return target, ready_by_after(plugged_in_at, rules.ready_by, rules.timezone)


def with_override(
    session: SessionState, override: SessionOverride | None, rules: Rules
) -> SessionState:
    """Return ``session`` under ``override`` (None: the settings), asking for a new plan."""
    target, ready_by = session_need(session.plugged_in_at, override, rules)
    met = session.delivered_kwh >= target - TARGET_TOLERANCE_KWH
    return replace(
        session,
        override=override,
        target_kwh=target,
        ready_by=ready_by,
        target_met_at=session.target_met_at if met else None,
        replan_for_override=True,
    )


def override_fields(override: SessionOverride) -> dict[str, Any]:
    """Return an override as log fields (times ISO-8601 UTC)."""
    return {
        "mode": override.mode.value,
        "target_kwh": override.target_kwh,
        "ready_by": None if override.ready_by is None else override.ready_by.isoformat(),
        "set_by": override.set_by.value,
    }


def _refused(
    state: DaemonState, refusal: SteerRefusal, source: SteerSource
) -> tuple[DaemonState, SteerOutcome, tuple[Event, ...]]:
    done = event(
        "session_override_refused",
        Level.WARNING,
        field=refusal.field,
        value=refusal.value,
        error=refusal.message,
        accepted=refusal.accepted,
        set_by=source.value,
    )
    return state, SteerOutcome(refusal, None, None), (done,)


def steer(
    state: DaemonState,
    request: SteerRequest,
    source: SteerSource,
    now: datetime,
    rules: Rules,
) -> tuple[DaemonState, SteerOutcome, tuple[Event, ...]]:
    """Apply ``request`` to ``state``; a refusal returns ``state`` unchanged.

    Returns:
        The new state, the outcome and what to log (``session_override_set``,
        ``session_override_cleared`` or ``session_override_refused``).
    """
    session = state.session
    current = state.next_override if session is None else session.override
    resolved = resolve(
        request,
        source,
        now,
        timezone=rules.timezone,
        battery_kwh=rules.battery_kwh,
        current=current,
    )
    if isinstance(resolved, SteerRefusal):
        return _refused(state, resolved, source)
    if resolved is not None and resolved.mode is SteerMode.NOW and session is not None:
        target, _ = session_need(session.plugged_in_at, resolved, rules)
        if session.delivered_kwh >= target - TARGET_TOLERANCE_KWH:
            delivered = round(session.delivered_kwh, 3)
            refusal = SteerRefusal(
                "target_kwh",
                "(none)" if request.target_kwh is None else f"{request.target_kwh:g}",
                f"the session's need of {target:g} kWh is met already ({delivered:g} kWh"
                " delivered): now would charge nothing",
                f"mode now with a target_kwh above {delivered:g}",
            )
            return _refused(state, refusal, source)
    applies_to = SteerTarget.NEXT_SESSION if session is None else SteerTarget.SESSION
    if session is None:
        state = replace(state, next_override=resolved)
    else:
        state = replace(state, session=with_override(session, resolved, rules))
    where: dict[str, Any] = {"applies_to": applies_to.value}
    if session is not None:
        where["session"] = session.session_id
    if resolved is None:
        done = event("session_override_cleared", set_by=source.value, **where)
    else:
        done = event("session_override_set", **override_fields(resolved), **where)
    return state, SteerOutcome(None, resolved, applies_to), (done,)


def take_waiting(
    state: DaemonState, now: datetime
) -> tuple[DaemonState, SessionOverride | None, tuple[Event, ...]]:
    """Return the state without its waiting override, and that override for a new session.

    An override whose ready-by has passed by the plug-in is dropped (``session_override_ended``,
    ``reason=expired``): the session starts from the settings.
    """
    waiting = state.next_override
    if waiting is None:
        return state, None, ()
    state = replace(state, next_override=None)
    if waiting.ready_by is not None and waiting.ready_by <= now:
        done = event(
            "session_override_ended", Level.WARNING, reason="expired", **override_fields(waiting)
        )
        return state, None, (done,)
    return state, waiting, ()


def ended_at_unplug(session: SessionState) -> tuple[Event, ...]:
    """Return what to log when a session with an override ends (the car unplugged)."""
    if session.override is None:
        return ()
    return (
        event(
            "session_override_ended",
            reason="unplugged",
            session=session.session_id,
            **override_fields(session.override),
        ),
    )
