"""The limit a simulated charge point's installed charging profiles give at an instant.

Profiles arrive as the ``ocpp`` package hands them to a handler (snake_case keys). Only what a
Wallbox uses is modelled: TxDefaultProfile and TxProfile in amps, Absolute and Relative kinds,
the highest stack level in force wins (OCPP 1.6 §3.13.2).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any


def _parse(text: Any) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


def profile_limit_a(
    profile: Mapping[str, Any], now: datetime, transaction_started_at: datetime | None
) -> float | None:
    """Return the limit ``profile`` sets at ``now``, or None where it is not in force."""
    schedule = profile.get("charging_schedule") or {}
    kind = profile.get("charging_profile_kind")
    if kind == "Relative":
        origin = transaction_started_at or now
    else:
        origin = _parse(schedule.get("start_schedule")) or now
    offset_s = (now - origin).total_seconds()
    if offset_s < 0:
        return None
    duration = schedule.get("duration")
    if duration is not None and offset_s >= float(duration):
        return None
    periods = sorted(
        schedule.get("charging_schedule_period") or (), key=lambda p: p["start_period"]
    )
    limit: float | None = None
    for period in periods:
        if float(period["start_period"]) <= offset_s:
            limit = float(period["limit"])
    return limit


def composite_limit_a(
    profiles: Iterable[Mapping[str, Any]],
    now: datetime,
    transaction_started_at: datetime | None,
) -> float | None:
    """Return the limit of the highest stack level in force, or None without one."""
    best: tuple[int, float] | None = None
    for profile in profiles:
        if profile.get("charging_profile_purpose") not in ("TxDefaultProfile", "TxProfile"):
            continue
        limit = profile_limit_a(profile, now, transaction_started_at)
        level = int(profile.get("stack_level", 0))
        if limit is not None and (best is None or level > best[0]):
            best = (level, limit)
    return None if best is None else best[1]
