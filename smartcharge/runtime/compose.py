"""The composition root: the one place that builds a daemon from settings.

``smartcharge run`` (``runtime.serve``), ``smartcharge demo`` and every test that runs a daemon
build it here, so each is wired the same way: the Wallbox client and the price feed on the
process's one aiohttp session (``open_http``, one timeout), the strategy the settings name, and
one ``StateDisk`` under every state file.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp

from smartcharge.clock import Clock
from smartcharge.config import Settings, energy_cost_in_app
from smartcharge.errors import SmartchargeError
from smartcharge.http import open_session
from smartcharge.ports import Charger
from smartcharge.prices.energyzero import DEFAULT_TIMEOUT_S as ENERGYZERO_TIMEOUT_S
from smartcharge.runtime.adapters import build_charger, build_price_feed
from smartcharge.runtime.daemon import Daemon
from smartcharge.runtime.envwatch import EnvWatcher, LiveSettings
from smartcharge.runtime.jobs import poll_interval_s
from smartcharge.runtime.plan_profile import PlanKeeper, drop_plan, send_plan
from smartcharge.runtime.reload import SettingsReloader
from smartcharge.runtime.report_tick import ReportingCharger, tick_on_reports
from smartcharge.session.steering import (
    SessionOverride,
    SteerOutcome,
    SteerRequest,
    SteerSource,
    SteerTarget,
    stopping,
)
from smartcharge.storage import StateDisk
from smartcharge.web.health import HealthFacts, check
from smartcharge.web.view import ApiFacts, CarFigures, DaemonView
from strategies.base import Strategy

# The session's total timeout is a backstop, never the bound that fires first: each client
# bounds its own requests (the Wallbox client with SMARTCHARGE_WALLBOX_TIMEOUT_S, EnergyZero with
# its own timeout; entsoe-py runs in a worker process, outside the session). So the session
# allows the longest of those plus this much for the connection set-up and reading the body;
# with the defaults (20 s, 15 s) that is 30 s.
SESSION_SLACK_S = 10.0


def session_timeout_s(settings: Settings) -> float:
    """Return the total timeout of the process's one aiohttp session (see ``SESSION_SLACK_S``)."""
    return max(settings.wallbox_timeout_s, ENERGYZERO_TIMEOUT_S) + SESSION_SLACK_S


def open_http(settings: Settings) -> aiohttp.ClientSession:
    """Return the process's one aiohttp session (use ``async with``)."""
    return open_session(session_timeout_s(settings))


def build_strategy(settings: Settings) -> Strategy:
    """Return the strategy ``SMARTCHARGE_STRATEGY`` names (ConfigError for an unknown one)."""
    from strategies import get_strategy  # noqa: PLC0415 - the registry imports every strategy

    return get_strategy(settings.strategy, max_price=settings.max_price)


def build_daemon(
    settings: Settings,
    clock: Clock,
    http: aiohttp.ClientSession,
    *,
    disk: StateDisk | None = None,
    charger: Charger | None = None,
    on_event: Callable[[str, dict[str, Any]], None] | None = None,
    price_timeout_s: float | None = None,
) -> Daemon:
    """Return a daemon wired from ``settings``; its state is loaded, nothing is sent yet.

    Args:
        settings: the validated settings.
        clock: the injected clock.
        http: the session from ``open_http``.
        disk: the state folder's file system, under every store (the daemon's, the client's
            limiter and token store); a fresh ``StateDisk`` by default.
        charger: the charger: a client already built with ``build_charger`` (``run``
            registers it as the account's driver first), or the OCPP link's charger
            (``build_ocpp_link``, whose endpoint ``run`` serves); the cloud client is built
            here by default. A charger that keeps the plan itself (``plan_profile``) gets
            every new plan (``keep_plan_in_charger``); one that tells its reports as they
            come (``ReportingCharger``) starts a tick for a report that matters
            (``runtime.report_tick``).
        on_event: an observer of every decision event (the demo prints them).
        price_timeout_s: the price sources' request timeout, shorter than their default where
            a test injects hangs.

    Raises:
        ConfigError: a setting is missing or wrong (credentials, strategy).
    """
    disk = StateDisk() if disk is None else disk
    strategy = build_strategy(settings)
    if charger is None:
        charger = build_charger(settings, http, clock, disk)
    feed = build_price_feed(settings, http, clock, timeout_s=price_timeout_s)
    daemon = Daemon(settings, clock, charger, feed, strategy, on_event=on_event, disk=disk)
    if charger.capabilities.plan_profile and isinstance(charger, PlanKeeper):
        keep_plan_in_charger(daemon, charger)
    if isinstance(charger, ReportingCharger):
        tick_on_reports(daemon, charger)
    return daemon


def keep_plan_in_charger(daemon: Daemon, charger: PlanKeeper) -> None:
    """Send every new plan of ``daemon`` to ``charger`` too (``runtime.plan_profile``).

    It observes the daemon's ``plan_made`` events (and ``target_met``, which drops the plan's
    full-current tail), beside any observer already set, and sends as the daemon's own work,
    so a stop waits for it or cuts it short.
    """
    observer = daemon.on_event

    def on_event(name: str, data: dict[str, Any]) -> None:
        if observer is not None:
            observer(name, data)
        session = daemon.state.session
        if name == "target_met":

            async def drop() -> None:
                await drop_plan(charger)

            daemon.spawn(drop)
            return
        if name != "plan_made" or session is None:
            return
        margin = daemon.rules.deadline_margin
        now = daemon.clock.now()
        top = daemon.settings.max_current_a

        async def send() -> None:
            await send_plan(charger, session, now, margin, top)

        daemon.spawn(send)

    daemon.on_event = on_event


