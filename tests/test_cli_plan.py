"""``smartcharge plan`` against a real running daemon: the daemon on the simulated cloud and
ENTSO-E (simulated clock) behind its real HTTP server (``web.server``) on 127.0.0.1, the CLI run
as the user runs it (``main(["plan", ...])``, in a thread so that the daemon keeps serving).

Each command does what it says and the daemon's state and charger agree; the override persists
across a restart of the daemon and ends at unplug; a refusal exits 2 with the field and what is
accepted, and nothing changes; no daemon: exit 1.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, time, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr

from smartcharge.cli import main
from smartcharge.demo import DEMO_DAY, SimulatedWorld, local, quarter_rows, simulated_world
from smartcharge.runtime.compose import daemon_view
from smartcharge.runtime.jobs import run_simulated
from smartcharge.session.steering import SteerMode
from smartcharge.web.server import HttpServer
from tests.resilience.ports import refused_port

START = local(DEMO_DAY, time(17, 45))
PLUG_IN = local(DEMO_DAY, time(18, 0))
MINUTE = timedelta(minutes=1)
TOKEN = "a-token-of-the-test-0123456789"  # noqa: S105 - the test's own


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.setenv("SMARTCHARGE_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("SMARTCHARGE_TIMEZONE", "Europe/Amsterdam")
    return monkeypatch


@pytest.fixture
def no_daemon(env: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """``env`` with SMARTCHARGE_HEALTH_PORT on a port that refuses every connection, held."""
    with refused_port() as port:
        env.setenv("SMARTCHARGE_HEALTH_PORT", str(port))
        yield env


@contextlib.asynccontextmanager
async def serving(
    world: SimulatedWorld, env: pytest.MonkeyPatch, host: str = "127.0.0.1", token: str = ""
) -> AsyncIterator[HttpServer]:
    """Serve ``world.daemon``'s API and point the CLI's settings at it."""
    server = HttpServer(
        daemon_view(world.daemon), host, 0, world.clock, SecretStr(token) if token else None
    )
    await server.start()
    env.setenv("SMARTCHARGE_HEALTH_PORT", str(server.port))
    try:
        yield server
    finally:
        await server.stop()


async def plan(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run ``smartcharge plan ARGS`` as the user does; return its status, stdout and stderr."""
    capsys.readouterr()
    code = await asyncio.to_thread(main, ["plan", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


async def run_to(world: SimulatedWorld, until: datetime, *, plug_in: bool = True) -> None:
    def between(now: datetime) -> None:
        if plug_in and now >= PLUG_IN and not world.cloud.charger.is_car_connected:
            world.cloud.charger.plug_in(car_max_power_kw=11.0)

    await run_simulated(world.daemon, world.clock, until, between=between)


async def plugged_in(world: SimulatedWorld) -> None:
    await world.daemon.start()
    await run_to(world, PLUG_IN + 10 * MINUTE)


def charging(world: SimulatedWorld) -> bool:
    return world.cloud.charger.status_id in (193, 194, 195)


async def test_no_daemon_answering_is_said_and_exits_1(no_daemon, capsys):
    code, out, err = await plan(capsys)
    set_code, _, set_err = await plan(capsys, "--now")

    assert (1, 1) == (code, set_code)
    assert "" == out
    assert "no smartcharge daemon answers at http://127.0.0.1:" in err
    assert "smartcharge run" in err
    assert "no smartcharge daemon answers" in set_err
    assert "Traceback" not in err + set_err


async def test_no_server_configured_is_said_and_exits_1(env, capsys):
    env.setenv("SMARTCHARGE_HEALTH_PORT", "0")

    code, _, err = await plan(capsys)

    assert 1 == code
    assert "SMARTCHARGE_HEALTH_PORT=0" in err


async def test_plan_shows_the_session_and_the_plan_with_the_prices(tmp_path, env, capsys):
    async with simulated_world(tmp_path / "state", START) as world:
        await plugged_in(world)
        async with serving(world, env):
            code, out, _ = await plan(capsys)
            json_code, json_out, _ = await plan(capsys, "--json")
        session = world.daemon.state.session

    assert (0, 0) == (code, json_code)
    assert session is not None
    assert session.plan is not None
    assert "session since Tue 18:00: 0.00 of 20.00 kWh by Wed 07:00" in out
    assert "by the settings" in out
    assert "plan (session_started, cheapest, made Tue 18:00): 20.00 kWh for EUR" in out
    assert "time   EUR/kWh  price" in out
    charging_rows = [line for line in out.splitlines() if "◀" in line]
    assert charging_rows
    assert len(charging_rows) == sum(1 for r in quarter_rows(session.plan.plan) if r.current_a > 0)
    data = json.loads(json_out)
    assert session.session_id == data["status"]["session"]["session_id"]
    assert data["plan"]["plan"]["strategy"] == "cheapest"


async def test_target_and_ready_by_set_this_session_and_plan_at_once(tmp_path, env, capsys):
    async with simulated_world(tmp_path / "state", START) as world:
        await plugged_in(world)
        async with serving(world, env):
            code, out, err = await plan(capsys, "--target-kwh", "35", "--ready-by", "06:30")
        session = world.daemon.state.session
        made = [d for _, e, d in world.events if e == "plan_made"]
        set_ = [d for _, e, d in world.events if e == "session_override_set"]

    assert 0 == code, err
    assert session is not None
    assert session.override is not None
    assert (35.0, local(DEMO_DAY + timedelta(days=1), time(6, 30))) == (
        session.target_kwh,
        session.ready_by,
    )
    assert "session_override" == made[-1]["reason"]
    assert [("cli", "session")] == [(d["set_by"], d["applies_to"]) for d in set_]
    assert "this session: planned, target 35 kWh, ready by Wed 06:30 (set with cli" in out
    assert "plan (session_override, cheapest" in out
    assert "35.00 kWh" in out


async def test_now_off_and_clear_drive_the_charger(tmp_path, env, capsys):
    async with simulated_world(tmp_path / "state", START) as world:
        await plugged_in(world)
        assert not charging(world)
        async with serving(world, env):
            now_code, now_out, _ = await plan(capsys, "--now")
            after_now = charging(world)
            off_code, off_out, _ = await plan(capsys, "--off")
            after_off = charging(world)
            clear_code, clear_out, _ = await plan(capsys, "--clear")
            session = world.daemon.state.session

    assert (0, 0, 0) == (now_code, off_code, clear_code)
    assert after_now
    assert "this session: charging now at full current" in now_out
    assert "immediate" in now_out
    assert not after_off
    assert "this session: not charging this session" in off_out
    assert "this session: back to the settings" in clear_out
    assert session is not None
    assert session.override is None
    assert 20.0 == session.target_kwh


async def test_a_refusal_exits_2_naming_the_field_and_changes_nothing(tmp_path, env, capsys):
    async with simulated_world(tmp_path / "state", START, battery_kwh=60.0) as world:
        await plugged_in(world)
        before = world.daemon.state
        async with serving(world, env):
            big = await plan(capsys, "--target-kwh", "75")
            past = await plan(capsys, "--ready-by", "2025-12-16T12:00:00+01:00")
            off_with_target = await plan(capsys, "--off", "--target-kwh", "30")
        after = world.daemon.state

    assert 2 == big[0]
    assert "refused, nothing changed: target_kwh=75: above the battery's 60 kWh" in big[2]
    assert "accepted: a number of kWh above 0 and at most 60" in big[2]
    assert 2 == past[0]
    assert "ready_by=2025-12-16T12:00:00+01:00: in the past" in past[2]
    assert "accepted: HH:MM" in past[2]
    assert 2 == off_with_target[0]
    assert "target_kwh=30" in off_with_target[2]
    assert before is after


async def test_a_bad_number_is_refused_by_the_cli_itself(no_daemon, capsys):
    with pytest.raises(SystemExit) as exited:
        await plan(capsys, "--target-kwh", "lots")

    assert 2 == exited.value.code
    assert "'lots' is not a number; accepted: a number of kWh above 0" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "culprit", "accepted"),
    [
        (("--ready-by", "25:00"), "ready_by=25:00: not a time of day", "accepted: HH:MM (local"),
        (("--ready-by", "tomorrow"), "ready_by=tomorrow: neither HH:MM nor", "accepted: HH:MM"),
        (
            ("--ready-by", "2026-12-08T06:30"),
            "ready_by=2026-12-08T06:30: an ISO",
            "with its offset",
        ),
        (("--target-kwh", "-3"), "target_kwh=-3: a target must be above 0", "at most 200"),
        (("--target-kwh", "0"), "target_kwh=0: a target must be above 0", "above 0"),
        (("--target-kwh", "500"), "target_kwh=500: above the maximum of 200", "at most 200"),
        (("--now", "--ready-by", "06:30"), "ready_by=06:30: now charges at once", "no ready_by"),
        (("--off", "--target-kwh", "30"), "target_kwh=30: off does not", "no target_kwh"),
        (("--clear", "--ready-by", "06:30"), "ready_by=06:30: clear returns", "no ready_by"),
    ],
)
async def test_the_syntax_is_refused_by_the_cli_before_it_asks_the_daemon(
    no_daemon, capsys, args: tuple[str, ...], culprit: str, accepted: str
):
    """No daemon runs: a typo is still named (field, value, what is accepted), exit 2."""

    code, out, err = await plan(capsys, *args)

    assert 2 == code
    assert "" == out
    assert f"smartcharge: refused, nothing changed: {culprit}" in err
    assert accepted in err
    assert "no smartcharge daemon" not in err
    assert "Traceback" not in err


