"""The smart-charging loop for one charger: sessions, ticks, commands, shutdown.

``Daemon`` holds everything mutable (settings, clock, charger, price feed, strategy, state). Its
job methods (``prices_job``, ``poll_job``, ``boundary_job``, ``plan_edge_job``) each take ``now``
from the injected clock, so the same methods run under APScheduler in ``smartcharge run`` and
under ``run_simulated()`` in the demo and the end-to-end tests (both in ``runtime.jobs``, which
says when each job runs). ``runtime.compose`` builds it; ``runtime.serve`` runs it.

**One tick**: read the charger, follow the session (plug-in, energy, plug-out), settle the
daemon's pending commands against the reading and take in commands sent by hand with
``smartcharge charger`` (``controller``, ``manual``), take the known prices, re-plan when needed,
``decide()`` (less what is still pending), ``apply()``, persist, and log ``tick_completed``.
Re-plans happen on: a new session, new prices, energy delivered falling behind the plan, the
measured power differing from the assumed power by more than
``SMARTCHARGE_REPLAN_POWER_DEVIATION``, a current set by hand, and the charger coming back after
a restart for an error.

**Stopping** (SIGTERM, SIGINT), in one budget of ``SHUTDOWN_BUDGET_S`` whatever phase the
daemon is in (signing in, the start-up price fetch, a tick): no new job starts; the work in
flight (a tick, and so a command in flight) may finish while ``ON_EXIT_RESERVE_S`` is left, and is
cut short after that. With ``SMARTCHARGE_ON_EXIT=resume`` (the default), whenever a session is
known, its need is not met and the user did not pause by hand, the on-exit rule decides from
what the charger is now: the answer of the command in flight, or a fresh read when that command
was cut short or nothing was read yet in this run; a charger that is paused, or whose state
cannot be learnt in time, is resumed ("when in doubt, charge"). The state is saved,
``daemon_stopped`` is the last line, and the process exits 0 within 10 s. SIGHUP does not stop
the daemon (``signal_ignored``; the hook for a settings reload).

**Clock steps.** APScheduler counts in wall time, so a step of the system clock (NTP, a VM
resume) would silence its jobs for the size of a backward step. A watch compares the wall clock
with the monotonic one every ``CLOCK_WATCH_S``; on a step it logs ``clock_stepped`` once, with
the size, and puts every job back on its schedule. ``/healthz`` judges the poll's freshness on
the monotonic clock.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, Protocol

import structlog

from smartcharge.clock import Clock, ClockWatch
from smartcharge.config import Settings
from smartcharge.domain import ChargerSnapshot, Command, CommandKind, PriceCurve
from smartcharge.errors import SmartchargeError, StateError
from smartcharge.manual import manual_commands_after
from smartcharge.ports import Charger
from smartcharge.runtime.finished import FinishedSessions
from smartcharge.runtime.inflight import WorkInFlight
from smartcharge.runtime.on_exit import charger_on_exit
from smartcharge.runtime.rules import rules_from_settings
from smartcharge.session import planning, policy
from smartcharge.session.commands import (
    after_failed,
    after_sent,
    command_event,
    commands_for,
    may_resume_on_exit,
    resume_on_exit,
    settled,
)
from smartcharge.session.events import Event
from smartcharge.session.model import (
    CommandReason,
    DaemonState,
    ReplanReason,
    SessionState,
    TickTrigger,
    aspect_of,
)
from smartcharge.session.override import ManualCommandSeen
from smartcharge.state import StateStore
from smartcharge.storage import StateDisk, sweep_temp_files
from smartcharge.wallbox.errors import WallboxForbiddenError, WallboxResponseError
from strategies.base import PlanSlot, Strategy

log = structlog.get_logger(__name__)

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


class RefreshOutcome(Protocol):
    """What a price refresh reports (``smartcharge.prices``)."""

    @property
    def complete(self) -> bool:
        """Whether every price that is due is now known."""
        ...

    @property
    def retry_at(self) -> datetime | None:
        """When to try again, if the refresh was not complete."""
        ...

    @property
    def error(self) -> object:
        """What went wrong, if anything."""
        ...


class PriceFeed(Protocol):
    """The daemon's view of the price feed (``smartcharge.prices.build_price_feed``)."""

    @property
    def curve(self) -> PriceCurve:
        """Return the known all-in prices."""
        ...

    @property
    def last_success_at(self) -> datetime | None:
        """Return when prices were last fetched successfully."""
        ...

    def next_due(self, now: datetime) -> datetime:
        """Return when the next fetch is due."""
        ...

    async def refresh(self, now: datetime) -> RefreshOutcome:
        """Fetch what is due and merge it into ``curve``."""
        ...