def health_facts(daemon: Daemon, reloader: SettingsReloader | None = None) -> HealthFacts:
    """Return what ``/healthz`` judges, read from ``daemon`` now (and a refused .env edit)."""
    settings = daemon.settings
    read_s = daemon.charger.capabilities.min_read_interval_s
    interval = timedelta(seconds=poll_interval_s(settings, read_s))
    if daemon.state.session is None:
        interval = max(interval, timedelta(seconds=settings.poll_interval_idle_s))
    return HealthFacts(
        read_at=daemon.clock.now(),
        read_mono=daemon.clock.monotonic(),
        poll_interval=interval,
        started_mono=daemon.started_mono,
        last_poll_mono=daemon.last_poll_mono,
        last_poll_at=daemon.state.last_poll_at,
        last_price_fetch_at=daemon.feed.last_success_at or daemon.state.last_price_fetch_at,
        prices=daemon.feed.curve,
        problems=tuple(daemon.disk.problems),
        state_dir=settings.state_dir,
        settings_problems=() if reloader is None else reloader.problems,
    )


class _LiveView:
    """The running daemon as the HTTP server sees it (``web.view.DaemonView``)."""

    def __init__(self, daemon: Daemon, reloader: SettingsReloader | None) -> None:
        self._daemon = daemon
        self._reloader = reloader

    def health(self) -> HealthFacts:
        return health_facts(self._daemon, self._reloader)

    def facts(self) -> ApiFacts:
        daemon = self._daemon
        settings = daemon.settings
        health = self.health()
        profile = daemon.finished.car_profile
        try:
            ledger, problem = tuple(daemon.ledger.entries()), None
        except SmartchargeError as exc:  # a newer or unreadable ledger: said, never a 500
            ledger, problem = (), str(exc)
        return ApiFacts(
            now=health.read_at,
            link=settings.charger_link.value,
            timezone=ZoneInfo(settings.timezone),
            state=daemon.state,
            prices=health.prices,
            health=check(health, health.read_at, health.read_mono),
            energy_cost_in_app=energy_cost_in_app(settings),
            car=None
            if profile is None
            else CarFigures(
                profile, settings.max_current_a, settings.phases * settings.voltage_v / 1000.0
            ),
            settings_problems=health.settings_problems,
            ledger=ledger,
            ledger_problem=problem,
        )

    async def steer(self, request: SteerRequest, source: SteerSource) -> SteerOutcome:
        # As the daemon's own work (``run_job``): none starts once the daemon stops, and one
        # in flight when the stop begins is cut short once the stop holds the tick lock (what
        # it applied by then is saved, and answered). So a request never plans or sends after
        # the stop's on-exit rule, and the server's stop never waits for a lock held for good.
        daemon = self._daemon
        before = _overrides(daemon)
        outcomes: list[SteerOutcome] = []

        async def job() -> None:
            outcomes.append(await daemon.steer(request, source))

        await daemon.run_job(job)
        if outcomes:
            return outcomes[0]
        after = _overrides(daemon)
        if after == before:
            return stopping(request)  # refused at the door, or cut short before it applied
        # Cut short after it was applied and saved (in the tick that plans it again).
        session, waiting = after
        if daemon.state.session is not None:
            return SteerOutcome(None, session, SteerTarget.SESSION)
        return SteerOutcome(None, waiting, SteerTarget.NEXT_SESSION)


def _overrides(daemon: Daemon) -> tuple[SessionOverride | None, SessionOverride | None]:
    session = daemon.state.session
    return (None if session is None else session.override, daemon.state.next_override)


def daemon_view(daemon: Daemon, reloader: SettingsReloader | None = None) -> DaemonView:
    """Return ``daemon`` as the HTTP server sees it (its facts now, its ``steer``)."""
    return _LiveView(daemon, reloader)


def build_reloader(
    daemon: Daemon,
    clock: Clock,
    http: aiohttp.ClientSession,
    *,
    environ: Mapping[str, str] | None = None,
    relog: Callable[[Settings], None] | None = None,
    price_timeout_s: float | None = None,
) -> SettingsReloader:
    """Return the watcher of the ``.env`` ``daemon`` was started with, applying its edits.

    Args:
        daemon: the running daemon (its settings were loaded from that file).
        clock: the injected clock (paces the checks).
        http: the process's session (a new price feed is built on it for a new tariff).
        environ: the environment to load with (None: the process's, as ``run`` loads).
        relog: configures logging again for a new log level or format.
        price_timeout_s: as for ``build_daemon``.
    """
    live = LiveSettings(EnvWatcher(daemon.settings, clock, environ=environ))
    return SettingsReloader(
        daemon,
        live,
        strategy_for=build_strategy,
        feed_for=lambda s: build_price_feed(s, http, clock, timeout_s=price_timeout_s),
        relog=relog,
    )


__all__ = [
    "SESSION_SLACK_S",
    "build_daemon",
    "build_reloader",
    "build_strategy",
    "daemon_view",
    "health_facts",
    "keep_plan_in_charger",
    "open_http",
    "session_timeout_s",
]
