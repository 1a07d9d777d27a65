"""A live edit of ``.env`` (issue 14 item 1), end to end: a daemon built through runtime.compose
on the simulated cloud and ENTSO-E, its ``.env`` edited while a car is plugged in.

- a new ``SMARTCHARGE_TARGET_KWH`` leads to a new plan within a minute, without a restart;
- a broken edit leaves it on the old settings: the error in the log, in ``/healthz`` (still 200)
  and in ``smartcharge status``;
- SIGHUP's handler checks at once; a new password signs in once; a restart-only setting is
  only reported.
"""

from __future__ import annotations

import asyncio
import enum
import json
import urllib.request
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from structlog.testing import capture_logs

from smartcharge.cli import main
from smartcharge.config import Settings
from smartcharge.demo import DEMO_DAY, SimulatedWorld, local, simulated_world
from smartcharge.runtime.compose import build_reloader, daemon_view
from smartcharge.runtime.jobs import run_simulated
from smartcharge.runtime.reload import SettingsReloader
from smartcharge.web.server import HttpServer

START = local(DEMO_DAY, time(17, 45))
PLUG_IN = local(DEMO_DAY, time(18, 0))
MINUTE = timedelta(minutes=1)
HTTP_TIMEOUT_S = 5.0


def env_text(settings: Settings) -> str:
    """Return a .env that loads to ``settings`` (every value written out)."""
    lines = []
    for name in Settings.model_fields:
        value: Any = getattr(settings, name)
        if value is None:
            continue
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        elif isinstance(value, tuple):
            value = ",".join(value)
        elif isinstance(value, enum.Enum):
            value = value.value
        elif isinstance(value, time):
            value = value.strftime("%H:%M")
        lines.append(f"SMARTCHARGE_{name.upper()}={value}")
    return "\n".join(lines) + "\n"


def plans(world: SimulatedWorld, after: datetime | None = None) -> list[dict[str, Any]]:
    return [
        {**data, "at": at}
        for at, event, data in world.events
        if event == "plan_made" and (after is None or at >= after)
    ]


async def run_to(world: SimulatedWorld, reloader: SettingsReloader, until: datetime) -> None:
    """Run the daemon's jobs and the settings job to ``until``; plug the car in at PLUG_IN."""

    def between(now: datetime) -> None:
        if now >= PLUG_IN and not world.cloud.charger.is_car_connected:
            world.cloud.charger.plug_in(car_max_power_kw=11.0)

    await run_simulated(
        world.daemon, world.clock, until, between=between, extra={"settings": reloader.job}
    )


async def plugged_in_world(world: SimulatedWorld, env: Path) -> tuple[SettingsReloader, datetime]:
    """Start the daemon with its .env, plug the car in, run until a plan is made."""
    env.write_text(env_text(world.settings), encoding="utf-8")
    reloader = build_reloader(
        world.daemon, world.clock, world.http, environ={"SMARTCHARGE_ENV_FILE": str(env)}
    )
    await world.daemon.start()
    await run_to(world, reloader, PLUG_IN + 10 * MINUTE)
    assert plans(world), "a plan after plug-in"
    return reloader, world.clock.now()


def edit(env: Path, old: str, new: str) -> None:
    text = env.read_text(encoding="utf-8")
    assert old in text
    env.write_text(text.replace(old, new), encoding="utf-8")


async def test_a_new_target_in_the_env_file_is_planned_within_a_minute(tmp_path: Path):
    """SMARTCHARGE_TARGET_KWH=20 -> 35 in the file: within a minute the session needs 35 kWh
    and a new plan for it is made (reason settings_changed); nothing was restarted."""
    async with simulated_world(tmp_path / "state", START) as world:
        env = tmp_path / "smartcharge.env"
        reloader, edited_at = await plugged_in_world(world, env)
        daemon = world.daemon
        before = plans(world)[-1]
        edit(env, "SMARTCHARGE_TARGET_KWH=20.0", "SMARTCHARGE_TARGET_KWH=35")
        with capture_logs() as logs:
            await run_to(world, reloader, edited_at + MINUTE)
        session = world.daemon.state.session

    new = plans(world, after=edited_at)
    assert daemon is world.daemon
    assert 1 == len(new)
    assert "settings_changed" == new[0]["reason"]
    assert new[0]["at"] - edited_at <= MINUTE
    assert new[0]["energy_kwh"] > before["energy_kwh"]
    assert session is not None
    assert 35.0 == session.target_kwh
    assert 35.0 == world.daemon.settings.target_kwh
    reloaded = [e for e in logs if e["event"] == "settings_reloaded"]
    assert [["SMARTCHARGE_TARGET_KWH"]] == [e["changed"] for e in reloaded]
    retargeted = [data for _, event, data in world.events if event == "session_retargeted"]
    assert [35.0] == [e["target_kwh"] for e in retargeted]