async def test_what_needs_the_daemon_state_is_left_to_the_daemon(no_daemon, capsys):
    """A ready-by in the past and a target above any battery's are well-formed: the CLI asks
    the daemon (whose clock and battery judge them), and there is none here."""
    no_daemon.setenv("SMARTCHARGE_BATTERY_KWH", "60")

    past = await plan(capsys, "--ready-by", "2025-12-16T12:00:00+01:00")
    big = await plan(capsys, "--target-kwh", "75")

    for code, _, err in (past, big):
        assert 1 == code
        assert "no smartcharge daemon answers" in err


async def test_the_override_persists_across_a_restart_of_the_daemon(tmp_path, env, capsys):
    async with simulated_world(tmp_path / "state", START) as world:
        await plugged_in(world)
        async with serving(world, env):
            code, _, _ = await plan(capsys, "--target-kwh", "30", "--ready-by", "05:00")
        await world.daemon.shutdown()
        daemon = world.new_daemon()
        await daemon.start()
        await run_to(world, world.clock.now() + 10 * MINUTE)
        async with serving(world, env):
            shown_code, shown, _ = await plan(capsys)
            _, as_json, _ = await plan(capsys, "--json")
        session = daemon.state.session

    assert (0, 0) == (code, shown_code)
    assert session is not None
    assert session.override is not None
    assert (SteerMode.PLAN, 30.0) == (session.override.mode, session.target_kwh)
    assert "your override: planned, target 30 kWh, ready by Wed 05:00 (set with cli" in shown
    assert "of 30.00 kWh by Wed 05:00" in shown
    override = json.loads(as_json)["status"]["session"]["override"]
    assert ("plan", 30.0, "cli") == (override["mode"], override["target_kwh"], override["set_by"])


