"""ENTSO-E day-ahead prices (documentType A44) through entsoe-py.

entsoe-py is synchronous (``requests``), so every query runs in a worker thread
(``asyncio.to_thread``) with a ``timeout`` and ``retry_count=1``/``retry_delay=0``: its
``@retry`` decorator would otherwise sleep in the thread; retries are ours (the feed's backoff).

We use ``EntsoeRawClient.query_day_ahead_prices`` (one request, ``offset=0``) and entsoe-py's
own ``parse_prices``, not the pandas client: the pandas client widens the window by a day on
each side, pages with ``offset`` until it gets a no-data answer (several requests per fetch),
and its ``truncate`` keeps the end instant (a 25th hour). The A03 forward fill of left-out
positions is entsoe-py's; the half-open slicing and the choice of the SDAC resolution are ours.
The pandas Series never leave this module: they become ``tuple[PriceSlot, ...]`` here.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import xml.parsers.expat
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
import structlog

from smartcharge.clock import Clock
from smartcharge.domain import PriceSlot
from smartcharge.logsetup import register_secret
from smartcharge.prices.errors import (
    PriceAuthError,
    PriceDataError,
    PriceRateLimitedError,
    PricesNotPublishedError,
    PriceSourceError,
    PriceUnavailableError,
)
from smartcharge.pricing import Tariff

log = structlog.get_logger(__name__)

DEFAULT_ENDPOINT = "https://web-api.tp.entsoe.eu/api"
# The live API answers a day-ahead query in well under a second; 20 s covers a slow day
# without letting one hung request hold a worker thread for long.
DEFAULT_TIMEOUT_S = 20.0
# Slack on top of requests' own timeout (connect + read) before asyncio gives up waiting.
_THREAD_GRACE_S = 5.0
# SDAC moved to 15-minute market time units on 2025-10-01 00:00 Europe/Amsterdam
# (entsoe-py 0.8: ``QUARTER_MTU_SDAC_GOLIVE``).
SDAC_QUARTER_GOLIVE = datetime(2025, 9, 30, 22, 0, tzinfo=UTC)
# Without a Retry-After header, wait this long after a 429.
_DEFAULT_RETRY_AFTER = timedelta(minutes=5)
_RESOLUTIONS = {"15min": 15, "30min": 30, "60min": 60}
_REASON = re.compile(r"<text>([^<]*)</text>", re.IGNORECASE)
_XML_DECL = re.compile(r"^\s*<\?xml[^>]*\?>")
_CURRENCY = re.compile(r"<currency_Unit\.name>\s*([A-Z]{3})\s*<", re.IGNORECASE)


class _EndpointSession(requests.Session):
    """A requests session that sends every request to our endpoint.

    entsoe-py has no base-URL argument: it reads the module global ``entsoe.entsoe.URL`` (set
    from ``ENTSOE_ENDPOINT_URL`` at import time) on every request. Mutating that global is not
    safe when the daemon and the tests query different servers in one process, so instead each
    of our clients gets its own session that replaces whatever URL entsoe-py passes with
    ``SMARTCHARGE_ENTSOE_API_URL``. This is the only endpoint override in the code base.
    """

    def __init__(self, endpoint: str) -> None:
        super().__init__()
        self._endpoint = endpoint

    def request(  # type: ignore[override]  # we only pin the URL and pass the rest through
        self, method: str, url: str, *args: Any, **kwargs: Any
    ) -> requests.Response:
        """Send the request to our endpoint instead of ``url``."""
        return super().request(method, self._endpoint, *args, **kwargs)


def _well_formed(text: str) -> bool:
    """Return whether ``text`` is well-formed XML.

    Python's expat (2.4.1 and later) resolves no external entities and caps entity
    amplification, so this is safe on untrusted input.
    """
    parser = xml.parsers.expat.ParserCreate()
    try:
        parser.Parse(text.encode("utf-8"), True)
    except xml.parsers.expat.ExpatError:
        return False
    return True


def parse_day_ahead(
    text: str,
    start: datetime,
    end: datetime,
    *,
    tariff: Tariff,
    source: str,
) -> tuple[PriceSlot, ...]:
    """Turn an A44 document into the price slots that start in ``[start, end)``.

    One slot per market time unit as published: 60 minutes before the SDAC 15-minute go-live,
    15 minutes after it. When a document holds several resolutions for the same time (another
    auction's series), the SDAC resolution of that time wins and the others are dropped.

    Raises:
        PricesNotPublishedError: the document is the "No matching data found" acknowledgement.
        PriceDataError: the text is not well-formed XML, holds no prices, or not in EUR.
    """
    if not _well_formed(text):
        raise PriceDataError(source, "the answer is not well-formed XML; keeping the last prices")
    if "Acknowledgement_MarketDocument" in text:
        reason = _REASON.search(text)
        why = reason.group(1).strip() if reason else "no reason given"
        if "No matching data found" in why:
            raise PricesNotPublishedError(source, "no prices published for this period yet")
        raise PriceDataError(source, f"the API acknowledged without data: {why[:200]}")
    currency = _CURRENCY.search(text)
    if currency and currency.group(1).upper() != "EUR":
        raise PriceDataError(source, f"prices are in {currency.group(1)}, expected EUR")
    from entsoe.parsers import parse_prices  # noqa: PLC0415 - pandas is heavy; import on demand

    try:
        # Without its XML declaration, bs4's html.parser (which entsoe-py uses) parses the
        # document the same way but does not warn that it looks like XML.
        by_freq = parse_prices(_XML_DECL.sub("", text, count=1))  # type: ignore[no-untyped-call]
    except (AttributeError, ValueError, TypeError, KeyError, IndexError, OverflowError) as err:
        raise PriceDataError(
            source, f"cannot read the price series ({type(err).__name__}); keeping the last prices"
        ) from None
    candidates: list[tuple[int, datetime, int, float]] = []
    for freq, minutes in _RESOLUTIONS.items():
        series = by_freq.get(freq)
        if series is None or len(series) == 0:
            continue
        index = series.index.tz_convert("UTC")
        for stamp, value in zip(index.to_pydatetime(), series.to_numpy(), strict=True):
            at = stamp.replace(tzinfo=UTC)
            preferred = 15 if at >= SDAC_QUARTER_GOLIVE else 60
            rank = 0 if minutes == preferred else 1
            candidates.append((rank, at, minutes, float(value)))
    if not candidates:
        raise PriceDataError(source, "the document holds no prices; keeping the last prices")
    candidates.sort(key=lambda c: (c[0], c[1]))
    taken: list[tuple[datetime, datetime]] = []
    slots: list[PriceSlot] = []
    for _, at, minutes, value in candidates:
        until = at + timedelta(minutes=minutes)
        if not (start <= at < end):
            continue
        if not math.isfinite(value):
            raise PriceDataError(source, f"price at {at.isoformat()} is not a number")
        if any(a < until and at < b for a, b in taken):
            continue
        taken.append((at, until))
        slots.append(tariff.slot(at, until, value, source))
    slots.sort(key=lambda s: s.start)
    return tuple(slots)


class EntsoePriceSource:
    """Day-ahead prices of one bidding zone from the ENTSO-E Transparency Platform.

    Args:
        api_key: the ENTSO-E security token (``SMARTCHARGE_ENTSOE_API_KEY``); registered with
            the log redaction at once. None means not configured: every fetch fails clearly.
        area: a zone code entsoe-py knows (``NL``, ``BE``, ``DE_LU``).
        endpoint_url: ``SMARTCHARGE_ENTSOE_API_URL``.
        clock: used to turn ``Retry-After`` into an instant.
        tariff: the tariff applied to every slot.
        name: the source name recorded on each slot (``entsoe`` or ``entsoe:BE``).
        timeout_s: the per-request timeout (connect and read).
    """

    def __init__(
        self,
        api_key: str | None,
        area: str,
        endpoint_url: str,
        clock: Clock,
        *,
        tariff: Tariff,
        name: str = "entsoe",
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        register_secret(api_key)
        # entsoe-py logs the full query, securityToken included, at DEBUG (STYLE.md §9).
        entsoe_log = logging.getLogger("entsoe")
        if entsoe_log.getEffectiveLevel() < logging.INFO:
            entsoe_log.setLevel(logging.INFO)
        self.name = name
        self.area = area
        self._api_key = api_key
        self._endpoint = endpoint_url
        self._clock = clock
        self._tariff = tariff
        self._timeout_s = timeout_s

    def __repr__(self) -> str:
        return f"EntsoePriceSource(area={self.area!r}, endpoint={self._endpoint!r})"

    async def fetch(self, start: datetime, end: datetime) -> tuple[PriceSlot, ...]:
        """Return the slots starting in ``[start, end)``.

        Raises:
            PricesNotPublishedError: ENTSO-E has no prices for the period (yet).
            PriceAuthError: no key, or the key was refused (HTTP 401).
            PriceRateLimitedError: HTTP 429; ``retry_at`` from ``Retry-After``.
            PriceUnavailableError: timeout, connection error or HTTP 5xx.
            PriceDataError: malformed XML or no price series.
            PriceSourceError: any other refusal (HTTP 4xx).
        """
        if not self._api_key:
            raise PriceAuthError(
                self.name, "SMARTCHARGE_ENTSOE_API_KEY is not set; ENTSO-E needs a security token"
            )
        try:
            async with asyncio.timeout(self._timeout_s * 2 + _THREAD_GRACE_S):
                return await asyncio.to_thread(self._fetch_blocking, start, end)
        except TimeoutError:
            raise PriceUnavailableError(
                self.name, f"no answer within {self._timeout_s:g} s; will retry later"
            ) from None

    def _fetch_blocking(self, start: datetime, end: datetime) -> tuple[PriceSlot, ...]:
        """Query and parse in the worker thread (parsing a day takes tens of ms)."""
        text = self._query(start, end)
        return parse_day_ahead(text, start, end, tariff=self._tariff, source=self.name)

    def _query(self, start: datetime, end: datetime) -> str:
        """Run one blocking A44 query (in a worker thread) and return the body."""
        import pandas as pd  # noqa: PLC0415 - heavy; only in the worker thread
        from entsoe.entsoe import EntsoeRawClient  # noqa: PLC0415
        from entsoe.exceptions import NoMatchingDataError  # noqa: PLC0415

        session = _EndpointSession(self._endpoint)
        try:
            client = EntsoeRawClient(
                api_key=self._api_key or "",
                session=session,
                retry_count=1,
                retry_delay=0,
                timeout=self._timeout_s,  # type: ignore[arg-type]  # requests takes a float
            )
            sequence = 1 if self.area in ("DE_LU", "AT") else None
            return str(
                client.query_day_ahead_prices(
                    self.area,
                    start=pd.Timestamp(start),
                    end=pd.Timestamp(end),
                    sequence=sequence,  # type: ignore[arg-type]  # declared int, None is its default
                )
            )
        except NoMatchingDataError:
            raise PricesNotPublishedError(
                self.name, "no prices published for this period yet"
            ) from None
        except requests.HTTPError as err:
            raise self._http_error(err.response) from None
        except requests.Timeout:
            raise PriceUnavailableError(
                self.name, f"no answer within {self._timeout_s:g} s; will retry later"
            ) from None
        except requests.RequestException as err:
            # Never str(err): requests puts the URL, securityToken included, into it.
            raise PriceUnavailableError(
                self.name, f"cannot reach {self._endpoint} ({type(err).__name__}); will retry"
            ) from None
        except PriceSourceError:
            raise
        except Exception as err:  # noqa: BLE001 - entsoe-py raises its own and bs4 errors
            raise PriceSourceError(self.name, f"the query failed ({type(err).__name__})") from None
        finally:
            session.close()

    def _http_error(self, response: requests.Response | None) -> PriceSourceError:
        status = response.status_code if response is not None else 0
        where = f"{self._endpoint} answered HTTP {status}"
        if status == 401:
            return PriceAuthError(
                self.name,
                f"{where}: the security token was refused; check SMARTCHARGE_ENTSOE_API_KEY",
            )
        if status == 429:
            retry_at = self._clock.now() + _retry_after(response)
            return PriceRateLimitedError(
                self.name,
                f"{where} (rate limited); next try at {retry_at:%H:%MZ}",
                retry_at=retry_at,
            )
        if status >= 500:
            return PriceUnavailableError(self.name, f"{where}; will retry later")
        return PriceSourceError(self.name, f"{where}; the query was refused")


def _retry_after(response: requests.Response | None) -> timedelta:
    raw = response.headers.get("Retry-After", "") if response is not None else ""
    try:
        seconds = float(raw)
    except ValueError:
        return _DEFAULT_RETRY_AFTER
    return timedelta(seconds=min(max(seconds, 1.0), 6 * 3600.0))