async def test_a_broken_edit_keeps_the_old_settings_and_says_so_everywhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    """SMARTCHARGE_TARGET_KWH=lots: logged once with check-config's line, no new plan, the
    problem in /healthz (still 200) and in `smartcharge status`; a fix clears it."""
    async with simulated_world(tmp_path / "state", START) as world:
        env = tmp_path / "smartcharge.env"
        reloader, edited_at = await plugged_in_world(world, env)
        server = HttpServer(daemon_view(world.daemon, reloader), "127.0.0.1", 0, world.clock)
        await server.start()
        try:
            edit(env, "SMARTCHARGE_TARGET_KWH=20.0", "SMARTCHARGE_TARGET_KWH=lots")
            with capture_logs() as logs:
                await run_to(world, reloader, edited_at + 3 * MINUTE)
            code, body = await asyncio.to_thread(_healthz, server.port)
            monkeypatch.setenv("SMARTCHARGE_HEALTH_PORT", str(server.port))
            monkeypatch.setenv("SMARTCHARGE_STATE_DIR", str(tmp_path / "state"))
            capsys.readouterr()
            status = await asyncio.to_thread(main, ["status"])
            status_text = capsys.readouterr().out
            edit(env, "SMARTCHARGE_TARGET_KWH=lots", "SMARTCHARGE_TARGET_KWH=20.0")
            await run_to(world, reloader, edited_at + 4 * MINUTE)
            _, fixed = await asyncio.to_thread(_healthz, server.port)
        finally:
            await server.stop()
        session = world.daemon.state.session

    rejected = [e for e in logs if e["event"] == "settings_reload_rejected"]
    assert 1 == len(rejected)
    assert "error" == rejected[0]["log_level"]
    [problem] = rejected[0]["problems"]
    assert problem.startswith(f"SMARTCHARGE_TARGET_KWH='lots' ({env}:")
    assert [] == plans(world, after=edited_at)
    assert session is not None
    assert 20.0 == session.target_kwh
    assert 200 == code
    assert [problem] == body["settings_problems"]
    assert 0 == status
    assert "settings: the last edit of the .env file was refused" in status_text
    assert problem in status_text
    assert [] == fixed["settings_problems"]


def _healthz(port: int) -> tuple[int, dict[str, Any]]:
    url = f"http://127.0.0.1:{port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=HTTP_TIMEOUT_S) as resp:  # noqa: S310 - loopback
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:  # 503: the body still says why
        return err.code, json.loads(err.read())


async def test_sighup_checks_the_file_at_once(tmp_path: Path):
    """SIGHUP's handler: no waiting for the minute; the edit applies in a job of its own."""
    async with simulated_world(tmp_path / "state", START) as world:
        env = tmp_path / "smartcharge.env"
        reloader, edited_at = await plugged_in_world(world, env)
        edit(env, "SMARTCHARGE_READY_BY=07:00", "SMARTCHARGE_READY_BY=06:00")
        with capture_logs() as logs:
            await reloader.hangup()
        session = world.daemon.state.session

    assert edited_at == world.clock.now()
    assert ["settings_check_requested", "settings_reloaded"] == [
        e["event"] for e in logs if e["event"].startswith("settings_")
    ]
    new = plans(world, after=edited_at)
    assert ["settings_changed"] == [p["reason"] for p in new]
    assert session is not None
    assert local(DEMO_DAY + timedelta(days=1), time(6, 0)) == session.ready_by


async def test_a_new_password_signs_in_once_and_is_never_logged(tmp_path: Path):
    """SMARTCHARGE_WALLBOX_PASSWORD changed: one sign-in with it, no re-plan, no secret in a log."""
    async with simulated_world(tmp_path / "state", START) as world:
        env = tmp_path / "smartcharge.env"
        reloader, edited_at = await plugged_in_world(world, env)
        old = world.settings.wallbox_password
        assert old is not None
        new_password = "n3w-s3cret-passw0rd"
        world.cloud._password = new_password  # noqa: SLF001 - the account's password changed
        signins = world.cloud.signins
        edit(env, f"SMARTCHARGE_WALLBOX_PASSWORD={old.get_secret_value()}", "")
        env.write_text(
            env.read_text(encoding="utf-8") + f"SMARTCHARGE_WALLBOX_PASSWORD={new_password}\n",
            encoding="utf-8",
        )
        with capture_logs() as logs:
            await run_to(world, reloader, edited_at + 5 * MINUTE)
        polled = world.daemon.last_poll_mono

    assert 1 == world.cloud.signins - signins
    assert [] == plans(world, after=edited_at)
    assert polled is not None
    assert new_password not in str(logs)
    reloaded = [e for e in logs if e["event"] == "settings_reloaded"]
    assert [True] == [e["signin"] for e in reloaded]


async def test_a_restart_setting_is_reported_and_not_applied(tmp_path: Path):
    """A new health port: named in settings_need_restart, the running value kept."""
    async with simulated_world(tmp_path / "state", START) as world:
        env = tmp_path / "smartcharge.env"
        reloader, edited_at = await plugged_in_world(world, env)
        edit(env, "SMARTCHARGE_HEALTH_PORT=0", "SMARTCHARGE_HEALTH_PORT=9999")
        with capture_logs() as logs:
            await run_to(world, reloader, edited_at + MINUTE)

    restart = [e for e in logs if e["event"] == "settings_need_restart"]
    assert [["SMARTCHARGE_HEALTH_PORT"]] == [e["names"] for e in restart]
    assert [] == [e for e in logs if e["event"] == "settings_reloaded"]
    assert 0 == world.daemon.settings.health_port
    assert [] == plans(world, after=edited_at)
