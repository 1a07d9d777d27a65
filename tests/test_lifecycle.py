"""The daemon's lifecycle in process (issue 11 items 2, 3 and 6): a stop with a command in
flight or during the start-up price fetch, and steps of the wall clock.

The daemon's real code runs against the simulated cloud and ENTSO-E on 127.0.0.1 on a simulated
clock; the stop runs with a small budget so no test waits long. Nothing here sleeps: each test
waits for the simulator to hold the request it is about, with a deadline.
"""

from __future__ import annotations

import asyncio
import io
import json
import time as monotonic_time
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest

from smartcharge.clock import ClockWatch
from smartcharge.config import LogLevel
from smartcharge.demo import DEMO_DAY, SimulatedWorld, local, simulated_world
from smartcharge.logsetup import configure_logging
from smartcharge.prices.cache import CACHE_FILE
from smartcharge.runtime.compose import health_facts
from smartcharge.runtime.jobs import job_specs, realign_jobs, run_simulated, schedule
from smartcharge.runtime.stopping import CLOCK_WATCH_S
from smartcharge.simulator.clock import SimulatedClock
from smartcharge.simulator.entsoe_server import EntsoeFault
from smartcharge.simulator.wallbox_cloud import Fault
from smartcharge.web.health import check

START = local(DEMO_DAY, time(17, 45))
PLUG_IN = local(DEMO_DAY, time(18, 0))
# A small stop budget keeps the tests quick; the logic is the same as with the real 9 s.
BUDGET_S = 2.0
# A bound only (every wait ends as soon as its condition holds): 5 s ran out beside two busy loops.
WAIT_S = 30.0


async def until(condition: Callable[[], bool], what: str) -> None:
    """Wait (a real deadline, no simulated time) until ``condition()`` holds."""
    deadline = monotonic_time.monotonic() + WAIT_S
    while not condition():
        if monotonic_time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


def actions(world: SimulatedWorld) -> list[int]:
    return [
        r.body["action"]
        for r in world.cloud.requests
        if r.method == "POST" and "remote-action" in r.path and 200 <= r.status < 300
    ]


def events(world: SimulatedWorld, name: str) -> list[dict[str, Any]]:
    return [data for _, event, data in world.events if event == name]


async def plugged_in_and_paused(world: SimulatedWorld) -> None:
    """Start, plug in at 18:00 and run to 18:30: the plan waits for cheaper slots (paused)."""
    await world.daemon.start()
    await run_simulated(world.daemon, world.clock, PLUG_IN - timedelta(minutes=1))
    world.cloud.charger.plug_in(car_max_power_kw=11.0)


@pytest.mark.parametrize("answer", ["arrives_during_the_stop", "never_arrives"])
async def test_sigterm_while_a_command_is_in_flight_decides_from_its_outcome(
    tmp_path: Path, answer: str
):
    """Item 2: the plan's pause reached the charger, its answer is held, the daemon is told to
    stop. The on-exit rule must see the pause (from the late answer, or by reading the charger
    once the command is cut short) and resume: the car is left charging, nothing sent twice."""
    async with simulated_world(tmp_path, START) as world:
        await plugged_in_and_paused(world)
        world.cloud.inject(Fault.HOLD, path_contains="remote-action", applied=True)
        tick = world.daemon.spawn(world.daemon.boundary_job)
        await until(lambda: world.cloud.held == 1, "the pause to be held")
        paused_status = world.cloud.charger.status_id
        stopping = asyncio.create_task(world.daemon.shutdown(BUDGET_S))
        if answer == "arrives_during_the_stop":
            world.cloud.release_held()
        await stopping
        stopped = events(world, "daemon_stopped")
        cut = events(world, "shutdown_work_cut_short")

    assert tick.done()
    assert paused_status in (178, 182)  # the cloud applied the pause
    assert [2, 1] == actions(world)  # the pause, then the on-exit resume; no repeat
    assert world.cloud.charger.status_id in (193, 194, 195)
    assert [True] == [e["resumed_on_exit"] for e in stopped]
    if answer == "never_arrives":
        assert ["pause"] == [e["command_in_flight"] for e in cut]
    else:
        assert [] == cut


async def test_sigterm_during_the_startup_price_fetch_applies_the_on_exit_rule(tmp_path: Path):
    """Item 3: a session carried over (the charger paused by the plan), the next start is
    stopped while it fetches prices, before its first read: the charger is read and resumed."""
    async with simulated_world(tmp_path, START) as world:
        await plugged_in_and_paused(world)
        await run_simulated(world.daemon, world.clock, local(DEMO_DAY, time(18, 30)))
        assert world.cloud.charger.status_id in (178, 182)  # paused by the plan
        session = world.daemon.state.session
        assert session is not None
        # Killed here (no shutdown); the next start finds stale prices and fetches them.
        (tmp_path / CACHE_FILE).unlink()
        world.entsoe.fail(EntsoeFault.HANG)
        fetches = len(world.entsoe.requests)
        daemon = world.new_daemon()
        starting = daemon.spawn(daemon.start)
        await until(lambda: len(world.entsoe.requests) > fetches, "the price fetch")
        before = len(actions(world))
        await daemon.shutdown(BUDGET_S)
        world.entsoe.release_hangs()
        stopped = events(world, "daemon_stopped")

    assert starting.done()
    assert [1] == actions(world)[before:]
    assert world.cloud.charger.status_id in (193, 194, 195)
    assert [session.session_id] == [e["session"] for e in stopped]
    assert [True] == [e["resumed_on_exit"] for e in stopped]


