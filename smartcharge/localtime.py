"""Pure: a wall-clock time of the user's zone to the UTC instant it next occurs.

The deadline (``SMARTCHARGE_READY_BY``) is a local wall time; everything inside the program is
UTC (STYLE.md §2). Two nights a year the wall clock is not a clock: in spring an hour is skipped,
in autumn an hour is repeated (``fold`` 0 then 1, PEP 495). Comparing two aware datetimes that
share a ``tzinfo`` ignores ``fold`` (they are compared as naive wall times), so every comparison
here is made in UTC.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo


def _occurrences(day: date, wall: time, timezone: ZoneInfo) -> list[datetime]:
    """Return the UTC instants at which ``wall`` is shown on ``day`` in ``timezone``.

    Usually one; two in a repeated hour (first and second pass); in a skipped hour, where the
    wall time never shows, the instant the skipped hour is shifted forward to (02:30 on the
    spring-forward night in Europe/Amsterdam is 03:30 CEST), as PEP 495 maps it with ``fold=0``.
    """
    found: list[datetime] = []
    for fold in (0, 1):
        local = datetime.combine(day, wall, tzinfo=timezone).replace(fold=fold)
        instant = local.astimezone(UTC)
        shown = instant.astimezone(timezone).replace(tzinfo=None, fold=0)
        if shown == local.replace(tzinfo=None, fold=0) and instant not in found:
            found.append(instant)
    if not found:
        found.append(datetime.combine(day, wall, tzinfo=timezone).astimezone(UTC))
    return found


def ready_by_after(instant: datetime, ready_by: time, timezone: ZoneInfo) -> datetime:
    """Return the next instant after ``instant`` at which the wall clock shows ``ready_by``, in UTC.

    Args:
        instant: an aware datetime (any zone), e.g. the plug-in time.
        ready_by: the local wall time (naive ``time``) the car must be ready by.
        timezone: the user's zone.

    Returns:
        The earliest occurrence strictly after ``instant``: in the repeated autumn hour that can
        be the second pass of a time already passed once; a time skipped in spring is taken as
        the instant it is shifted forward to.
    """
    after = instant.astimezone(UTC)
    day = after.astimezone(timezone).date()
    # The wall time occurs at least once on every day, so today and tomorrow hold the answer;
    # a third day is asked only for safety against zones that skip whole days (Pacific/Apia 2011).
    for offset in range(3):
        later = [
            t for t in _occurrences(day + timedelta(days=offset), ready_by, timezone) if t > after
        ]
        if later:
            return min(later)
    raise ValueError(f"{ready_by} does not occur within 3 days after {instant} in {timezone}")


__all__ = ["ready_by_after"]
