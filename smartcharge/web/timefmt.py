"""Pure: the API documents' times (ISO-8601 UTC with ``Z``) to what the page shows (local time).

Inside the program every time is UTC (STYLE.md §2); the page is read by people, so it shows the
wall clock of ``SMARTCHARGE_TIMEZONE`` (a clock reading and a short weekday and date).
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo


def parse_time(text: str) -> datetime:
    """Return the UTC instant of an ISO-8601 time with an offset (``Z`` included)."""
    at = datetime.fromisoformat(text)
    if at.tzinfo is None:
        raise ValueError(f"{text!r} has no UTC offset")
    return at.astimezone(UTC)


def local_hm(at: datetime, zone: ZoneInfo) -> str:
    """Return the wall-clock reading ``HH:MM`` of ``at`` in ``zone``."""
    return at.astimezone(zone).strftime("%H:%M")


def local_day(at: datetime, zone: ZoneInfo) -> str:
    """Return the short local weekday and date of ``at``, e.g. ``Mon 7 Dec``."""
    local = at.astimezone(zone)
    return f"{local:%a} {local.day} {local:%b}"


def local_when(text: str | None, zone: ZoneInfo, now: datetime | None = None) -> str:
    """Return a document's time as people read it: ``06:30`` today, else ``Tue 8 Dec 06:30``.

    ``None`` (unknown) reads ``unknown``.
    """
    if text is None:
        return "unknown"
    at = parse_time(text)
    if now is not None and at.astimezone(zone).date() == now.astimezone(zone).date():
        return local_hm(at, zone)
    return f"{local_day(at, zone)} {local_hm(at, zone)}"
