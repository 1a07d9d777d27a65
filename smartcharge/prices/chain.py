"""The price sources asked in the configured order (``SMARTCHARGE_PRICE_SOURCES``).

The first source is asked for everything missing. The next one is asked only for what is still
missing of a period that should be published by now (today, or tomorrow after its publication
time), because the one before has no data for it or failed. A source's slots fill gaps only;
they never replace the slots of a source before it, except that an approximate stand-in
(``entsoe:BE`` for NL) is replaced as soon as an exact source has that period. Every slot keeps
its source. Switching to a fallback and back is logged once each; a source's outage is logged
when it starts and when it ends, never on every try.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog

from smartcharge.domain import PriceCurve, PriceSlot
from smartcharge.ports import PriceSource
from smartcharge.prices.errors import (
    PriceAuthError,
    PricesNotPublishedError,
    PriceSourceError,
)

log = structlog.get_logger(__name__)

# A refused key will not fix itself: ask that source again only this often (the next sources
# are asked meanwhile); a restart with a new key asks at once.
AUTH_BLOCK = timedelta(hours=1)
# Sources that publish prices for one zone only, whatever SMARTCHARGE_BIDDING_ZONE says.
_SOURCE_ZONES = {"energyzero": "NL"}


def source_zone(name: str, zone: str) -> str:
    """Return the zone a source's prices belong to (``entsoe:BE`` -> ``BE``)."""
    base, _, own = name.partition(":")
    return own or _SOURCE_ZONES.get(base, zone)


@dataclass(frozen=True, slots=True)
class ChainResult:
    """What one pass over the sources brought.

    Attributes:
        slots: the new slots, each filling a gap (or replacing an approximate stand-in).
        failures: the errors of the sources that failed.
        not_published: the sources that answered "not published yet".
        retry_at: the latest ``Retry-After`` instant a source asked for, if any.
    """

    slots: tuple[PriceSlot, ...]
    failures: tuple[PriceSourceError, ...]
    not_published: tuple[str, ...]
    retry_at: datetime | None


def gaps(
    curve: PriceCurve, start: datetime, end: datetime, accept: set[str] | None = None
) -> list[tuple[datetime, datetime]]:
    """Return the parts of ``[start, end)`` no slot covers (only slots of ``accept`` count)."""
    out: list[tuple[datetime, datetime]] = []
    cursor = start
    for s in curve.between(start, end):
        if accept is not None and s.source not in accept:
            continue
        if s.start > cursor:
            out.append((cursor, min(s.start, end)))
        cursor = max(cursor, s.end)
    if cursor < end:
        out.append((cursor, end))
    return out


class PriceChain:
    """Ask ``sources`` in order until the asked period is covered.

    Args:
        sources: in the configured order; each has a unique ``name``.
        zone: ``SMARTCHARGE_BIDDING_ZONE``; a source of another zone is an approximate stand-in.
    """

    def __init__(self, sources: Sequence[PriceSource], zone: str) -> None:
        self.sources = tuple(sources)
        self.zone = zone
        self._names = [s.name for s in self.sources]
        self._blocked_until: dict[str, datetime] = {}
        self._failing: set[str] = set()
        self._serving: str | None = None

    def is_exact(self, source: str) -> bool:
        """Return whether ``source`` publishes the prices of our own zone."""
        return source_zone(source, self.zone) == self.zone

    def rank(self, source: str) -> int:
        """Return the position of ``source`` in the order (unknown sources come last)."""
        return self._names.index(source) if source in self._names else len(self._names)

    async def fill(
        self,
        curve: PriceCurve,
        start: datetime,
        end: datetime,
        *,
        due_until: datetime,
        now: datetime,
    ) -> ChainResult:
        """Ask the sources for what ``curve`` lacks of ``[start, end)``.

        Args:
            curve: what is known already.
            start: first instant wanted.
            end: first instant not wanted.
            due_until: up to here prices should be published by now; the fallbacks are asked
                only for gaps before it.
            now: the current instant.
        """
        current = curve
        new: list[PriceSlot] = []
        failures: list[PriceSourceError] = []
        not_published: list[str] = []
        retry_at: datetime | None = None
        served: list[int] = []
        for i, source in enumerate(self.sources):
            accept = {s.source for s in current if self.is_exact(s.source)}
            accept |= {s.source for s in current if self.rank(s.source) <= i}
            wanted = gaps(current, start, end, accept)
            if i > 0:
                wanted = [(a, min(b, due_until)) for a, b in wanted if a < due_until]
            if not wanted:
                break
            blocked = self._blocked_until.get(source.name)
            if blocked is not None and blocked > now:
                log.debug("price_source_skipped", source=source.name, until=blocked.isoformat())
                continue
            try:
                got = await source.fetch(wanted[0][0], wanted[-1][1])
            except PricesNotPublishedError:
                self._answered(source.name)
                not_published.append(source.name)
                log.debug(
                    "prices_not_published",
                    source=source.name,
                    start=wanted[0][0].isoformat(),
                    end=wanted[-1][1].isoformat(),
                )
                continue
            except PriceSourceError as err:
                failures.append(err)
                if err.retry_at is not None:
                    self._blocked_until[source.name] = err.retry_at
                    retry_at = err.retry_at if retry_at is None else max(retry_at, err.retry_at)
                elif isinstance(err, PriceAuthError):
                    self._blocked_until[source.name] = now + AUTH_BLOCK
                self._failed(source.name, err)
                continue
            self._answered(source.name)
            useful = [s for s in got if any(a <= s.start and s.end <= b for a, b in wanted)]
            if useful:
                current = current.merged(useful)
                new.extend(useful)
                served.append(i)
        if served:
            self._note_serving(self.sources[min(served)].name)
        return ChainResult(tuple(new), tuple(failures), tuple(not_published), retry_at)

    def rebase(self, step: timedelta) -> tuple[str, ...]:
        """Move each source's ``Retry-After`` (or auth block) by a step of the wall clock.

        The instant was read on the wall clock before the step; moved with it, the source is
        asked again after the time it asked for has passed, whichever way the clock went.

        Returns:
            What was moved, one ``<source>_retry_after`` each.
        """
        self._blocked_until = {name: at + step for name, at in self._blocked_until.items()}
        return tuple(f"{name}_retry_after" for name in sorted(self._blocked_until))

    def _answered(self, name: str) -> None:
        self._blocked_until.pop(name, None)
        if name in self._failing:
            self._failing.discard(name)
            log.info("price_source_recovered", source=name)

    def _failed(self, name: str, err: PriceSourceError) -> None:
        if name in self._failing:
            log.debug("price_source_still_failing", source=name, error=str(err))
            return
        self._failing.add(name)
        if isinstance(err, PriceAuthError):
            log.error("price_source_failed", source=name, error=str(err))
        else:
            log.warning("price_source_failed", source=name, error=str(err))

    def _note_serving(self, name: str) -> None:
        previous = self._serving
        self._serving = name
        primary = self._names[0]
        if name == previous:
            return
        if name != primary:
            log.warning(
                "price_source_fallback",
                source=name,
                instead_of=primary,
                approximate=not self.is_exact(name),
            )
        elif previous is not None:
            log.info("price_source_restored", source=name, after=previous)
