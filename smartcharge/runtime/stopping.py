"""How the daemon runs its jobs and stops: the work in flight, clock steps, the on-exit rule.

``Lifecycle`` is the part of ``runtime.daemon.Daemon`` that is about the process rather than
the charging loop; the daemon inherits it. A stop (SIGTERM, SIGINT) fits one budget of
``SHUTDOWN_BUDGET_S`` whatever phase the daemon is in: no new job starts; the work in flight (a
tick, and so a command in flight) may finish while ``ON_EXIT_RESERVE_S`` is left, and is cut
short after that; the on-exit rule applies (``session.commands.may_resume_on_exit``; "when in
doubt, charge"); the state is saved and ``daemon_stopped`` is the last line.

**Clock steps.** APScheduler counts in wall time, so a step of the system clock (NTP, a VM
resume) would silence its jobs for the size of a backward step; the daemon's own waits are
wall-clock instants too (the price feed's next try, a source's ``Retry-After``, a pending
command's five minutes). ``look_at_clock`` compares the wall clock with the monotonic one: every
``CLOCK_WATCH_S`` (``watch_clock``), and before a job or a command reads the time, so that what
it records is never moved by a step it took place after. On a step it moves those waits by the
step (they are of passing time; the plan's slots, the ready-by and the publication time are
times of day and stay), logs ``clock_stepped`` once with the size and what was moved
(``rebased``), and hands the step on (``runtime.jobs.realign_jobs`` puts every job back on its
schedule). A host that slept looks like a step forward (Linux's monotonic clock stops while
suspended): the waits in flight then end up to the sleep's length late, never early, so no
request or command goes out before its time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import replace
from datetime import timedelta
from typing import Any

from smartcharge.clock import Clock, ClockWatch
from smartcharge.config import Settings
from smartcharge.domain import ChargerSnapshot, Command, CommandKind
from smartcharge.ledger import Ledger
from smartcharge.ports import Charger
from smartcharge.runtime.feed import PriceFeed
from smartcharge.runtime.inflight import WorkInFlight
from smartcharge.runtime.on_exit import charger_on_exit
from smartcharge.session import policy
from smartcharge.session.commands import may_resume_on_exit, resume_on_exit
from smartcharge.session.decide import pending_rebased
from smartcharge.session.events import Event
from smartcharge.session.model import CommandReason, DaemonState
from smartcharge.session.rules import Rules
from smartcharge.state import StateStore
from smartcharge.storage import sweep_temp_files
from strategies.base import Strategy

# The whole shutdown, in every phase, must fit in the container's stop timeout (docker's
# default is 10 s, then SIGKILL): one budget, never one per step.
SHUTDOWN_BUDGET_S = 9.0
# Of that, the on-exit rule (a fresh read when needed, a resume) and the state save keep this
# much; the work in flight may use the rest. A resume is one write (well under a second when
# the cloud answers at all); a read may first wait for its slot in the budget.
ON_EXIT_RESERVE_S = 3.0
# ... and the state save (one small atomic file write) keeps this much of it.
SAVE_RESERVE_S = 0.5
# How often the wall clock is compared with the monotonic one (``ClockWatch``): a step is
# noticed, and the jobs put back on schedule, within this long.
CLOCK_WATCH_S = 10.0


class Lifecycle:
    """Starting, running jobs, watching the clock and stopping, for ``Daemon`` (the rest)."""

    clock: Clock
    settings: Settings
    rules: Rules
    charger: Charger
    state: DaemonState
    last_snapshot: ChargerSnapshot | None
    work: WorkInFlight

    feed: PriceFeed
    store: StateStore
    ledger: Ledger
    strategy: Strategy
    started_mono: float | None
    # The wall clock's steps (``look_at_clock``): one watch for every look, the sum of the
    # steps seen, and who else is told of one (the scheduler's realignment).
    clock_watch: ClockWatch
    clock_offset: timedelta
    on_clock_step: Callable[[timedelta], None] | None

    def _event(self, event: str, level: str = "info", **data: Any) -> None:
        raise NotImplementedError

    def _log(self, events: Iterable[Event]) -> None:
        raise NotImplementedError

    def _save(self) -> None:
        raise NotImplementedError

    async def _send(
        self,
        commands: tuple[Command, ...],
        reason: CommandReason = CommandReason.PLAN,
        base: ChargerSnapshot | None = None,
    ) -> None:
        raise NotImplementedError

    async def prices_job(self) -> None:
        """Fetch prices when due (``Daemon``)."""
        raise NotImplementedError

    async def tick(self, trigger: str) -> None:
        """Run one reconcile step (``Daemon``)."""
        raise NotImplementedError

    async def start(self) -> None:
        """Start up: bring the charger to the plan, fetch prices when stale, first tick.

        A session carried over from a previous run keeps its plan; only the baseline and the
        user's hold are forgotten (``policy.on_start``), so the charger is brought to the plan
        (and only what it does not already reflect is sent).
        """
        self.started_mono = self.clock.monotonic()
        leftovers = sweep_temp_files(self.settings.state_dir, (self.store.path.name,))
        leftovers += sweep_temp_files(self.ledger.path.parent, (self.ledger.path.name,))
        if leftovers:
            self._event("state_temp_files_removed", files=[p.name for p in leftovers])
        self.state, events = policy.on_start(self.state)
        self._log(events)
        session = self.state.session
        self._event(
            "daemon_started",
            session=None if session is None else session.session_id,
            strategy=self.strategy.name,
            state_dir=str(self.settings.state_dir),
        )
        await self.prices_job()
        await self.tick("start")

    def spawn(self, job: Callable[[], Awaitable[None]]) -> asyncio.Task[None]:
        """Run ``job`` in a task of its own, as work in flight a stop waits for."""
        return self.work.spawn(job)

    async def run_job(self, job: Callable[[], Awaitable[None]]) -> None:
        """Run one job (the scheduler's entry point): tracked, so that a stop can wait for it."""
        await self.work.run_job(job)

    async def watch_clock(self, on_step: Callable[[timedelta], None]) -> None:
        """Look for steps of the wall clock every ``CLOCK_WATCH_S``, for ever (``look_at_clock``).

        ``on_step`` is told of every step from now on, whoever noticed it (``realign_jobs``
        under APScheduler).
        """
        self.on_clock_step = on_step
        while True:
            await self.clock.sleep(CLOCK_WATCH_S)
            self.look_at_clock()

    def look_at_clock(self) -> timedelta | None:
        """Notice a step of the wall clock since the last look; return it (None: no step).

        A step is logged once (``clock_stepped`` with its size in seconds; negative is
        backwards) and handed to ``on_clock_step``.
        """
        step = self.clock_watch.check()
        if step is None:
            return None
        self.clock_offset += step
        rebased = self._rebase(step)
        self._event(
            "clock_stepped",
            level="warning",
            step_s=round(step.total_seconds(), 3),
            now=self.clock.now().isoformat(),
            rebased=rebased,
        )
        if self.on_clock_step is not None:
            self.on_clock_step(step)
        return step

    def _rebase(self, step: timedelta) -> list[str]:
        """Move the waits the daemon holds by ``step``; return what was moved (for the log).

        Synchronous, so no tick sees half of it; a command in flight meanwhile is moved by
        ``_send`` when its answer comes (it read its time before the step).
        """
        moved = list(self.feed.rebase(step))
        session = self.state.session
        if session is not None and session.pending:
            pending = pending_rebased(session.pending, step)
            self.state = replace(self.state, session=replace(session, pending=pending))
            moved += [f"pending_{p.command.kind.value}" for p in session.pending]
            self._save()
        return moved

    async def shutdown(self, budget_s: float = SHUTDOWN_BUDGET_S, *, scheduler: Any = None) -> None:
        """Stop within ``budget_s``, ``daemon_stopped`` being the last line logged.

        The work in flight finishes or is cut short, the on-exit rule applies, the state is
        saved.

        Args:
            budget_s: the whole stop, every step included.
            scheduler: the running APScheduler, if any: paused at once (no job starts), shut
                down once the work in flight is over (so it never cancels a job itself).
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + budget_s
        reserve = min(ON_EXIT_RESERVE_S, budget_s / 2)
        self.work.stopping = True
        if scheduler is not None:
            scheduler.pause()
        cut_short = await self.work.finish(deadline - reserve, lambda e: self._log((e,)))
        if scheduler is not None:
            scheduler.shutdown(wait=False)
        resumed = await self._apply_on_exit(deadline - min(SAVE_RESERVE_S, reserve / 2), cut_short)
        session = self.state.session
        self._save()
        self._event(
            "daemon_stopped",
            session=None if session is None else session.session_id,
            resumed_on_exit=resumed,
            on_exit=self.settings.on_exit.value,
        )

    async def _apply_on_exit(self, until: float, cut_short: Command | None) -> bool:
        """Resume an unfinished session's charger if it is (or may be) paused; True if sent.

        Applies whenever a session is known, whatever phase the daemon was in
        (``commands.may_resume_on_exit``), on what ``on_exit.charger_on_exit`` learns; a
        charger whose state is not to be had within the budget is resumed.
        """
        session = self.state.session
        if session is None or not may_resume_on_exit(self.state, self.rules):
            return False
        snapshot = await charger_on_exit(
            self.charger, self.last_snapshot, cut_short, until, lambda e: self._log((e,))
        )
        if snapshot is not None:
            self.last_snapshot = snapshot
        if not resume_on_exit(self.state, snapshot):
            return False
        before = self.state.last_command
        try:
            async with asyncio.timeout_at(until):
                # The last snapshot as the answer's base: no read slot may be left to wait for.
                await self._send(
                    (Command(CommandKind.RESUME),), CommandReason.ON_EXIT, base=self.last_snapshot
                )
        except TimeoutError:
            self._event(
                "on_exit_resume_failed",
                level="error",
                error="no answer within the stop budget",
                remaining_kwh=round(session.remaining_kwh, 3),
            )
            return False
        return self.state.last_command is not before
