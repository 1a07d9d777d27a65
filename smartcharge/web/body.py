"""What a caller sends, read strictly (pure): the ``POST /api/plan`` body and the query values.

Anything not exactly as documented is refused with a ``SteerRefusal`` naming the field, the
value and what is accepted (the API answers it as a 400): an unknown or repeated key, a wrong
type, a number that is not finite, a body that is not one JSON object. Whether the values make
sense for the session (a ready-by in the past, a target above the battery) is the daemon's to
judge (``Daemon.steer``), so the CLI, the API and the page are judged alike.
"""

from __future__ import annotations

import json
import math
from datetime import date
from typing import Any

from smartcharge.session.steering import SteerMode, SteerRefusal, SteerRequest

MODES_ACCEPTED = "one of " + ", ".join(m.value for m in SteerMode)
TARGET_ACCEPTED = "a number of kWh, e.g. 35 (or null for the settings' target)"
READY_BY_ACCEPTED = (
    'a local time "HH:MM" (the next such time), or an ISO-8601 time with its offset, e.g. '
    '"2026-12-08T06:30:00+01:00" (or null for the settings\' ready-by)'
)
BODY_ACCEPTED = (
    'one JSON object: {"mode": "plan"|"now"|"off"|"clear", "target_kwh"?: number, '
    '"ready_by"?: "HH:MM" or ISO-8601}'
)
DATE_ACCEPTED = "a date as YYYY-MM-DD, e.g. 2026-12-07 (a local day; none: today)"
LIMIT_MAX = 1000
LIMIT_ACCEPTED = f"a whole number from 1 to {LIMIT_MAX}, e.g. 30"
_KEYS = ("mode", "target_kwh", "ready_by")
# The longest value echoed back in an error (a caller's garbage is not mirrored at length).
_ECHO_CHARS = 80


class _Refused(Exception):
    def __init__(self, refusal: SteerRefusal) -> None:
        super().__init__(refusal.message)
        self.refusal = refusal


def _echo(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= _ECHO_CHARS else text[: _ECHO_CHARS - 3] + "..."


def _refuse(field: str, value: Any, message: str, accepted: str) -> _Refused:
    return _Refused(SteerRefusal(field, _echo(value), message, accepted))


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _refuse(key, value, f"{key} is given twice", BODY_ACCEPTED)
        out[key] = value
    return out


def _constant(name: str) -> Any:
    raise _refuse("body", name, f"{name} is not a number JSON allows", BODY_ACCEPTED)


def parse_steer(raw: bytes) -> SteerRequest | SteerRefusal:
    """Return the request in a ``POST /api/plan`` body, or why it is refused."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return SteerRefusal("body", "(not UTF-8)", "the body is not UTF-8 text", BODY_ACCEPTED)
    try:
        data = json.loads(text, object_pairs_hook=_pairs, parse_constant=_constant)
        return _request(data)
    except _Refused as refused:
        return refused.refusal
    except (ValueError, RecursionError) as exc:
        return SteerRefusal("body", _echo(text), f"not JSON ({exc})", BODY_ACCEPTED)


def _request(data: Any) -> SteerRequest:
    if not isinstance(data, dict):
        raise _refuse("body", data, "the body is not a JSON object", BODY_ACCEPTED)
    for key in data:
        if key not in _KEYS:
            raise _refuse(key, data[key], f"unknown field {key!r}", BODY_ACCEPTED)
    if "mode" not in data:
        raise _refuse("mode", "(missing)", "mode is required", MODES_ACCEPTED)
    mode = data["mode"]
    if not isinstance(mode, str) or mode not in {m.value for m in SteerMode}:
        raise _refuse("mode", mode, "unknown mode", MODES_ACCEPTED)
    target = data.get("target_kwh")
    if target is not None:
        # bool is an int in Python; true is no number of kWh.
        if isinstance(target, bool) or not isinstance(target, int | float):
            raise _refuse("target_kwh", target, "target_kwh is not a number", TARGET_ACCEPTED)
        try:
            target = float(target)
        except OverflowError:
            target = math.inf
        if not math.isfinite(target):
            raise _refuse("target_kwh", data["target_kwh"], "not a finite number", TARGET_ACCEPTED)
    ready_by = data.get("ready_by")
    if ready_by is not None and (not isinstance(ready_by, str) or not ready_by.strip()):
        raise _refuse("ready_by", ready_by, "ready_by is not a time", READY_BY_ACCEPTED)
    return SteerRequest(
        mode=SteerMode(mode),
        target_kwh=target,
        ready_by=None if ready_by is None else ready_by.strip(),
    )


def parse_date(text: str | None) -> date | SteerRefusal | None:
    """Return the ``date`` query value (None: not given), or why it is refused."""
    if text is None:
        return None
    try:
        if len(text) != len("YYYY-MM-DD"):
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError:
        return SteerRefusal("date", _echo(text), "not a date", DATE_ACCEPTED)


def parse_limit(text: str | None, default: int) -> int | SteerRefusal:
    """Return the ``limit`` query value (``default``: not given), or why it is refused."""
    if text is None:
        return default
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= LIMIT_MAX:
        return SteerRefusal("limit", _echo(text), "not a whole number in range", LIMIT_ACCEPTED)
    return int(text)
