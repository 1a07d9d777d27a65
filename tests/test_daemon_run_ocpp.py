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
import signal
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp

from smartcharge.clock import SystemClock
from smartcharge.simulator.clock import SimulatedClock
from smartcharge.simulator.ocpp_charge_point import SimulatedOcppWallbox
from tests.resilience.daemon_process import (
    OCPP,
    DaemonProcess,
    entsoe_settings,
    flat_entsoe,
    need_settings,
    run_environment,
    running_daemon,
    served,
)
from tests.test_daemon_run import KEY

CP_ID = "WB-RUN-0001"
OCPP_PASSWORD = "ocpp-run-pa55word-01"  # noqa: S105 - the simulated charger's
PUK = "55443322"


async def connect(wallbox: SimulatedOcppWallbox, timeout_s: float) -> None:
    """Connect, again while the daemon is too busy to answer (a loaded machine)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            await wallbox.connect()
            return
        except (aiohttp.ClientConnectionError, TimeoutError):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)


def ocpp_environment(
    tmp_path: Path, now: datetime, entsoe_url: str, cp_id: str, **more: str
) -> dict[str, str]:
    """The daemon on the OCPP link, no HTTP server, 20 kWh wanted within the hour."""
    return run_environment(
        {
            "SMARTCHARGE_CHARGER_LINK": "ocpp",
            "SMARTCHARGE_OCPP_HOST": "127.0.0.1",
            "SMARTCHARGE_OCPP_CHARGE_POINT_ID": cp_id,
            **entsoe_settings(entsoe_url, KEY),
            **need_settings(tmp_path / "state", now),
            "SMARTCHARGE_HEALTH_PORT": "0",
            "SMARTCHARGE_ON_EXIT": "resume",
            **more,
        }
    )


@asynccontextmanager
async def connected_charger(
    daemon: DaemonProcess, cp_id: str, now: datetime, **options: Any
) -> AsyncIterator[SimulatedOcppWallbox]:
    """The simulated Wallbox on OCPP, a car waiting in Preparing, connected to ``daemon``."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http:
        wallbox = SimulatedOcppWallbox(
            f"ws://127.0.0.1:{daemon.port}/",
            cp_id,
            SimulatedClock(now),
            http,
            max_current_a=16,
            timeout_s=5.0,
            **options,
        )
        await wallbox.plug_in()  # the car waits in Preparing when the charger boots
        try:
            await connect(wallbox, 20)
            yield wallbox
        finally:
            await wallbox.close()


async def test_smartcharge_run_drives_the_charger_over_ocpp_and_clears_its_profile_on_stop(
    tmp_path: Path,
):
    """Profile + RemoteStart for a car that must charge now; SIGTERM -> profile cleared, 0."""
    now = SystemClock().now()
    async with served(flat_entsoe(KEY, now).app()) as entsoe_url:
        env = ocpp_environment(
            tmp_path, now, entsoe_url, CP_ID, SMARTCHARGE_OCPP_PASSWORD=OCPP_PASSWORD
        )
        async with (
            running_daemon(env, tmp_path, listen=OCPP) as daemon,
            connected_charger(daemon, CP_ID, now, password=OCPP_PASSWORD, puk=PUK) as wallbox,
        ):
            await daemon.wait_for(
                "the remote start", lambda: bool(wallbox.calls("RemoteStartTransaction")), 30
            )
            await daemon.wait_for("charging", lambda: wallbox.status == "Charging", 10)
            daemon.send(signal.SIGTERM)
            code, _ = await daemon.exited()
    output = daemon.output

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
