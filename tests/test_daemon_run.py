"""Black box: ``smartcharge run`` as a subprocess against the fakes on 127.0.0.1 (real time).

The simulated Wallbox cloud and ENTSO-E run in the test process on the real clock; the daemon
is configured only through the environment. The need (20 kWh within the hour) requires charging
now: it signs in once, fetches prices once, resumes once, sets the energy cost once, answers
``/healthz`` with 200, and SIGTERM ends it with status 0 well within 10 s.

Waiting here is for another process, bounded by deadlines; no simulated time is involved.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import time
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp
from aiohttp import web

from smartcharge.clock import SystemClock
from smartcharge.simulator.entsoe_server import EntsoeFakeServer
from smartcharge.simulator.wallbox_cloud import WallboxCloudSimulator

USER = "blackbox@example.com"
PASSWORD = "blackbox-password-123"  # noqa: S105 - the fake account's
KEY = "blackbox-entsoe-key"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def wait_for(condition, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


async def healthz(port: int) -> int:
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http,
            http.get(
                f"http://127.0.0.1:{port}/healthz", timeout=aiohttp.ClientTimeout(total=2)
            ) as resp,
        ):
            return resp.status
    except aiohttp.ClientError:
        return 0


async def test_smartcharge_run_charges_now_answers_healthz_and_stops_on_sigterm(tmp_path: Path):
    """Sign-in, prices, resume and energy cost once each; /healthz 200; SIGTERM -> exit 0."""
    clock = SystemClock()
    now = clock.now()
    cloud = WallboxCloudSimulator(clock, username=USER, password=PASSWORD)
    cloud.charger.plug_in(car_max_power_kw=11.0)
    cloud.charger.user_pause()
    entsoe = EntsoeFakeServer(valid_keys=[KEY])
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    points = [(day + timedelta(minutes=15 * i), 100.0) for i in range(-96, 4 * 96)]
    entsoe.serve_points("NL", points, 15)
    cloud_url = await cloud.start()
    runner = web.AppRunner(entsoe.app(), handle_signals=False, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    entsoe_port = runner.addresses[0][1]
    health_port = free_port()
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
            "SMARTCHARGE_HEALTH_PORT": str(health_port),
            "SMARTCHARGE_TARGET_KWH": "20",
            "SMARTCHARGE_READY_BY": ready_by.strftime("%H:%M"),
            "SMARTCHARGE_LOG_FORMAT": "json",
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
    try:

        def writes(part: str) -> list[object]:
            return [r.body for r in cloud.requests if r.method != "GET" and part in r.path]

        await wait_for(
            lambda: writes("remote-action") and writes("chargers/config"), 40, "resume and price"
        )
        status = 0
        deadline = time.monotonic() + 20
        while status != 200 and time.monotonic() < deadline:
            status = await healthz(health_port)
            if status != 200:
                await asyncio.sleep(0.2)
        stopped_at = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(proc.wait(), 15)
        stop_s = time.monotonic() - stopped_at
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        assert proc.stdout is not None
        output = (await proc.stdout.read()).decode()
        await runner.cleanup()
        await cloud.stop()

    assert 200 == status, output[-3000:]
    assert 0 == code, output[-3000:]
    assert stop_s < 10
    assert 1 == cloud.signins
    assert 1 == len(entsoe.requests), entsoe.requests
    assert [{"action": 1}] == writes("remote-action")
    assert 1 == len(writes("chargers/config"))
    assert [] == writes("v2/charger")
    assert cloud.charger.status_id in (193, 194, 195)
    assert '"event": "plan_made"' in output
    assert '"event": "daemon_stopped"' in output
    assert PASSWORD not in output
    assert KEY not in output
