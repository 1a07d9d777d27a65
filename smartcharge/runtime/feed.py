"""What the daemon needs of the price feed (``smartcharge.prices.PriceFeed`` provides it)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Protocol

from smartcharge.domain import PriceCurve
from smartcharge.session.events import Event, Level, event


class RefreshOutcome(Protocol):
    """What a price refresh reports (``smartcharge.prices``)."""

    @property
    def complete(self) -> bool:
        """Whether every price that is due is now known."""
        ...

    @property
    def retry_at(self) -> datetime | None:
        """When to try again, if the refresh was not complete."""
        ...

    @property
    def error(self) -> object:
        """What went wrong, if anything."""
        ...


class PriceFeed(Protocol):
    """The daemon's view of the price feed (``smartcharge.prices.build_price_feed``)."""

    @property
    def curve(self) -> PriceCurve:
        """Return the known all-in prices."""
        ...

    @property
    def last_success_at(self) -> datetime | None:
        """Return when prices were last fetched successfully."""
        ...

    def next_due(self, now: datetime) -> datetime:
        """Return when the next fetch is due."""
        ...

    async def refresh(self, now: datetime) -> RefreshOutcome:
        """Fetch what is due and merge it into ``curve``."""
        ...

    def rebase(self, step: timedelta) -> tuple[str, ...]:
        """Move the waits it holds by a step of the wall clock; return what was moved."""
        ...


async def refresh_prices(feed: PriceFeed, now: datetime) -> tuple[bool, tuple[Event, ...]]:
    """Fetch what is due; return whether the known prices changed, and what to log."""
    before = feed.curve
    result = await feed.refresh(now)
    events: list[Event] = []
    if result.error is not None or not result.complete:
        events.append(
            event(
                "price_fetch_deferred",
                Level.WARNING if result.error is not None else Level.INFO,
                retry_at=None if result.retry_at is None else result.retry_at.isoformat(),
                error=None if result.error is None else str(result.error),
            )
        )
    curve = feed.curve
    if curve == before:
        return False, tuple(events)
    events.append(
        event(
            "prices_updated",
            slots=len(curve),
            known_until=None if curve.known_until is None else curve.known_until.isoformat(),
        )
    )
    return True, tuple(events)
