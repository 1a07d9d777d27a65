"""Day-ahead prices: ENTSO-E (entsoe-py), EnergyZero, the ordered chain, the cache, the feed.

``runtime.adapters.build_price_feed(settings, session, clock)`` wires them from the settings;
it is what the daemon and the CLI use. It runs entsoe-py in a worker process per fetch
(``EntsoeRunner.PROCESS``), so pandas never enters the daemon's memory.
"""

from __future__ import annotations

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

__all__ = [
    "ENTSOE_TIMEOUT_S",
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
    "source_zone",
]
