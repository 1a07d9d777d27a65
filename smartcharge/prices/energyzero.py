"""EnergyZero: the NL day-ahead prices without a key, the fallback when ENTSO-E has none.

``GET {SMARTCHARGE_ENERGYZERO_API_URL}/public/v1/prices?energyType=ENERGY_TYPE_ELECTRICITY
&date=DD-MM-YYYY&interval=INTERVAL_QUARTER`` answers the local Dutch day D together with D-1
and D+1, as far as they are published (``/work/shared/fixtures/energyzero/README.md``). We read
the ``base`` stream, the market price in EUR/kWh without VAT (the SDAC NL price / 1000), and
apply our own tariff to it, exactly as for ENTSO-E. The resolution comes from ``end - start``;
the ``interval`` field has been seen both as a number and as a string and is not relied on.
"""

from __future__ import annotations

import asyncio
import json
import math
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp

from smartcharge.clock import Clock
from smartcharge.domain import PriceSlot
from smartcharge.prices.errors import (
    PriceDataError,
    PriceRateLimitedError,
    PricesNotPublishedError,
    PriceSourceError,
    PriceUnavailableError,
)
from smartcharge.pricing import Tariff

# The public API answers in well under a second; 15 s covers a slow day.
DEFAULT_TIMEOUT_S = 15.0
# EnergyZero's calendar days are Dutch days, whatever the user's time zone.
_NL_TZ = ZoneInfo("Europe/Amsterdam")
_PATH = "/public/v1/prices"
_DEFAULT_RETRY_AFTER = timedelta(minutes=5)


def _parse_instant(raw: Any) -> datetime:
    if not isinstance(raw, str):
        raise ValueError("timestamp is not a string")
    return datetime.fromisoformat(raw.replace("Z", "+00:00")).astimezone(UTC)


def parse_prices_answer(
    body: Any, start: datetime, end: datetime, *, tariff: Tariff, source: str
) -> tuple[PriceSlot, ...]:
    """Turn an answer's ``base`` stream into the slots that start in ``[start, end)``.

    Raises:
        PriceDataError: the answer has not the expected shape or values.
    """
    if not isinstance(body, dict):
        raise PriceDataError(source, "the answer is not a JSON object")
    base = body.get("base")
    if base is None:
        return ()
    if not isinstance(base, list):
        raise PriceDataError(source, "the answer's base prices are not a list")
    slots: list[PriceSlot] = []
    for item in base:
        try:
            at = _parse_instant(item["start"])
            until = _parse_instant(item["end"])
            price = item["price"]["value"]
            spot = Decimal(str(price)) * 1000
            value = float(spot)
        except (KeyError, TypeError, ValueError, InvalidOperation):
            raise PriceDataError(
                source, f"unreadable price entry {str(item)[:80]!r}; keeping the last prices"
            ) from None
        if not math.isfinite(value) or until <= at:
            raise PriceDataError(source, f"bad price entry at {at.isoformat()}")
        if start <= at < end:
            slots.append(tariff.slot(at, until, value, source))
    slots.sort(key=lambda s: s.start)
    return tuple(slots)


class EnergyZeroPriceSource:
    """NL day-ahead prices from EnergyZero's public REST API, through the shared session.

    Args:
        session: the process's aiohttp session (never closed here).
        base_url: ``SMARTCHARGE_ENERGYZERO_API_URL``.
        clock: used to turn ``Retry-After`` into an instant.
        tariff: the tariff applied to every slot.
        timeout_s: the timeout of one request.
    """

    name = "energyzero"

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        clock: Clock,
        *,
        tariff: Tariff,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        self._session = session
        self._url = base_url.rstrip("/") + _PATH
        self._clock = clock
        self._tariff = tariff
        self._timeout_s = timeout_s

    async def fetch(self, start: datetime, end: datetime) -> tuple[PriceSlot, ...]:
        """Return the slots starting in ``[start, end)``, one request per 3 Dutch days.

        Raises:
            PricesNotPublishedError: nothing of the period is published (yet).
            PriceRateLimitedError: HTTP 429.
            PriceUnavailableError: timeout, connection error, HTTP 5xx.
            PriceDataError: not JSON, or JSON of another shape.
            PriceSourceError: any other refusal (HTTP 4xx).
        """
        found: dict[datetime, PriceSlot] = {}
        day = start.astimezone(_NL_TZ).date()
        last = (end - timedelta(microseconds=1)).astimezone(_NL_TZ).date()
        while day <= last:
            answer = await self._get(day)
            for slot in parse_prices_answer(
                answer, start, end, tariff=self._tariff, source=self.name
            ):
                found.setdefault(slot.start, slot)
            if not any(_nl_day(s.start) == day for s in found.values()):
                break  # day D is not out, so nothing after it is either
            # The answer also holds D+1 when it is published: skip asking for it again.
            day += timedelta(days=2 if any(_nl_day(s.start) > day for s in found.values()) else 1)
        if not found:
            raise PricesNotPublishedError(self.name, "no prices published for this period yet")
        return tuple(sorted(found.values(), key=lambda s: s.start))

    async def _get(self, day: date) -> Any:
        params = {
            "energyType": "ENERGY_TYPE_ELECTRICITY",
            "date": day.strftime("%d-%m-%Y"),
            "interval": "INTERVAL_QUARTER",
        }
        where = f"{self._url} (date {params['date']})"
        try:
            async with (
                asyncio.timeout(self._timeout_s),
                self._session.get(
                    self._url, params=params, headers={"Accept": "application/json"}
                ) as resp,
            ):
                text = await resp.text()
                status = resp.status
                content_type = resp.content_type
                retry_after = resp.headers.get("Retry-After", "")
        except TimeoutError:
            raise PriceUnavailableError(
                self.name, f"{where}: no answer within {self._timeout_s:g} s; will retry later"
            ) from None
        except aiohttp.ClientError as err:
            raise PriceUnavailableError(
                self.name, f"{where}: cannot connect ({type(err).__name__}); will retry later"
            ) from None
        if status == 404:
            return {}
        if status == 429:
            retry_at = self._clock.now() + _retry_after(retry_after)
            raise PriceRateLimitedError(
                self.name,
                f"{where} answered HTTP 429; next try at {retry_at:%H:%MZ}",
                retry_at=retry_at,
            )
        if status >= 500:
            raise PriceUnavailableError(self.name, f"{where} answered HTTP {status}; will retry")
        if status >= 400:
            raise PriceSourceError(
                self.name, f"{where} refused the query (HTTP {status}): {_message(text)}"
            )
        if "json" not in content_type:
            raise PriceDataError(
                self.name, f"{where} answered {content_type or 'no content type'}, not JSON"
            )
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            raise PriceDataError(self.name, f"{where} answered invalid JSON") from None


def _nl_day(instant: datetime) -> date:
    return instant.astimezone(_NL_TZ).date()


def _message(text: str) -> str:
    try:
        body = json.loads(text)
    except json.JSONDecodeError:
        return text[:120]
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return str(body["message"])[:200]
    return text[:120]


def _retry_after(raw: str) -> timedelta:
    try:
        seconds = float(raw)
    except ValueError:
        return _DEFAULT_RETRY_AFTER
    return timedelta(seconds=min(max(seconds, 1.0), 6 * 3600.0))
