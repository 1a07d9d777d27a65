"""The composition root and lifecycle: sessions, scheduler jobs, signals, shutdown.

``Daemon`` holds everything mutable (settings, clock, charger, price feed, strategy, state). Its
job methods (``prices_job``, ``poll_job``, ``boundary_job``) each take ``now`` from the injected
clock, so the same methods run under APScheduler in ``smartcharge run`` and under
``run_simulated()`` in the demo and the end-to-end tests.

**Jobs** (APScheduler 3 ``AsyncIOScheduler``, one asyncio process; every job has
``max_instances=1`` and ``coalesce=True``):

- ``prices`` every 5 minutes: fetches only when the feed says prices are due (at start when the
  cache is stale, daily when the next day's prices are published, and at the feed's back-off
  times until they come); a change in the known prices triggers a re-plan.
- ``poll`` every ``SMARTCHARGE_POLL_INTERVAL_S`` (default 90 s, never faster than the Wallbox
  read budget allows): one tick; with no car plugged in it reads only every
  ``SMARTCHARGE_POLL_INTERVAL_IDLE_S``.
- ``slot_boundary`` at every quarter hour of the wall clock: one tick (reconcile).

**Misfires.** A job that could not start within its ``misfire_grace_time`` of its due time (poll
60 s, slot boundary 120 s, prices 300 s) is skipped, not run late, and ``coalesce=True`` turns a
backlog (a host waking from suspend) into at most one run. Nothing is lost by skipping: every
tick re-reads the charger and recomputes the whole decision (reconcile is idempotent), and the
next run of any job catches up.

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

The simulated clock and the APScheduler: APScheduler reads the real clock for its own timing,
so under simulation ``run_simulated()`` replaces the scheduler: it moves the clock to the next
due time of each job (the same ``JOB_SPECS``) and calls the job. Everything the daemon does is
then simulated; only the scheduler's own timer is not.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import structlog

from smartcharge.carprofile import CarProfile, DrawReading, deviates, draw_share, learn
from smartcharge.carstore import CarProfileStore
from smartcharge.clock import Clock, ClockWatch
from smartcharge.config import ManualOverride, OnExit, Settings
from smartcharge.controller import (
    COMMAND_SETTLE,
    ENERGY_COST_MAX_EUR_PER_KWH,
    ENERGY_COST_MIN_EUR_PER_KWH,
    MAX_SENDS,
    Aspect,
    Baseline,
    Hold,
    Limits,
    ManualChange,
    accepted_energy_cost,
    after_command,
    aspect_of,
    decide,
    detect_manual_change,
    is_enabled,
    observed_baseline,
    pending_after_send,
    review_pending,
    should_restart,
    without_pending,
)
from smartcharge.domain import ChargerSnapshot, ChargerStatus, Command, CommandKind, PriceCurve
from smartcharge.domain import energy_cost_cents as cents
from smartcharge.errors import SmartchargeError, StateError
from smartcharge.http import open_session
from smartcharge.ledger import (
    LEDGER_FILE,
    TARGET_TOLERANCE_KWH,
    Ledger,
    LedgerEntry,
    attribute_energy,
    finish_session,
    immediate_cost,
    merge_slot_energy,
)
from smartcharge.localtime import ready_by_after
from smartcharge.manual import manual_commands_after
from smartcharge.ports import Charger
from smartcharge.state import (
    STATE_FILE,
    DaemonState,
    PlanRecord,
    SentCommand,
    SessionState,
    StateStore,
)
from smartcharge.storage import StateDisk, claim_state_dir, sweep_temp_files
from smartcharge.wallbox.errors import WallboxForbiddenError, WallboxResponseError
from strategies.base import Plan, PlanRequest, PlanSlot, Strategy

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
# Energy behind plan: re-plan when the delivered energy lags the plan by more than this share of
# the need, or this many kWh, whichever is larger (a 90 s poll at 11 kW is 0.27 kWh).
BEHIND_SHARE = 0.05
BEHIND_MIN_KWH = 0.5
# A plan must run this long before "energy behind" may judge it (ramp-up, the first poll).
BEHIND_GRACE = timedelta(minutes=15)
# The session ends only on a clear "no car" reading; never in the first minutes after the
# daemon restarted the charger (it reports Ready for ~10 s while rebooting, wallbox-api.md §4.4).
RESTART_QUIET = timedelta(minutes=5)
# The poll counts as recent for /healthz for this many poll intervals (plus a minute of slack).
HEALTH_POLL_INTERVALS = 3
# A price fetch counts as recent for this long: prices are published once a day; one missed
# publication is tolerated as long as prices for the current slot are still known.
HEALTH_PRICES_MAX_AGE = timedelta(hours=36)

_NO_CAR = frozenset({ChargerStatus.READY, ChargerStatus.LOCKED})


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


@dataclass(frozen=True, slots=True)
class JobSpec:
    """One scheduler job: shared by APScheduler and the simulated driver.

    Attributes:
        name: the job id.
        every: the interval.
        wall_aligned: run at whole multiples of ``every`` on the wall clock (slot boundaries).
        misfire_grace_s: how late a run may still start; later runs are skipped.
    """

    name: str
    every: timedelta
    wall_aligned: bool
    misfire_grace_s: int

    def next_after(self, instant: datetime) -> datetime:
        """Return the next due time strictly after ``instant``."""
        if not self.wall_aligned:
            return instant + self.every
        epoch = datetime(2000, 1, 1, tzinfo=UTC)
        steps = (instant - epoch) // self.every + 1
        return epoch + steps * self.every


PRICES_CHECK = timedelta(minutes=5)
SLOT = timedelta(minutes=15)
_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
# A plan edge inside a quarter hour runs as a one-off job; it may start this late.
PLAN_EDGE_GRACE_S = 60


def job_specs(settings: Settings, chargers: int = 1) -> tuple[JobSpec, ...]:
    """Return the daemon's jobs for ``settings`` (``chargers``: see ``poll_interval_s``)."""
    return (
        JobSpec("prices", PRICES_CHECK, wall_aligned=False, misfire_grace_s=300),
        JobSpec(
            "poll",
            timedelta(seconds=poll_interval_s(settings, chargers)),
            wall_aligned=False,
            misfire_grace_s=60,
        ),
        JobSpec("slot_boundary", SLOT, wall_aligned=True, misfire_grace_s=120),
    )


