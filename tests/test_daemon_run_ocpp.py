"""Black box: ``smartcharge run`` with ``SMARTCHARGE_CHARGER_LINK=ocpp`` as a subprocess.

The simulated Wallbox on OCPP connects to the daemon's endpoint over a real websocket on
127.0.0.1 (with the password); the simulated ENTSO-E runs in the test process on the real clock.
No Wallbox account is configured: the cloud is not needed. The need (20 kWh within the hour)
requires charging now: the daemon sends the plan as a profile and starts the waiting car with a
RemoteStart; SIGTERM ends it with status 0, after clearing our profile (on-exit rule
``resume``). Neither the OCPP password nor the charger's PUK reaches the output.

Waiting here is for another process, bounded by deadlines; no simulated time is involved.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp
from aiohttp import web

from smartcharge.clock import SystemClock
from smartcharge.simulator.clock import SimulatedClock
from smartcharge.simulator.entsoe_server import EntsoeFakeServer
from smartcharge.simulator.ocpp_charge_point import SimulatedOcppWallbox
from tests.test_daemon_run import KEY, free_port, wait_for

CP_ID = "WB-RUN-0001"
OCPP_PASSWORD = "ocpp-run-pa55word-01"  # noqa: S105 - the simulated charger's
PUK = "55443322"


async def connect_when_listening(wallbox: SimulatedOcppWallbox, timeout_s: float) -> None:
    """Connect as soon as the daemon's endpoint accepts (it listens before the daemon starts)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            await wallbox.connect()
            return
        except (aiohttp.ClientConnectionError, TimeoutError):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)


async def test_smartcharge_run_drives_the_charger_over_ocpp_and_clears_its_profile_on_stop(
    tmp_path: Path,
):
    """Profile + RemoteStart for a car that must charge now; SIGTERM -> profile cleared, 0."""
    now = SystemClock().now()
    entsoe = EntsoeFakeServer(valid_keys=[KEY])
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    points = [(day + timedelta(minutes=15 * i), 100.0) for i in range(-96, 4 * 96)]
    entsoe.serve_points("NL", points, 15)
    runner = web.AppRunner(entsoe.app(), handle_signals=False, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    entsoe_port = runner.addresses[0][1]
    ocpp_port = free_port()
    ready_by = (now + timedelta(hours=1)).astimezone(ZoneInfo("Europe/Amsterdam"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SMARTCHARGE_", "ENTSOE_"))}
    env.update(
        {
            "SMARTCHARGE_CHARGER_LINK": "ocpp",
            "SMARTCHARGE_OCPP_HOST": "127.0.0.1",
            "SMARTCHARGE_OCPP_PORT": str(ocpp_port),
            "SMARTCHARGE_OCPP_CHARGE_POINT_ID": CP_ID,
            "SMARTCHARGE_OCPP_PASSWORD": OCPP_PASSWORD,
            "SMARTCHARGE_ENTSOE_API_KEY": KEY,
            "SMARTCHARGE_ENTSOE_API_URL": f"http://127.0.0.1:{entsoe_port}/api",
            "SMARTCHARGE_PRICE_SOURCES": "entsoe",
            "SMARTCHARGE_STATE_DIR": str(tmp_path / "state"),
            "SMARTCHARGE_HEALTH_PORT": "0",
            "SMARTCHARGE_TARGET_KWH": "20",
            "SMARTCHARGE_READY_BY": ready_by.strftime("%H:%M"),
            "SMARTCHARGE_LOG_FORMAT": "json",
            "SMARTCHARGE_ON_EXIT": "resume",
        }
    )
    timeout = aiohttp.ClientTimeout(total=5)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        wallbox = SimulatedOcppWallbox(
            f"ws://127.0.0.1:{ocpp_port}/",
            CP_ID,
            SimulatedClock(now),
            http,
            password=OCPP_PASSWORD,
            puk=PUK,
            max_current_a=16,
            timeout_s=5.0,
        )
        await wallbox.plug_in()  # the car waits in Preparing when the charger boots
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
            await connect_when_listening(wallbox, 20)
            await wait_for(
                lambda: bool(wallbox.calls("RemoteStartTransaction")), 30, "the remote start"
            )
            await wait_for(lambda: wallbox.status == "Charging", 10, "charging")
            proc.send_signal(signal.SIGTERM)
            code = await asyncio.wait_for(proc.wait(), 15)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
            assert proc.stdout is not None
            output = (await proc.stdout.read()).decode()
            await wallbox.close()
            await runner.cleanup()

    assert 0 == code, output[-3000:]
    profiles = wallbox.calls("SetChargingProfile")
    assert profiles, output[-3000:]
    assert all(
        p.payload["csChargingProfiles"]["chargingProfilePurpose"] == "TxDefaultProfile"
        for p in profiles
    )
    assert 1 == len(wallbox.calls("ClearChargingProfile"))
    assert [] == wallbox.calls("RemoteStopTransaction")
    assert '"link": "ocpp"' in output
    assert '"event": "ocpp_endpoint_listening"' in output
    assert '"event": "plan_made"' in output
    assert '"event": "daemon_stopped"' in output
    assert OCPP_PASSWORD not in output
    assert PUK not in output
    assert KEY not in output
