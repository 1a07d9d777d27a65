"""The smart-charging loop for one charger: read, ``step``, plan when asked, send, save, log.

``Daemon`` holds everything mutable (settings, clock, charger, price feed, strategy, state);
every decision is the session core's (``smartcharge.session``). Its job methods
(``prices_job``, ``poll_job``, ``boundary_job``, ``plan_edge_job``) each take ``now`` from the
injected clock, so the same methods run under APScheduler in ``smartcharge run`` and under
``run_simulated()`` in the demo and the tests (both in ``runtime.jobs``). ``runtime.compose``
builds it, ``runtime.serve`` runs it; how it starts and stops is ``runtime.stopping``.

**One tick**: read the charger (an outage logged once, ``policy.unreachable``); ``policy.step``
follows the session, settles the pending commands, takes in commands sent by hand and says
whether to plan again; plan (``planning``); ``commands.commands_for`` (less what is pending or
the link cannot carry); send, folding each answer in; save; log ``tick_completed``. The daemon
is the only place that logs outages and commands.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import structlog

from smartcharge.clock import Clock, ClockWatch
from smartcharge.config import Settings
from smartcharge.domain import ChargerSnapshot, Command
from smartcharge.errors import SmartchargeError, StateError
from smartcharge.manual import manual_commands_seen
from smartcharge.ports import Charger
from smartcharge.runtime.feed import PriceFeed, refresh_prices
from smartcharge.runtime.finished import FinishedSessions
from smartcharge.runtime.inflight import WorkInFlight
from smartcharge.runtime.rules import rules_from_settings
from smartcharge.runtime.steering import plan_for
from smartcharge.runtime.stopping import Lifecycle
from smartcharge.session import planning, policy
from smartcharge.session.commands import (
    after_failed,
    after_sent,
    command_event,
    commands_for,
    settled,
    tick_completed,
)
from smartcharge.session.events import Event
from smartcharge.session.model import (
    CommandReason,
    DaemonState,
    ReplanReason,
    TickTrigger,
    aspect_of,
)
from smartcharge.session.retarget import retarget
from smartcharge.session.steer import steer
from smartcharge.session.steering import SteerOutcome, SteerRequest, SteerSource, stopping
from smartcharge.state import StateStore
from smartcharge.storage import StateDisk
from smartcharge.wallbox.errors import WallboxForbiddenError, WallboxResponseError
from strategies.base import Strategy

log = structlog.get_logger(__name__)


class Daemon(Lifecycle):
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
        self.last_snapshot: ChargerSnapshot | None = None
        self._ticks = 0
        # Set by ``schedule``: places the one-off job at the next plan edge (None: none).
        self.on_plan_edge: Callable[[datetime | None], None] | None = None
        # Lifecycle: monotonic readings for /healthz, the work in flight for the stop.
        self.started_mono: float | None = None
        self.last_poll_mono: float | None = None
        self.work = WorkInFlight()
        self.clock_watch = ClockWatch(clock)
        self.clock_offset = timedelta(0)
        self.on_clock_step: Callable[[timedelta], None] | None = None
        # Commands found not applied by the last reading, with how often each was sent.
        self._not_applied: dict[Command, int] = {}
        # A live edit of a planning setting (``apply_settings``): the next tick plans again.
        self._settings_replan = False

    # --- events

    def _event(self, event: str, level: str = "info", **data: Any) -> None:
        getattr(log, level)(event, **data)
        if self.on_event is not None:
            self.on_event(event, data)

    def _log(self, events: Iterable[Event]) -> None:
        for e in events:
            self._event(e.name, e.level.value, **e.fields)

    # --- jobs

    async def prices_job(self) -> None:
        """Fetch prices when the feed says they are due; re-plan when they changed."""
        self.look_at_clock()
        now = self.clock.now()
        if self.feed.next_due(now) > now:
            return
        changed, events = await refresh_prices(self.feed, now)
        self._log(events)
        if self.feed.last_success_at is not None:
            self.state = replace(self.state, last_price_fetch_at=self.feed.last_success_at)
        if changed:
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

    # --- a live edit of the settings (runtime.reload)

    async def apply_settings(
        self,
        settings: Settings,
        *,
        strategy: Strategy | None = None,
        feed: PriceFeed | None = None,
        replan: bool = False,
    ) -> None:
        """Run on ``settings`` from now on: a live edit of ``.env`` (issue 14 item 1).

        Between ticks (under the tick's lock): the rules, and the strategy and price feed when
        given, are replaced; the session in progress takes the new need and ready-by
        (``session.retarget``). With ``replan`` and a session, a tick follows at once and plans
        again (``ReplanReason.SETTINGS_CHANGED``).
        """
        async with self.work.lock:
            self.settings = settings
            self.rules = rules_from_settings(settings, self.charger.capabilities)
            if strategy is not None:
                self.strategy = strategy
            if feed is not None:
                self.feed = feed
                self.state = replace(self.state, prices_changed=True)
            self.state, events = retarget(self.state, self.rules)
            self._log(events)
            self._settings_replan = replan and self.state.session is not None
            self._save()
        if self._settings_replan:
            await self.tick("settings")

    # --- the user's override (session.steer; runtime.steering)

    async def steer(self, request: SteerRequest, source: SteerSource) -> SteerOutcome:
        """Apply ``request`` under the tick lock (``session.steer``), save, log; plan at once."""
        if self.work.stopping:
            return stopping(request)
        async with self.work.lock:
            now = self.clock.now()
            self.state, outcome, events = steer(self.state, request, source, now, self.rules)
            self._log(events)
            if outcome.refusal is None:
                self._save()
        if outcome.refusal is None and self.state.session is not None:
            await self.tick(TickTrigger.STEER.value)
        return outcome

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
        self.look_at_clock()
        now = self.clock.now()
        try:
            snapshot = await self.charger.status()
        except SmartchargeError as exc:
            self.state, events = policy.unreachable(self.state, str(exc))
            self._log(events)
            self._save()
            return
        self.last_snapshot = snapshot
        settings_replan, self._settings_replan = self._settings_replan, False
        self.last_poll_mono = self.clock.monotonic()
        prices = self.feed.curve
        result = policy.step(
            self.state,
            snapshot,
            now,
            prices,
            self.rules,
            manual_commands_seen(self.settings.state_dir, self.state, snapshot.charger_id, now),
        )
        self.state = result.state
        self._log(result.events)
        if result.finished is not None:
            self._log(self.finished.finish(result.finished, now, prices, self.rules))
        commands: tuple[Command, ...] = ()
        if self.state.session is not None:
            self._not_applied = dict(result.not_applied)
            replan = result.replan
            if replan is None and settings_replan and self.state.session.plan is not None:
                replan = ReplanReason.SETTINGS_CHANGED
            if replan is not None:
                self._make_plan(now, replan)
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
        self._log((tick_completed(snapshot, self.state.session, commands),))

    # --- planning and sending

    def _make_plan(self, now: datetime, reason: ReplanReason) -> None:
        session = self.state.session
        assert session is not None
        car_share = self.finished.car_draw_share
        first = planning.first_share(self.last_snapshot, car_share, self.rules)
        ask = planning.plan_request(session, now, self.feed.curve, self.rules, first)
        plan = plan_for(session, self.strategy, ask.request)
        self.state, events = planning.after_plan(self.state, ask, plan, reason, self.rules)
        self._log(events)

    async def _send(
        self,
        commands: tuple[Command, ...],
        reason: CommandReason = CommandReason.PLAN,
        base: ChargerSnapshot | None = None,
    ) -> None:
        for command in commands:
            self.work.command = command
            # A step noticed before the time is read leaves it alone; one noticed while the
            # answer is awaited has moved the pending commands but not this one: moved here.
            self.look_at_clock()
            offset = self.clock_offset
            sent_at = self.clock.now()
            why = CommandReason.COMMAND_NOT_APPLIED if command in self._not_applied else reason
            sends = 1 + (self._not_applied.pop(command, 0) if aspect_of(command) else 0)
            try:
                result = await self.charger.apply(command, base=base)
            except SmartchargeError as exc:
                self.work.command = None
                sent_at += self.clock_offset - offset
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
            sent_at += self.clock_offset - offset
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


__all__ = ["Daemon", "PriceFeed"]
