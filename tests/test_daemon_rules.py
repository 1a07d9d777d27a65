"""The daemon's rules, in process against the simulated cloud and ENTSO-E on a simulated clock:
the manual override (respect / ignore), on-exit resume (resume / leave), restart on error,
/healthz, and the status and sessions commands.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from smartcharge.cli import main
from smartcharge.config import ManualOverride, OnExit
from smartcharge.demo import DEMO_DAY, SimulatedWorld, local, simulated_world
from smartcharge.runtime.compose import daemon_view, health_facts
from smartcharge.runtime.jobs import run_simulated
from smartcharge.simulator.wallbox_cloud import RecordedRequest
from smartcharge.web.health import check
from smartcharge.web.server import HttpServer

START = local(DEMO_DAY, time(17, 45))
PLUG_IN = local(DEMO_DAY, time(18, 0))


def actions(world: SimulatedWorld, after: datetime | None = None) -> list[int]:
    return [
        r.body["action"]
        for r in world.cloud.requests
        if r.method == "POST" and "remote-action" in r.path and (after is None or r.at > after)
    ]


def writes(world: SimulatedWorld) -> list[RecordedRequest]:
    return [r for r in world.cloud.requests if r.method in ("POST", "PUT")]


def events(world: SimulatedWorld, name: str) -> list[dict[str, Any]]:
    return [data for _, event, data in world.events if event == name]


async def run_until(
    world: SimulatedWorld, until: datetime, at: dict[datetime, Callable[[], None]] | None = None
) -> None:
    """Run the daemon's jobs to ``until``, doing ``at[t]()`` once the clock reaches ``t``."""
    pending = dict(at or {})

    def between(now: datetime) -> None:
        for t in sorted(pending):
            if now >= t:
                pending.pop(t)()

    await run_simulated(world.daemon, world.clock, until, between=between)


def plug_in(world: SimulatedWorld) -> Callable[[], None]:
    return lambda: world.cloud.charger.plug_in(car_max_power_kw=11.0)


@pytest.mark.parametrize("policy", [ManualOverride.RESPECT, ManualOverride.IGNORE])
async def test_a_resume_by_hand_is_kept_or_overruled(tmp_path: Path, policy: ManualOverride):
    """The user resumes at 18:20 against the plan: kept (respect) or paused again (ignore)."""
    async with simulated_world(tmp_path, START, manual_override=policy) as world:
        await world.daemon.start()
        user_at = local(DEMO_DAY, time(18, 20))
        await run_until(
            world,
            local(DEMO_DAY, time(19, 30)),
            {PLUG_IN: plug_in(world), user_at: world.cloud.charger.user_resume},
        )
        after_user = actions(world, after=user_at)
        status = world.cloud.charger.status_id
        detected = events(world, "manual_override_detected")
        overruled = events(world, "manual_change_overruled")

    assert [2] == actions(world, after=PLUG_IN - timedelta(seconds=1))[:1]
    if policy is ManualOverride.RESPECT:
        assert [] == after_user
        assert status in (193, 194, 195)
        assert 1 == len(detected)
        assert detected[0]["charge"] is True
    else:
        assert [2] == after_user
        assert status == 178 or status == 182
        assert 1 == len(overruled)


async def test_a_pause_by_hand_is_kept_and_not_replanned_away(tmp_path: Path):
    """Paused by hand while the plan charges: the daemon neither resumes nor re-plans for it."""
    async with simulated_world(tmp_path, START) as world:
        await world.daemon.start()
        await run_until(
            world, local(DEMO_DAY + timedelta(days=1), time(2)), {PLUG_IN: plug_in(world)}
        )
        session = world.daemon.state.session
        assert session is not None
        assert session.plan is not None
        first_charge = next(s.start for s in session.plan.plan.slots if s.is_charging)
        user_at = first_charge + timedelta(minutes=20)
        await run_until(
            world, user_at + timedelta(hours=1), {user_at: world.cloud.charger.user_pause}
        )
        plans = events(world, "plan_made")

    assert [] == actions(world, after=user_at)
    assert 1 == len(plans)
    assert 1 == len(events(world, "manual_override_detected"))