def poll_interval_s(settings: Settings, chargers: int = 1) -> float:
    """Return the plugged-in poll interval: the setting, never under the read budget's share.

    The read budget is the account's: with ``chargers`` chargers of the account driven by
    smartcharge daemons (one state dir each), each polls at most once per ``chargers`` read
    intervals, as Home Assistant stretches its interval by the number of chargers. A poll
    then finds its read slot free and acts on its own read (the client waits for it rather
    than act on a stale stored status).
    """
    return max(
        float(settings.poll_interval_s),
        max(1, chargers) * 60.0 / settings.wallbox_reads_per_minute,
    )


def power_kw(current_a: float, settings: Settings) -> float:
    """Return the power at ``current_a`` for the configured phases and voltage."""
    return current_a * settings.phases * settings.voltage_v / 1000.0


def _slot_summary(plan: Plan) -> list[dict[str, Any]]:
    """Return the plan's charging stretches (consecutive slots merged) for the log."""
    out: list[dict[str, Any]] = []
    for s in plan.slots:
        if not s.is_charging:
            continue
        if out and out[-1]["end"] == s.start.isoformat():
            out[-1]["end"] = s.end.isoformat()
            out[-1]["energy_kwh"] = round(out[-1]["energy_kwh"] + s.energy_kwh, 3)
            continue
        out.append(
            {
                "start": s.start.isoformat(),
                "end": s.end.isoformat(),
                "energy_kwh": round(s.energy_kwh, 3),
            }
        )
    return out


_EVENTS = {
    CommandKind.RESUME: "charger_resumed",
    CommandKind.PAUSE: "charger_paused",
    CommandKind.SET_MAX_CURRENT: "charger_current_set",
    CommandKind.SET_ENERGY_COST: "energy_cost_set",
    CommandKind.RESTART: "charger_restarted",
    CommandKind.LOCK: "charger_locked",
    CommandKind.UNLOCK: "charger_unlocked",
}


