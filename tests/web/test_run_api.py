"""Black box: ``smartcharge run`` as a subprocess listening beyond loopback with a token.

The fakes (Wallbox cloud, ENTSO-E) run in the test process on the real clock, as in
``tests/test_daemon_run.py``. The daemon listens on 0.0.0.0; the test connects to 127.0.0.1,
and still: ``/healthz`` answers without the token (the container's HEALTHCHECK), the API asks
for it (401), answers with it (Bearer, and Basic as a browser sends it), a POST steers the real
charger, and the token appears in none of the daemon's output.

Waiting here is for another process, bounded by deadlines; no simulated time is involved.
"""

from __future__ import annotations

import asyncio
import base64
import os
import signal
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
from aiohttp import web

from smartcharge.clock import SystemClock
from smartcharge.simulator.entsoe_server import EntsoeFakeServer
from smartcharge.simulator.wallbox_cloud import WallboxCloudSimulator
from tests.test_daemon_run import KEY, PASSWORD, USER, free_port, wait_for

TOKEN = "run-api-token-Zx8Qm2Lr5Vb7Nc1Kd4"  # noqa: S105 - the test's own token


async def call(
    port: int, method: str, path: str, headers: dict[str, str] | None = None, **kw: Any
) -> tuple[int, Any]:
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http,
            http.request(
                method, f"http://127.0.0.1:{port}{path}", headers=headers or {}, **kw
            ) as resp,
        ):
            body = await resp.json() if resp.content_type == "application/json" else None
            return resp.status, body
    except aiohttp.ClientError:
        return 0, None


async def test_run_beyond_loopback_asks_for_the_token_and_is_steered_with_it(tmp_path: Path):
    clock = SystemClock()
    now = clock.now()
    cloud = WallboxCloudSimulator(clock, username=USER, password=PASSWORD)
    cloud.charger.plug_in(car_max_power_kw=11.0)
    cloud.charger.user_pause()
    entsoe = EntsoeFakeServer(valid_keys=[KEY])
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    entsoe.serve_points(
        "NL", [(day + timedelta(minutes=15 * i), 100.0) for i in range(-96, 384)], 15
    )
    cloud_url = await cloud.start()
    runner = web.AppRunner(entsoe.app(), handle_signals=False, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    entsoe_port = runner.addresses[0][1]
    port = free_port()
    ready_by = (now + timedelta(hours=1)).astimezone(ZoneInfo("Europe/Amsterdam"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SMARTCHARGE_", "ENTSOE_"))}
    env.update(
        {
            "SMARTCHARGE_WALLBOX_USERNAME": USER,
            "SMARTCHARGE_WALLBOX_PASSWORD": PASSWORD,
            "SMARTCHARGE_WALLBOX_API_URL": cloud_url,
            "SMARTCHARGE_WALLBOX_AUTH_URL": cloud_url,
            "SMARTCHARGE_WALLBOX_CHARGER_ID": "999001",
            "SMARTCHARGE_ENTSOE_API_KEY": KEY,
            "SMARTCHARGE_ENTSOE_API_URL": f"http://127.0.0.1:{entsoe_port}/api",
            "SMARTCHARGE_PRICE_SOURCES": "entsoe",
            "SMARTCHARGE_STATE_DIR": str(tmp_path / "state"),
            "SMARTCHARGE_HEALTH_PORT": str(port),
            "SMARTCHARGE_HTTP_HOST": "0.0.0.0",  # noqa: S104
            "SMARTCHARGE_API_TOKEN": TOKEN,
            "SMARTCHARGE_TARGET_KWH": "20",
            "SMARTCHARGE_READY_BY": ready_by.strftime("%H:%M"),
            "SMARTCHARGE_LOG_FORMAT": "json",
            "SMARTCHARGE_LOG_LEVEL": "DEBUG",
        }
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "smartcharge",
        "run",
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    basic = {"Authorization": "Basic " + base64.b64encode(f"me:{TOKEN}".encode()).decode()}
    try:

        def remote_actions() -> list[object]:
            return [
                r.body for r in cloud.requests if r.method != "GET" and "remote-action" in r.path
            ]

        await wait_for(lambda: remote_actions() == [{"action": 1}], 40, "the resume")
        health = (0, None)
        deadline = time.monotonic() + 20
        while health[0] != 200 and time.monotonic() < deadline:
            health = await call(port, "GET", "/healthz")
            if health[0] != 200:
                await asyncio.sleep(0.2)
        without = await call(port, "GET", "/api/status")
        wrong = await call(port, "GET", "/api/status", {"Authorization": "Bearer nope"})
        status = await call(port, "GET", "/api/status", bearer)
        steered = await call(port, "POST", "/api/plan", basic, json={"mode": "off"})
        await wait_for(lambda: {"action": 2} in remote_actions(), 30, "the pause")
        plan = await call(port, "GET", "/api/plan", basic)
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(proc.wait(), 15)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        assert proc.stdout is not None
        output = (await proc.stdout.read()).decode()
        await runner.cleanup()
        await cloud.stop()

    assert 200 == health[0], output[-3000:]
    assert (401, 401) == (without[0], wrong[0])
    assert without[1] == wrong[1]
    assert 200 == status[0]
    assert status[1]["session"] is not None
    assert "cloud" == status[1]["link"]
    assert 200 == steered[0], steered
    assert ("session", "off", "api") == (
        steered[1]["applies_to"],
        steered[1]["override"]["mode"],
        steered[1]["override"]["set_by"],
    )
    assert "off" == plan[1]["plan"]["strategy"]
    assert [{"action": 1}, {"action": 2}] == remote_actions()
    assert 0 == code, output[-3000:]
    assert '"event": "http_server_started"' in output
    assert '"event": "session_override_set"' in output
    assert TOKEN not in output
    assert TOKEN[:12] not in output
