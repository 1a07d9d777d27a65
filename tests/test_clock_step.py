"""Steps of the wall clock (NTP, a VM resume) and the daemon's own wall-clock deadlines.

The scheduler's jobs are put back on schedule after a step (``tests/test_lifecycle.py``); these
tests are about the deadlines the daemon holds itself: the price feed's next try after a failed
fetch, a price source's ``Retry-After``, and a pending command's five minutes
(``session.decide.PENDING_DEADLINE``). Each must run on passing time: a step back must not make
it wait out the step, a step forward must not make it fire early (the source's rate limit, a
command sent again that was not needed).

The daemon's real code runs against the simulated cloud and ENTSO-E on 127.0.0.1 on a simulated
clock whose wall reading is stepped while its monotonic reading goes on
(``SimulatedClock.step``). The daemon notices a step when it looks at the clock: every
``CLOCK_WATCH_S`` in ``smartcharge run`` and before each job reads the time; here after the
watch's interval of passing time, as in ``run``. After a step ``run_simulated`` starts afresh
from the new wall time, as APScheduler's jobs do once realigned.
"""

from __future__ import annotations

import asyncio
import time as monotonic_time
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest

from smartcharge.demo import DEMO_DAY, SimulatedWorld, local, simulated_world
from smartcharge.domain import ChargerSnapshot, ChargerStatus, Command, CommandKind
from smartcharge.runtime.jobs import run_simulated
from smartcharge.runtime.stopping import CLOCK_WATCH_S
from smartcharge.session.decide import pending_after_send, pending_rebased, review_pending
from smartcharge.session.steering import SteerMode, SteerRequest, SteerSource
from smartcharge.simulator.entsoe_server import EntsoeFault
from smartcharge.simulator.wallbox_cloud import Fault

START = local(DEMO_DAY, time(17, 45))
PLUG_IN = local(DEMO_DAY, time(18, 0))
BACK = timedelta(hours=-3)
FORWARD = timedelta(hours=3)
RESUME_ACTION = 1  # remote-action bodies (wallbox-api.md §4.3)
PAUSE_ACTION = 2
# A real deadline for waiting on the simulator (no simulated time).
WAIT_S = 5.0


def events(world: SimulatedWorld, name: str) -> list[tuple[datetime, dict[str, Any]]]:
    return [(at, data) for at, event, data in world.events if event == name]


def actions(world: SimulatedWorld) -> list[int]:
    return [
        r.body["action"]
        for r in world.cloud.requests
        if r.method == "POST" and "remote-action" in r.path and 200 <= r.status < 300
    ]


async def step_and_notice(world: SimulatedWorld, step: timedelta) -> float:
    """Step the wall clock; let the watch's interval pass; the daemon looks. Return the
    monotonic reading at the step."""
    at = world.clock.monotonic()
    world.clock.step(step)
    await world.clock.advance(CLOCK_WATCH_S)
    assert step == world.daemon.look_at_clock()
    return at


class EntsoeTimes:
    """The monotonic reading at each job due time, with the ENTSO-E requests so far."""

    def __init__(self, world: SimulatedWorld) -> None:
        self.world = world
        self.seen: list[tuple[float, int]] = []

    def __call__(self, _at: datetime) -> None:
        self.seen.append((self.world.clock.monotonic(), len(self.world.entsoe.requests)))

    def first_request_after(self, asked: int) -> float | None:
        """Return the due time of the job that made the first request beyond ``asked``.

        The jobs run after ``between``: a request made by the job at due time ``i`` shows in
        the count taken at due time ``i + 1``.
        """
        for (mono, _), (_, count) in zip(self.seen, self.seen[1:], strict=False):
            if count > asked:
                return mono
        return None


