"""The health endpoint for the container's HEALTHCHECK: ``GET /healthz`` on 127.0.0.1.

200 ``ok`` while the last poll of the charger and the last price fetch are recent enough;
503 with the reason otherwise. Recent enough means:

- the poll: within ``HEALTH_POLL_INTERVALS`` poll intervals (plus a minute), counted from the
  daemon's start until the first poll succeeds, on the monotonic clock (a step of the wall
  clock changes nothing);
- the prices: a successful fetch within ``HEALTH_PRICES_MAX_AGE``, or a known price for now;
- the state: every state file could be saved the last time it was written (a full or read-only
  disk turns this 503 with the path and the OS error, while the charger is still driven).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from aiohttp import web

from smartcharge.clock import Clock
from smartcharge.daemon import HEALTH_POLL_INTERVALS, HEALTH_PRICES_MAX_AGE, Daemon

HOST = "127.0.0.1"


@dataclass(frozen=True, slots=True)
class Health:
    """The daemon's health.

    Attributes:
        ok: whether all is well.
        reasons: what is wrong, one line each.
    """

    ok: bool
    reasons: tuple[str, ...]


def check(daemon: Daemon, now: datetime, monotonic: float | None = None) -> Health:
    """Return the daemon's health at ``now``.

    The poll's freshness is judged on the monotonic clock, so a step of the wall clock can
    neither hide polls that stopped (a backward step) nor fault polls that go on (a forward
    one). Times in the reasons are wall-clock times, for people.

    Args:
        daemon: the daemon.
        now: the wall-clock instant.
        monotonic: the monotonic reading at ``now``; by default the daemon clock's reading,
            moved by how far ``now`` lies from the clock's own now (a look ahead).
    """
    if monotonic is None:
        ahead_s = (now - daemon.clock.now()).total_seconds()
        monotonic = daemon.clock.monotonic() + ahead_s
    reasons: list[str] = []
    interval = timedelta(seconds=daemon.settings.poll_interval_s)
    if daemon.state.session is None:
        interval = max(interval, timedelta(seconds=daemon.settings.poll_interval_idle_s))
    allowed_s = (HEALTH_POLL_INTERVALS * interval + timedelta(minutes=1)).total_seconds()
    # Until the first poll of this run succeeds, the grace period counts from the start.
    reference = daemon.last_poll_mono
    if reference is None:
        reference = daemon.started_mono
    if reference is None or monotonic - reference > allowed_s:
        last_poll = daemon.state.last_poll_at
        reasons.append(
            "no successful charger poll since "
            + ("start" if last_poll is None else last_poll.isoformat(timespec="seconds"))
        )
    fetched = daemon.feed.last_success_at or daemon.state.last_price_fetch_at
    priced_now = daemon.feed.curve.price_at(now) is not None
    if not priced_now and (fetched is None or now - fetched > HEALTH_PRICES_MAX_AGE):
        reasons.append(
            "no price for now and no price fetch since "
            + ("start" if fetched is None else fetched.isoformat(timespec="seconds"))
        )
    reasons.extend(daemon.disk.problems)
    return Health(ok=not reasons, reasons=tuple(reasons))


class HealthServer:
    """``/healthz`` on ``127.0.0.1:port``.

    Args:
        daemon: the daemon to report on.
        clock: the injected clock.
        port: the port (``SMARTCHARGE_HEALTH_PORT``); 0 binds a free one (tests read ``port``
            after ``start()``). For ``SMARTCHARGE_HEALTH_PORT=0`` the daemon builds no server.
    """

    def __init__(self, daemon: Daemon, clock: Clock, port: int) -> None:
        self._daemon = daemon
        self._clock = clock
        self.port = port
        self._runner: web.AppRunner | None = None

    async def _healthz(self, _request: web.Request) -> web.Response:
        health = check(self._daemon, self._clock.now(), self._clock.monotonic())
        body = {
            "status": "ok" if health.ok else "unhealthy",
            "reasons": list(health.reasons),
            # `smartcharge status` tells a daemon on its own state dir from one on another.
            "state_dir": str(self._daemon.settings.state_dir.resolve()),
        }
        return web.Response(
            status=200 if health.ok else 503,
            text=json.dumps(body),
            content_type="application/json",
        )

    async def start(self) -> None:
        """Start serving."""
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, HOST, self.port)
        await site.start()
        self._runner = runner
        self.port = int(runner.addresses[0][1])

    async def stop(self) -> None:
        """Stop serving."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