@pytest.mark.parametrize(("on_exit", "expected"), [(OnExit.RESUME, [1]), (OnExit.LEAVE, [])])
async def test_stopping_mid_session_resumes_unless_told_to_leave(
    tmp_path: Path, on_exit: OnExit, expected: list[int]
):
    """Stopped while the plan waits and the need is not met: resume (default), or leave it."""
    async with simulated_world(tmp_path, START, on_exit=on_exit) as world:
        await world.daemon.start()
        await run_until(world, local(DEMO_DAY, time(18, 30)), {PLUG_IN: plug_in(world)})
        stop_at = world.clock.now()
        await world.daemon.shutdown()
        stopped = events(world, "daemon_stopped")

    assert expected == actions(world, after=stop_at - timedelta(seconds=1))
    assert [on_exit is OnExit.RESUME] == [e["resumed_on_exit"] for e in stopped]


@pytest.mark.parametrize("enabled", [True, False])
async def test_a_charger_in_error_is_restarted_once_after_ten_minutes(
    tmp_path: Path, enabled: bool
):
    """Restart (action 3) after 10 min in error, at most once in 6 h; never when not enabled."""
    async with simulated_world(tmp_path, START, restart_on_error=enabled) as world:
        await world.daemon.start()
        error_at = local(DEMO_DAY, time(18, 30))
        await run_until(
            world,
            local(DEMO_DAY, time(21, 0)),
            {PLUG_IN: plug_in(world), error_at: lambda: world.cloud.charger.set_error(True)},
        )
        restarts = [r for r in writes(world) if r.body == {"action": 3}]
        logged = events(world, "charger_restarted")

    if enabled:
        assert 1 == len(restarts)
        assert timedelta(minutes=10) <= restarts[0].at - error_at < timedelta(minutes=13)
        assert "error" == logged[0]["status"]
    else:
        assert [] == restarts


async def test_healthz_answers_200_then_503_with_the_reason(tmp_path: Path):
    """Healthy after a poll and a price fetch; 503 naming the poll once polls stop."""
    async with simulated_world(tmp_path, START) as world:
        await world.daemon.start()
        server = HttpServer(daemon_view(world.daemon), "127.0.0.1", 0, world.clock)
        await server.start()
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http:
                url = f"http://127.0.0.1:{server.port}/healthz"
                async with http.get(url) as resp:
                    first = (resp.status, await resp.json())
                world.clock.set(world.clock.now() + timedelta(hours=1))
                async with http.get(url) as resp:
                    second = (resp.status, await resp.json())
        finally:
            await server.stop()
        later = check(health_facts(world.daemon), world.clock.now() + timedelta(days=3))

    assert (
        200,
        {
            "status": "ok",
            "reasons": [],
            "state_dir": str(tmp_path.resolve()),
            "settings_problems": [],
        },
    ) == first
    assert 503 == second[0]
    assert ["no successful charger poll since"] == [r[:32] for r in second[1]["reasons"]]
    assert 2 == len(later.reasons)
    assert "price" in later.reasons[1]


async def test_status_and_sessions_commands_read_the_state_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    """`status --json` shows the session, plan and next action; `sessions --json` the ledger."""
    async with simulated_world(tmp_path, START) as world:
        await world.daemon.start()
        await run_until(world, local(DEMO_DAY, time(19)), {PLUG_IN: plug_in(world)})
    monkeypatch.setenv("SMARTCHARGE_STATE_DIR", str(tmp_path))
    capsys.readouterr()  # the daemon's own log lines

    assert 0 == main(["status", "--json"])
    status = json.loads(capsys.readouterr().out)
    assert 0 == main(["sessions", "--json"])
    sessions = json.loads(capsys.readouterr().out)
    assert 0 == main(["status"])
    text = capsys.readouterr().out

    assert 20.0 == status["session"]["target_kwh"]
    assert "session_started" == status["plan"]["reason"]
    assert status["plan"]["charging_slots"]
    assert "resume" == status["next_action"]["action"]
    assert status["last_contact"]["wallbox"] is not None
    assert status["last_contact"]["prices"] is not None
    assert {"sessions": [], "totals": sessions["totals"]} == sessions
    assert "next action: resume" in text