async def test_the_override_ends_at_unplug(tmp_path, env, capsys):
    async with simulated_world(tmp_path / "state", START) as world:
        await plugged_in(world)
        async with serving(world, env):
            code, _, _ = await plan(capsys, "--off")
            world.cloud.charger.unplug()
            await run_to(world, world.clock.now() + 20 * MINUTE, plug_in=False)
            _, gone, _ = await plan(capsys)
            world.cloud.charger.plug_in(car_max_power_kw=11.0)
            await run_to(world, world.clock.now() + 20 * MINUTE, plug_in=False)
            _, back, _ = await plan(capsys)
        session = world.daemon.state.session
        ended = [d for _, e, d in world.events if e == "session_override_ended"]

    assert 0 == code
    assert "no car plugged in" in gone
    assert "override" not in gone
    assert [("unplugged", "off")] == [(d["reason"], d["mode"]) for d in ended]
    assert session is not None
    assert session.override is None
    assert "by the settings" in back
    assert "of 20.00 kWh" in back


async def test_with_no_car_it_sets_the_next_session(tmp_path, env, capsys):
    async with simulated_world(tmp_path / "state", START) as world:
        await world.daemon.start()
        async with serving(world, env):
            code, out, _ = await plan(capsys, "--target-kwh", "25")
            _, shown, _ = await plan(capsys)
            await run_to(world, PLUG_IN + 10 * MINUTE)
        session = world.daemon.state.session

    assert 0 == code
    assert "the next session: planned, target 25 kWh" in out
    assert "no car plugged in\nfor the next session: planned, target 25 kWh" in shown
    assert session is not None
    assert 25.0 == session.target_kwh


async def test_beyond_loopback_it_sends_the_token(tmp_path, env, capsys):
    async with simulated_world(tmp_path / "state", START) as world:
        await plugged_in(world)
        env.setenv("SMARTCHARGE_HTTP_HOST", "0.0.0.0")  # noqa: S104 - the value under test
        env.setenv("SMARTCHARGE_API_TOKEN", TOKEN)
        async with serving(world, env, host="0.0.0.0", token=TOKEN):  # noqa: S104
            with_token = await plan(capsys)
            env.setenv("SMARTCHARGE_API_TOKEN", "not-the-daemons-token-000")
            wrong = await plan(capsys, "--now")
        session = world.daemon.state.session

    assert 0 == with_token[0]
    assert "session since" in with_token[1]
    assert 2 == wrong[0]
    assert "SMARTCHARGE_API_TOKEN" in wrong[2]
    assert TOKEN not in wrong[1] + wrong[2]
    assert session is not None
    assert session.override is None
