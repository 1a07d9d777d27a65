"""The soak world: the daemon's real code against the simulated Wallbox cloud and ENTSO-E.

``soak_world()`` is ``smartcharge.demo.simulated_world`` plus what the resilience tests need:

- a middleware of ours inside the simulated cloud's, so it runs only for requests that really
  reached a handler (faults that short-circuit never get there; ``applied=True`` faults do), and
  records every write that was applied but changed nothing on the charger (a duplicate);
- every token the cloud issued, for the secret scan;
- the DEBUG log of the whole run, in memory, for the secret scan;
- the state dir on tmpfs when there is one (the state code fsyncs every write; on a real disk
  a simulated month is bound by fsync, not by the code under test).

``FaultScheduler`` injects seeded faults of every kind the issue lists, and records them.
"""

from __future__ import annotations

import collections
import contextlib
import io
import json
import random
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
from aiohttp import web

from smartcharge.config import LogLevel, Settings
from smartcharge.demo import DEMO_KEY, DEMO_PASSWORD, DEMO_USER, PRICES_CSV, demo_settings
from smartcharge.logsetup import configure_logging
from smartcharge.runtime.compose import build_daemon, open_http
from smartcharge.runtime.daemon import Daemon
from smartcharge.simulator.clock import SimulatedClock
from smartcharge.simulator.entsoe_server import EntsoeFakeServer, EntsoeFault
from smartcharge.simulator.wallbox_cloud import Fault, WallboxCloudSimulator

TZ = ZoneInfo("Europe/Amsterdam")
_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def local(day: date, at: time) -> datetime:
    """Return local ``day at`` in UTC."""
    return datetime.combine(day, at, tzinfo=TZ).astimezone(UTC)


@dataclass
class SoakWorld:
    """Everything one soak run uses and records."""

    clock: SimulatedClock
    cloud: WallboxCloudSimulator
    entsoe: EntsoeFakeServer
    settings: Settings
    http: aiohttp.ClientSession
    log: io.StringIO
    daemon: Daemon = field(init=False)
    applied_writes: list[tuple[datetime, str, Any]] = field(default_factory=list)
    duplicates: list[tuple[datetime, str, Any]] = field(default_factory=list)
    issued_tokens: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.new_daemon()

    def new_daemon(self) -> Daemon:
        """Build a fresh daemon on the same state dir (a restart after a crash)."""
        self.daemon = build_daemon(self.settings, self.clock, self.http, price_timeout_s=2.0)
        return self.daemon

    def secrets(self) -> set[str]:
        """Return every secret of the run: the password, the tokens, the API key."""
        return {DEMO_PASSWORD, DEMO_KEY, *self.issued_tokens}

    @web.middleware
    async def watch(self, request: web.Request, handler: _Handler) -> web.StreamResponse:
        """Record applied writes that changed nothing, and the tokens handed out."""
        charger = self.cloud.charger
        before = (charger.status_id, charger.max_charging_current_a,
                  round(charger.energy_cost_eur_per_kwh, 6), charger.locked)  # fmt: skip
        response = await handler(request)
        if request.path.startswith("/users/") and isinstance(response, web.Response):
            with contextlib.suppress(ValueError, TypeError, KeyError, AttributeError):
                attrs = json.loads(response.body)["data"]["attributes"]  # type: ignore[arg-type]
                self.issued_tokens |= {attrs["token"], attrs["refresh_token"]}
        if request.method in ("PUT", "POST") and 200 <= response.status < 300:
            after = (charger.status_id, charger.max_charging_current_a,
                     round(charger.energy_cost_eur_per_kwh, 6), charger.locked)  # fmt: skip
            body = await request.text()
            entry = (self.clock.now(), request.path, body)
            self.applied_writes.append(entry)
            if before == after:
                self.duplicates.append(entry)
        return response


def private_tmp() -> Path:
    """Return a fresh folder, on tmpfs (/dev/shm) when the machine has it."""
    shm = Path("/dev/shm")  # noqa: S108 - our own mkdtemp folder, removed by the caller
    base = str(shm) if shm.is_dir() else None
    return Path(tempfile.mkdtemp(prefix="smartcharge-soak-", dir=base))


@contextlib.asynccontextmanager
async def soak_world(
    state_dir: Path, start: datetime, end: datetime, **overrides: Any
) -> AsyncIterator[SoakWorld]:
    """Start the fakes on 127.0.0.1 with prices for ``[start, end]`` and build the daemon."""
    clock = SimulatedClock(start, auto_advance=True)
    cloud = WallboxCloudSimulator(clock, username=DEMO_USER, password=DEMO_PASSWORD)
    entsoe = EntsoeFakeServer(valid_keys=[DEMO_KEY])
    entsoe.serve_csv("NL", PRICES_CSV, start - timedelta(days=2), end + timedelta(days=2))
    entsoe.retry_after_s = 600
    holder: list[SoakWorld] = []

    @web.middleware
    async def watch(request: web.Request, handler: _Handler) -> web.StreamResponse:
        return await holder[0].watch(request, handler)

    cloud.app.middlewares.append(watch)
    cloud_url = await cloud.start()
    runner = web.AppRunner(
        entsoe.app(), handle_signals=False, access_log=None, shutdown_timeout=1.0
    )
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    values: dict[str, Any] = {
        "log_level": LogLevel.DEBUG,
        # A hung request costs real time: keep the client's timeout short in the soak.
        "wallbox_timeout_s": 0.3,
    }
    values.update(overrides)
    settings = demo_settings(state_dir, cloud_url, f"http://{host}:{port}", **values)
    buffer = io.StringIO()
    configure_logging(settings, stream=buffer)
    try:
        async with open_http(settings) as http:
            world = SoakWorld(clock, cloud, entsoe, settings, http, buffer)
            holder.append(world)
            yield world
    finally:
        entsoe.release_hangs()
        await runner.cleanup()
        await cloud.stop()


