"""The user's say over the session in progress: a target, a ready-by, "now" or "off" (issue 14).

A ``SteerRequest`` is what the user asked for, as typed (``smartcharge plan``, ``POST /api/plan``
or the web page); ``SessionOverride`` is what is in force after it was accepted: it lasts until
the car is unplugged and is saved with the session. With no car plugged in it waits for the next
session. ``SteerOutcome`` is the answer: applied, or refused with the field and what is accepted
(nothing changed).

``resolve`` checks a request against the override in force and returns the new override (or
None: back to the settings) or a refusal; the state it is applied to is ``session.steer``'s.
``check_request`` is the part of its checks that needs no state (the fields a mode takes, the
target's number, the ready-by's form): ``smartcharge plan`` runs it before it asks the daemon.

The rules a request is held to (each refusal names the field, the value and what is accepted):

- ``target_kwh``: a finite number above 0, at most ``MAX_TARGET_KWH`` (the maximum of
  ``SMARTCHARGE_TARGET_KWH``) and at most the battery (``SMARTCHARGE_BATTERY_KWH``, when set).
- ``ready_by``: ``HH:MM`` (local time in ``SMARTCHARGE_TIMEZONE``: the next such time after
  now) or an ISO-8601 instant with its offset (``2026-12-08T06:30+01:00``, ``...Z``); after now
  and at most ``MAX_AHEAD`` (72 h: a weekend away) ahead.
- ``plan`` takes either or both; ``now`` takes a target (charge at once up to it) but no
  ready-by (it charges at once); ``off`` and ``clear`` take neither.

A request leaves out what it does not change: a field it does not give keeps the value of the
override in force, so ``now`` after "35 kWh by 06:30" charges to 35 kWh at once, and ``plan``
then goes back to planning 35 kWh by 06:30. ``clear`` drops them all; a ``plan`` with no target
and no ready-by left is the same as ``clear``.

Pure: no I/O, no clock (``now`` is an argument).
"""

from __future__ import annotations

import enum
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from smartcharge.localtime import ready_by_after

# The highest need a request may ask for: the maximum of SMARTCHARGE_TARGET_KWH.
MAX_TARGET_KWH = 200.0
# How far ahead a ready-by may lie: a weekend away (Friday evening to Monday morning).
MAX_AHEAD = timedelta(hours=72)
_HHMM = re.compile(r"^(\d{1,2}):(\d{2})$")


class SteerMode(enum.StrEnum):
    """What the user asks for.

    PLAN: charge by the plan (with the request's target and ready-by, if given).
    NOW: charge at once at full current until the target is met or the car is unplugged.
    OFF: do not charge this session.
    CLEAR: back to the settings (the override ends).
    """

    PLAN = "plan"
    NOW = "now"
    OFF = "off"
    CLEAR = "clear"


class SteerSource(enum.StrEnum):
    """Who set an override (logged with ``session_override_set``)."""

    CLI = "cli"
    API = "api"
    PAGE = "page"


class SteerTarget(enum.StrEnum):
    """Which session an accepted request applies to."""

    SESSION = "session"  # the car plugged in now
    NEXT_SESSION = "next_session"  # no car plugged in: the next one


@dataclass(frozen=True, slots=True)
class SteerRequest:
    """What the user asked for, as typed (checked by the session core before anything changes).

    Attributes:
        mode: what to do.
        target_kwh: the session's need instead of ``SMARTCHARGE_TARGET_KWH``, or None.
        ready_by: instead of ``SMARTCHARGE_READY_BY``: ``HH:MM`` (local time, the next such
            time) or an ISO-8601 instant with its offset; or None.
    """

    mode: SteerMode = SteerMode.PLAN
    target_kwh: float | None = None
    ready_by: str | None = None


@dataclass(frozen=True, slots=True)
class SessionOverride:
    """An accepted request, in force until the car is unplugged (saved with the session).

    Attributes:
        mode: PLAN, NOW or OFF (CLEAR ends an override, it is never one).
        target_kwh: the need, or None for the settings' one.
        ready_by: the deadline (UTC), or None for the settings' one.
        set_by: who set it.
        set_at: when (UTC).
    """

    mode: SteerMode
    target_kwh: float | None
    ready_by: datetime | None
    set_by: SteerSource
    set_at: datetime


@dataclass(frozen=True, slots=True)
class SteerRefusal:
    """Why a request was refused; nothing changed.

    Attributes:
        field: the culprit (``target_kwh``, ``ready_by``, ``mode`` or ``body``).
        value: what was given, as text.
        message: what is wrong, for people.
        accepted: what would be accepted.
    """

    field: str
    value: str
    message: str
    accepted: str


