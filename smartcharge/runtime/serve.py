"""``smartcharge run``: claim the state dir, serve until SIGTERM or SIGINT, stop cleanly.

The process around one daemon (built by ``runtime.compose``): the one aiohttp session, the
HTTP server (``web.server``: ``/healthz``, the API, the page), the scheduler
(``runtime.jobs``), the clock-step watch and the signals. How a stop unfolds within its budget
is the daemon's (``Daemon.shutdown``). With
``SMARTCHARGE_CHARGER_LINK=ocpp`` the charger is the OCPP link's (``runtime.ocpp_link``): its
endpoint listens before the daemon starts and closes after it stopped (the on-exit rule then
clears or leaves our profile); the Wallbox cloud, when its account is configured, only keeps
the energy cost in the app and caps a charger that ignores OCPP limits
(``runtime.cloud_side``); its pause and resume are never used.
"""

from __future__ import annotations

import asyncio
import functools
import signal
import sys
from collections.abc import Callable
from typing import Any

import structlog

from smartcharge.clock import Clock
from smartcharge.config import ChargerLink, Settings
from smartcharge.errors import ConfigError
from smartcharge.ledger import LEDGER_FILE
from smartcharge.logsetup import configure_logging
from smartcharge.ports import Charger
from smartcharge.runtime.adapters import build_charger, build_ocpp_charger, build_ocpp_link
from smartcharge.runtime.cloud_side import OcppWithCloud
from smartcharge.runtime.compose import build_daemon, build_reloader, daemon_view, open_http
from smartcharge.runtime.jobs import job_specs, poll_interval_s, realign_jobs, schedule
from smartcharge.runtime.ocpp_link import OcppLink
from smartcharge.runtime.steering import link_on_exit
from smartcharge.state import STATE_FILE
from smartcharge.statedir import claim_state_dir
from smartcharge.storage import StateDisk
from smartcharge.web.server import HttpServer

log = structlog.get_logger(__name__)


async def run(settings: Settings, clock: Clock) -> int:
    """Run the daemon until SIGTERM or SIGINT; return the exit status (0).

    First it claims the state dir: the instance lock (one daemon per state dir; the CLI
    commands share it without the lock) and a check that every state file can be used.

    Raises:
        StateError: another daemon uses the state dir, or the state dir or a file in it is
            unusable (one line naming the path, the OS error and the fix).
        ConfigError: a setting is missing or wrong (credentials, strategy).
        SmartchargeError: the charger cannot be found on the account.
    """
    from smartcharge.manual import MANUAL_FILE  # noqa: PLC0415
    from smartcharge.prices.cache import CACHE_FILE  # noqa: PLC0415
    from smartcharge.wallbox.limiter import budget_file_name, budget_lock_name  # noqa: PLC0415
    from smartcharge.wallbox.tokens import TOKEN_FILE  # noqa: PLC0415

    disk = StateDisk()
    user = settings.wallbox_username or ""
    budget = (
        (budget_file_name(user), budget_lock_name(user))
        if settings.wallbox_budget_dir in (None, settings.state_dir)
        else ()
    )
    files = (STATE_FILE, LEDGER_FILE, TOKEN_FILE, *budget, CACHE_FILE, MANUAL_FILE)
    lock = claim_state_dir(settings.state_dir, files, disk)
    try:
        return await _serve(settings, clock, disk)
    finally:
        lock.release()


def cannot_listen(exc: OSError, prefix: str, host: str, port: int) -> ConfigError:
    """Return the one-line error for a server that cannot listen (a port in use, say).

    ``prefix`` names the settings: ``SMARTCHARGE_HTTP`` (``_HOST`` and
    ``SMARTCHARGE_HEALTH_PORT``) or ``SMARTCHARGE_OCPP`` (``_HOST``, ``_PORT``). Nothing has
    been sent to the charger yet, so the car is as it was.
    """
    port_name = "SMARTCHARGE_HEALTH_PORT" if prefix == "SMARTCHARGE_HTTP" else f"{prefix}_PORT"
    off = ", or 0 for no HTTP server" if prefix == "SMARTCHARGE_HTTP" else ""
    why = exc.strerror or str(exc)
    log.error("listen_failed", setting=port_name, host=host, port=port, error=why)
    return ConfigError(
        f"{port_name}={port} (on {prefix}_HOST={host}): cannot listen there: {why}; "
        f"accepted: a port no other program uses on an address of this machine{off}"
    )


