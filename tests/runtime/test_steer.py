"""Daemon.steer end to end: the daemon on the simulated cloud and ENTSO-E on a simulated clock,
steered as ``smartcharge plan``, the API and the page do (issue 14 item 2).

Each mode changes the plan and the charger's commands as it should, the override survives a
restart and ends at unplug, a refusal changes nothing (not even a read of the charger), and a
request never leads to a command the policy would not send anyway.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest

from smartcharge.cli import main
from smartcharge.config import OnExit
from smartcharge.demo import DEMO_DAY, SimulatedWorld, local, simulated_world
from smartcharge.runtime.jobs import run_simulated
from smartcharge.runtime.steering import link_on_exit
from smartcharge.session.model import DaemonState, SessionState
from smartcharge.session.steering import (
    SessionOverride,
    SteerMode,
    SteerRequest,
    SteerSource,
    SteerTarget,
)

START = local(DEMO_DAY, time(17, 45))
PLUG_IN = local(DEMO_DAY, time(18, 0))
MINUTE = timedelta(minutes=1)
RESUME, PAUSE = 1, 2  # the cloud's remote actions (wallbox-api.md)


def events(world: SimulatedWorld, name: str, after: datetime | None = None) -> list[dict[str, Any]]:
    return [d for at, e, d in world.events if e == name and (after is None or at >= after)]


def actions(world: SimulatedWorld, after: datetime | None = None) -> list[int]:
    return [
        r.body["action"]
        for r in world.cloud.requests
        if r.method == "POST"
        and "remote-action" in r.path
        and 200 <= r.status < 300
        and (after is None or r.at >= after)
    ]


def charging(world: SimulatedWorld) -> bool:
    return world.cloud.charger.status_id in (193, 194, 195)


async def run_to(world: SimulatedWorld, until: datetime, *, plug_in: bool = True) -> None:
    def between(now: datetime) -> None:
        if plug_in and now >= PLUG_IN and not world.cloud.charger.is_car_connected:
            world.cloud.charger.plug_in(car_max_power_kw=11.0)

    await run_simulated(world.daemon, world.clock, until, between=between)


async def plugged_in(world: SimulatedWorld) -> datetime:
    """Start, plug in at 18:00, run to 18:10: planned for the cheap night, so paused now."""
    await world.daemon.start()
    await run_to(world, PLUG_IN + 10 * MINUTE)
    assert events(world, "plan_made")
    assert not charging(world), "the evening is dear: the plan waits for the night"
    return world.clock.now()


async def test_now_charges_at_once_at_full_current_until_the_target(tmp_path: Path):
    async with simulated_world(tmp_path, START) as world:
        at = await plugged_in(world)
        outcome = await world.daemon.steer(SteerRequest(SteerMode.NOW, 8.0), SteerSource.CLI)
        assert charging(world)
        await run_to(world, at + timedelta(hours=2))
        session = world.daemon.state.session

    plans = events(world, "plan_made", after=at)
    assert outcome.refusal is None
    assert SteerTarget.SESSION == outcome.applies_to
    assert ("session_override", "immediate") == (plans[0]["reason"], plans[0]["strategy"])
    assert [RESUME, PAUSE] == actions(world, after=at)  # at once, then paused at the target
    assert session is not None
    assert 8.0 == session.target_kwh
    assert session.target_met_at is not None
    assert session.target_met_at - at < timedelta(hours=1)  # 8 kWh at 11 kW: ~45 min


async def test_off_pauses_and_charges_nothing_all_night(tmp_path: Path):
    async with simulated_world(tmp_path, START) as world:
        at = await plugged_in(world)
        await world.daemon.steer(SteerRequest(SteerMode.NOW), SteerSource.CLI)
        assert charging(world)
        outcome = await world.daemon.steer(SteerRequest(SteerMode.OFF), SteerSource.PAGE)
        await run_to(world, local(DEMO_DAY + timedelta(days=1), time(8, 0)))
        session = world.daemon.state.session

    assert outcome.refusal is None
    assert "off" == events(world, "plan_made", after=at)[-1]["strategy"]
    assert [RESUME, PAUSE] == actions(world, after=at)  # the boost, then off: nothing more
    assert not charging(world)
    assert session is not None
    assert session.delivered_kwh < 1.0


async def test_a_target_and_ready_by_are_planned_at_once(tmp_path: Path):
    async with simulated_world(tmp_path, START) as world:
        at = await plugged_in(world)
        outcome = await world.daemon.steer(
            SteerRequest(SteerMode.PLAN, 35.0, "05:00"), SteerSource.API
        )
        session = world.daemon.state.session

    plans = events(world, "plan_made", after=at)
    assert outcome.override is not None
    assert 1 == len(plans)
    assert "session_override" == plans[0]["reason"]
    assert 35.0 == round(plans[0]["energy_kwh"], 1)
    assert local(DEMO_DAY + timedelta(days=1), time(4, 30)).isoformat() == plans[0]["deadline"]
    assert session is not None
    assert (35.0, outcome.override.ready_by) == (session.target_kwh, session.ready_by)
    assert [("plan", 35.0, "api", "session")] == [
        (e["mode"], e["target_kwh"], e["set_by"], e["applies_to"])
        for e in events(world, "session_override_set")
    ]


async def test_a_refusal_changes_nothing_and_reads_nothing(tmp_path: Path):
    async with simulated_world(tmp_path, START) as world:
        await plugged_in(world)
        before = world.daemon.state
        requests = len(world.cloud.requests)
        outcome = await world.daemon.steer(
            SteerRequest(SteerMode.PLAN, 35.0, "yesterday"), SteerSource.CLI
        )
        after = world.daemon.state
        reloaded = world.new_daemon().state

    assert outcome.refusal is not None
    assert ("ready_by", "yesterday") == (outcome.refusal.field, outcome.refusal.value)
    assert before is after
    assert before.session == reloaded.session
    assert requests == len(world.cloud.requests)
    assert ["ready_by"] == [e["field"] for e in events(world, "session_override_refused")]


async def test_a_request_that_changes_nothing_sends_nothing(tmp_path: Path):
    """The settings' own target as an override: one read (the tick), no command."""
    async with simulated_world(tmp_path, START) as world:
        at = await plugged_in(world)
        requests = len(world.cloud.requests)
        await world.daemon.steer(SteerRequest(SteerMode.PLAN, 20.0), SteerSource.CLI)
        new = world.cloud.requests[requests:]

    assert [] == actions(world, after=at)
    assert [] == [r for r in new if r.method != "GET"]


