"""Fetched prices on disk, so a restart does not refetch what is known.

One checksummed JSON document (``smartcharge.storage``: atomic replace, mode 0600, previous copy
kept as ``.bak``) in the state dir, ``prices.json``. It holds the bidding zone and, per slot, the
spot price as published, its source and when it was fetched. The all-in price is not stored: it
is recomputed with the tariff in force when the cache is loaded, so a changed tariff applies at
once. A corrupt or foreign file, or one of another zone, is logged and ignored, never a crash.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import structlog

from smartcharge.domain import PriceCurve, PriceSlot
from smartcharge.pricing import Tariff
from smartcharge.storage import load_document, save_document

log = structlog.get_logger(__name__)

CACHE_FILE = "prices.json"
CACHE_KIND = "smartcharge.prices"
CACHE_VERSION = 1
# Slots fetched more than this long ago are dropped on save: enough for the ledger to price a
# session across a restart and for `smartcharge prices --date` on a day looked at recently,
# while the file stays small (a month of quarter-hours is about 3,000 slots).
KEEP_FETCHED = timedelta(days=31)


def _iso(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _instant(raw: Any) -> datetime:
    if not isinstance(raw, str):
        raise ValueError("not a timestamp")
    return datetime.fromisoformat(raw.replace("Z", "+00:00")).astimezone(UTC)


@dataclass(frozen=True, slots=True)
class CachedPrices:
    """What the cache held.

    Attributes:
        curve: the slots, all-in under the current tariff.
        fetched_at: when each slot (by start) was fetched.
    """

    curve: PriceCurve
    fetched_at: Mapping[datetime, datetime]

    @property
    def last_fetched_at(self) -> datetime | None:
        """Return the most recent fetch time, or None for an empty cache."""
        return max(self.fetched_at.values(), default=None)


class PriceCache:
    """The price cache of one bidding zone.

    Args:
        state_dir: ``SMARTCHARGE_STATE_DIR``.
        zone: the bidding zone the prices belong to.
        tariff: applied to every loaded slot.
    """

    def __init__(self, state_dir: Path, zone: str, tariff: Tariff) -> None:
        self.path = state_dir / CACHE_FILE
        self._zone = zone
        self._tariff = tariff

    def load(self, now: datetime) -> CachedPrices:
        """Return the cached prices; an unusable file is logged and yields an empty result."""
        empty = CachedPrices(PriceCurve(), {})
        result = load_document(self.path, CACHE_KIND, now)
        if result.problem:
            log.warning(
                "price_cache_ignored",
                path=str(self.path),
                problem=result.problem,
                moved_to=str(result.moved_to) if result.moved_to else None,
                used_backup=result.used_backup,
            )
        if result.data is None:
            return empty
        data = result.data
        if result.version != CACHE_VERSION or not isinstance(data, dict):
            log.warning("price_cache_ignored", path=str(self.path), problem="unknown version")
            return empty
        if data.get("zone") != self._zone:
            log.warning(
                "price_cache_ignored",
                path=str(self.path),
                problem=f"prices of zone {data.get('zone')!r}, not {self._zone!r}",
            )
            return empty
        slots: list[PriceSlot] = []
        fetched: dict[datetime, datetime] = {}
        try:
            for item in data["slots"]:
                start = _instant(item["start"])
                spot = float(item["spot_eur_mwh"])
                slots.append(
                    self._tariff.slot(start, _instant(item["end"]), spot, str(item["source"]))
                )
                fetched[start] = _instant(item["fetched_at"])
            curve = PriceCurve(slots)
        except (KeyError, TypeError, ValueError) as err:
            log.warning(
                "price_cache_ignored",
                path=str(self.path),
                problem=f"unreadable slot ({type(err).__name__}: {err})",
            )
            return empty
        log.info("price_cache_loaded", path=str(self.path), slots=len(curve))
        return CachedPrices(curve, fetched)

    def save(
        self, curve: PriceCurve, fetched_at: Mapping[datetime, datetime], now: datetime
    ) -> None:
        """Write ``curve`` (minus slots fetched over a month ago) atomically.

        Raises:
            StateError: when the file cannot be written (the old one stays).
        """
        oldest = now - KEEP_FETCHED
        data = {
            "zone": self._zone,
            "saved_at": _iso(now),
            "slots": [
                {
                    "start": _iso(s.start),
                    "end": _iso(s.end),
                    "spot_eur_mwh": s.spot_eur_per_mwh,
                    "source": s.source,
                    "fetched_at": _iso(fetched_at.get(s.start, now)),
                }
                for s in curve
                if fetched_at.get(s.start, now) > oldest
            ],
        }
        save_document(self.path, CACHE_KIND, CACHE_VERSION, data)


__all__ = ["CACHE_FILE", "CachedPrices", "PriceCache"]