async def test_a_step_back_does_not_hold_up_the_next_try_after_a_failed_price_fetch(
    tmp_path: Path,
):
    """The start-up fetch fails (ENTSO-E 503): the feed tries again 5 minutes later. The wall
    clock then steps back 3 hours: the next try still comes about 5 minutes after the failed
    one (not 3 hours and 5 minutes), and not before."""
    async with simulated_world(tmp_path, START) as world:
        world.entsoe.fail(EntsoeFault.UNAVAILABLE)
        await world.daemon.start()
        asked = len(world.entsoe.requests)
        failed_at = world.clock.monotonic()
        assert asked >= 1
        assert 0 == len(world.daemon.feed.curve)
        world.entsoe.fail(None)
        await step_and_notice(world, BACK)
        times = EntsoeTimes(world)
        await run_simulated(
            world.daemon, world.clock, world.clock.now() + timedelta(minutes=30), between=times
        )
        known = len(world.daemon.feed.curve)

    retried = times.first_request_after(asked)
    assert retried is not None, "no fetch within 30 minutes of the step back"
    assert 5 * 60 <= retried - failed_at <= 10 * 60 + CLOCK_WATCH_S
    assert known > 0


@pytest.mark.parametrize("step", [BACK, FORWARD], ids=["back_3h", "forward_3h"])
async def test_a_step_keeps_entsoe_s_retry_after_on_passing_time(tmp_path: Path, step: timedelta):
    """ENTSO-E answers 429 with ``Retry-After: 1800``. After a step either way the next request
    goes out 30 minutes after the 429 (of passing time): not 3 hours later after a step back,
    not at the next price job (5 minutes on) after a step forward, in breach of the limit."""
    async with simulated_world(tmp_path, START) as world:
        world.entsoe.retry_after_s = 1800
        world.entsoe.fail(EntsoeFault.RATE_LIMITED, times=1)
        await world.daemon.start()
        asked = len(world.entsoe.requests)
        limited_at = world.clock.monotonic()
        assert 0 == len(world.daemon.feed.curve)
        await step_and_notice(world, step)
        times = EntsoeTimes(world)
        await run_simulated(
            world.daemon, world.clock, world.clock.now() + timedelta(minutes=45), between=times
        )
        known = len(world.daemon.feed.curve)
        stepped = events(world, "clock_stepped")

    retried = times.first_request_after(asked)
    assert retried is not None, "no fetch within 45 minutes of the step"
    assert 30 * 60 <= retried - limited_at <= 35 * 60 + CLOCK_WATCH_S
    assert known > 0
    assert 1 == len(stepped)
    assert "prices_retry_at" in stepped[0][1]["rebased"]
    assert "entsoe_retry_after" in stepped[0][1]["rebased"]


async def charge_now_lost_at_20(world: SimulatedWorld) -> float:
    """Plugged in at 18:00 (the plan waits for the night, paused); at 20:00 the user asks to
    charge now (the page) and the daemon's resume never reaches the charger, its answer lost
    (outcome unknown: pending like a sent one). Return the monotonic reading at the resume."""
    await world.daemon.start()
    await run_simulated(world.daemon, world.clock, PLUG_IN - timedelta(minutes=1))
    world.cloud.charger.plug_in(car_max_power_kw=11.0)
    await run_simulated(world.daemon, world.clock, local(DEMO_DAY, time(20)))
    assert [PAUSE_ACTION] == actions(world)
    world.cloud.inject(Fault.DROP, path_contains="remote-action", applied=False)
    resumed_at = world.clock.monotonic()
    outcome = await world.daemon.steer(SteerRequest(SteerMode.NOW), SteerSource.PAGE)
    session = world.daemon.state.session
    assert outcome.refusal is None
    assert session is not None
    assert ["resume"] == [str(p.command) for p in session.pending]
    assert world.cloud.charger.is_paused
    return resumed_at


@pytest.mark.parametrize(
    "step",
    [timedelta(hours=-1), timedelta(minutes=-10), timedelta(hours=1)],
    ids=["back_1h", "back_10min", "forward_1h"],
)
async def test_a_lost_command_is_sent_again_after_five_minutes_of_passing_time(
    tmp_path: Path, step: timedelta
):
    """The resume is lost; the wall clock then steps (still within the session, the override
    in force). The readings keep showing the charger paused: the resume counts as not applied
    5 minutes after it was sent, of passing time, and goes out once more then: not the size of
    a step back later, not at the first reading after a step forward (a charger takes up to
    270 s to show a command, ``decide.PENDING_DEADLINE``), and exactly once."""
    async with simulated_world(tmp_path, START) as world:
        resumed_at = await charge_now_lost_at_20(world)
        await step_and_notice(world, step)
        times: list[tuple[float, int]] = []
        await run_simulated(
            world.daemon,
            world.clock,
            world.clock.now() + timedelta(minutes=20),
            between=lambda _: times.append((world.clock.monotonic(), len(actions(world)))),
        )
        not_applied = events(world, "command_not_applied")
        stepped = events(world, "clock_stepped")
        charging = not world.cloud.charger.is_paused

    resent = [mono for (mono, _), (_, count) in zip(times, times[1:], strict=False) if count > 1]
    assert resent, "the lost resume was not sent again within 20 minutes of the step"
    assert 5 * 60 <= resent[0] - resumed_at <= 5 * 60 + 2 * 90 + CLOCK_WATCH_S
    assert ["resume"] == [data["command"] for _, data in not_applied]
    assert [PAUSE_ACTION, RESUME_ACTION] == actions(world)
    assert charging
    assert ["pending_resume"] == [r for r in stepped[0][1]["rebased"] if r.startswith("pending")]


