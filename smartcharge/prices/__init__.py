"""Day-ahead prices: ENTSO-E (entsoe-py), EnergyZero, the ordered chain, the cache, the feed.

``build_price_feed(settings, session, clock)`` wires them from the settings; it is what the
daemon and the CLI use. It runs entsoe-py in a worker process per fetch
(``EntsoeRunner.PROCESS``), so pandas never enters the daemon's memory.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog

from smartcharge.clock import Clock
from smartcharge.ports import PriceSource
from smartcharge.prices.cache import PriceCache
from smartcharge.prices.chain import ChainResult, PriceChain, source_zone
from smartcharge.prices.energyzero import EnergyZeroPriceSource
from smartcharge.prices.entsoe import DEFAULT_TIMEOUT_S as ENTSOE_TIMEOUT_S
from smartcharge.prices.entsoe import EntsoePriceSource, EntsoeRunner
from smartcharge.prices.errors import (
    PriceAuthError,
    PriceDataError,
    PriceRateLimitedError,
    PricesNotPublishedError,
    PriceSourceError,
    PriceUnavailableError,
)
from smartcharge.prices.feed import PriceFeed, RefreshResult
from smartcharge.pricing import Tariff

if TYPE_CHECKING:
    import aiohttp

    from smartcharge.config import Settings

log = structlog.get_logger(__name__)

__all__ = [
    "ChainResult",
    "EnergyZeroPriceSource",
    "EntsoePriceSource",
    "EntsoeRunner",
    "PriceAuthError",
    "PriceCache",
    "PriceChain",
    "PriceDataError",
    "PriceFeed",
    "PriceRateLimitedError",
    "PriceSourceError",
    "PricesNotPublishedError",
    "PriceUnavailableError",
    "RefreshResult",
    "build_price_feed",
    "build_sources",
]


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
