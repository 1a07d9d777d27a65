"""``smartcharge run`` as a real process against the fakes, for the signal tests.

``SignalWorld`` serves the simulated Wallbox cloud and ENTSO-E from the test process on the
real clock (prices: dear now, cheap in three hours, so a plan pauses now and charges later),
records every applied write that changed nothing on the charger (a duplicate), and can leave a
session behind in a state dir the way a daemon killed after its first tick would
(``carry_session``). ``start_daemon`` runs ``python -m smartcharge run`` on it, configured only
through the environment (the harness: ``tests/resilience/daemon_process.py``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from smartcharge.clock import SystemClock
from smartcharge.demo import DEMO_KEY, DEMO_PASSWORD, DEMO_USER, demo_settings
from smartcharge.runtime.compose import build_daemon, open_http
from smartcharge.simulator.entsoe_server import EntsoeFakeServer
from smartcharge.simulator.wallbox_cloud import WallboxCloudSimulator
from smartcharge.wallbox.limiter import budget_file_name
from tests.resilience.daemon_process import (
    DaemonProcess,
    cloud_settings,
    entsoe_settings,
    run_environment,
    served,
)

ROOT = Path(__file__).resolve().parent.parent.parent
TZ = ZoneInfo("Europe/Amsterdam")
_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# Dear now, cheap from 3 h to 7 h from now: a 20 kWh need by 9 h from now waits (paused).
DEAR_EUR_PER_MWH = 250.0
CHEAP_EUR_PER_MWH = 20.0


def _charger_state(cloud: WallboxCloudSimulator) -> tuple[object, ...]:
    c = cloud.charger
    return (c.status_id, c.max_charging_current_a, round(c.energy_cost_eur_per_kwh, 6), c.locked)


@dataclass
class SignalWorld:
    """The fakes on 127.0.0.1 (real clock) and one state dir."""

    state_dir: Path
    cloud: WallboxCloudSimulator
    entsoe: EntsoeFakeServer
    cloud_url: str
    entsoe_url: str
    ready_by: datetime
    # Above the default (1 a minute), so a restart right after a kill need not wait for a slot.
    reads_per_minute: float = 3.0
    duplicates: list[tuple[str, Any]] = field(default_factory=list)
    writes: list[tuple[str, Any]] = field(default_factory=list)

    @web.middleware
    async def watch(self, request: web.Request, handler: _Handler) -> web.StreamResponse:
        """Record every applied write, and those that left the charger unchanged."""
        before = _charger_state(self.cloud)
        response = await handler(request)
        if request.method in ("PUT", "POST") and 200 <= response.status < 300:
            entry = (request.path, await request.text())
            self.writes.append(entry)
            if _charger_state(self.cloud) == before:
                self.duplicates.append(entry)
        return response

    def settings_values(self) -> dict[str, Any]:
        """Return the settings every daemon of this world runs with."""
        return {
            "ready_by": self.ready_by.astimezone(TZ).time().replace(second=0, microsecond=0),
            "wallbox_reads_per_minute": self.reads_per_minute,
            "wallbox_writes_per_minute": 5.0,
            "wallbox_timeout_s": 20.0,
            "health_port": 0,
        }

    def environment(self) -> dict[str, str]:
        """Return the environment of ``smartcharge run`` for this world."""
        return run_environment(
            {
                **cloud_settings(self.cloud_url, DEMO_USER, DEMO_PASSWORD),
                **entsoe_settings(self.entsoe_url, DEMO_KEY),
                "SMARTCHARGE_STATE_DIR": str(self.state_dir),
                "SMARTCHARGE_HEALTH_PORT": "0",
                "SMARTCHARGE_TARGET_KWH": "20",
                "SMARTCHARGE_READY_BY": self.ready_by.astimezone(TZ).strftime("%H:%M"),
                "SMARTCHARGE_WALLBOX_READS_PER_MINUTE": f"{self.reads_per_minute:g}",
                "SMARTCHARGE_WALLBOX_WRITES_PER_MINUTE": "5",
                "SMARTCHARGE_LOG_FORMAT": "json",
                "SMARTCHARGE_LOG_LEVEL": "INFO",
            }
        )

    async def start_daemon(self, **settings: str) -> DaemonProcess:
        """Start ``smartcharge run`` for this world (``settings`` added to its environment)."""
        return await DaemonProcess.start({**self.environment(), **settings}, self.state_dir.parent)

    async def carry_session(self, *, resumed: bool = False) -> str:
        """Leave a session behind: a daemon starts, pauses for the cheap hours, and dies.

        With ``resumed`` it stops instead, resuming the car on exit (the next start pauses it
        again). The call budget it spent is forgotten (as if it ran a while ago), so the next
        start has its reads and sign-ins. Returns the session id.
        """
        clock = SystemClock()
        values = {**self.settings_values(), "wallbox_timeout_s": 5.0}
        settings = demo_settings(self.state_dir, self.cloud_url, self.entsoe_url, **values)
        async with open_http(settings) as http:
            daemon = build_daemon(settings, clock, http, price_timeout_s=5.0)
            await daemon.start()
            assert self.cloud.charger.status_id in (178, 182), "the plan did not pause"
            if resumed:
                await daemon.shutdown()
                assert self.cloud.charger.status_id in (193, 194, 195), "not resumed on exit"
        session = daemon.state.session
        assert session is not None, "no session was started"
        (self.state_dir / budget_file_name(DEMO_USER)).unlink(missing_ok=True)
        return session.session_id


@asynccontextmanager
async def signal_world(state_dir: Path) -> AsyncIterator[SignalWorld]:
    """Serve the fakes with a car plugged in, and prices that make a plan wait."""
    clock = SystemClock()
    now = clock.now()
    cloud = WallboxCloudSimulator(clock, username=DEMO_USER, password=DEMO_PASSWORD)
    cloud.charger.plug_in(car_max_power_kw=11.0)
    entsoe = EntsoeFakeServer(valid_keys=[DEMO_KEY])
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    cheap = (now + timedelta(hours=3), now + timedelta(hours=7))
    points = []
    for i in range(-96, 4 * 96):
        at = day + timedelta(minutes=15 * i)
        points.append((at, CHEAP_EUR_PER_MWH if cheap[0] <= at < cheap[1] else DEAR_EUR_PER_MWH))
    entsoe.serve_points("NL", points, 15)
    holder: list[SignalWorld] = []

    @web.middleware
    async def watch(request: web.Request, handler: _Handler) -> web.StreamResponse:
        return await holder[0].watch(request, handler)

    cloud.app.middlewares.append(watch)
    cloud_url = await cloud.start()
    try:
        async with served(entsoe.app()) as entsoe_url:
            world = SignalWorld(
                state_dir, cloud, entsoe, cloud_url, entsoe_url, now + timedelta(hours=9)
            )
            holder.append(world)
            try:
                yield world
            finally:
                entsoe.release_hangs()
                cloud.release_held()
    finally:
        await cloud.stop()
