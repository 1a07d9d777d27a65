"""A clock that moves only when told to (or, in auto mode, whenever someone sleeps)."""

from __future__ import annotations

import asyncio
import heapq
import itertools
from datetime import UTC, datetime, timedelta


class SimulatedClock:
    """A ``Clock`` for tests and the demo.

    Args:
        start: the initial instant (timezone-aware).
        auto_advance: when true, ``sleep(s)`` moves the clock forward by ``s`` at once instead
            of waiting for ``advance()``; convenient for code under test that backs off.
    """

    def __init__(self, start: datetime, *, auto_advance: bool = False) -> None:
        if start.tzinfo is None:
            raise ValueError("SimulatedClock needs a timezone-aware start")
        self._now = start.astimezone(UTC)
        self._mono = 0.0
        self.auto_advance = auto_advance
        self._sleepers: list[tuple[datetime, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()
        self.slept_s: list[float] = []

    def now(self) -> datetime:
        """Return the simulated instant."""
        return self._now

    def monotonic(self) -> float:
        """Return the seconds that have passed since the start (never steps back)."""
        return self._mono

    def set(self, instant: datetime) -> None:
        """Jump to ``instant``: forwards as time passing, backwards like an NTP correction."""
        instant = instant.astimezone(UTC)
        self._mono += max(0.0, (instant - self._now).total_seconds())
        self._now = instant
        self._wake_due()

    def step(self, delta: timedelta) -> None:
        """Step the wall clock by ``delta`` while no time passes (NTP, a VM resume).

        Sleepers wait on passing time, not on the wall clock, so they keep their remaining
        wait (as ``asyncio.sleep`` does on a real host).
        """
        self._now += delta
        self._sleepers = [(due + delta, seq, fut) for due, seq, fut in self._sleepers]
        heapq.heapify(self._sleepers)

    async def sleep(self, seconds: float) -> None:
        """Wait until the clock has advanced by ``seconds``."""
        self.slept_s.append(seconds)
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        due = self._now + timedelta(seconds=seconds)
        if self.auto_advance:
            await asyncio.sleep(0)
            if self._now < due:
                self._mono += (due - self._now).total_seconds()
                self._now = due
            self._wake_due()
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (due, next(self._seq), fut))
        await fut

    async def advance(self, seconds: float) -> None:
        """Move forward by ``seconds``, waking sleepers in order and letting them run."""
        target = self._now + timedelta(seconds=seconds)
        while self._sleepers and self._sleepers[0][0] <= target:
            due, _, fut = heapq.heappop(self._sleepers)
            self._move_to(due)
            if not fut.done():
                fut.set_result(None)
            for _ in range(5):
                await asyncio.sleep(0)
        self._move_to(target)
        for _ in range(5):
            await asyncio.sleep(0)

    def _move_to(self, instant: datetime) -> None:
        if instant > self._now:
            self._mono += (instant - self._now).total_seconds()
            self._now = instant

    def next_wakeup(self) -> datetime | None:
        """Return when the earliest sleeper wakes, if any."""
        return self._sleepers[0][0] if self._sleepers else None

    def _wake_due(self) -> None:
        while self._sleepers and self._sleepers[0][0] <= self._now:
            _, _, fut = heapq.heappop(self._sleepers)
            if not fut.done():
                fut.set_result(None)