async def test_a_step_noticed_while_a_command_s_answer_is_awaited_moves_that_command_too(
    tmp_path: Path,
):
    """The user asks to charge now at 20:00; the resume reaches the charger but its answer is
    held, and meanwhile the wall clock steps back an hour and the watch notices it. The resume
    read its time before the step, so it is pending from 19:00 on the new clock: the next
    reading (which shows it) confirms it, and nothing is sent again."""
    step = timedelta(hours=-1)
    async with simulated_world(tmp_path, START) as world:
        await world.daemon.start()
        await run_simulated(world.daemon, world.clock, PLUG_IN - timedelta(minutes=1))
        world.cloud.charger.plug_in(car_max_power_kw=11.0)
        await run_simulated(world.daemon, world.clock, local(DEMO_DAY, time(20)))
        world.cloud.inject(Fault.HOLD, path_contains="remote-action", applied=True)
        sent_at = world.clock.now()
        steering = asyncio.create_task(
            world.daemon.steer(SteerRequest(SteerMode.NOW), SteerSource.PAGE)
        )
        deadline = monotonic_time.monotonic() + WAIT_S
        while world.cloud.held != 1:
            assert monotonic_time.monotonic() < deadline, "the resume never reached the cloud"
            await asyncio.sleep(0.01)
        await step_and_notice(world, step)
        world.cloud.release_held()
        await asyncio.wait_for(steering, WAIT_S)
        session = world.daemon.state.session
        assert session is not None
        pending = [(str(p.command), p.sent_at) for p in session.pending]
        await run_simulated(world.daemon, world.clock, world.clock.now() + timedelta(minutes=5))
        session = world.daemon.state.session
        assert session is not None
        left = list(session.pending)
        confirmed = [data["command"] for _, data in events(world, "command_confirmed")]

    assert [("resume", sent_at + step)] == pending
    assert [] == left
    assert "resume" in confirmed
    assert [PAUSE_ACTION, RESUME_ACTION] == actions(world)


def test_a_step_forward_before_the_first_reading_does_not_make_a_pause_not_applied():
    """The core's view (the simulated charger takes its command lag on the wall clock, so a
    step forward cannot leave it lagging): a pause sent at 20:00, the clock stepped an hour
    forward 30 s later, the first reading 90 s after the pause still shows the charger
    charging (it applies a command 20-60 s after, syncs within 30 s). Moved with the step, the
    pause stays pending: it is not sent again. Not moved, it would count as not applied."""
    step = timedelta(hours=1)
    sent_at = local(DEMO_DAY, time(20))
    pending = (pending_after_send(Command(CommandKind.PAUSE), sent_at),)
    read_at = sent_at + step + timedelta(seconds=90)
    reading = ChargerSnapshot(
        charger_id=999001,
        status=ChargerStatus.CHARGING,
        status_id=194,
        charging_power_kw=11.0,
        added_energy_kwh=3.0,
        max_charging_current_a=16,
        max_available_current_a=32,
        energy_cost_eur_per_kwh=0.25,
        locked=False,
        fetched_at=read_at,
    )

    moved = review_pending(pending_rebased(pending, step), reading, read_at)
    stale = review_pending(pending, reading, read_at)

    assert [] == list(moved.not_applied)
    assert pending_rebased(pending, step) == moved.pending
    assert ["pause"] == [str(p.command) for p in stale.not_applied]
