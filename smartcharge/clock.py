"""Time, injected.

``SystemClock`` is the only place in the code base that reads the wall clock. Everything else
gets a ``Clock`` as a constructor argument, so tests and the demo can drive time by hand
(``smartcharge.simulator.clock.SimulatedClock``).

Two readings: ``now()`` is the wall clock (UTC), which NTP or a VM resume may step backwards or
forwards; ``monotonic()`` only ever moves forward at the rate time passes. Durations that must
survive a step (how long since the last poll, how long until the next job) are measured on
``monotonic()``; ``ClockWatch`` compares the two to notice a step.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol

# A difference between the wall clock and the monotonic clock smaller than this, between two
# looks, is not a step: NTP slews small offsets at most 0.5 ms per second, and a busy event loop
# may read the two clocks a little apart. Steps worth acting on (a VM resume, an NTP step at
# boot) are seconds to hours.
CLOCK_STEP_TOLERANCE_S = 2.0


class Clock(Protocol):
    """A source of time.

    **Protocol:** ``now()`` returns a timezone-aware UTC datetime (the wall clock, which may
    step); ``monotonic()`` returns seconds that never go backwards and do not step with the
    wall clock; ``sleep()`` returns once ``seconds`` have passed on the monotonic reading (a
    simulated clock may advance itself instead of waiting).
    """

    def now(self) -> datetime:
        """Return the current instant, timezone-aware, in UTC."""
        ...

    def monotonic(self) -> float:
        """Return a monotonic reading in seconds (only differences mean anything)."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait until ``seconds`` have passed on this clock."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        """Return the current instant in UTC."""
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        """Sleep on the event loop (its timer is monotonic)."""
        await asyncio.sleep(max(0.0, seconds))

    def monotonic(self) -> float:
        """Return a monotonic reading in seconds."""
        return time.monotonic()


class ClockWatch:
    """Notice a step of the wall clock: the wall moved by more or less than time passed.

    Args:
        clock: the clock to watch.
        tolerance_s: the largest disagreement that is not a step.
    """

    def __init__(self, clock: Clock, tolerance_s: float = CLOCK_STEP_TOLERANCE_S) -> None:
        self._clock = clock
        self._tolerance_s = tolerance_s
        self._wall = clock.now()
        self._mono = clock.monotonic()

    def check(self) -> timedelta | None:
        """Return the step since the last look (negative: backwards), or None for no step.

        Each step is reported once: the next look measures from here.
        """
        wall, mono = self._clock.now(), self._clock.monotonic()
        step_s = (wall - self._wall).total_seconds() - (mono - self._mono)
        self._wall, self._mono = wall, mono
        if abs(step_s) < self._tolerance_s:
            return None
        return timedelta(seconds=step_s)
