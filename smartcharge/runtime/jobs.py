"""The daemon's jobs: their schedule under APScheduler, and the simulated driver.

**Jobs** (APScheduler 3 ``AsyncIOScheduler``, one asyncio process; every job has
``max_instances=1`` and ``coalesce=True``):

- ``prices`` every 5 minutes: fetches only when the feed says prices are due (at start when the
  cache is stale, daily when the next day's prices are published, and at the feed's back-off
  times until they come); a change in the known prices triggers a re-plan.
- ``poll`` every ``SMARTCHARGE_POLL_INTERVAL_S`` (default 90 s, never faster than the Wallbox
  read budget allows): one tick; with no car plugged in it reads only every
  ``SMARTCHARGE_POLL_INTERVAL_IDLE_S``.
- ``slot_boundary`` at every quarter hour of the wall clock: one tick (reconcile).
- ``plan_edge``, one-off: a plan edge inside a quarter hour (``Daemon.next_plan_edge``).
- ``settings`` every minute, for ``smartcharge run`` only: a look at the ``.env`` file, and an
  edit applied (``runtime.reload``; handed in as an extra job).

**Misfires.** A job that could not start within its ``misfire_grace_time`` of its due time (poll
60 s, slot boundary 120 s, prices 300 s) is skipped, not run late, and ``coalesce=True`` turns a
backlog (a host waking from suspend) into at most one run. Nothing is lost by skipping: every
tick re-reads the charger and recomputes the whole decision (reconcile is idempotent), and the
next run of any job catches up.

**The simulated clock.** APScheduler reads the real clock for its own timing, so under
simulation ``run_simulated()`` replaces the scheduler: it moves the clock to the next due time
of each job (the same ``job_specs``) and calls the job. Everything the daemon does is then
simulated; only the scheduler's own timer is not.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import structlog

from smartcharge.config import Settings
from smartcharge.runtime.daemon import Daemon
from smartcharge.runtime.envwatch import WATCH_INTERVAL_S

log = structlog.get_logger(__name__)

PRICES_CHECK = timedelta(minutes=5)
SLOT = timedelta(minutes=15)
# A plan edge inside a quarter hour runs as a one-off job; it may start this late.
PLAN_EDGE_GRACE_S = 60


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


# The .env check (issue 14 item 1: an edit applies within a minute). Late by more than its
# interval, a run is skipped: the next one reads the same file.
SETTINGS_JOB = JobSpec(
    "settings", timedelta(seconds=WATCH_INTERVAL_S), wall_aligned=False, misfire_grace_s=60
)

Job = Callable[[], Awaitable[None]]


def job_specs(
    settings: Settings,
    min_read_interval_s: float,
    chargers: int = 1,
    *,
    watch_settings: bool = False,
) -> tuple[JobSpec, ...]:
    """Return the daemon's jobs for ``settings`` (the other arguments: see ``poll_interval_s``).

    ``watch_settings`` adds the ``settings`` job (its method is handed in as an extra job).
    """
    extra = (SETTINGS_JOB,) if watch_settings else ()
    return (
        JobSpec("prices", PRICES_CHECK, wall_aligned=False, misfire_grace_s=300),
        JobSpec(
            "poll",
            timedelta(seconds=poll_interval_s(settings, min_read_interval_s, chargers)),
            wall_aligned=False,
            misfire_grace_s=60,
        ),
        JobSpec("slot_boundary", SLOT, wall_aligned=True, misfire_grace_s=120),
        *extra,
    )


def poll_interval_s(settings: Settings, min_read_interval_s: float, chargers: int = 1) -> float:
    """Return the plugged-in poll interval: the setting, never under what the link allows.

    Args:
        settings: ``SMARTCHARGE_POLL_INTERVAL_S``, the wish.
        min_read_interval_s: the charger link's shortest time between reads
            (``ports.ChargerCapabilities``: the cloud's read budget, an OCPP sample interval).
        chargers: the chargers of the account driven by smartcharge daemons (one state dir
            each; 1 for a link of its own). The cloud's read budget is the account's, so each
            polls at most once per ``chargers`` read intervals, as Home Assistant stretches
            its interval by the number of chargers. A poll then finds its read slot free and
            acts on its own read (the client waits for it rather than act on a stale status).
    """
    return max(float(settings.poll_interval_s), max(1, chargers) * min_read_interval_s)


class SettableClock(Protocol):
    """The clock ``run_simulated`` moves: a ``Clock`` that can be set."""

    def now(self) -> datetime:
        """Return the simulated instant."""
        ...

    def set(self, instant: datetime) -> None:
        """Move the simulated instant to ``instant``."""
        ...


async def run_simulated(
    daemon: Daemon,
    clock: SettableClock,
    until: datetime,
    *,
    between: Callable[[datetime], Awaitable[None] | None] | None = None,
    extra: Mapping[str, Job] | None = None,
) -> None:
    """Drive ``daemon``'s jobs on a simulated clock until ``until``.

    The scheduler's stand-in: for each job of ``job_specs`` it moves ``clock`` to the next due
    time and calls the job, in time order (ties in the order prices, poll, slot boundary).
    ``between`` is called with each due time before the jobs run (the demo and the tests plug
    cars in there); ``extra`` holds the ``settings`` job when the ``.env`` is watched.
    """
    extra = extra or {}
    specs = job_specs(
        daemon.settings,
        daemon.charger.capabilities.min_read_interval_s,
        watch_settings="settings" in extra,
    )
    jobs = {**daemon.jobs(), **extra}
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


def schedule(daemon: Daemon, chargers: int = 1, extra: Mapping[str, Job] | None = None) -> Any:
    """Return a started APScheduler ``AsyncIOScheduler`` running ``daemon``'s jobs.

    ``extra``: jobs beside the daemon's own (the ``settings`` job of ``runtime.reload``).
    """
    from apscheduler.schedulers.asyncio import AsyncIOScheduler  # noqa: PLC0415

    scheduler = AsyncIOScheduler(timezone=UTC)
    extra = extra or {}
    jobs = {**daemon.jobs(), **extra}
    read_s = daemon.charger.capabilities.min_read_interval_s
    for spec in job_specs(daemon.settings, read_s, chargers, watch_settings="settings" in extra):
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
    "PLAN_EDGE_GRACE_S",
    "PRICES_CHECK",
    "SETTINGS_JOB",
    "JobSpec",
    "SettableClock",
    "job_specs",
    "poll_interval_s",
    "realign_jobs",
    "run_simulated",
    "schedule",
]