@dataclass(frozen=True, slots=True)
class SteerOutcome:
    """The answer to a ``SteerRequest``.

    Attributes:
        refusal: why nothing changed, or None when the request was applied.
        override: the override in force afterwards (None: the settings rule).
        applies_to: the session it applies to (None when refused).
    """

    refusal: SteerRefusal | None
    override: SessionOverride | None
    applies_to: SteerTarget | None


def parse_mode(text: str) -> SteerMode | SteerRefusal:
    """Return the mode ``text`` names, or a refusal (for the API and the page)."""
    try:
        return SteerMode(text.strip().lower())
    except ValueError:
        return SteerRefusal(
            "mode", text, f"{text!r} is not a mode", "one of: plan, now, off, clear"
        )


def check_target(value: float, battery_kwh: float | None) -> SteerRefusal | None:
    """Return why ``value`` is no acceptable target, or None when it is."""
    top = MAX_TARGET_KWH if battery_kwh is None else min(MAX_TARGET_KWH, battery_kwh)
    accepted = f"a number of kWh above 0 and at most {top:g}"
    if battery_kwh is not None:
        accepted += f" (the battery, SMARTCHARGE_BATTERY_KWH={battery_kwh:g})"
    shown = f"{value:g}" if isinstance(value, float | int) else str(value)
    if isinstance(value, bool) or not isinstance(value, float | int) or not math.isfinite(value):
        return SteerRefusal("target_kwh", shown, "not a finite number", accepted)
    if value <= 0:
        return SteerRefusal("target_kwh", shown, "a target must be above 0 kWh", accepted)
    if value > MAX_TARGET_KWH:
        return SteerRefusal(
            "target_kwh", shown, f"above the maximum of {MAX_TARGET_KWH:g} kWh", accepted
        )
    if battery_kwh is not None and value > battery_kwh:
        return SteerRefusal(
            "target_kwh", shown, f"above the battery's {battery_kwh:g} kWh", accepted
        )
    return None


def _ready_by_accepted(timezone: ZoneInfo) -> str:
    return (
        f"HH:MM (local time in {timezone.key}, the next such time) or an ISO-8601 time with its"
        f" offset (e.g. 2026-12-08T06:30:00+01:00), after now and at most"
        f" {MAX_AHEAD.total_seconds() / 3600:g} h ahead"
    )


def read_ready_by(text: str, timezone: ZoneInfo) -> time | datetime | SteerRefusal:
    """Return what ``text`` names, or a refusal: its form only, whatever the time now.

    ``HH:MM`` is a local time of day (``time``); an ISO-8601 instant must carry its offset
    (returned in UTC). Whether it lies ahead is ``parse_ready_by``'s question.
    """
    accepted = _ready_by_accepted(timezone)
    stripped = text.strip()
    hhmm = _HHMM.match(stripped)
    if hhmm is not None:
        hour, minute = int(hhmm.group(1)), int(hhmm.group(2))
        if hour > 23 or minute > 59:
            return SteerRefusal("ready_by", text, "not a time of day", accepted)
        return time(hour, minute)
    try:
        instant = datetime.fromisoformat(stripped)
    except ValueError:
        return SteerRefusal("ready_by", text, "neither HH:MM nor an ISO-8601 time", accepted)
    if instant.tzinfo is None or instant.utcoffset() is None:
        return SteerRefusal("ready_by", text, "an ISO-8601 time without its offset", accepted)
    return instant.astimezone(UTC)


def parse_ready_by(text: str, now: datetime, timezone: ZoneInfo) -> datetime | SteerRefusal:
    """Return the instant (UTC) ``text`` names after ``now``, or a refusal.

    ``HH:MM`` is the next such local time after ``now``; an ISO-8601 instant must carry its
    offset. Either must lie after ``now`` and at most ``MAX_AHEAD`` ahead.
    """
    read = read_ready_by(text, timezone)
    if isinstance(read, SteerRefusal):
        return read
    if isinstance(read, time):
        return ready_by_after(now, read, timezone)
    accepted = _ready_by_accepted(timezone)
    if read <= now:
        return SteerRefusal("ready_by", text, "in the past", accepted)
    if read - now > MAX_AHEAD:
        return SteerRefusal(
            "ready_by", text, f"more than {MAX_AHEAD.total_seconds() / 3600:g} h ahead", accepted
        )
    return read


def _not_with(mode: SteerMode, name: str, value: str) -> SteerRefusal:
    what = {
        SteerMode.NOW: "now charges at once: a ready-by means nothing with it",
        SteerMode.OFF: "off does not charge this session: it takes no target or ready-by",
        SteerMode.CLEAR: "clear returns to the settings: it takes no target or ready-by",
    }[mode]
    accepted = "no ready_by with mode now" if mode is SteerMode.NOW else f"no {name} with {mode}"
    return SteerRefusal(name, value, what, accepted)