# Two daemons over one simulated world: past the 60 s default beside two busy loops once.
@pytest.mark.timeout(180)
async def test_the_override_survives_a_restart(tmp_path: Path):
    async with simulated_world(tmp_path, START) as world:
        await plugged_in(world)
        await world.daemon.steer(SteerRequest(SteerMode.OFF), SteerSource.CLI)
        await world.daemon.shutdown()
        stopped = events(world, "daemon_stopped")
        daemon = world.new_daemon()
        await daemon.start()
        restarted = world.clock.now()
        await run_to(world, local(DEMO_DAY + timedelta(days=1), time(7, 0)))
        session = daemon.state.session

    assert [False] == [e["resumed_on_exit"] for e in stopped]  # off: the user's no stands
    assert session is not None
    assert session.override is not None
    assert SteerMode.OFF == session.override.mode
    assert [] == actions(world, after=restarted)
    assert not charging(world)


async def test_the_override_ends_at_unplug_and_the_next_session_has_the_settings(tmp_path: Path):
    async with simulated_world(tmp_path, START) as world:
        await plugged_in(world)
        await world.daemon.steer(SteerRequest(SteerMode.PLAN, 30.0), SteerSource.CLI)
        world.cloud.charger.unplug()
        await run_to(world, world.clock.now() + 20 * MINUTE, plug_in=False)
        assert world.daemon.state.session is None
        world.cloud.charger.plug_in(car_max_power_kw=11.0)
        await run_to(world, world.clock.now() + 20 * MINUTE, plug_in=False)
        session = world.daemon.state.session

    assert [("unplugged", 30.0)] == [
        (e["reason"], e["target_kwh"]) for e in events(world, "session_override_ended")
    ]
    assert session is not None
    assert session.override is None
    assert 20.0 == session.target_kwh