class Daemon:
    """The smart-charging loop for one charger: read, ``step``, plan when asked, send, save, log.

    Every decision is the session core's (``smartcharge.session``): this class reads the
    charger and the prices, hands them to it, carries out what it returns and logs its events.

    Args:
        settings: the settings.
        clock: the time source for every decision.
        charger: the charger (``WallboxClient``).
        feed: the price feed.
        strategy: the planning strategy.
        on_event: an optional observer called with every decision event (the demo prints it).
        disk: the state folder's file system, shared with the charger's limiter and token
            store; failed saves are logged once there and reported by ``/healthz``.
    """

    def __init__(
        self,
        settings: Settings,
        clock: Clock,
        charger: Charger,
        feed: PriceFeed,
        strategy: Strategy,
        *,
        on_event: Callable[[str, dict[str, Any]], None] | None = None,
        disk: StateDisk | None = None,
    ) -> None:
        self.settings = settings
        self.rules = rules_from_settings(settings, charger.capabilities)
        self.clock = clock
        self.charger = charger
        self.feed = feed
        self.strategy = strategy
        self.disk = disk or StateDisk()
        self.store = StateStore(settings.state_dir, clock, self.disk)
        self.finished = FinishedSessions(settings.state_dir, clock, self.disk)
        self.ledger = self.finished.ledger
        self.state: DaemonState = self.store.load()
        self.on_event = on_event
        self.started_at: datetime | None = None
        self.last_snapshot: ChargerSnapshot | None = None
        self._ticks = 0
        # Set by ``schedule``: places the one-off job at the next plan edge (None: none).
        self.on_plan_edge: Callable[[datetime | None], None] | None = None
        # Lifecycle: monotonic readings for /healthz, the work in flight for the stop.
        self.started_mono: float | None = None
        self.last_poll_mono: float | None = None
        self.work = WorkInFlight()
        # Commands found not applied by the last reading, with how often each was sent.
        self._not_applied: dict[Command, int] = {}

    # --- events

    def _event(self, event: str, level: str = "info", **data: Any) -> None:
        getattr(log, level)(event, **data)
        if self.on_event is not None:
            self.on_event(event, data)

    def _log(self, events: Iterable[Event]) -> None:
        for e in events:
            self._event(e.name, e.level.value, **e.fields)

    # --- lifecycle

    async def start(self) -> None:
        """Start up: bring the charger to the plan, fetch prices when stale, first tick.

        A session carried over from a previous run keeps its plan; only the baseline and the
        user's hold are forgotten (``policy.on_start``), so the charger is brought to the plan
        (and only what it does not already reflect is sent).
        """
        self.started_at = self.clock.now()
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

    async def prices_job(self) -> None:
        """Fetch prices when the feed says they are due; re-plan when they changed."""
        now = self.clock.now()
        if self.feed.next_due(now) > now:
            return
        before = self.feed.curve
        result = await self.feed.refresh(now)
        if self.feed.last_success_at is not None:
            self.state = replace(self.state, last_price_fetch_at=self.feed.last_success_at)
        if result.error is not None or not result.complete:
            self._event(
                "price_fetch_deferred",
                level="warning" if result.error is not None else "info",
                retry_at=None if result.retry_at is None else result.retry_at.isoformat(),
                error=None if result.error is None else str(result.error),
            )
        if self.feed.curve != before:
            curve = self.feed.curve
            self._event(
                "prices_updated",
                slots=len(curve),
                known_until=None if curve.known_until is None else curve.known_until.isoformat(),
            )
            self.state = replace(self.state, prices_changed=True)
            if self.state.session is not None:
                await self.tick("prices")

    async def poll_job(self) -> None:
        """Read the charger and reconcile (less often with no car plugged in)."""
        # Measured on the monotonic clock: a backward step of the wall clock must not make the
        # last poll look recent for the size of the step.
        last = self.last_poll_mono
        if (
            self.state.session is None
            and last is not None
            and self.clock.monotonic() - last < self.settings.poll_interval_idle_s - 1
        ):
            return
        await self.tick("poll")

    async def boundary_job(self) -> None:
        """Reconcile at a slot boundary; with no car it also looks for one (4 reads an hour)."""
        await self.tick("slot_boundary")

    async def plan_edge_job(self) -> None:
        """Reconcile at a plan edge inside a quarter hour (``planning.next_plan_edge``)."""
        await self.tick("plan_edge")

    def next_plan_edge(self, after: datetime) -> datetime | None:
        """Return the next plan edge after ``after`` that no quarter-hour tick covers, or None."""
        return planning.next_plan_edge(self.state.session, after)

    def jobs(self) -> dict[str, Callable[[], Awaitable[None]]]:
        """Return the job methods by name (see ``job_specs``)."""
        return {
            "prices": self.prices_job,
            "poll": self.poll_job,
            "slot_boundary": self.boundary_job,
        }

    # --- the tick

    async def tick(self, trigger: str) -> None:
        """Run one reconcile step; never raises for a charger or price problem."""
        async with self.work.lock:
            self._ticks += 1
            begun = self.clock.monotonic()
            # Every tick is work in flight a stop waits for (or cuts short), however it runs.
            with (
                self.work.tracked(),
                structlog.contextvars.bound_contextvars(
                    tick=self._ticks, trigger=TickTrigger(trigger).value
                ),
            ):
                await self._tick()
            session = self.state.session
            polled = self.last_poll_mono is not None and self.last_poll_mono >= begun
            if polled and session is not None and session.carried_hold is not None:
                # This run has read the charger and decided: the old run's hold is over.
                self.state = replace(self.state, session=replace(session, carried_hold=None))

    async def _tick(self) -> None:
        now = self.clock.now()
        try:
            snapshot = await self.charger.status()
        except SmartchargeError as exc:
            self.state, events = policy.unreachable(self.state, str(exc))
            self._log(events)
            self._save()
            return
        self.last_snapshot = snapshot
        self.last_poll_mono = self.clock.monotonic()
        prices = self.feed.curve
        result = policy.step(
            self.state, snapshot, now, prices, self.rules, self._manual_commands(snapshot, now)
        )
        self.state = result.state
        self._log(result.events)
        if result.finished is not None:
            self._log(self.finished.finish(result.finished, now, prices, self.rules))
        commands: tuple[Command, ...] = ()
        if self.state.session is not None:
            self._not_applied = dict(result.not_applied)
            if result.replan is not None:
                self._make_plan(now, result.replan)
            self.state, commands, events = commands_for(
                self.state, snapshot, now, self.feed.curve, self.rules
            )
            self._log(events)
            if commands:
                await self._send(commands)
            else:
                self.state = settled(self.state, snapshot)
        self.state = replace(
            self.state, next_action=planning.next_action(self.state.session, now, self.rules)
        )
        if self.on_plan_edge is not None:
            self.on_plan_edge(self.next_plan_edge(now))
        self._save()
        session = self.state.session
        self._event(
            "tick_completed",
            status=snapshot.status.value,
            status_id=snapshot.status_id,
            power_kw=snapshot.charging_power_kw,
            session=None if session is None else session.session_id,
            delivered_kwh=None if session is None else round(session.delivered_kwh, 3),
            commands=[str(c) for c in commands],
        )

    def _manual_commands(
        self, snapshot: ChargerSnapshot, now: datetime
    ) -> tuple[ManualCommandSeen, ...]:
        """Return the commands sent by hand in this session and not yet taken into account."""
        session = self.state.session
        if session is None:
            return ()
        after = session.plugged_in_at
        if self.state.manual_seen_at is not None:
            after = max(after, self.state.manual_seen_at)
        found = manual_commands_after(self.settings.state_dir, snapshot.charger_id, after, now)
        return tuple(ManualCommandSeen(m.command, m.at) for m in found)

    # --- planning and sending

    def _make_plan(self, now: datetime, reason: ReplanReason) -> None:
        session = self.state.session
        assert session is not None
        car_share = self.finished.car_draw_share
        first = planning.first_share(self.last_snapshot, car_share, self.rules)
        ask = planning.plan_request(session, now, self.feed.curve, self.rules, first)
        plan = self.strategy.plan(ask.request)
        self.state, events = planning.after_plan(self.state, ask, plan, reason, self.rules)
        self._log(events)

    def current_slot(self, session: SessionState, now: datetime) -> PlanSlot:
        """Return what the charger should do now (``planning.current_slot``)."""
        return planning.current_slot(session, now, self.rules)

    async def _send(
        self,
        commands: tuple[Command, ...],
        reason: CommandReason = CommandReason.PLAN,
        base: ChargerSnapshot | None = None,
    ) -> None:
        for command in commands:
            self.work.command = command
            sent_at = self.clock.now()
            why = CommandReason.COMMAND_NOT_APPLIED if command in self._not_applied else reason
            sends = 1 + (self._not_applied.pop(command, 0) if aspect_of(command) else 0)
            try:
                result = await self.charger.apply(command, base=base)
            except SmartchargeError as exc:
                self.work.command = None
                self._event("command_failed", level="warning", command=str(command), error=str(exc))
                self.state = after_failed(
                    self.state,
                    command,
                    sent_at,
                    refused=isinstance(exc, WallboxResponseError | WallboxForbiddenError),
                    outcome_unknown=getattr(exc, "outcome_unknown", False),
                    sends=sends,
                )
                if getattr(exc, "outcome_unknown", False) and self.state.session is not None:
                    self._save()
                return
            self.work.command = None
            at = self.clock.now()
            self.state = after_sent(self.state, command, sent_at, at, why, sends)
            self.last_snapshot = result
            self._save()
            self._log((command_event(self.state, command, at, why, self.feed.curve),))

    def _save(self) -> None:
        """Save the state; a failure never stops the daemon.

        The disk logs a failure once per cause, ``/healthz`` reports it, and every later save
        tries again.
        """
        self.disk.retry()
        self.finished.record_waiting()
        with contextlib.suppress(StateError):
            self.state = self.store.save(self.state)

    # --- running and stopping

    def spawn(self, job: Callable[[], Awaitable[None]]) -> asyncio.Task[None]:
        """Run ``job`` in a task of its own, as work in flight a stop waits for."""
        return self.work.spawn(job)

    async def run_job(self, job: Callable[[], Awaitable[None]]) -> None:
        """Run one job (the scheduler's entry point): tracked, so that a stop can wait for it."""
        await self.work.run_job(job)

    async def watch_clock(self, on_step: Callable[[timedelta], None]) -> None:
        """Look for steps of the wall clock every ``CLOCK_WATCH_S``, for ever.

        A step is logged once (``clock_stepped`` with its size in seconds; negative is
        backwards) and handed to ``on_step`` (``realign_jobs`` under APScheduler).
        """
        watch = ClockWatch(self.clock)
        while True:
            await self.clock.sleep(CLOCK_WATCH_S)
            step = watch.check()
            if step is None:
                continue
            self._event(
                "clock_stepped",
                level="warning",
                step_s=round(step.total_seconds(), 3),
                now=self.clock.now().isoformat(),
            )
            on_step(step)

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


__all__ = [
    "Daemon",
    "PriceFeed",
    "RefreshOutcome",
]
