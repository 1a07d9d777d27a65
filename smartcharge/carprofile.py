"""What the car really draws: measured in a session, learnt across sessions (pure).

A charger offers ``current x phases x voltage``; a car draws less when it charges on fewer
phases than the charger has (a one-phase car behind a three-phase charger draws a third), when
its on-board charger draws a few per cent below the set current, when its own limit is lower,
and when it tapers near full. The daemon sees only the current it set and the power the cloud
reports, so it models the car by one number, its **draw share**: the power drawn over the power
the settings' phases and voltage would give at that current (1.0 for the nominal car, about 0.31
for a one-phase car that draws 7 % below the set current). Planning with
``voltage x draw share`` gives the right energy at every current, also at the lower current of
a plan's last slot (a power cap alone would not: 6 A of a one-phase car is not 6 A of three).

``learn`` turns one session's readings into a ``CarProfile``: the steady share (the median of
the readings before any taper), the share at the end of the session relative to it when it fell
(the taper near full), and the median power per current. ``CarProfileStore`` (not here: I/O)
keeps it in the state dir.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

# A reading this far below the steady share, at the end of a session, is the car's taper.
TAPER_DROP = 0.1
# The taper is judged on the session's last few readings.
TAPER_READINGS = 3


@dataclass(frozen=True, slots=True)
class DrawReading:
    """One reading while charging: the current set and the power drawn.

    Attributes:
        current_a: the charger's current set point (A).
        power_kw: the power the cloud reported (kW).
    """

    current_a: int
    power_kw: float


def draw_share(power_kw: float, current_a: float, nominal_kw_per_amp: float) -> float | None:
    """Return the power drawn over the nominal power at ``current_a`` (at most 1), or None."""
    if power_kw <= 0 or current_a <= 0 or nominal_kw_per_amp <= 0:
        return None
    return min(1.0, power_kw / (current_a * nominal_kw_per_amp))


def deviates(measured: float, assumed: float, deviation: float) -> bool:
    """Return whether ``measured`` differs from ``assumed`` by more than ``deviation`` of it."""
    return assumed <= 0 or abs(measured - assumed) / assumed > deviation


@dataclass(frozen=True, slots=True)
class CarProfile:
    """What was learnt about the car.

    Attributes:
        draw_share: its steady power over the nominal power at the same current.
        taper_share: the power at the end of the last session that tapered, over its steady
            power (e.g. 0.45), or None when no taper was seen.
        power_by_current_kw: the median power drawn at each current set (A, kW).
        readings: how many readings the profile rests on.
        sessions: how many sessions contributed.
        learnt_at: when it was last learnt (UTC).
    """

    draw_share: float
    taper_share: float | None
    power_by_current_kw: tuple[tuple[int, float], ...]
    readings: int
    sessions: int
    learnt_at: datetime

    def full_power_kw(self, max_current_a: float, nominal_kw_per_amp: float) -> float:
        """Return the power it draws at ``max_current_a`` (before any taper)."""
        return self.draw_share * max_current_a * nominal_kw_per_amp

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-able dict."""
        return {
            "draw_share": self.draw_share,
            "taper_share": self.taper_share,
            "power_by_current_kw": [[a, kw] for a, kw in self.power_by_current_kw],
            "readings": self.readings,
            "sessions": self.sessions,
            "learnt_at": self.learnt_at.isoformat(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CarProfile:
        """Build from ``to_json`` output.

        Raises:
            ValueError, KeyError, TypeError: the data is not a profile.
        """
        share = float(data["draw_share"])
        if not 0 < share <= 1:
            raise ValueError(f"draw_share must be in (0, 1], got {share}")
        taper = data.get("taper_share")
        learnt_at = datetime.fromisoformat(str(data["learnt_at"]))
        if learnt_at.tzinfo is None:
            raise ValueError("learnt_at has no time zone")
        return cls(
            draw_share=share,
            taper_share=None if taper is None else float(taper),
            power_by_current_kw=tuple((int(a), float(kw)) for a, kw in data["power_by_current_kw"]),
            readings=int(data["readings"]),
            sessions=int(data["sessions"]),
            learnt_at=learnt_at,
        )


def learn(
    readings: Sequence[DrawReading],
    nominal_kw_per_amp: float,
    now: datetime,
    previous: CarProfile | None = None,
) -> CarProfile | None:
    """Return the profile one session's ``readings`` (in time order) show, or None if none.

    The steady share is the median share of the readings before the taper (all of them when
    the session did not taper); the taper share compares the median of the last
    ``TAPER_READINGS`` with it. A previous profile's taper is kept when this session showed
    none (a session that did not reach the taper says nothing about it).
    """
    shares = [
        (r, s)
        for r in readings
        if (s := draw_share(r.power_kw, r.current_a, nominal_kw_per_amp)) is not None
    ]
    if not shares:
        return None
    values = [s for _, s in shares]
    steady = statistics.median(values)
    taper: float | None = None
    if len(values) > TAPER_READINGS:
        head = statistics.median(values[:-TAPER_READINGS])
        tail = statistics.median(values[-TAPER_READINGS:])
        if tail < head * (1.0 - TAPER_DROP):
            steady = statistics.median([s for s in values if s >= head * (1.0 - TAPER_DROP)])
            taper = tail / steady
    if taper is None and previous is not None:
        taper = previous.taper_share
    by_current: dict[int, list[float]] = {}
    for r, _ in shares:
        by_current.setdefault(r.current_a, []).append(r.power_kw)
    return CarProfile(
        draw_share=min(1.0, steady),
        taper_share=None if taper is None else round(taper, 3),
        power_by_current_kw=tuple(
            (a, round(statistics.median(kws), 3)) for a, kws in sorted(by_current.items())
        ),
        readings=len(shares),
        sessions=1 if previous is None else previous.sessions + 1,
        learnt_at=now,
    )