async def test_with_no_car_the_override_waits_for_the_next_session(tmp_path: Path):
    async with simulated_world(tmp_path, START) as world:
        await world.daemon.start()
        requests = len(world.cloud.requests)
        outcome = await world.daemon.steer(SteerRequest(SteerMode.PLAN, 30.0), SteerSource.CLI)
        read = len(world.cloud.requests) - requests
        waiting = world.daemon.state.next_override
        await run_to(world, PLUG_IN + 10 * MINUTE)
        session = world.daemon.state.session

    assert SteerTarget.NEXT_SESSION == outcome.applies_to
    assert 0 == read  # no car: nothing to plan, no tick
    assert waiting is not None
    assert session is not None
    assert (30.0, waiting) == (session.target_kwh, session.override)
    assert 30.0 == round(events(world, "plan_made")[0]["energy_kwh"], 1)


async def test_status_shows_the_override_and_the_one_waiting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    monkeypatch.setenv("SMARTCHARGE_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("SMARTCHARGE_HEALTH_PORT", "0")
    monkeypatch.setenv("SMARTCHARGE_TIMEZONE", "Europe/Amsterdam")
    async with simulated_world(tmp_path, START) as world:
        await world.daemon.start()
        await world.daemon.steer(SteerRequest(SteerMode.OFF), SteerSource.API)
        capsys.readouterr()
        assert 0 == main(["status"])
        waiting = capsys.readouterr().out
        await run_to(world, PLUG_IN + 10 * MINUTE)
        await world.daemon.steer(SteerRequest(SteerMode.PLAN, 35.0, "06:30"), SteerSource.CLI)
        assert 0 == main(["status"])
        text = capsys.readouterr().out
        assert 0 == main(["status", "--json"])
        data = json.loads(capsys.readouterr().out)

    assert "for the next session: not charging this session (set with api at" in waiting
    assert "your override: planned, target 35 kWh, ready by 2025-12-17 06:30:00" in text
    assert "35.00 kWh by 2025-12-17 06:30:00" in text
    assert data["next_override"] is None
    override = data["session"]["override"]
    assert ("plan", 35.0, "cli") == (override["mode"], override["target_kwh"], override["set_by"])
    assert "2025-12-17T05:30:00Z" == override["ready_by"]


def test_over_ocpp_a_session_switched_off_keeps_the_profile_on_exit():
    """Clearing the OCPP profile on exit lets the car charge: not for a session the user
    switched off (as on the cloud, where off is not resumed); any other keeps the setting."""
    off = SessionOverride(SteerMode.OFF, None, None, SteerSource.CLI, START)
    now = replace(off, mode=SteerMode.NOW)
    session = SessionState("s", START, START + timedelta(hours=12), 20.0)

    def state(override: SessionOverride | None) -> DaemonState:
        return DaemonState(session=replace(session, override=override))

    assert OnExit.LEAVE == link_on_exit(state(off), OnExit.RESUME)
    assert OnExit.RESUME == link_on_exit(state(now), OnExit.RESUME)
    assert OnExit.RESUME == link_on_exit(state(None), OnExit.RESUME)
    assert OnExit.RESUME == link_on_exit(DaemonState(), OnExit.RESUME)
    assert OnExit.LEAVE == link_on_exit(state(None), OnExit.LEAVE)