async def test_sigterm_during_a_poll_stops_cleanly_with_daemon_stopped_last(tmp_path: Path):
    """Item 22: the scheduler's poll job is reading the charger when the stop comes (the read's
    answer held). The stop cuts it short itself (APScheduler never cancels it), so no ERROR and
    no CancelledError traceback is logged, the on-exit rule still resumes the paused charger,
    and ``daemon_stopped`` is the last line."""
    out = io.StringIO()
    async with simulated_world(tmp_path, START, log_level=LogLevel.INFO) as world:
        configure_logging(world.settings, stream=out, force_console=False)
        await plugged_in_and_paused(world)
        await run_simulated(world.daemon, world.clock, local(DEMO_DAY, time(18, 30)))
        assert world.cloud.charger.status_id in (178, 182)  # paused by the plan
        world.clock.set(world.clock.now() + timedelta(minutes=2))  # a read is due, not cached
        world.cloud.inject(Fault.HOLD, path_contains="chargers/status")
        scheduler = schedule(world.daemon)
        poll = scheduler.get_job("poll")
        read_s = world.daemon.charger.capabilities.min_read_interval_s
        poll.modify(next_run_time=poll.next_run_time - job_specs(world.settings, read_s)[1].every)
        await until(lambda: world.cloud.held == 1, "the poll's read to be held")
        await world.daemon.shutdown(BUDGET_S, scheduler=scheduler)
        await asyncio.sleep(0)  # anything still to log would be logged now
        world.cloud.release_held()
        status = world.cloud.charger.status_id
    text = out.getvalue()
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]
    # The fakes serve from this process: their access log is not the daemon's.
    lines = [line for line in lines if line.get("logger") != "aiohttp.access"]

    assert "daemon_stopped" == lines[-1]["event"], lines[-3:]
    assert [] == [line for line in lines if line.get("level") in ("error", "critical")]
    assert "CancelledError" not in text
    assert "Traceback" not in text
    assert ["shutdown_work_cut_short"] == [
        line["event"] for line in lines if line["event"] == "shutdown_work_cut_short"
    ]
    assert status in (193, 194, 195)


STEPS = [timedelta(hours=-1), timedelta(minutes=-5), timedelta(hours=2)]


@pytest.mark.parametrize("step", STEPS, ids=["-1h", "-5min", "+2h"])
def test_clock_watch_reports_each_step_once_with_its_size(step: timedelta):
    """Item 6: the watch compares the wall clock with the monotonic one; a slew is no step."""
    clock = SimulatedClock(datetime(2025, 10, 26, 0, 30, tzinfo=UTC))
    watch = ClockWatch(clock)
    clock.set(clock.now() + timedelta(seconds=10))
    quiet = watch.check()
    clock.step(timedelta(seconds=0.5))  # an NTP slew's worth, not a step
    slew = watch.check()
    clock.step(step)
    seen = watch.check()
    again = watch.check()

    assert quiet is None
    assert slew is None
    assert step == seen
    assert again is None


@pytest.mark.parametrize("step", STEPS, ids=["-1h", "-5min", "+2h"])
async def test_a_clock_step_keeps_the_jobs_on_schedule_and_health_honest(
    tmp_path: Path, step: timedelta
):
    """Item 6: after a step of the wall clock, ``clock_stepped`` is logged once with the size,
    every APScheduler job is due again within its interval (not the size of the step later),
    and /healthz judges the poll on the monotonic clock: 200 while polls go on, 503 once they
    stop, whichever way the wall clock went.

    APScheduler keeps next runs as wall-clock instants and reads the real clock; the real
    clock cannot be stepped here, so the test gives the scheduler what a step leaves it with
    (every next run moved by minus the step, relative to its now) while the daemon's injected
    clock takes the step itself."""
    async with simulated_world(tmp_path, START, poll_interval_s=90) as world:
        clock = world.clock
        await world.daemon.start()
        scheduler = schedule(world.daemon)
        scheduler.pause()  # nothing runs for real; only the next run times are looked at
        try:
            specs = job_specs(world.settings, world.daemon.charger.capabilities.min_read_interval_s)
            watching = asyncio.create_task(
                world.daemon.watch_clock(lambda s: realign_jobs(scheduler, specs, s))
            )
            await clock.advance(CLOCK_WATCH_S)
            for job in scheduler.get_jobs():
                job.modify(next_run_time=job.next_run_time - step)
            clock.step(step)
            healthy_after_step = check(health_facts(world.daemon), clock.now()).ok
            await clock.advance(CLOCK_WATCH_S)
            await clock.advance(CLOCK_WATCH_S)
            real_now = datetime.now(UTC)
            waits = {
                j.id: (j.next_run_time - real_now).total_seconds() for j in scheduler.get_jobs()
            }
            # No poll for five poll intervals of passing time: unhealthy, even after a step
            # back that makes the last poll look an hour younger on the wall clock.
            await clock.advance(5 * 300)
            stale = check(health_facts(world.daemon), clock.now())
            watching.cancel()
        finally:
            scheduler.shutdown(wait=False)
        stepped = events(world, "clock_stepped")

    assert [round(step.total_seconds())] == [round(e["step_s"]) for e in stepped]
    assert healthy_after_step
    every = {s.name: s.every.total_seconds() for s in specs}
    for name, wait_s in waits.items():
        # Due within one interval of the scheduler's now (a boundary may be due this instant).
        assert -1 < wait_s <= every[name] + 1, (name, wait_s)
    assert not stale.ok
    assert "no successful charger poll" in stale.reasons[0]
