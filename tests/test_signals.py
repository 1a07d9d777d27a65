"""Signals at bad moments: ``smartcharge run`` as a real process (issue 11, items 4 and 15 and
the resilience test of "Done when").

Each case leaves a session behind (a daemon paused the car for the cheap hours later and
died), starts ``smartcharge run`` on that state dir, brings it to one of five instants, and
sends SIGTERM, SIGKILL or SIGHUP there:

- sign-in: the tokens are revoked, the sign-in's answer is held;
- first read: the first status read's answer is held;
- command in flight: the last run resumed the car on exit, the plan's pause reaches it, its
  answer is held;
- price fetch at start: the price cache is gone, ENTSO-E does not answer;
- idle: the start-up is over (``scheduler_started``).

SIGTERM must stop it within 10 s while the answer stays held: the stop cuts the work short and
the on-exit rule reads the charger (the pause in flight did reach it). SIGHUP must change nothing
but a look at the .env (``settings_check_requested``, issue 14); the held answer is released,
the start-up completes, and SIGTERM follows.
SIGKILL leaves the next start to bring the charger to the plan; that start is then stopped with
SIGTERM. After each case: the on-exit rule resumed the car (exit 0, ``daemon_stopped`` the last
line, nothing logged at ERROR), no write left the charger as it was (no duplicate), and the
state file holds the same session, readable.

Every wait is for a log line of the daemon or a request at the fakes, with a deadline; the
deadlines are generous because the machine may be busy, and no step waits on the clock.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from smartcharge.clock import SystemClock
from smartcharge.prices.cache import CACHE_FILE
from smartcharge.simulator.entsoe_server import EntsoeFault
from smartcharge.simulator.wallbox_cloud import Fault
from smartcharge.state import StateStore
from tests.resilience.daemon_process import DaemonProcess
from tests.resilience.process import SignalWorld, signal_world
from tests.resilience.report import write_figures

INSTANTS = ["sign_in", "first_read", "command_in_flight", "price_fetch_at_start", "idle"]
SIGNALS = [signal.SIGTERM, signal.SIGKILL, signal.SIGHUP]
# Deadlines, not waits: a process start on a busy machine (imports, sign-in) and one stop.
START_S = 60.0
STOP_S = 20.0
# The budget: a container's stop timeout is 10 s, then SIGKILL.
STOP_BUDGET_S = 10.0
CHARGING = (193, 194, 195)
FIGURES: dict[str, object] = {}


@pytest.fixture(autouse=True, scope="module")
def _report(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    write_figures(request, "stop seconds after SIGTERM", FIGURES)


def arrange(world: SignalWorld, instant: str) -> None:
    """Set the fakes up so the next start stops at ``instant``."""
    if instant == "sign_in":
        world.cloud.revoke_access_tokens()
        world.cloud.revoke_refresh_tokens()
        world.cloud.inject(Fault.HOLD, path_contains="/users/signin")
    elif instant == "first_read":
        world.cloud.inject(Fault.HOLD, path_contains="chargers/status", method="GET")
    elif instant == "command_in_flight":
        world.cloud.inject(Fault.HOLD, path_contains="remote-action", applied=True)
    elif instant == "price_fetch_at_start":
        (world.state_dir / CACHE_FILE).unlink()
        world.entsoe.fail(EntsoeFault.HANG, 1)


async def reach(world: SignalWorld, daemon: DaemonProcess, instant: str, fetches: int) -> None:
    """Wait until the daemon is at ``instant`` (``fetches``: price requests before it began)."""
    if instant == "idle":
        await daemon.wait_event("scheduler_started", START_S)
    elif instant == "price_fetch_at_start":
        await daemon.wait_for(
            "the price fetch", lambda: len(world.entsoe.requests) > fetches, START_S
        )
    else:
        await daemon.wait_for("the held answer", lambda: world.cloud.held == 1, START_S)


def release(world: SignalWorld) -> None:
    """Let every held answer and hanging price request go."""
    world.cloud.release_held()
    world.entsoe.release_hangs()


async def stop(daemon: DaemonProcess) -> tuple[int, float]:
    """SIGTERM; wait for the exit (what is held stays held: the stop must cut it short)."""
    daemon.send(signal.SIGTERM)
    return await daemon.exited(STOP_S)


def problems(daemon: DaemonProcess) -> list[str]:
    """Return what a clean stop must not show: errors, tracebacks, lines after the last."""
    found = [
        e.get("event") or e.get("raw", "")
        for e in daemon.events
        if e.get("level") in ("error", "critical")
    ]
    found += [line for line in daemon.lines if "Traceback" in line or "CancelledError" in line]
    last = daemon.events[-1].get("event") if daemon.events else None
    if last != "daemon_stopped":
        found.append(f"last line is {last!r}, not daemon_stopped")
    return found


async def run_case(world: SignalWorld, instant: str, sig: signal.Signals) -> dict[str, Any]:
    """Run one case; return what the assertions look at."""
    # For a command in flight the last run resumed the car on exit: the plan's pause is needed.
    session_id = await world.carry_session(resumed=instant == "command_in_flight")
    arrange(world, instant)
    fetches = len(world.entsoe.requests)
    daemon = await world.start_daemon()
    last: DaemonProcess = daemon
    try:
        await reach(world, daemon, instant, fetches)
        if sig is signal.SIGTERM:
            code, stop_s = await stop(daemon)
        elif sig is signal.SIGHUP:
            daemon.send(signal.SIGHUP)
            await daemon.wait_event("settings_check_requested", STOP_S)
            release(world)
            await daemon.wait_event("scheduler_started", START_S)
            code, stop_s = await stop(daemon)
        else:
            daemon.send(signal.SIGKILL)
            killed, _ = await daemon.exited(STOP_S)
            assert -signal.SIGKILL == killed
            release(world)
            last = await world.start_daemon()
            try:
                await last.wait_event("scheduler_started", START_S)
                code, stop_s = await stop(last)
            finally:
                await last.close()
    finally:
        await daemon.close()
    state = StateStore(world.state_dir, SystemClock()).load()
    stopped = last.named("daemon_stopped")
    return {
        "code": code,
        "stop_s": stop_s,
        "problems": problems(last),
        "resumed": [e.get("resumed_on_exit") for e in stopped],
        "status_id": world.cloud.charger.status_id,
        "duplicates": list(world.duplicates),
        "session": None if state.session is None else state.session.session_id,
        "carried": session_id,
        "corrupt": [e for d in (daemon, last) for e in d.named("state_file_corrupt")],
        "hangups": daemon.named("settings_check_requested"),
    }


@pytest.mark.parametrize("sig", SIGNALS, ids=lambda s: s.name)
@pytest.mark.parametrize("instant", INSTANTS)
async def test_a_signal_at_a_bad_moment_never_strands_the_car(
    tmp_path: Path, instant: str, sig: signal.Signals
):
    """Resilience (Done when): SIGTERM, SIGKILL or SIGHUP at sign-in, first read, a command in
    flight with its answer held, the start-up price fetch, or idle: the on-exit rule resumed
    the car (after SIGKILL, by the next run), no command was applied twice, the state holds
    the same session, and every stop was clean and within 10 s."""
    async with signal_world(tmp_path / "state") as world:
        result = await run_case(world, instant, sig)
    FIGURES[f"{instant}/{sig.name}"] = round(result["stop_s"], 1)

    assert 0 == result["code"]
    assert result["stop_s"] < STOP_BUDGET_S
    assert [] == result["problems"]
    assert [True] == result["resumed"]
    assert result["status_id"] in CHARGING
    assert [] == result["duplicates"]
    assert result["carried"] == result["session"]
    assert [] == result["corrupt"]
    if sig is signal.SIGHUP:
        assert ["SIGHUP"] == [e["signal"] for e in result["hangups"]]


async def test_sighup_does_not_kill_the_daemon(tmp_path: Path):
    """Item 4: SIGHUP on a host install (a closed terminal, ``kill -HUP``) leaves the daemon
    running: it checks the .env (``settings_check_requested``; issue 14) and still answers
    SIGTERM with the on-exit resume."""
    async with signal_world(tmp_path / "state") as world:
        await world.carry_session()
        daemon = await world.start_daemon()
        try:
            await daemon.wait_event("scheduler_started", START_S)
            daemon.send(signal.SIGHUP)
            hangup = await daemon.wait_event("settings_check_requested", STOP_S)
            alive = daemon.proc.returncode is None
            code, _ = await stop(daemon)
        finally:
            await daemon.close()

    assert alive
    assert "SIGHUP" == hangup["signal"]
    assert 0 == code
    assert [True] == [e["resumed_on_exit"] for e in daemon.named("daemon_stopped")]


async def test_sigterm_while_the_startup_command_hangs_stops_within_one_budget(tmp_path: Path):
    """Item 15: the start-up's energy-cost write never gets an answer while the car waits
    paused; SIGTERM ends the process within the one 10 s budget, the car resumed (the stop used
    to add up three budgets, the start-up's, the tick's and the resume's: 13.7 s)."""
    async with signal_world(tmp_path / "state") as world:
        await world.carry_session()
        world.cloud.charger.energy_cost_eur_per_kwh = 0.01  # so the start-up writes it
        world.cloud.inject(Fault.HANG, path_contains="chargers/config", method="POST")
        writes = len(world.cloud.requests_to("POST", "chargers/config"))
        daemon = await world.start_daemon()
        try:
            await daemon.wait_for(
                "the hanging energy-cost write",
                lambda: len(world.cloud.requests_to("POST", "chargers/config")) > writes,
                START_S,
            )
            daemon.send(signal.SIGTERM)
            code, stop_s = await daemon.exited(STOP_S)
        finally:
            await daemon.close()
    FIGURES["startup_command_hangs"] = round(stop_s, 1)

    assert 0 == code
    assert stop_s < STOP_BUDGET_S
    assert [] == problems(daemon)
    assert [True] == [e["resumed_on_exit"] for e in daemon.named("daemon_stopped")]
    assert world.cloud.charger.status_id in CHARGING


async def test_sigterm_with_the_pause_cut_short_resumes_within_the_default_read_budget(
    tmp_path: Path,
):
    """Item 2 with the default budget of one read a minute: the start-up tick read the charger
    and its pause reached it, but the answer never comes. The stop cuts the pause short; no
    read slot is free again within the stop budget, so the on-exit rule resumes all the same
    (built on the last reading, no read first): the car charges, within 10 s, exit 0."""
    async with signal_world(tmp_path / "state") as world:
        world.reads_per_minute = 1.0
        await world.carry_session(resumed=True)
        world.cloud.inject(Fault.HOLD, path_contains="remote-action", applied=True)
        daemon = await world.start_daemon()
        try:
            await daemon.wait_for("the held pause", lambda: world.cloud.held == 1, START_S)
            paused = world.cloud.charger.status_id
            code, stop_s = await stop(daemon)
        finally:
            await daemon.close()
        unknown = daemon.named("on_exit_status_unknown")

    assert paused in (178, 182)
    assert 0 == code
    assert stop_s < STOP_BUDGET_S
    assert [] == problems(daemon)
    assert ["pause"] == [e["command_in_flight"] for e in unknown]
    assert [True] == [e["resumed_on_exit"] for e in daemon.named("daemon_stopped")]
    assert world.cloud.charger.status_id in CHARGING
    assert [] == world.duplicates
