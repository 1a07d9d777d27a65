"""Black box: ``smartcharge run`` on the OCPP link with the Wallbox account configured.

As ``tests/test_daemon_run_ocpp.py`` (the simulated Wallbox on OCPP connects to the daemon's
endpoint over a real websocket on 127.0.0.1, the simulated ENTSO-E in the test process on the
real clock), plus the simulated Wallbox cloud with the account: the daemon steers the charger
over OCPP and writes the energy cost in the app through the cloud, once, and never asks the
cloud to pause or resume (issue 15 item 5). Neither password reaches the output.

Waiting here is for another process, bounded by deadlines; no simulated time is involved.
"""

from __future__ import annotations

import signal
from pathlib import Path

from smartcharge.clock import SystemClock
from smartcharge.simulator.wallbox_cloud import WallboxCloudSimulator
from tests.resilience.daemon_process import (
    OCPP,
    cloud_settings,
    flat_entsoe,
    running_daemon,
    served,
)
from tests.test_daemon_run import KEY, PASSWORD, USER
from tests.test_daemon_run_ocpp import connected_charger, ocpp_environment

CP_ID = "WB-RUN-CLOUD-01"
# 100 EUR/MWh all day: (0.1 + 0.09161 tax) x 1.21 VAT = 0.2318 EUR/kWh, 0.23 in the app.
ENERGY_COST = 0.23


async def test_smartcharge_run_on_ocpp_keeps_the_energy_cost_through_the_cloud(tmp_path: Path):
    """Charging over OCPP; one energy-cost write to the cloud; no cloud pause/resume; exit 0."""
    clock = SystemClock()
    now = clock.now()
    cloud = WallboxCloudSimulator(clock, username=USER, password=PASSWORD)
    cloud_url = await cloud.start()

    def energy_costs() -> list[object]:
        return [
            r.body
            for r in cloud.requests
            if r.method == "POST" and r.path.startswith("/chargers/config/")
        ]

    try:
        async with served(flat_entsoe(KEY, now).app()) as entsoe_url:
            env = ocpp_environment(
                tmp_path,
                now,
                entsoe_url,
                CP_ID,
                **cloud_settings(cloud_url, USER, PASSWORD, cloud.charger.charger_id),
            )
            async with (
                running_daemon(env, tmp_path, listen=OCPP) as daemon,
                connected_charger(daemon, CP_ID, now) as wallbox,
            ):
                await daemon.wait_for(
                    "charging over OCPP", lambda: wallbox.status == "Charging", 30
                )
                await daemon.wait_for(
                    "the energy cost in the cloud", lambda: bool(energy_costs()), 15
                )
                daemon.send(signal.SIGTERM)
                code, _ = await daemon.exited()
    finally:
        await cloud.stop()
    output = daemon.output

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
