"""Black box: ``smartcharge run`` as a subprocess against the fakes on 127.0.0.1 (real time).

The simulated Wallbox cloud and ENTSO-E run in the test process on the real clock; the daemon
is configured only through the environment. The need (20 kWh within the hour) requires charging
now: it signs in once, fetches prices once, resumes once, sets the energy cost once, answers
``/healthz`` with 200, and SIGTERM ends it with status 0 well within 10 s.

Waiting here is for another process, bounded by deadlines; no simulated time is involved.
"""

from __future__ import annotations

import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path

from smartcharge.clock import SystemClock
from smartcharge.simulator.entsoe_server import EntsoeFakeServer
from smartcharge.simulator.wallbox_cloud import WallboxCloudSimulator
from tests.resilience.daemon_process import (
    HTTP,
    START_S,
    cloud_settings,
    entsoe_settings,
    flat_entsoe,
    need_settings,
    run_environment,
    running_daemon,
    served,
)

USER = "blackbox@example.com"
PASSWORD = "blackbox-password-123"  # noqa: S105 - the fake account's
KEY = "blackbox-entsoe-key"


@asynccontextmanager
async def paused_car(
    now: datetime,
) -> AsyncIterator[tuple[WallboxCloudSimulator, EntsoeFakeServer, dict[str, str]]]:
    """The simulated cloud (a car plugged in, paused by hand), ENTSO-E at one price all day,
    and the settings that reach both."""
    cloud = WallboxCloudSimulator(SystemClock(), username=USER, password=PASSWORD)
    cloud.charger.plug_in(car_max_power_kw=11.0)
    cloud.charger.user_pause()
    entsoe = flat_entsoe(KEY, now)
    cloud_url = await cloud.start()
    try:
        async with served(entsoe.app()) as entsoe_url:
            settings = {
                **cloud_settings(cloud_url, USER, PASSWORD),
                **entsoe_settings(entsoe_url, KEY),
            }
            yield cloud, entsoe, settings
    finally:
        await cloud.stop()


async def test_smartcharge_run_charges_now_answers_healthz_and_stops_on_sigterm(tmp_path: Path):
    """Sign-in, prices, resume and energy cost once each; /healthz 200; SIGTERM -> exit 0."""
    now = SystemClock().now()
    async with paused_car(now) as (cloud, entsoe, fakes):

        def writes(part: str) -> list[object]:
            return [r.body for r in cloud.requests if r.method != "GET" and part in r.path]

        env = run_environment({**fakes, **need_settings(tmp_path / "state", now)})
        async with running_daemon(env, tmp_path, listen=HTTP) as daemon:
            await daemon.wait_for(
                "resume and price",
                lambda: bool(writes("remote-action") and writes("chargers/config")),
                START_S,
            )
            status, _ = await daemon.wait_answer(
                "a healthy daemon", "/healthz", lambda status, _: status == 200, 20
            )
            daemon.send(signal.SIGTERM)
            code, stop_s = await daemon.exited()
    output = daemon.output

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
