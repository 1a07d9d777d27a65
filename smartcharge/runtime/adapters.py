"""The adapters from settings: the only code that turns ``Settings`` into their plain values.

The Wallbox client and the price sources take URLs, limits, timeouts and a way to register
their secrets with the log redaction (``logsetup.register_secret``); they never see
``Settings``. The daemon (``runtime.compose``) and the CLI commands build them here.
"""

from __future__ import annotations

import ssl

import aiohttp
import structlog

from smartcharge.clock import Clock
from smartcharge.config import Settings, account_problems, child_environment
from smartcharge.errors import ConfigError
from smartcharge.logsetup import register_secret
from smartcharge.ocpp import OcppCharger, OcppServer
from smartcharge.ports import PriceSource
from smartcharge.prices import (
    ENTSOE_TIMEOUT_S,
    EnergyZeroPriceSource,
    EntsoePriceSource,
    EntsoeRunner,
    PriceCache,
    PriceChain,
    PriceFeed,
    source_zone,
)
from smartcharge.pricing import Tariff
from smartcharge.runtime.cloud_side import OcppWithCloud
from smartcharge.runtime.ocpp_link import OcppLink
from smartcharge.runtime.ocpp_memory import LinkMemoryStore
from smartcharge.storage import StateDisk
from smartcharge.wallbox import READ_TRIES, WallboxClient

log = structlog.get_logger(__name__)


def build_charger(
    settings: Settings,
    session: aiohttp.ClientSession,
    clock: Clock,
    disk: StateDisk | None = None,
    *,
    read_tries: int = READ_TRIES,
) -> WallboxClient:
    """Return a client for the account and charger ``settings`` name.

    ``read_tries``: how often a failed read is tried (the CLI tries once: a person waits).

    Raises:
        ConfigError: the username or the password is not set.
    """
    problems = account_problems(settings)
    if problems:
        raise ConfigError(problems)
    assert settings.wallbox_username is not None
    assert settings.wallbox_password is not None
    return WallboxClient(
        session,
        api_url=settings.wallbox_api_url,
        auth_url=settings.wallbox_auth_url,
        username=settings.wallbox_username,
        password=settings.wallbox_password,
        clock=clock,
        state_dir=settings.state_dir,
        register_secret=register_secret,
        budget_dir=settings.wallbox_budget_dir,
        charger_id=settings.wallbox_charger_id,
        timeout_s=settings.wallbox_timeout_s,
        reads_per_minute=settings.wallbox_reads_per_minute,
        writes_per_minute=settings.wallbox_writes_per_minute,
        signins_per_hour=settings.wallbox_signins_per_hour,
        disk=disk,
        read_tries=read_tries,
    )


def build_ocpp_link(settings: Settings, clock: Clock, disk: StateDisk | None = None) -> OcppLink:
    """Return the OCPP endpoint and charger ``SMARTCHARGE_OCPP_*`` describe (not listening yet).

    The charger takes the installation's current and phases, and keeps what a restart must
    find again in the state dir (``runtime.ocpp_memory``, on ``disk``); the password
    (security profile 1) is registered with the log redaction; a certificate and key make the
    endpoint wss.

    Raises:
        ConfigError: no charge point id is set (``check-config`` refuses that first).
    """
    if settings.ocpp_charge_point_id is None:
        raise ConfigError(
            ["SMARTCHARGE_OCPP_CHARGE_POINT_ID is not set: expected the Charge Point Identity"]
        )
    password = settings.ocpp_password.get_secret_value() if settings.ocpp_password else None
    register_secret(password)
    context = None
    if settings.ocpp_cert_file is not None and settings.ocpp_key_file is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(settings.ocpp_cert_file, settings.ocpp_key_file)
    charger = OcppCharger(
        settings.ocpp_charge_point_id,
        clock,
        charger_id=settings.wallbox_charger_id or 0,
        max_current_a=settings.max_current_a,
        phases=settings.phases,
        memory=LinkMemoryStore(settings.state_dir, clock, disk),
    )
    server = OcppServer(charger, password=password or None, ssl_context=context)
    return OcppLink(
        charger,
        server,
        settings.ocpp_host,
        settings.ocpp_port,
        scheme="ws" if context is None else "wss",
    )


