"""TxDefaultProfiles in whole amps: the only way smartcharge steers a charger over OCPP.

Pure functions; nothing here sends. Why TxDefaultProfile and whole amps: a Wallbox ignores or
rejects other purposes and fractional limits (a Pulsar Pro sent 8.8 A jumped to 16 A,
evcc#22087), pausing by a 0 A profile keeps the transaction where a RemoteStop ends it
(evcc#12456, #14348), and the charger does not support less than 6 A (lbbrhzn/ocpp#400).
See ../shared/ocpp-wallbox.md §1.3.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from smartcharge.ocpp.readings import MeterReading

# IEC 61851: a charger may not offer less than 6 A; 0 A pauses.
MIN_CHARGE_CURRENT_A = 6
# Our own profile id: every profile smartcharge sends replaces the previous one.
PROFILE_ID = 1
# Absolute schedules start a minute in the past so a charger whose clock runs a little ahead
# does not see a schedule that has not started yet (evcc does the same).
ABSOLUTE_START_LEAD = timedelta(minutes=1)
# Phase voltage, to tell the current a car draws from its power when no current is sent.
VOLTAGE_V = 230.0
# A car drawing more than this above the limit, one sample interval after it was accepted,
# shows the charger ignores the limit (Current.Offered alone is not trusted: evcc#15581).
IGNORED_LIMIT_MARGIN_A = 1.0


class ProfileKind(enum.Enum):
    """How a schedule's periods are anchored."""

    ABSOLUTE = "Absolute"  # periods from ``startSchedule``
    RELATIVE = "Relative"  # periods from the start of the transaction

    @property
    def other(self) -> ProfileKind:
        """Return the kind to try when this one is rejected."""
        return ProfileKind.RELATIVE if self is ProfileKind.ABSOLUTE else ProfileKind.ABSOLUTE


@dataclass(frozen=True, slots=True)
class PlannedLimit:
    """The current the plan allows from ``start`` (UTC) until the next limit."""

    start: datetime
    current_a: int


def whole_amps(current_a: float, max_current_a: int) -> int:
    """Return the limit to send for ``current_a``: 0 stays 0 (pause), else whole amps.

    A fraction is rounded up (the plan's energy stays reachable), then kept within
    ``[MIN_CHARGE_CURRENT_A, max_current_a]``.
    """
    if current_a <= 0:
        return 0
    return max(MIN_CHARGE_CURRENT_A, min(max_current_a, math.ceil(current_a - 1e-9)))


def _profile(
    periods: Sequence[tuple[int, int]],
    kind: ProfileKind,
    stack_level: int,
    start_schedule: datetime | None,
) -> dict[str, Any]:
    schedule: dict[str, Any] = {
        "chargingRateUnit": "A",
        "chargingSchedulePeriod": [{"startPeriod": s, "limit": a} for s, a in periods],
    }
    if kind is ProfileKind.ABSOLUTE and start_schedule is not None:
        schedule["startSchedule"] = start_schedule.strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "chargingProfileId": PROFILE_ID,
        "stackLevel": stack_level,
        "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": kind.value,
        "chargingSchedule": schedule,
    }


def limit_profile(
    current_a: int,
    *,
    kind: ProfileKind,
    stack_level: int,
    now: datetime,
    full_from: datetime | None = None,
    full_current_a: int | None = None,
    anchor: datetime | None = None,
) -> dict[str, Any]:
    """Return a TxDefaultProfile holding ``current_a`` (whole amps; 0 pauses).

    Args:
        current_a: the limit now.
        kind: Absolute or Relative, as the charger accepts.
        stack_level: the charger's ``ChargeProfileMaxStackLevel``.
        now: the current instant.
        full_from: when set and later than now, a second period allows ``full_current_a`` from
            then on, so the limit never outlives the plan if smartcharge stops.
        full_current_a: the full current (needed with ``full_from``).
        anchor: the transaction start a Relative schedule counts from (default ``now``).
    """
    limits = [PlannedLimit(now, current_a)]
    if full_from is not None and full_current_a is not None and full_from > now:
        limits.append(PlannedLimit(full_from, full_current_a))
    return plan_profile(
        limits,
        kind=kind,
        stack_level=stack_level,
        now=now,
        max_periods=len(limits),
        full_current_a=full_current_a if full_current_a is not None else current_a,
        full_from=None,
        anchor=anchor,
    )