def check_request(request: SteerRequest, timezone: ZoneInfo) -> SteerRefusal | None:
    """Return why ``request`` is refused whatever the daemon's state, or None.

    Its syntax: the fields its mode takes, the target a finite number above 0 and at most
    ``MAX_TARGET_KWH``, the ready-by's form. What needs the daemon's state (the battery from
    its settings, the time now) is ``resolve``'s, which checks this first. ``smartcharge
    plan`` checks it before it asks the daemon.
    """
    mode = request.mode
    if request.target_kwh is not None and mode in (SteerMode.OFF, SteerMode.CLEAR):
        return _not_with(mode, "target_kwh", f"{request.target_kwh:g}")
    if request.ready_by is not None and mode is not SteerMode.PLAN:
        return _not_with(mode, "ready_by", request.ready_by)
    if request.target_kwh is not None:
        refusal = check_target(request.target_kwh, None)
        if refusal is not None:
            return refusal
    if request.ready_by is not None:
        read = read_ready_by(request.ready_by, timezone)
        if isinstance(read, SteerRefusal):
            return read
    return None


def resolve(
    request: SteerRequest,
    source: SteerSource,
    now: datetime,
    *,
    timezone: ZoneInfo,
    battery_kwh: float | None,
    current: SessionOverride | None,
) -> SessionOverride | SteerRefusal | None:
    """Return the override ``request`` leads to (None: the settings), or why it is refused.

    Args:
        request: what the user asked for.
        source: who asked.
        now: the time (UTC).
        timezone: the user's zone (of an ``HH:MM`` ready-by).
        battery_kwh: the battery's capacity, when configured (a target above it is refused).
        current: the override in force (of the session, or waiting for the next one): what
            the request leaves out is kept from it.
    """
    mode = request.mode
    refusal = check_request(request, timezone)
    if refusal is not None:
        return refusal
    target = None if current is None else current.target_kwh
    ready_by = None if current is None else current.ready_by
    if request.target_kwh is not None:
        refusal = check_target(request.target_kwh, battery_kwh)
        if refusal is not None:
            return refusal
        target = float(request.target_kwh)
    if request.ready_by is not None:
        parsed = parse_ready_by(request.ready_by, now, timezone)
        if isinstance(parsed, SteerRefusal):
            return parsed
        ready_by = parsed
    if mode is SteerMode.CLEAR or (mode is SteerMode.PLAN and target is None and ready_by is None):
        return None
    return SessionOverride(mode, target, ready_by, source, now)


def stopping(request: SteerRequest) -> SteerOutcome:
    """Return the answer to a request that comes while the daemon stops (nothing changed)."""
    why = "the daemon is stopping: nothing changed"
    return SteerOutcome(
        SteerRefusal("mode", request.mode.value, why, "a request once it runs"), None, None
    )


def _utc_text(instant: datetime) -> str:
    return instant.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


# The target as shown: to the Wh (the override keeps full precision).
_TARGET_DIGITS = 3


def override_data(override: SessionOverride | None) -> dict[str, Any] | None:
    """Return ``override`` as the API's OVERRIDE document, or None.

    ``{"mode", "target_kwh", "ready_by", "set_by", "set_at"}``: times ISO-8601 UTC with ``Z``
    to the second, the target rounded to the Wh. The one source of this shape: ``GET
    /api/status``, ``POST /api/plan``'s answer and ``smartcharge status --json`` all use it.
    """
    if override is None:
        return None
    target = override.target_kwh
    return {
        "mode": override.mode.value,
        "target_kwh": None if target is None else round(target, _TARGET_DIGITS),
        "ready_by": None if override.ready_by is None else _utc_text(override.ready_by),
        "set_by": override.set_by.value,
        "set_at": _utc_text(override.set_at),
    }


def override_text(override: dict[str, Any], local: Any) -> str:
    """Return an OVERRIDE document for people; ``local`` turns a time's text into local time."""
    what = {
        "plan": "planned",
        "now": "charging now at full current",
        "off": "not charging this session",
    }[override["mode"]]
    parts = [what]
    if override["target_kwh"] is not None:
        parts.append(f"target {override['target_kwh']:g} kWh")
    if override["ready_by"] is not None and override["mode"] == "plan":
        parts.append(f"ready by {local(override['ready_by'])}")
    return (
        f"{', '.join(parts)} (set with {override['set_by']} at {local(override['set_at'])};"
        " until unplugged)"
    )