async def _serve(settings: Settings, clock: Clock, disk: StateDisk) -> int:
    """Serve until SIGTERM or SIGINT.

    One aiohttp session for the process, the daemon on it (``runtime.compose``), the health
    endpoint and the scheduler; ``disk`` under every state file.
    """
    stop = asyncio.Event()
    install_signal_handlers(stop)
    async with open_http(settings) as http:
        link: OcppLink | None = None
        charger: Charger
        if settings.charger_link is ChargerLink.OCPP:
            link = build_ocpp_link(settings, clock, disk)
            # The cloud beside it (energy cost), when the account is configured: it never
            # polls, so the account's read budget is not shared with it.
            charger, chargers = build_ocpp_charger(settings, link, http, clock, disk), 1
            try:
                await link.start()
            except OSError as exc:
                raise cannot_listen(
                    exc, "SMARTCHARGE_OCPP", settings.ocpp_host, settings.ocpp_port
                ) from None
        else:
            client = build_charger(settings, http, clock, disk)
            charger, chargers = client, client.drive(settings.state_dir)
        log.info("charger_link", link=settings.charger_link.value)
        daemon = build_daemon(settings, clock, http, disk=disk, charger=charger)
        # The .env it was started with: checked every minute and on SIGHUP (issue 14 item 1).
        reloader = build_reloader(daemon, clock, http, relog=_relog)
        install_signal_handlers(stop, on_hangup=reloader.hangup)
        # SMARTCHARGE_HEALTH_PORT=0 means no server at all (not a random port nobody knows):
        # no /healthz, no API, no page.
        health = None
        if settings.health_port:
            view = daemon_view(daemon, reloader)
            health = HttpServer(
                view, settings.http_host, settings.health_port, clock, settings.api_token
            )
            try:
                await health.start()
            except OSError as exc:
                if link is not None:  # nothing was sent yet: the link just closes
                    await link.stop(link_on_exit(daemon.state, settings.on_exit))
                raise cannot_listen(
                    exc, "SMARTCHARGE_HTTP", settings.http_host, settings.health_port
                ) from None
        else:
            log.info("health_endpoint_disabled", setting="SMARTCHARGE_HEALTH_PORT=0")
        scheduler: Any = None
        watch: asyncio.Task[None] | None = None
        starting = daemon.spawn(daemon.start)
        stopping = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if not stop.is_set():
                starting.result()
                scheduler = schedule(daemon, chargers, {"settings": reloader.job})
                read_s = charger.capabilities.min_read_interval_s
                specs = job_specs(settings, read_s, chargers, watch_settings=True)
                watch = asyncio.create_task(
                    daemon.watch_clock(functools.partial(realign_jobs, scheduler, specs))
                )
                log.info(
                    "scheduler_started",
                    jobs=[s.name for s in specs],
                    poll_interval_s=poll_interval_s(settings, read_s, chargers),
                    chargers_on_account=chargers,
                )
                await stopping
            log.info("daemon_stopping")
        finally:
            stopping.cancel()
            if watch is not None:
                watch.cancel()
                await asyncio.wait({watch})
            await daemon.shutdown(scheduler=scheduler)
            if isinstance(charger, OcppWithCloud):
                await charger.release()  # the app's limit as it was, if we lowered it
            if link is not None:
                await link.stop(link_on_exit(daemon.state, settings.on_exit))
            if health is not None:
                await health.stop()
        if not starting.cancelled():
            starting.result()  # a start-up that failed fails the run, after the clean stop
    return 0


def _relog(settings: Settings) -> None:
    """Configure logging again for a new log level or format (as ``run`` configured it)."""
    configure_logging(settings, stream=sys.stderr)


def install_signal_handlers(
    stop: asyncio.Event, on_hangup: Callable[[], object] | None = None
) -> None:
    """Set ``stop`` on SIGTERM or SIGINT; SIGHUP never stops the daemon.

    Args:
        stop: the event ``run()`` waits for.
        on_hangup: what SIGHUP does: a check of the ``.env`` (``SettingsReloader.hangup``);
            without one (the daemon not built yet) it logs ``signal_ignored`` (a host install
            whose terminal closes must not lose its session).
    """
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, on_hangup or _hangup_ignored)


def _hangup_ignored() -> None:
    log.info("signal_ignored", signal="SIGHUP", reason="the daemon is not built yet")


__all__ = ["install_signal_handlers", "run"]
