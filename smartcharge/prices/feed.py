"""The daemon's view of prices: everything known, and when to look for more.

``PriceFeed`` holds the curve (cache plus fetched, all-in, each slot with its source), fetches
what is missing of local today and tomorrow through the ``PriceChain``, stores every change in
the cache, and says when the next refresh is due:

* tomorrow's day-ahead prices are published around 12:45 CET (SDAC results); we look at
  13:00 Europe/Brussels and consider them *due* from then on;
* while something due is missing (or only covered by an approximate stand-in), retry with
  backoff: 5, 10, 20, 40, then every 60 minutes (or later, if a source said ``Retry-After``);
* tomorrow missing before its publication time is normal: the refresh is complete, and the
  next one is due at the publication time.

A step of the wall clock (NTP, a VM resume) moves the next try and the sources' ``Retry-After``
with it (``rebase``, called by the daemon when it notices one): they are waits of passing time.
The publication time is not moved: it is a time of day, read on whatever the clock says now.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import structlog

from smartcharge.clock import Clock
from smartcharge.domain import PriceCurve
from smartcharge.errors import StateError
from smartcharge.prices.cache import PriceCache
from smartcharge.prices.chain import PriceChain, gaps

log = structlog.get_logger(__name__)

# SDAC publishes the next day's prices around 12:45 CET; ENTSO-E and EnergyZero usually have
# them within minutes. The market's clock is CET, whatever SMARTCHARGE_TIMEZONE says.
PUBLICATION_TZ = ZoneInfo("Europe/Brussels")
PUBLICATION_TIME = time(13, 0)
# Backoff while due prices are missing: short at first (a late publication), then hourly so
# an outage of days (ENTSO-E NL in 2026) costs a request an hour per source, not a storm.
BACKOFF = tuple(timedelta(minutes=m) for m in (5, 10, 20, 40, 60))


@dataclass(frozen=True, slots=True)
class RefreshResult:
    """What one refresh did.

    Attributes:
        new_slots: how many slots were added or replaced.
        complete: every period that should be published by now has a price (from any source).
        retry_at: when to try again because something due is missing; None if nothing is.
        error: the sources' failures, one message each, or None.
        failures: the same messages one by one (``source: what went wrong``).
    """

    new_slots: int
    complete: bool
    retry_at: datetime | None
    error: str | None
    failures: tuple[str, ...] = ()


class PriceFeed:
    """Prices for the daemon and the CLI.

    Attributes:
        curve: everything known (cache and fetched), all-in, each slot with its source.
        last_success_at: the last time a source answered *with prices* (loaded from the cache
            at start); a "not published yet" answer does not count.

    Args:
        chain: the sources in order.
        cache: where prices are kept across restarts (None: memory only).
        timezone: ``SMARTCHARGE_TIMEZONE``; "today" and "tomorrow" are local days.
        clock: the injected clock (read only at construction, to load the cache).
    """

    def __init__(
        self, chain: PriceChain, cache: PriceCache | None, timezone: str, clock: Clock
    ) -> None:
        self.chain = chain
        self._cache = cache
        self._tz = ZoneInfo(timezone)
        self._clock = clock
        self.curve = PriceCurve()
        self._fetched_at: dict[datetime, datetime] = {}
        self.last_success_at: datetime | None = None
        if cache is not None:
            loaded = cache.load(clock.now())
            self.curve = loaded.curve
            self._fetched_at = dict(loaded.fetched_at)
            self.last_success_at = loaded.last_fetched_at
        self._failures = 0
        self._retry_at: datetime | None = None

    # --- calendar

    def local_day(self, instant: datetime) -> date:
        """Return the local calendar day of ``instant``."""
        return instant.astimezone(self._tz).date()

    def day_start(self, day: date) -> datetime:
        """Return local midnight at the start of ``day``, in UTC."""
        return datetime.combine(day, time(0), self._tz).astimezone(ZoneInfo("UTC"))

    @staticmethod
    def publication_at(day: date) -> datetime:
        """Return when the day-ahead prices of delivery ``day`` are due (UTC)."""
        before = day - timedelta(days=1)
        return datetime.combine(before, PUBLICATION_TIME, PUBLICATION_TZ).astimezone(
            ZoneInfo("UTC")
        )

    def _due_until(self, now: datetime) -> datetime:
        today = self.local_day(now)
        tomorrow = today + timedelta(days=1)
        if now >= self.publication_at(tomorrow):
            return self.day_start(tomorrow + timedelta(days=1))
        return self.day_start(tomorrow)

    def _exact(self) -> set[str]:
        return {s.source for s in self.curve if self.chain.is_exact(s.source)}

    # --- the interface the daemon uses

    def next_due(self, now: datetime) -> datetime:
        """Return when ``refresh()`` should next run (``now`` when it is due at once)."""
        today = self.local_day(now)
        start = self.day_start(today)
        exact = self._exact()
        if gaps(self.curve, start, self._due_until(now), exact):
            if self._retry_at is not None and self._retry_at > now:
                return self._retry_at
            return now
        tomorrow = today + timedelta(days=1)
        if gaps(self.curve, start, self.day_start(tomorrow + timedelta(days=1)), exact):
            return max(now, self.publication_at(tomorrow))
        return self.publication_at(tomorrow + timedelta(days=1))

    def rebase(self, step: timedelta) -> tuple[str, ...]:
        """Move the next try (and the sources' ``Retry-After``) by a step of the wall clock.

        Returns:
            What was moved: ``prices_retry_at``, ``<source>_retry_after``.
        """
        moved: tuple[str, ...] = ()
        if self._retry_at is not None:
            self._retry_at += step
            moved = ("prices_retry_at",)
        return moved + self.chain.rebase(step)

    async def refresh(self, now: datetime) -> RefreshResult:
        """Fetch what is missing of local today and tomorrow."""
        today = self.local_day(now)
        start = self.day_start(today)
        end = self.day_start(today + timedelta(days=2))
        return await self._fill(start, end, self._due_until(now), now)

    async def ensure_day(self, day: date, now: datetime) -> RefreshResult:
        """Fetch what is missing of the local ``day`` (for ``smartcharge prices --date``)."""
        start = self.day_start(day)
        end = self.day_start(day + timedelta(days=1))
        due_until = min(end, max(start, self._due_until(now)))
        if day < self.local_day(now):
            due_until = end
        return await self._fill(start, end, due_until, now)

    async def _fill(
        self, start: datetime, end: datetime, due_until: datetime, now: datetime
    ) -> RefreshResult:
        new_slots = 0
        failures: tuple[str, ...] = ()
        chain_retry: datetime | None = None
        if gaps(self.curve, start, end, self._exact()):
            outcome = await self.chain.fill(self.curve, start, end, due_until=due_until, now=now)
            failures = tuple(str(f) for f in outcome.failures)
            chain_retry = outcome.retry_at
            if outcome.slots:
                new_slots = len(outcome.slots)
                self.curve = self.curve.merged(outcome.slots)
                for s in outcome.slots:
                    self._fetched_at[s.start] = now
                self.last_success_at = now
                self._save(now)
                log.info(
                    "prices_fetched",
                    slots=new_slots,
                    sources=sorted({s.source for s in outcome.slots}),
                    known_until=_iso(self.curve.known_until),
                )
        complete = not gaps(self.curve, start, due_until)
        missing_due = gaps(self.curve, start, due_until, self._exact())
        retry_at: datetime | None = None
        if missing_due:
            self._failures += 1
            retry_at = now + BACKOFF[min(self._failures, len(BACKOFF)) - 1]
            if chain_retry is not None:
                retry_at = max(retry_at, chain_retry)
            if self._failures == 1:
                log.warning(
                    "prices_missing",
                    start=missing_due[0][0].isoformat(),
                    end=missing_due[-1][1].isoformat(),
                    complete=complete,
                    retry_at=retry_at.isoformat(),
                )
        else:
            if self._failures:
                log.info("prices_complete", known_until=_iso(self.curve.known_until))
            self._failures = 0
        self._retry_at = retry_at
        return RefreshResult(new_slots, complete, retry_at, "; ".join(failures) or None, failures)

    def _save(self, now: datetime) -> None:
        if self._cache is None:
            return
        try:
            self._cache.save(self.curve, self._fetched_at, now)
        except StateError as err:
            log.warning("price_cache_write_failed", error=str(err))


def _iso(instant: datetime | None) -> str | None:
    return instant.isoformat() if instant else None