class Daemon:
    """The smart-charging loop for one charger.

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
        self.clock = clock
        self.charger = charger
        self.feed = feed
        self.strategy = strategy
        self.disk = disk or StateDisk()
        self.store = StateStore(settings.state_dir, clock, self.disk)
        self.ledger = Ledger(settings.state_dir, clock, self.disk)
        # Finished sessions the ledger could not take yet (a full disk): retried every tick.
        self._unrecorded: list[LedgerEntry] = []
        self.state: DaemonState = self.store.load()
        self.on_event = on_event
        self.started_at: datetime | None = None
        self.last_snapshot: ChargerSnapshot | None = None
        self._tz = ZoneInfo(settings.timezone)
        self._lock = asyncio.Lock()
        self._prices_changed = False
        self._wallbox_down = False
        self._restarted_at: datetime | None = None
        self._ticks = 0
        self._replan_for_user_current = False
        # The car's draw share (``smartcharge.carprofile``) the next plan is to assume.
        self._measured_share: float | None = None
        self.car_store = CarProfileStore(settings.state_dir, clock, self.disk)
        self.car_profile: CarProfile | None = self._load_car_profile()
        self._draw_readings: list[DrawReading] = []
        self._draw_session: str | None = None
        # Set by ``schedule``: places the one-off job at the next plan edge (None: none).
        self.on_plan_edge: Callable[[datetime | None], None] | None = None
        # An energy cost the cloud refused (HTTP 400/403) is not sent again (issue 11 item 10);
        # a price outside the accepted range is logged once per stretch (energy_cost_clamped).
        self._refused_energy_cost: float | None = None
        self._energy_cost_clamped = False
        # Lifecycle: monotonic readings for /healthz, the work in flight for the stop.
        self.started_mono: float | None = None
        self.last_poll_mono: float | None = None
        self._stopping = False
        self._tasks: set[asyncio.Task[Any]] = set()
        self._in_flight: Command | None = None
        # The user's hold carried over from the last run, honoured on exit until a tick of this
        # run has brought the charger to the plan.
        self._carried_hold: Hold | None = None
        # Commands found not applied in this tick, with how often each was sent (tick-local).
        self._not_applied: dict[Command, int] = {}

    # --- events

    def _event(self, event: str, level: str = "info", **data: Any) -> None:
        getattr(log, level)(event, **data)
        if self.on_event is not None:
            self.on_event(event, data)

    # --- lifecycle

    async def start(self) -> None:
        """Start up: bring the charger to the plan, fetch prices when stale, first tick.

        A session carried over from a previous run keeps its plan; only the baseline and the
        user's hold are forgotten, so the charger is brought to the plan (and only what it does
        not already reflect is sent).
        """
        now = self.clock.now()
        self.started_at = now
        self.started_mono = self.clock.monotonic()
        leftovers = sweep_temp_files(self.settings.state_dir, (self.store.path.name,))
        leftovers += sweep_temp_files(self.ledger.path.parent, (self.ledger.path.name,))
        if leftovers:
            self._event("state_temp_files_removed", files=[p.name for p in leftovers])
        session = self.state.session
        if session is not None:
            session.baseline = Baseline(command_at=session.baseline.command_at)
            if session.hold is not None:
                self._event("manual_override_ended", reason="daemon_started")
            self._carried_hold = session.hold
            session.hold = None
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
            self.state.last_price_fetch_at = self.feed.last_success_at
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
            self._prices_changed = True
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
        """Reconcile at a plan edge inside a quarter hour (``next_plan_edge``)."""
        await self.tick("plan_edge")

    def next_plan_edge(self, after: datetime) -> datetime | None:
        """Return the next plan edge after ``after`` that no quarter-hour tick covers, or None.

        An edge is where the plan starts charging or raises the current. A block that begins
        inside a quarter hour (a plan made between ticks, a partial slot) starts at its
        planned instant through a one-off job there, not at the next poll. A block that ends
        inside a quarter hour ends at the next poll (at most a poll interval later, at the same
        quarter hour's price): the status read there may come from the read budget's cache,
        and energy drawn after a cached reading would be counted in the wrong price slot.
        """
        session = self.state.session
        if session is None or session.plan is None:
            return None
        previous: PlanSlot | None = None
        for s in session.plan.plan.slots:
            if (
                previous is not None
                and s.start > after
                and s.current_a > previous.current_a
                and (s.start - _EPOCH) % SLOT
            ):
                return s.start
            previous = s
        return None

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
        async with self._lock:
            self._ticks += 1
            # Every tick is work in flight a stop waits for (or cuts short), however it runs.
            task = asyncio.current_task()
            untracked = task is not None and task not in self._tasks
            if untracked and task is not None:
                self._tasks.add(task)
            begun = self.clock.monotonic()
            try:
                with structlog.contextvars.bound_contextvars(tick=self._ticks, trigger=trigger):
                    await self._tick(trigger)
            finally:
                if untracked and task is not None:
                    self._tasks.discard(task)
            if self.last_poll_mono is not None and self.last_poll_mono >= begun:
                self._carried_hold = None  # this run has read the charger and decided

    async def _tick(self, trigger: str) -> None:
        now = self.clock.now()
        try:
            snapshot = await self.charger.status()
        except SmartchargeError as exc:
            if not self._wallbox_down:
                self._wallbox_down = True
                self._event("wallbox_unavailable", level="warning", error=str(exc))
            self._save()
            return
        if self._wallbox_down:
            self._wallbox_down = False
            self._event("wallbox_recovered")
        self.last_snapshot = snapshot
        self.last_poll_mono = self.clock.monotonic()
        self.state.last_poll_at = max(
            self.state.last_poll_at or snapshot.fetched_at, snapshot.fetched_at
        )
        self.state.last_status = {
            "status": snapshot.status.value,
            "status_id": snapshot.status_id,
            "charging_power_kw": snapshot.charging_power_kw,
            "added_energy_kwh": snapshot.added_energy_kwh,
            "max_charging_current_a": snapshot.max_charging_current_a,
            "energy_cost_eur_per_kwh": snapshot.energy_cost_eur_per_kwh,
            "fetched_at": snapshot.fetched_at.isoformat(),
        }
        if snapshot.status is ChargerStatus.UNKNOWN:
            self._event("wallbox_status_unknown", level="warning", status_id=snapshot.status_id)

        session = self._follow_session(snapshot, now)
        commands: tuple[Command, ...] = ()
        if session is not None:
            self._account_energy(session, snapshot, now)
            self._track_error(session, snapshot, now)
            self._review_pending(session, snapshot, now)
            self._note_manual_commands(session, snapshot, now)
            reason = self._replan_reason(session, snapshot, now)
            if reason is not None:
                self._make_plan(session, now, reason)
            commands = self._decide(session, snapshot, now)
            if commands:
                await self._send(session, commands, now)
            else:
                session.baseline = observed_baseline(snapshot, session.baseline, session.pending)
        self.state.next_action = self._next_action(now)
        if self.on_plan_edge is not None:
            self.on_plan_edge(self.next_plan_edge(now))
        self._save()
        self._event(
            "tick_completed",
            status=snapshot.status.value,
            status_id=snapshot.status_id,
            power_kw=snapshot.charging_power_kw,
            session=None if session is None else session.session_id,
            delivered_kwh=None if session is None else round(session.delivered_kwh, 3),
            commands=[str(c) for c in commands],
        )

    # --- session lifecycle

    def _follow_session(self, snapshot: ChargerSnapshot, now: datetime) -> SessionState | None:
        session = self.state.session
        if session is None and snapshot.status.is_car_connected:
            session = self._start_session(snapshot, now)
        elif (
            session is not None
            and snapshot.status in _NO_CAR
            and (self._restarted_at is None or now - self._restarted_at > RESTART_QUIET)
        ):
            self._finish_session(session, snapshot, now)
            session = None
        return session

    def _start_session(self, snapshot: ChargerSnapshot, now: datetime) -> SessionState:
        ready_by = ready_by_after(now, self.settings.ready_by, self._tz)
        session = SessionState(
            session_id=now.isoformat(),
            plugged_in_at=now,
            ready_by=ready_by,
            target_kwh=self.settings.target_kwh,
            last_added_kwh=0.0,
            last_energy_at=now,
        )
        self.state.session = session
        self._event(
            "session_started",
            session=session.session_id,
            status=snapshot.status.value,
            target_kwh=session.target_kwh,
            ready_by=ready_by.isoformat(),
        )
        return session

    def _finish_session(
        self, session: SessionState, snapshot: ChargerSnapshot, now: datetime
    ) -> None:
        full_kw = session.max_power_seen_kw or power_kw(self.settings.max_current_a, self.settings)
        entry = finish_session(session, now, self.feed.curve, full_kw)
        self._learn_car(session, now)
        self._unrecorded.append(entry)
        self._record_finished()
        self.state.session = None
        self._log_finished(entry)

    def _record_finished(self) -> None:
        """Write the finished sessions waiting for the ledger; keep them if it cannot be written."""
        while self._unrecorded:
            try:
                self.ledger.record(self._unrecorded[0])
            except StateError:
                return  # logged once by the disk (or by the ledger); retried on the next tick
            self._unrecorded.pop(0)

    def _log_finished(self, entry: LedgerEntry) -> None:
        self._event(
            "session_finished",
            session=entry.session_id,
            energy_kwh=round(entry.energy_kwh, 3),
            cost_eur=round(entry.cost_eur, 4),
            immediate_cost_eur=None
            if entry.immediate_cost_eur is None
            else round(entry.immediate_cost_eur, 4),
            saving_eur=None if entry.saving_eur is None else round(entry.saving_eur, 4),
            target_met=entry.target_met,
        )

    def _account_energy(
        self, session: SessionState, snapshot: ChargerSnapshot, now: datetime
    ) -> None:
        added = snapshot.added_energy_kwh
        last = session.last_added_kwh or 0.0
        # The counter is per session; a drop means it was reset (a new session on the charger).
        delta = added - last if added >= last else added
        start = session.last_energy_at or now
        if delta > 0:
            pieces = attribute_energy(min(start, now), now, delta, self.feed.curve)
            session.slot_energy = merge_slot_energy(session.slot_energy, pieces)
            session.delivered_kwh += delta
        session.last_added_kwh = added
        session.last_energy_at = now
        if snapshot.status is ChargerStatus.CHARGING:
            session.max_power_seen_kw = max(session.max_power_seen_kw, snapshot.charging_power_kw)
        if (
            session.target_met_at is None
            and session.delivered_kwh >= session.target_kwh - TARGET_TOLERANCE_KWH
        ):
            session.target_met_at = now
            self._event(
                "target_met",
                session=session.session_id,
                delivered_kwh=round(session.delivered_kwh, 3),
                ready_by=session.ready_by.isoformat(),
                on_time=now <= session.ready_by,
            )

    def _track_error(self, session: SessionState, snapshot: ChargerSnapshot, now: datetime) -> None:
        if snapshot.status is ChargerStatus.ERROR:
            if session.error_since is None:
                session.error_since = now
                self._event("charger_in_error", level="warning", status_id=snapshot.status_id)
            return
        if session.error_since is not None and snapshot.status not in (
            ChargerStatus.OFFLINE,
            ChargerStatus.UNKNOWN,
        ):
            session.error_since = None
            self._event("charger_error_cleared", status=snapshot.status.value)
            if self._restarted_at is not None and session.plan is not None:
                self._prices_changed = True  # force the re-plan below
                self._restarted_at = None

    # --- planning

    def _limits(self, session: SessionState) -> Limits:
        top = self.settings.max_current_a
        if session.user_max_current_a is not None:
            top = max(self.settings.min_current_a, min(top, session.user_max_current_a))
        return Limits(self.settings.min_current_a, top)

    def _replan_reason(
        self, session: SessionState, snapshot: ChargerSnapshot, now: datetime
    ) -> str | None:
        record = session.plan
        self._note_draw(session, snapshot)
        self._note_manual_change(session, snapshot, now)
        if record is None:
            return "session_started"
        if self._replan_for_user_current:
            self._replan_for_user_current = False
            return "user_changed_current"
        if self._prices_changed:
            return "prices_changed"
        if session.hold is not None or session.remaining_kwh <= TARGET_TOLERANCE_KWH:
            # The user's own pause is why energy falls behind; the need met ends planning.
            return None
        plan_end = record.plan.slots[-1].end if record.plan.slots else record.made_at
        if now - record.made_at >= BEHIND_GRACE and now < plan_end:
            behind = record.expected_delivered_kwh(now) - session.delivered_kwh
            if behind > max(BEHIND_MIN_KWH, BEHIND_SHARE * session.target_kwh):
                return "energy_behind"
        if self._power_deviates(session, snapshot, now):
            return "power_deviated"
        # The plan's last block is over and a little is still missing (a car that drew a bit
        # less than assumed): plan the rest into the cheapest time left, rather than topping
        # it up at full power once the plan has run out at the deadline.
        last_charge_end = max((s.end for s in record.plan.slots if s.is_charging), default=None)
        if last_charge_end is not None and record.made_at < last_charge_end <= now < plan_end:
            return "energy_short"
        return None

    def _nominal_kw_per_amp(self) -> float:
        return power_kw(1.0, self.settings)

    def _reading_share(self, snapshot: ChargerSnapshot) -> float | None:
        """Return the draw share a charging reading shows, or None (not charging)."""
        if snapshot.status is not ChargerStatus.CHARGING:
            return None
        return draw_share(
            snapshot.charging_power_kw,
            snapshot.max_charging_current_a,
            self._nominal_kw_per_amp(),
        )

    def _assumed_share(self, session: SessionState) -> float:
        """Return the draw share the plan in force assumed (1.0: the nominal car)."""
        record = session.plan
        if record is None or record.measured_power_kw is None:
            return 1.0
        full_kw = power_kw(self._limits(session).max_current_a, self.settings)
        return 1.0 if full_kw <= 0 else min(1.0, record.measured_power_kw / full_kw)

    def _note_draw(self, session: SessionState, snapshot: ChargerSnapshot) -> None:
        """Keep the session's charging readings for ``learn`` (in memory, per session)."""
        if self._draw_session != session.session_id:
            self._draw_session = session.session_id
            self._draw_readings = []
        if self._reading_share(snapshot) is not None:
            self._draw_readings.append(
                DrawReading(snapshot.max_charging_current_a, snapshot.charging_power_kw)
            )

    def _power_deviates(
        self, session: SessionState, snapshot: ChargerSnapshot, now: datetime
    ) -> bool:
        """Return whether a charging reading shows another draw than the plan assumed.

        Judged on every charging reading, whether or not the plan charges then (the car
        may still be charging before the plan's first pause has taken effect). A reading
        above the assumption at less than the full current is not trusted: a car whose own
        limit caps its power draws a larger share at a low current, and planning with that
        share would deliver too little at full current (too much at a low current is safe).
        """
        record = session.plan
        measured = self._reading_share(snapshot)
        if record is None or measured is None:
            return False
        if (
            session.baseline.command_at is not None
            and now - session.baseline.command_at < COMMAND_SETTLE
        ):
            return False
        assumed = self._assumed_share(session)
        if not deviates(measured, assumed, self.settings.replan_power_deviation):
            return False
        if (
            measured > assumed
            and snapshot.max_charging_current_a < self._limits(session).max_current_a
        ):
            return False
        self._measured_share = measured
        return True

    def _load_car_profile(self) -> CarProfile | None:
        try:
            return self.car_store.load()
        except SmartchargeError as exc:
            log.error("car_profile_load_failed", error=str(exc))
            return None

    def _first_share(self, snapshot: ChargerSnapshot | None) -> float | None:
        """Return the draw share a new session's first plan assumes, or None (nominal).

        The session's own first reading when the car is charging; otherwise what was learnt
        about the car, when it differs from the nominal car by more than the deviation.
        """
        share = None if snapshot is None else self._reading_share(snapshot)
        if share is not None:
            return share
        profile = self.car_profile
        if profile is not None and deviates(
            profile.draw_share, 1.0, self.settings.replan_power_deviation
        ):
            return profile.draw_share
        return None

    def _learn_car(self, session: SessionState, now: datetime) -> None:
        """Learn the car from the session's readings; save and log what was learnt."""
        readings = self._draw_readings if self._draw_session == session.session_id else []
        self._draw_readings, self._draw_session = [], None
        profile = learn(readings, self._nominal_kw_per_amp(), now, self.car_profile)
        if profile is None:
            return
        self.car_profile = profile
        try:
            self.car_store.save(profile)
        except SmartchargeError as exc:
            log.error("car_profile_save_failed", error=str(exc))
        top = float(self.settings.max_current_a)
        self._event(
            "car_profile_learned",
            session=session.session_id,
            draw_share=round(profile.draw_share, 3),
            full_power_kw=round(profile.full_power_kw(top, self._nominal_kw_per_amp()), 2),
            at_current_a=top,
            taper_share=profile.taper_share,
            power_by_current_kw={str(a): kw for a, kw in profile.power_by_current_kw},
            readings=profile.readings,
            sessions=profile.sessions,
        )

    def _note_manual_change(
        self, session: SessionState, snapshot: ChargerSnapshot, now: datetime
    ) -> None:
        if session.plan is None:
            return
        change = detect_manual_change(snapshot, session.baseline, session.pending)
        if change is not None:
            self._user_changed(session, change, snapshot, now, "reading")

    def _note_manual_commands(
        self, session: SessionState, snapshot: ChargerSnapshot, now: datetime
    ) -> None:
        """Take a command sent by hand with ``smartcharge charger`` for the user's, at once.

        Only commands sent during this session count (the file outlives sessions).
        """
        after = session.plugged_in_at
        if self.state.manual_seen_at is not None:
            after = max(after, self.state.manual_seen_at)
        for manual in manual_commands_after(
            self.settings.state_dir, snapshot.charger_id, after, now
        ):
            self.state.manual_seen_at = manual.at
            command = manual.command
            aspect = aspect_of(command)
            if aspect is None:
                continue
            # The user's command supersedes a pending one of ours that changes the same thing,
            # and is itself pending: the charger may show it only a minute later, and the
            # daemon must not send it a second time meanwhile.
            session.pending = [p for p in session.pending if p.aspect is not aspect]
            session.pending.append(pending_after_send(command, manual.at))
            if session.plan is None:
                continue
            if aspect is Aspect.ENABLED:
                change = ManualChange(enabled=command.kind is CommandKind.RESUME)
            elif command.value is not None:
                change = ManualChange(current_a=round(command.value))
            else:
                continue
            self._user_changed(session, change, snapshot, now, "smartcharge charger")

    def _user_changed(
        self,
        session: SessionState,
        change: ManualChange,
        snapshot: ChargerSnapshot,
        now: datetime,
        source: str,
    ) -> None:
        assert session.plan is not None
        respect = self.settings.manual_override is ManualOverride.RESPECT
        if change.enabled is not None:
            if respect:
                session.hold = Hold(change.enabled, now, session.plan.plan_id)
                self._event(
                    "manual_override_detected",
                    charge=change.enabled,
                    status=snapshot.status.value,
                    status_id=snapshot.status_id,
                    source=source,
                    holds_until="the next plan change",
                )
            else:
                self._event(
                    "manual_change_overruled",
                    charge=change.enabled,
                    status=snapshot.status.value,
                    source=source,
                    setting="SMARTCHARGE_MANUAL_OVERRIDE=ignore",
                )
            session.baseline = Baseline(
                change.enabled, session.baseline.current_a, session.baseline.command_at
            )
        if change.current_a is not None:
            if respect:
                session.user_max_current_a = change.current_a
                self._replan_for_user_current = True
                self._event("manual_current_detected", current_a=change.current_a, source=source)
            else:
                self._event("manual_change_overruled", current_a=change.current_a, source=source)
            session.baseline = Baseline(
                session.baseline.enabled, change.current_a, session.baseline.command_at
            )

    def _review_pending(
        self, session: SessionState, snapshot: ChargerSnapshot, now: datetime
    ) -> None:
        """Settle the daemon's pending commands against this reading (``controller``)."""
        self._not_applied = {}
        if not session.pending:
            return
        review = review_pending(session.pending, snapshot, now)
        session.pending = list(review.pending)
        for p in review.confirmed:
            self._event(
                "command_confirmed",
                level="debug",
                command=str(p.command),
                after_s=round((snapshot.fetched_at - p.sent_at).total_seconds()),
                sends=p.sends,
            )
        for p in review.not_applied:
            gave_up = p.sends >= MAX_SENDS
            self._event(
                "command_not_applied",
                level="error" if gave_up else "warning",
                command=str(p.command),
                sent_at=p.sent_at.isoformat(),
                sends=p.sends,
                status=snapshot.status.value,
                status_id=snapshot.status_id,
                max_charging_current_a=snapshot.max_charging_current_a,
                next="not sent again" if gave_up else "sent once more if the plan still wants it",
            )
            # The reading is the truth now, not a change by hand: the baseline takes it.
            others = [o for o in session.pending if o.aspect is not p.aspect]
            session.baseline = observed_baseline(snapshot, session.baseline, others)
            if gave_up:
                # The same command is not sent again while the plan asks for it (see _decide).
                session.pending.append(replace(p, gave_up=True))
            else:
                self._not_applied[p.command] = p.sends

    def _make_plan(self, session: SessionState, now: datetime, reason: str) -> None:
        self._prices_changed = False
        limits = self._limits(session)
        share = self._measured_share
        if share is None and session.plan is not None:
            share = self._assumed_share(session)
        if share is None:
            share = self._first_share(self.last_snapshot)
        self._measured_share = None
        nominal_full_kw = power_kw(limits.max_current_a, self.settings)
        # The plan assumes the car's draw share at every current (see smartcharge.carprofile):
        # the voltage scaled by it gives the right energy at full and at a lower current.
        measured = None if share is None or share >= 1.0 else share * nominal_full_kw
        curve = self.feed.curve
        request = PlanRequest(
            now=now,
            ready_by=session.ready_by,
            energy_needed_kwh=session.remaining_kwh,
            prices=curve,
            min_current_a=float(limits.min_current_a),
            max_current_a=float(limits.max_current_a),
            phases=self.settings.phases,
            voltage_v=self.settings.voltage_v * (1.0 if share is None else min(1.0, share)),
            max_interruptions=self.settings.max_interruptions,
            deadline_margin=timedelta(minutes=self.settings.deadline_margin_min),
        )
        plan = self.strategy.plan(request)
        full_kw = power_kw(limits.max_current_a, self.settings)
        if measured is not None:
            full_kw = min(full_kw, measured)
        immediate = immediate_cost(now, plan.energy_kwh, full_kw, curve)
        session.plans_made += 1
        plan_id = f"{now.isoformat()}#{session.plans_made}"
        session.plan = PlanRecord(
            plan_id=plan_id,
            plan=plan,
            made_at=now,
            reason=reason,
            delivered_kwh=session.delivered_kwh,
            measured_power_kw=measured,
            immediate_cost_eur=immediate,
        )
        if session.hold is not None:
            self._event("manual_override_ended", reason="new_plan", plan_id=plan_id)
            session.hold = None
        # A new plan brings the charger to the plan: forget what was last seen.
        session.baseline = Baseline(command_at=session.baseline.command_at)
        self._event(
            "plan_made",
            reason=reason,
            plan_id=plan_id,
            strategy=plan.strategy,
            slots=_slot_summary(plan),
            energy_kwh=round(plan.energy_kwh, 3),
            cost_eur=round(plan.cost_eur, 4),
            immediate_cost_eur=None if immediate is None else round(immediate, 4),
            saving_eur=None if immediate is None else round(immediate - plan.cost_eur, 4),
            is_reachable=plan.is_reachable,
            blocks=plan.blocks,
            deadline=request.deadline.isoformat(),
        )

    def current_slot(self, session: SessionState, now: datetime) -> PlanSlot:
        """Return what the charger should do now: the plan's slot, or a fallback.

        The need met: paused. Outside the plan (past its deadline with the need not met, or no
        plan): charge at full current ("when in doubt, charge").
        """
        if session.remaining_kwh <= TARGET_TOLERANCE_KWH:
            return PlanSlot(now, now + SLOT, 0.0, 0.0, None)
        slot = None if session.plan is None else session.plan.plan.slot_at(now)
        if slot is not None:
            return slot
        top = float(self._limits(session).max_current_a)
        return PlanSlot(now, now + SLOT, top, power_kw(top, self.settings) / 4, None)

    def _decide(
        self, session: SessionState, snapshot: ChargerSnapshot, now: datetime
    ) -> tuple[Command, ...]:
        if should_restart(
            snapshot.status,
            session.error_since,
            self.state.last_restart_at,
            now,
            enabled=self.settings.restart_on_error,
            in_session=True,
        ):
            return (Command(CommandKind.RESTART),)
        hold = session.hold if self.settings.manual_override is ManualOverride.RESPECT else None
        price = self.feed.curve.price_at(now)
        self._note_energy_cost_clamp(price)
        commands = decide(
            snapshot,
            self.current_slot(session, now),
            price,
            self._limits(session),
            hold,
            self._refused_energy_cost,
        )
        # A command given up on stays given up only while the plan asks for the same.
        session.pending = [p for p in session.pending if not p.gave_up or p.command in commands]
        # A pending command is never sent again (it may still take effect).
        return without_pending(commands, session.pending)

    def _note_energy_cost_clamp(self, price: float | None) -> None:
        """Log ``energy_cost_clamped`` once when the price leaves the range the cloud accepts."""
        clamped = price is not None and accepted_energy_cost(price) != cents(price)
        if clamped and not self._energy_cost_clamped and price is not None:
            self._event(
                "energy_cost_clamped",
                level="warning",
                price_eur_per_kwh=round(price, 5),
                energy_cost_eur_per_kwh=accepted_energy_cost(price),
                accepted_min_eur_per_kwh=ENERGY_COST_MIN_EUR_PER_KWH,
                accepted_max_eur_per_kwh=ENERGY_COST_MAX_EUR_PER_KWH,
            )
        self._energy_cost_clamped = clamped

    async def _send(
        self,
        session: SessionState | None,
        commands: tuple[Command, ...],
        now: datetime,
        reason: str = "plan",
        base: ChargerSnapshot | None = None,
    ) -> None:
        for command in commands:
            # Left set if a stop cuts the command short: its outcome is then unknown.
            self._in_flight = command
            sent_at = self.clock.now()
            why = "command_not_applied" if command in self._not_applied else reason
            try:
                result = await self.charger.apply(command, base=base)
            except SmartchargeError as exc:
                self._in_flight = None
                self._event("command_failed", level="warning", command=str(command), error=str(exc))
                if command.kind is CommandKind.SET_ENERGY_COST and isinstance(
                    exc, WallboxResponseError | WallboxForbiddenError
                ):
                    self._refused_energy_cost = command.value
                if session is not None and getattr(exc, "outcome_unknown", False):
                    # It may have reached the charger: pending, like an accepted one.
                    session.baseline = after_command(session.baseline, command, sent_at)
                    self._track_pending(session, command, sent_at)
                    self._save()
                return
            if command.kind is CommandKind.SET_ENERGY_COST:
                self._refused_energy_cost = None
            self._in_flight = None
            at = self.clock.now()
            sent = SentCommand(at, command, why)
            self.state.last_command = sent
            self.last_snapshot = result
            if session is not None:
                session.commands.append(sent)
                session.baseline = after_command(session.baseline, command, at)
                self._track_pending(session, command, sent_at)
            if command.kind is CommandKind.RESTART:
                self.state.last_restart_at = at
                self._restarted_at = at
            self._save()
            self._log_command(session, command, at, why)

    def _track_pending(self, session: SessionState, command: Command, sent_at: datetime) -> None:
        """Keep ``command`` pending until a reading shows it (it replaces one of the same kind)."""
        aspect = aspect_of(command)
        if aspect is None:
            return
        sends = self._not_applied.pop(command, 0) + 1
        session.pending = [p for p in session.pending if p.aspect is not aspect]
        session.pending.append(pending_after_send(command, sent_at, sends))

    def _log_command(
        self, session: SessionState | None, command: Command, at: datetime, reason: str
    ) -> None:
        price_slot = self.feed.curve.slot_at(at)
        data: dict[str, Any] = {"reason": reason}
        if price_slot is not None:
            data["slot_start"] = price_slot.start.isoformat()
            data["slot_end"] = price_slot.end.isoformat()
            data["price_eur_per_kwh"] = round(price_slot.price_eur_per_kwh, 5)
        if session is not None:
            data["delivered_kwh"] = round(session.delivered_kwh, 3)
            data["remaining_kwh"] = round(session.remaining_kwh, 3)
        if command.kind is CommandKind.SET_MAX_CURRENT:
            data["current_a"] = command.value
        elif command.kind is CommandKind.SET_ENERGY_COST:
            data["energy_cost_eur_per_kwh"] = command.value
        elif command.kind is CommandKind.RESTART:
            data["status"] = self.state.last_status.get("status")
            data["status_id"] = self.state.last_status.get("status_id")
        self._event(_EVENTS[command.kind], **data)

    def _next_action(self, now: datetime) -> dict[str, Any]:
        session = self.state.session
        if session is None or session.plan is None:
            return {}
        charging = self.current_slot(session, now).is_charging
        for s in session.plan.plan.slots:
            if s.end <= now:
                continue
            if s.start > now and s.is_charging != charging:
                return {"at": s.start.isoformat(), "action": "resume" if s.is_charging else "pause"}
        return {}

    def _save(self) -> None:
        """Save the state; a failure never stops the daemon.

        The disk logs a failure once per cause, ``/healthz`` reports it, and every later save
        tries again.
        """
        self.disk.retry()
        self._record_finished()
        with contextlib.suppress(StateError):
            self.store.save(self.state)

    # --- running and stopping

    def spawn(self, job: Callable[[], Awaitable[None]]) -> asyncio.Task[None]:
        """Run ``job`` in a task of its own, as work in flight a stop waits for."""
        task = asyncio.create_task(self.run_job(job))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def run_job(self, job: Callable[[], Awaitable[None]]) -> None:
        """Run one job (the scheduler's entry point): tracked, so that a stop can wait for it.

        Once the daemon is stopping no job starts; a job the stop had to cut short ends
        quietly (the stop has logged it), so no scheduler reports it as an error and nothing
        of it is logged after ``daemon_stopped``. Any other cancellation goes on up.
        """
        task = asyncio.current_task()
        if self._stopping or task is None:
            return
        self._tasks.add(task)
        try:
            await job()
        except asyncio.CancelledError:
            if self._stopping and task.uncancel() == 0:
                return
            raise
        finally:
            self._tasks.discard(task)

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
        self._stopping = True
        if scheduler is not None:
            scheduler.pause()
        cut_short = await self._finish_work(deadline - reserve)
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

    async def _finish_work(self, until: float) -> Command | None:
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
                await self._lock.acquire()  # held from here on: no tick starts
        except TimeoutError:
            ticked_out = False
        me = asyncio.current_task()
        pending = {t for t in self._tasks if not t.done() and t is not me}
        cut = None if ticked_out else self._in_flight
        if pending:
            self._event(
                "shutdown_work_cut_short",
                level="info" if cut is None else "warning",
                tasks=len(pending),
                command_in_flight=None if cut is None else str(cut),
            )
            for task in pending:
                task.cancel()
            # A cancelled task unwinds at its next await; bound it all the same.
            await asyncio.wait(pending, timeout=max(0.1, until - loop.time()))
        if ticked_out:
            self._lock.release()
        self._in_flight = None
        return cut

    async def _apply_on_exit(self, until: float, cut_short: Command | None) -> bool:
        """Resume an unfinished session's charger if it is (or may be) paused; True if sent.

        Applies whenever a session is known, whatever phase the daemon was in. The charger's
        state comes from the last answer when it is still good, else from a fresh read; when
        neither is to be had within the budget, the charger is resumed: a stopped daemon must
        not strand a car.
        """
        session = self.state.session
        if session is None or self.settings.on_exit is not OnExit.RESUME:
            return False
        hold = session.hold if session.hold is not None else self._carried_hold
        if session.remaining_kwh <= TARGET_TOLERANCE_KWH or (hold is not None and not hold.charge):
            return False
        loop = asyncio.get_running_loop()
        snapshot = self.last_snapshot
        # A pause, resume or restart cut short may or may not have reached the charger.
        stale = cut_short is not None and cut_short.kind in (
            CommandKind.PAUSE,
            CommandKind.RESUME,
            CommandKind.RESTART,
        )
        if snapshot is None or stale:
            snapshot = None
            try:
                # Half of what is left: the resume must still fit after it.
                async with asyncio.timeout_at(loop.time() + max(0.0, until - loop.time()) / 2):
                    snapshot = await self.charger.status()
            except (TimeoutError, SmartchargeError) as exc:
                self._event(
                    "on_exit_status_unknown",
                    level="warning",
                    command_in_flight=None if cut_short is None else str(cut_short),
                    error=str(exc) or "no answer within the stop budget",
                    action="resume",
                )
            else:
                self.last_snapshot = snapshot
        # A pause of ours may still take effect after we are gone (issue 16 §4).
        pause_pending = any(p.command.kind is CommandKind.PAUSE for p in session.pending)
        if snapshot is not None and is_enabled(snapshot.status) is not False and not pause_pending:
            return False
        before = self.state.last_command
        try:
            async with asyncio.timeout_at(until):
                # The last snapshot as the answer's base: no read slot may be left to wait for.
                await self._send(
                    session,
                    (Command(CommandKind.RESUME),),
                    self.clock.now(),
                    "on_exit",
                    base=self.last_snapshot,
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


async def run_simulated(
    daemon: Daemon,
    clock: Any,
    until: datetime,
    *,
    between: Callable[[datetime], Awaitable[None] | None] | None = None,
) -> None:
    """Drive ``daemon``'s jobs on a simulated clock until ``until``.

    The scheduler's stand-in: for each job of ``job_specs`` it moves ``clock`` (anything with
    ``now()`` and ``set()``) to the next due time and calls the job, in time order (ties in the
    order prices, poll, slot boundary). ``between`` is called with each due time before the jobs
    run (the demo and the tests plug cars in there).
    """
    specs = job_specs(daemon.settings)
    jobs = daemon.jobs()
    start = clock.now()
    due = {s.name: s.next_after(start) if s.wall_aligned else start + s.every for s in specs}
    order = {s.name: i for i, s in enumerate(specs)}
    while True:
        name = min(due, key=lambda n: (due[n], order[n]))
        at = due[name]
        edge = daemon.next_plan_edge(clock.now())
        if edge is not None and edge < at and edge <= until:
            # The one-off job at a plan edge inside a quarter hour (``schedule`` adds it).
            if clock.now() < edge:
                clock.set(edge)
            await daemon.plan_edge_job()
            continue
        if at > until:
            return
        if clock.now() < at:
            clock.set(at)
        if between is not None:
            result = between(at)
            if result is not None:
                await result
        spec = specs[order[name]]
        await jobs[name]()
        due[name] = spec.next_after(at)
        # A job that ran long (a limiter wait on an auto-advancing clock) coalesces its backlog.
        while due[name] <= clock.now() - timedelta(seconds=spec.misfire_grace_s):
            due[name] = spec.next_after(due[name])


def build_strategy(settings: Settings) -> Strategy:
    """Return the strategy ``SMARTCHARGE_STRATEGY`` names (ConfigError for an unknown one)."""
    from strategies import get_strategy  # noqa: PLC0415 - the registry imports every strategy

    return get_strategy(settings.strategy, max_price=settings.max_price)


async def run(settings: Settings, clock: Clock) -> int:
    """Run the daemon until SIGTERM or SIGINT; return the exit status (0).

    First it claims the state dir: the instance lock (one daemon per state dir; the CLI
    commands share it without the lock) and a check that every state file can be used.

    Raises:
        StateError: another daemon uses the state dir, or the state dir or a file in it is
            unusable (one line naming the path, the OS error and the fix).
        ConfigError: a setting is missing or wrong (credentials, strategy).
        SmartchargeError: the charger cannot be found on the account.
    """
    from smartcharge.manual import MANUAL_FILE  # noqa: PLC0415
    from smartcharge.prices.cache import CACHE_FILE  # noqa: PLC0415
    from smartcharge.wallbox.limiter import budget_file_name, budget_lock_name  # noqa: PLC0415
    from smartcharge.wallbox.tokens import TOKEN_FILE  # noqa: PLC0415

    disk = StateDisk()
    user = settings.wallbox_username or ""
    budget = (
        (budget_file_name(user), budget_lock_name(user))
        if settings.wallbox_budget_dir in (None, settings.state_dir)
        else ()
    )
    files = (STATE_FILE, LEDGER_FILE, TOKEN_FILE, *budget, CACHE_FILE, MANUAL_FILE)
    lock = claim_state_dir(settings.state_dir, files, disk)
    try:
        return await _serve(settings, clock, disk)
    finally:
        lock.release()


async def _serve(settings: Settings, clock: Clock, disk: StateDisk) -> int:
    """Serve until SIGTERM or SIGINT: the composition root.

    One aiohttp session for the process, the Wallbox client and the price feed on it, the
    strategy, the health endpoint and the scheduler; ``disk`` under every state file.
    """
    from smartcharge.health import HealthServer  # noqa: PLC0415
    from smartcharge.prices import build_price_feed  # noqa: PLC0415
    from smartcharge.wallbox import build_wallbox_client  # noqa: PLC0415

    stop = asyncio.Event()
    install_signal_handlers(stop)
    strategy = build_strategy(settings)
    # A bound on every exchange on top of the clients' own timeouts (STYLE.md §7).
    async with open_session(settings.wallbox_timeout_s + 10.0) as http:
        charger = build_wallbox_client(settings, http, clock, disk)
        chargers = charger.drive(settings.state_dir)
        feed = build_price_feed(settings, http, clock)
        daemon = Daemon(settings, clock, charger, feed, strategy, disk=disk)
        # SMARTCHARGE_HEALTH_PORT=0 means no endpoint at all (not a random port nobody knows).
        health = HealthServer(daemon, clock, settings.health_port) if settings.health_port else None
        if health is None:
            log.info("health_endpoint_disabled", setting="SMARTCHARGE_HEALTH_PORT=0")
        else:
            await health.start()
        scheduler: Any = None
        watch: asyncio.Task[None] | None = None
        starting = daemon.spawn(daemon.start)
        stopping = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if not stop.is_set():
                starting.result()
                scheduler = schedule(daemon, chargers)
                specs = job_specs(settings, chargers)
                watch = asyncio.create_task(
                    daemon.watch_clock(functools.partial(realign_jobs, scheduler, specs))
                )
                log.info(
                    "scheduler_started",
                    jobs=[s.name for s in specs],
                    poll_interval_s=poll_interval_s(settings, chargers),
                    chargers_on_account=chargers,
                )
                await stopping
            log.info("daemon_stopping")
        finally:
            stopping.cancel()
            if watch is not None:
                watch.cancel()
                await asyncio.wait({watch})
            await daemon.shutdown(scheduler=scheduler)
            if health is not None:
                await health.stop()
        if not starting.cancelled():
            starting.result()  # a start-up that failed fails the run, after the clean stop
    return 0


def install_signal_handlers(
    stop: asyncio.Event, on_hangup: Callable[[], None] | None = None
) -> None:
    """Set ``stop`` on SIGTERM or SIGINT; SIGHUP never stops the daemon.

    Args:
        stop: the event ``run()`` waits for.
        on_hangup: what SIGHUP does: the hook for a settings reload. Until there is one it logs
            ``signal_ignored`` (a host install whose terminal closes must not lose its session).
    """
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, on_hangup or _hangup_ignored)


def _hangup_ignored() -> None:
    log.info("signal_ignored", signal="SIGHUP", reason="reloading the settings is not supported")


def _trigger(spec: JobSpec) -> Any:
    from apscheduler.triggers.cron import CronTrigger  # noqa: PLC0415
    from apscheduler.triggers.interval import IntervalTrigger  # noqa: PLC0415

    if spec.wall_aligned:
        minutes = int(spec.every.total_seconds() // 60)
        return CronTrigger(minute=f"*/{minutes}", timezone=UTC)
    return IntervalTrigger(seconds=spec.every.total_seconds(), timezone=UTC)


def realign_jobs(scheduler: Any, specs: tuple[JobSpec, ...], step: timedelta) -> None:
    """Put every job back on its schedule after the wall clock stepped by ``step``.

    APScheduler keeps each job's next run as a wall-clock instant: after a backward step it
    would wait the size of the step on top, after a forward one it would skip a run as missed.
    Each job is rescheduled from the scheduler's new now: an interval job one interval on, a
    wall-aligned job (slot boundaries) at the next boundary.
    """
    for spec in specs:
        if scheduler.get_job(spec.name) is not None:
            scheduler.reschedule_job(spec.name, trigger=_trigger(spec))
    log.info("jobs_realigned", step_s=round(step.total_seconds(), 3), jobs=[s.name for s in specs])


def schedule(daemon: Daemon, chargers: int = 1) -> Any:
    """Return a started APScheduler ``AsyncIOScheduler`` running ``daemon``'s jobs."""
    from apscheduler.schedulers.asyncio import AsyncIOScheduler  # noqa: PLC0415

    scheduler = AsyncIOScheduler(timezone=UTC)
    jobs = daemon.jobs()
    for spec in job_specs(daemon.settings, chargers):
        scheduler.add_job(
            # Through run_job: a stop waits for the job rather than the scheduler cancelling it.
            functools.partial(daemon.run_job, jobs[spec.name]),
            _trigger(spec),
            id=spec.name,
            name=spec.name,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=spec.misfire_grace_s,
        )
    scheduler.start()
    daemon.on_plan_edge = lambda at: _schedule_plan_edge(scheduler, daemon, at)
    return scheduler


def _schedule_plan_edge(scheduler: Any, daemon: Daemon, at: datetime | None) -> None:
    """(Re)place the one-off ``plan_edge`` job at ``at`` (None removes it)."""
    from apscheduler.jobstores.base import JobLookupError  # noqa: PLC0415
    from apscheduler.triggers.date import DateTrigger  # noqa: PLC0415

    if at is None:
        with contextlib.suppress(JobLookupError):
            scheduler.remove_job("plan_edge")
        return
    scheduler.add_job(
        functools.partial(daemon.run_job, daemon.plan_edge_job),
        DateTrigger(run_date=at, timezone=UTC),
        id="plan_edge",
        replace_existing=True,
        max_instances=1,
        coalesce=True,
        misfire_grace_time=PLAN_EDGE_GRACE_S,
    )


__all__ = [
    "Daemon",
    "build_strategy",
    "run",
    "JobSpec",
    "PriceFeed",
    "install_signal_handlers",
    "job_specs",
    "poll_interval_s",
    "ready_by_after",
    "realign_jobs",
    "run_simulated",
    "schedule",
]
