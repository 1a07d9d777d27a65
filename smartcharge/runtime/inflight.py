"""The daemon's work in flight: the tasks a stop waits for or cuts short, and the tick lock.

Every job runs through ``run_job`` (the scheduler's entry point) or ``spawn``; a tick holds
``lock`` and is tracked however it was started. ``finish`` is the first part of a stop: no new
job starts, a tick in flight may end until a deadline, the rest is cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from smartcharge.domain import Command
from smartcharge.session.events import Event, Level, event


class WorkInFlight:
    """The tasks of one daemon, its tick lock, and the command whose answer is awaited."""

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.stopping = False
        # Left set if a stop cuts the command short: its outcome is then unknown.
        self.command: Command | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, job: Callable[[], Awaitable[None]]) -> asyncio.Task[None]:
        """Run ``job`` in a task of its own, as work in flight a stop waits for."""
        task = asyncio.create_task(self.run_job(job))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def run_job(self, job: Callable[[], Awaitable[None]]) -> None:
        """Run one job, tracked, so that a stop can wait for it.

        Once the daemon is stopping no job starts; a job the stop had to cut short ends
        quietly (the stop has logged it), so no scheduler reports it as an error and nothing
        of it is logged after ``daemon_stopped``. Any other cancellation goes on up.
        """
        task = asyncio.current_task()
        if self.stopping or task is None:
            return
        self._tasks.add(task)
        try:
            await job()
        except asyncio.CancelledError:
            if self.stopping and task.uncancel() == 0:
                return
            raise
        finally:
            self._tasks.discard(task)

    async def settle(self) -> None:
        """Wait until the spawned work has finished (a simulation between its steps)."""
        current = asyncio.current_task()
        while tasks := [t for t in self._tasks if t is not current]:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def abandon(self) -> None:
        """Cancel every task at once and start no other: the process is gone (a SIGKILL).

        For simulations of a killed daemon; a real stop is ``finish``.
        """
        self.stopping = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    @contextlib.contextmanager
    def tracked(self) -> Iterator[None]:
        """Track the current task (a tick) as work in flight, however it was started."""
        task = asyncio.current_task()
        untracked = task is not None and task not in self._tasks
        if untracked and task is not None:
            self._tasks.add(task)
        try:
            yield
        finally:
            if untracked and task is not None:
                self._tasks.discard(task)

    async def finish(self, until: float, log: Callable[[Event], None]) -> Command | None:
        """Let a tick in flight finish until ``until`` (loop time), then cut the rest short.

        Only a tick is waited for (it may have a command in flight, whose answer tells the
        on-exit rule what the charger does). Other work (a price fetch, a tick not begun) is
        cut short at once: the on-exit rule reads the charger itself when it has to.

        Returns:
            The command whose answer was still awaited when its tick was cut short, if any.
        """
        loop = asyncio.get_running_loop()
        ticked_out = True
        try:
            async with asyncio.timeout_at(until):
                await self.lock.acquire()  # held from here on: no tick starts
        except TimeoutError:
            ticked_out = False
        me = asyncio.current_task()
        pending = {t for t in self._tasks if not t.done() and t is not me}
        cut = None if ticked_out else self.command
        if pending:
            log(
                event(
                    "shutdown_work_cut_short",
                    Level.INFO if cut is None else Level.WARNING,
                    tasks=len(pending),
                    command_in_flight=None if cut is None else str(cut),
                )
            )
            for task in pending:
                task.cancel()
            # A cancelled task unwinds at its next await; bound it all the same.
            await asyncio.wait(pending, timeout=max(0.1, until - loop.time()))
        if ticked_out:
            self.lock.release()
        self.command = None
        return cut
