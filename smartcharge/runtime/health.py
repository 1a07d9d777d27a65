"""The health endpoint for the container's HEALTHCHECK: ``GET /healthz`` on 127.0.0.1.

200 ``ok`` while the last poll of the charger and the last price fetch are recent enough;
503 with the reason otherwise. Recent enough means:

- the poll: within ``HEALTH_POLL_INTERVALS`` poll intervals (plus a minute), counted from the
  daemon's start until the first poll succeeds, on the monotonic clock (a step of the wall
  clock changes nothing);
- the prices: a successful fetch within ``HEALTH_PRICES_MAX_AGE``, or a known price for now;
- the state: every state file could be saved the last time it was written (a full or read-only
  disk turns this 503 with the path and the OS error, while the charger is still driven).

The server knows nothing of the daemon: it reads ``HealthFacts``, a plain value that the
composition root (``runtime.compose.health_facts``) takes from the daemon on each request.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from aiohttp import web

from smartcharge.domain import PriceCurve

HOST = "127.0.0.1"
# The poll counts as recent for /healthz for this many poll intervals (plus a minute of slack).
HEALTH_POLL_INTERVALS = 3
# A price fetch counts as recent for this long: prices are published once a day; one missed
# publication is tolerated as long as prices for the current slot are still known.
HEALTH_PRICES_MAX_AGE = timedelta(hours=36)


@dataclass(frozen=True, slots=True)
class HealthFacts:
    """What the health check reads from the daemon, taken at one instant.

    Attributes:
        read_at: the wall-clock instant the facts were taken.
        read_mono: the monotonic reading at ``read_at``.
        poll_interval: the poll interval in force (the idle one while no session runs).
        started_mono: the monotonic reading at the daemon's start (None: not started).
        last_poll_mono: the monotonic reading at this run's last successful poll, or None.
        last_poll_at: the wall-clock instant of the last successful poll (any run), or None.
        last_price_fetch_at: the last successful price fetch, or None.
        prices: the known all-in prices.
        problems: the state files that could not be saved, one line each.
        state_dir: the daemon's state dir.
        settings_problems: why the last edit of ``.env`` was refused, while it is in the file
            (the daemon runs on the settings before it: shown, never a reason for 503).
    """

    read_at: datetime
    read_mono: float
    poll_interval: timedelta
    started_mono: float | None
    last_poll_mono: float | None
    last_poll_at: datetime | None
    last_price_fetch_at: datetime | None
    prices: PriceCurve
    problems: tuple[str, ...]
    state_dir: Path
    settings_problems: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Health:
    """The daemon's health.

    Attributes:
        ok: whether all is well.
        reasons: what is wrong, one line each.
    """

    ok: bool
    reasons: tuple[str, ...]


def check(facts: HealthFacts, now: datetime, monotonic: float | None = None) -> Health:
    """Return the daemon's health at ``now``.

    The poll's freshness is judged on the monotonic clock, so a step of the wall clock can
    neither hide polls that stopped (a backward step) nor fault polls that go on (a forward
    one). Times in the reasons are wall-clock times, for people.

    Args:
        facts: what the daemon reported.
        now: the wall-clock instant.
        monotonic: the monotonic reading at ``now``; by default the facts' own reading, moved
            by how far ``now`` lies from when they were taken (a look ahead).
    """
    if monotonic is None:
        monotonic = facts.read_mono + (now - facts.read_at).total_seconds()
    reasons: list[str] = []
    allowed_s = (HEALTH_POLL_INTERVALS * facts.poll_interval + timedelta(minutes=1)).total_seconds()
    # Until the first poll of this run succeeds, the grace period counts from the start.
    reference = facts.last_poll_mono
    if reference is None:
        reference = facts.started_mono
    if reference is None or monotonic - reference > allowed_s:
        last_poll = facts.last_poll_at
        reasons.append(
            "no successful charger poll since "
            + ("start" if last_poll is None else last_poll.isoformat(timespec="seconds"))
        )
    fetched = facts.last_price_fetch_at
    priced_now = facts.prices.price_at(now) is not None
    if not priced_now and (fetched is None or now - fetched > HEALTH_PRICES_MAX_AGE):
        reasons.append(
            "no price for now and no price fetch since "
            + ("start" if fetched is None else fetched.isoformat(timespec="seconds"))
        )
    reasons.extend(facts.problems)
    return Health(ok=not reasons, reasons=tuple(reasons))


class HealthServer:
    """``/healthz`` on ``127.0.0.1:port``.

    Args:
        facts: returns the daemon's health facts now (called once per request).
        port: the port (``SMARTCHARGE_HEALTH_PORT``); 0 binds a free one (tests read ``port``
            after ``start()``). For ``SMARTCHARGE_HEALTH_PORT=0`` the daemon builds no server.
    """

    def __init__(self, facts: Callable[[], HealthFacts], port: int) -> None:
        self._facts = facts
        self.port = port
        self._runner: web.AppRunner | None = None

    async def _healthz(self, _request: web.Request) -> web.Response:
        facts = self._facts()
        health = check(facts, facts.read_at, facts.read_mono)
        body = {
            "status": "ok" if health.ok else "unhealthy",
            "reasons": list(health.reasons),
            # `smartcharge status` tells a daemon on its own state dir from one on another.
            "state_dir": str(facts.state_dir.resolve()),
            # A refused .env edit: the daemon works (on the previous settings), so still 200.
            "settings_problems": list(facts.settings_problems),
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