_WALLBOX_FAULTS = (
    ("wallbox_5xx", Fault.SERVER_ERROR),
    ("wallbox_429_retry_after", Fault.RATE_LIMITED),
    ("wallbox_timeout", Fault.HANG),
    ("wallbox_dropped_connection", Fault.DROP),
    ("wallbox_malformed_json", Fault.MALFORMED_JSON),
    ("wallbox_html_error", Fault.HTML_ERROR),
    ("wallbox_token_expired_early", Fault.UNAUTHORIZED),
)


@dataclass
class FaultScheduler:
    """Seeded faults for the soak, injected from ``run_simulated``'s ``between`` hook.

    Each simulated hour may get one Wallbox fault (a kind, a path and a count drawn from the
    seed; writes sometimes ``applied``: the command takes effect and only the answer is lost);
    ENTSO-E gets 5xx, 429 and malformed XML now and then. Set pieces on chosen days: a cloud
    outage of 2 hours in the middle of the night, a day whose prices come 6 hours late, and a
    day with no prices at all.
    """

    world: SoakWorld
    rng: random.Random
    outage_days: set[date]
    late_days: set[date]
    no_price_days: set[date]
    rate: float = 0.35
    counts: collections.Counter[str] = field(default_factory=collections.Counter)
    _hour: datetime | None = None
    _outage_until: datetime | None = None

    def __call__(self, at: datetime) -> None:
        cloud, entsoe = self.world.cloud, self.world.entsoe
        hour = at.replace(minute=0, second=0, microsecond=0)
        if self._outage_until is not None and at >= self._outage_until:
            cloud.clear_faults()
            self._outage_until = None
        self._prices(at)
        if hour == self._hour:
            return
        self._hour = hour
        day = at.astimezone(TZ).date()
        if at.astimezone(TZ).hour == 1 and day in self.outage_days and self._outage_until is None:
            cloud.inject(Fault.SERVER_ERROR, count=10**6)
            self._outage_until = at + timedelta(hours=2)
            self.counts["wallbox_outage_2h"] += 1
            return
        if self._outage_until is not None:
            return
        if self.rng.random() < self.rate:
            name, fault = self.rng.choice(_WALLBOX_FAULTS)
            path = self.rng.choice([None, "chargers/status", "remote-action", "chargers/config"])
            applied = (
                path in ("remote-action", "chargers/config")
                and fault in (Fault.SERVER_ERROR, Fault.DROP, Fault.HANG)
                and self.rng.random() < 0.5
            )
            if fault is Fault.UNAUTHORIZED:
                cloud.revoke_access_tokens()
            cloud.inject(
                fault,
                count=self.rng.randint(1, 3),
                path_contains=path,
                retry_after_s=self.rng.choice([30.0, 120.0, 300.0]),
                applied=applied,
            )
            self.counts[name + ("_applied" if applied else "")] += 1
        if self.rng.random() < 0.08:
            kind = self.rng.choice(
                [
                    ("entsoe_5xx", EntsoeFault.UNAVAILABLE),
                    ("entsoe_429", EntsoeFault.RATE_LIMITED),
                    ("entsoe_malformed_xml", EntsoeFault.MALFORMED),
                ]
            )
            entsoe.fail(kind[1], times=1)
            self.counts[kind[0]] += 1

    def _prices(self, at: datetime) -> None:
        """Hold back publication: 6 hours late on ``late_days``, never on ``no_price_days``."""
        entsoe = self.world.entsoe
        today = at.astimezone(TZ).date()
        tomorrow = today + timedelta(days=1)
        held: datetime | None = None
        if tomorrow in self.no_price_days or today in self.no_price_days:
            day = tomorrow if tomorrow in self.no_price_days else today
            held = local(day, time(0))
            if (day, "none") not in self._marks:
                self._marks.add((day, "none"))
                self.counts["entsoe_day_without_prices"] += 1
        elif tomorrow in self.late_days:
            due = local(today, time(12, 45)) + timedelta(hours=6)
            if at < due:
                held = local(tomorrow, time(0))
                if (tomorrow, "late") not in self._marks:
                    self._marks.add((tomorrow, "late"))
                    self.counts["entsoe_published_6h_late"] += 1
        entsoe.published_until = held

    _marks: set[tuple[date, str]] = field(default_factory=set)