def build_ocpp_charger(
    settings: Settings,
    link: OcppLink,
    session: aiohttp.ClientSession,
    clock: Clock,
    disk: StateDisk | None = None,
) -> OcppCharger | OcppWithCloud:
    """Return the daemon's charger on the OCPP link: with the cloud beside it when configured.

    With the Wallbox account's username and password (and the charger id, unless the account
    has only one charger) the cloud keeps the energy cost in the app and sets the current of
    a charger that ignores OCPP limits (``runtime.cloud_side``); without them the OCPP charger
    alone, and the energy cost in the app is not kept (logged, and ``status`` says so).
    """
    missing = account_problems(settings)
    if missing:
        log.info(
            "ocpp_cloud_side",
            used=False,
            energy_cost_in_app="not kept",
            why="; ".join(missing),
        )
        return link.charger
    log.info("ocpp_cloud_side", used=True, energy_cost_in_app="kept through the cloud")
    return OcppWithCloud(link.charger, build_charger(settings, session, clock, disk))


def build_sources(
    settings: Settings,
    session: aiohttp.ClientSession,
    clock: Clock,
    *,
    timeout_s: float | None = None,
    entsoe_runner: EntsoeRunner = EntsoeRunner.PROCESS,
) -> list[PriceSource]:
    """Return the sources of ``SMARTCHARGE_PRICE_SOURCES``, in order."""
    tariff = Tariff.from_settings(settings)
    key = settings.entsoe_api_key.get_secret_value() if settings.entsoe_api_key else None
    sources: list[PriceSource] = []
    for item in settings.price_sources:
        base, _, zone = item.partition(":")
        if source_zone(item, settings.bidding_zone) != settings.bidding_zone:
            log.warning(
                "price_source_approximate",
                source=item,
                zone=settings.bidding_zone,
                note="prices of another zone, used only as a stand-in",
            )
        if base == "entsoe":
            sources.append(
                EntsoePriceSource(
                    key,
                    zone or settings.bidding_zone,
                    settings.entsoe_api_url,
                    clock,
                    tariff=tariff,
                    name=item,
                    runner=entsoe_runner,
                    timeout_s=timeout_s or ENTSOE_TIMEOUT_S,
                    worker_env=child_environment(),
                    register_secret=register_secret,
                )
            )
        elif base == "energyzero":
            sources.append(
                EnergyZeroPriceSource(
                    session,
                    settings.energyzero_api_url,
                    clock,
                    tariff=tariff,
                    **({"timeout_s": timeout_s} if timeout_s else {}),
                )
            )
    return sources


def build_price_feed(
    settings: Settings,
    session: aiohttp.ClientSession,
    clock: Clock,
    *,
    timeout_s: float | None = None,
    entsoe_runner: EntsoeRunner = EntsoeRunner.PROCESS,
) -> PriceFeed:
    """Wire the price feed from the settings; the cache is loaded here.

    Args:
        settings: the validated settings.
        session: the process's aiohttp session (EnergyZero uses it).
        clock: the injected clock.
        timeout_s: override the sources' request timeout (tests).
        entsoe_runner: where entsoe-py runs; a worker process per fetch unless a test asks for
            a thread.
    """
    sources = build_sources(
        settings, session, clock, timeout_s=timeout_s, entsoe_runner=entsoe_runner
    )
    chain = PriceChain(sources, settings.bidding_zone)
    cache = PriceCache(settings.state_dir, settings.bidding_zone, Tariff.from_settings(settings))
    return PriceFeed(chain, cache, settings.timezone, clock)


__all__ = [
    "build_charger",
    "build_ocpp_charger",
    "build_ocpp_link",
    "build_price_feed",
    "build_sources",
]