def plan_periods(
    limits: Sequence[PlannedLimit],
    *,
    now: datetime,
    full_from: datetime | None,
    full_current_a: int,
    max_periods: int,
) -> list[PlannedLimit]:
    """Return the plan from ``now`` on, as at most ``max_periods`` limits.

    The limit in force at ``now`` starts now; equal neighbours are merged; from ``full_from``
    (the planned end) on the charger may give ``full_current_a``. When the plan has more
    periods than the charger keeps, the last kept period allows full current from where the
    plan was cut: charging earlier than planned costs a little, stranding the car costs more.
    """
    if max_periods < 1:
        raise ValueError(f"max_periods must be at least 1, got {max_periods}")
    ordered = sorted(limits, key=lambda p: p.start)
    out: list[PlannedLimit] = []
    for i, lim in enumerate(ordered):
        nxt = ordered[i + 1].start if i + 1 < len(ordered) else None
        if nxt is not None and nxt <= now:
            continue
        if full_from is not None and lim.start >= full_from:
            break
        start = max(lim.start, now)
        if out and out[-1].current_a == lim.current_a:
            continue
        out.append(PlannedLimit(start, lim.current_a))
    if full_from is not None:
        tail = PlannedLimit(max(full_from, now), full_current_a)
        if not out or out[-1].current_a != full_current_a:
            if out and tail.start == out[-1].start:
                out[-1] = tail
            else:
                out.append(tail)
    if len(out) > max_periods:
        cut = out[max_periods - 1].start
        out = [*out[: max_periods - 1], PlannedLimit(cut, full_current_a)]
        if len(out) > 1 and out[-2].current_a == full_current_a:
            out.pop()
    return out


def plan_profile(
    limits: Sequence[PlannedLimit],
    *,
    kind: ProfileKind,
    stack_level: int,
    now: datetime,
    max_periods: int,
    full_current_a: int,
    full_from: datetime | None,
    anchor: datetime | None = None,
) -> dict[str, Any]:
    """Return the plan as one multi-period TxDefaultProfile (see ``plan_periods``).

    Args:
        limits: the planned limits, each from its start until the next one.
        kind: Absolute (periods from ``now``) or Relative (from ``anchor``, the transaction
            start; ``now`` when there is none yet).
        stack_level: the charger's ``ChargeProfileMaxStackLevel``.
        now: the current instant.
        max_periods: the charger's ``ChargingScheduleMaxPeriods``.
        full_current_a: the current allowed from ``full_from`` on.
        full_from: the planned end; None when the limits already end with full current.
        anchor: the transaction start a Relative schedule counts from.
    """
    kept = plan_periods(
        limits,
        now=now,
        full_from=full_from,
        full_current_a=full_current_a,
        max_periods=max_periods,
    )
    if kind is ProfileKind.ABSOLUTE:
        origin = now - ABSOLUTE_START_LEAD
        offsets = [0] + [int((p.start - origin).total_seconds()) for p in kept[1:]]
    else:
        origin = anchor if anchor is not None and anchor <= now else now
        offsets = [0] + [int((p.start - origin).total_seconds()) for p in kept[1:]]
    return _profile(
        [(o, p.current_a) for o, p in zip(offsets, kept, strict=True)],
        kind,
        stack_level,
        origin,
    )


def limit_ignored(
    reading: MeterReading,
    sent: Sequence[PlannedLimit],
    *,
    accepted_at: datetime,
    settle_s: float,
    phases: int,
) -> tuple[int, float] | None:
    """Return (limit, amps drawn) when ``reading`` shows the charger ignores an accepted limit.

    Args:
        reading: the latest reading.
        sent: the limits of the profile the charger accepted at ``accepted_at``.
        accepted_at: when it accepted them.
        settle_s: how long after acceptance a reading is judged (one sample interval).
        phases: the phases the charger supplies (to tell current from power).
    """
    if reading.taken_at is None:
        return None
    in_force = [p for p in sent if p.start <= reading.taken_at]
    if not in_force or (reading.taken_at - accepted_at).total_seconds() < settle_s:
        return None
    wanted = in_force[-1].current_a
    drawn_a = reading.current_import_a
    if drawn_a is None and reading.power_w is not None:
        drawn_a = reading.power_w / (phases * VOLTAGE_V)
    if drawn_a is None or drawn_a <= wanted + IGNORED_LIMIT_MARGIN_A:
        return None
    return wanted, drawn_a
