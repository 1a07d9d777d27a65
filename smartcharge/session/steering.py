"""The user's say over the session in progress: a target, a ready-by, "now" or "off" (issue 14).

A ``SteerRequest`` is what the user asked for, as typed (``smartcharge plan``, ``POST /api/plan``
or the web page); ``SessionOverride`` is what is in force after it was accepted: it lasts until
the car is unplugged and is saved with the session. With no car plugged in it waits for the next
session. ``SteerOutcome`` is the answer: applied, or refused with the field and what is accepted
(nothing changed).

Pure: no I/O, no clock; the values only.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime


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
