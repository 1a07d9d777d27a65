"""Black box: ``smartcharge run`` on the OCPP link with the Wallbox account configured.

As ``tests/test_daemon_run_ocpp.py`` (the simulated Wallbox on OCPP connects to the daemon's
endpoint over a real websocket on 127.0.0.1, the simulated ENTSO-E in the test process on the
real clock), plus the simulated Wallbox cloud with the account: the daemon steers the charger
over OCPP and writes the energy cost in the app through the cloud, once, and never asks the
cloud to pause or resume (issue 15 item 5). Neither password reaches the output.

Waiting here is for another process, bounded by deadlines; no simulated time is involved.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp
from aiohttp import web

from smartcharge.clock import SystemClock
from smartcharge.simulator.clock import SimulatedClock
from smartcharge.simulator.entsoe_server import EntsoeFakeServer
from smartcharge.simulator.ocpp_charge_point import SimulatedOcppWallbox
from smartcharge.simulator.wallbox_cloud import WallboxCloudSimulator
from tests.test_daemon_run import KEY, PASSWORD, USER, free_port, wait_for
from tests.test_daemon_run_ocpp import connect_when_listening

CP_ID = "WB-RUN-CLOUD-01"
# 100 EUR/MWh all day: (0.1 + 0.09161 tax) x 1.21 VAT = 0.2318 EUR/kWh, 0.23 in the app.
ENERGY_COST = 0.23


async def test_smartcharge_run_on_ocpp_keeps_the_energy_cost_through_the_cloud(tmp_path: Path):
    """Charging over OCPP; one energy-cost write to the cloud; no cloud pause/resume; exit 0."""
    clock = SystemClock()
    now = clock.now()
    cloud = WallboxCloudSimulator(clock, username=USER, password=PASSWORD)
    cloud_url = await cloud.start()
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
            "SMARTCHARGE_WALLBOX_USERNAME": USER,
            "SMARTCHARGE_WALLBOX_PASSWORD": PASSWORD,
            "SMARTCHARGE_WALLBOX_API_URL": cloud_url,
            "SMARTCHARGE_WALLBOX_AUTH_URL": cloud_url,
            "SMARTCHARGE_WALLBOX_CHARGER_ID": str(cloud.charger.charger_id),
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

    def energy_costs() -> list[object]:
        return [
            r.body
            for r in cloud.requests
            if r.method == "POST" and r.path.startswith("/chargers/config/")
        ]

    timeout = aiohttp.ClientTimeout(total=5)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        wallbox = SimulatedOcppWallbox(
            f"ws://127.0.0.1:{ocpp_port}/",
            CP_ID,
            SimulatedClock(now),
            http,
            max_current_a=16,
            timeout_s=5.0,
        )
        await wallbox.plug_in()
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
            await wait_for(lambda: wallbox.status == "Charging", 30, "charging over OCPP")
            await wait_for(lambda: bool(energy_costs()), 15, "the energy cost in the cloud")
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
            await cloud.stop()

    assert 0 == code, output[-3000:]
    assert [{"energyCost": ENERGY_COST}] == energy_costs()
    assert ENERGY_COST == cloud.charger.energy_cost_eur_per_kwh
    assert [] == [r for r in cloud.requests if "remote-action" in r.path]
    assert [] == [r for r in cloud.requests if r.method == "PUT"]
    assert wallbox.calls("SetChargingProfile")
    assert [] == wallbox.calls("RemoteStopTransaction")
    assert '"event": "ocpp_cloud_side"' in output
    assert '"used": true' in output
    assert PASSWORD not in output
    assert KEY not in output
