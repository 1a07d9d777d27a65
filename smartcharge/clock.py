"""Time, injected.

``SystemClock`` is the only place in the code base that reads the wall clock. Everything else
gets a ``Clock`` as a constructor argument, so tests and the demo can drive time by hand
(``smartcharge.simulator.clock.SimulatedClock``).
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    """A source of time.

    **Protocol:** ``now()`` returns a timezone-aware UTC datetime that never goes backwards by
    more than a clock correction; ``sleep()`` returns once ``now()`` has advanced by at least
    ``seconds`` (a simulated clock may advance itself instead of waiting).
    """

    def now(self) -> datetime:
        """Return the current instant, timezone-aware, in UTC."""
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
        """Sleep on the event loop."""
        await asyncio.sleep(max(0.0, seconds))

    def monotonic(self) -> float:
        """Return a monotonic reading in seconds, for timeouts only."""
        return time.monotonic()
