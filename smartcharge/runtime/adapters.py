"""The adapters from settings: the only code that turns ``Settings`` into their plain values.

The Wallbox client and the price sources take URLs, limits, timeouts and a way to register
their secrets with the log redaction (``logsetup.register_secret``); they never see
``Settings``. The daemon (``runtime.compose``) and the CLI commands build them here.
"""

from __future__ import annotations

import aiohttp
import structlog

from smartcharge.clock import Clock
from smartcharge.config import Settings, account_problems, child_environment
from smartcharge.errors import ConfigError
from smartcharge.logsetup import register_secret
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


__all__ = ["build_charger", "build_price_feed", "build_sources"]
