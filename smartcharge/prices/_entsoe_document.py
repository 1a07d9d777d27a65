"""Pure: check that an ENTSO-E answer is the document that was asked for.

entsoe-py parses any ``<TimeSeries>`` it finds: a document of another bidding zone (a BE
document when NL was asked), of another kind (a ``GL_MarketDocument`` of load), or for another
period would be taken as our prices, and a position given twice silently keeps one of its
values. So before the prices are read, the document is checked against the request:

* the root is a ``Publication_MarketDocument`` of ``<type>A44</type>`` (day-ahead prices);
* every ``<TimeSeries>`` is for the asked zone (``in_Domain.mRID`` and ``out_Domain.mRID`` are
  its EIC code);
* the document's ``period.timeInterval`` overlaps the asked window;
* no instant of one resolution has two different prices (the same price twice is harmless):
  such a conflict is returned, and the caller refuses the days (``<Period>``) it lies in.

The document is read with expat, as ``_well_formed`` reads it (no external entities; entity
amplification capped): only standard library, no pandas.
"""

from __future__ import annotations

import math
import xml.parsers.expat
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from smartcharge.prices.errors import PriceDataError

_ROOT = "Publication_MarketDocument"
_DOC_TYPE = "A44"
_RESOLUTIONS = {"PT15M": 15, "PT30M": 30, "PT60M": 60}
_KEEP = "keeping the last prices"


@dataclass(frozen=True, slots=True)
class Conflict:
    """One instant with two different prices; the periods holding them are refused.

    Attributes:
        at: the instant (UTC).
        minutes: the resolution of both prices.
        first: the price seen first (EUR/MWh).
        second: the other price.
        refused: the ``[start, end)`` intervals of the periods that hold the two prices.
    """

    at: datetime
    minutes: int
    first: float
    second: float
    refused: tuple[tuple[datetime, datetime], ...]

    def describe(self) -> str:
        """Return the conflict as a sentence naming the instant and both values."""
        days = ", ".join(f"{a:%Y-%m-%dT%H:%MZ}/{b:%Y-%m-%dT%H:%MZ}" for a, b in self.refused)
        return (
            f"two different prices for {self.at:%Y-%m-%dT%H:%MZ} ({self.minutes} min): "
            f"{self.first:g} and {self.second:g} EUR/MWh; refused {days}"
        )


@dataclass(slots=True)
class _Period:
    start: str = ""
    end: str = ""
    resolution: str = ""
    points: list[tuple[str, str]] = field(default_factory=list)


@dataclass(slots=True)
class _Series:
    in_domain: str | None = None
    out_domain: str | None = None
    periods: list[_Period] = field(default_factory=list)


@dataclass(slots=True)
class _Document:
    root: str = ""
    doc_type: str | None = None
    period_start: str | None = None
    period_end: str | None = None
    series: list[_Series] = field(default_factory=list)


class _Reader:
    """Collect the few facts of the document that the checks need, in one expat pass."""

    def __init__(self) -> None:
        self.doc = _Document()
        self._path: list[str] = []
        self._text: list[str] = []
        self._position = ""

    def start(self, name: str, _attrs: dict[str, str]) -> None:
        local = name.rpartition(":")[2]
        if not self._path:
            self.doc.root = local
        self._path.append(local)
        self._text = []
        if local == "TimeSeries":
            self.doc.series.append(_Series())
        elif local == "Period" and self.doc.series:
            self.doc.series[-1].periods.append(_Period())

    def data(self, text: str) -> None:
        self._text.append(text)

    def end(self, _name: str) -> None:
        local = self._path.pop()
        text = "".join(self._text).strip()
        self._text = []
        parent = self._path[-1] if self._path else ""
        grand = self._path[-2] if len(self._path) > 1 else ""
        series = self.doc.series[-1] if self.doc.series else None
        period = series.periods[-1] if series and series.periods else None
        if len(self._path) == 1 and local == "type":
            self.doc.doc_type = text
        elif parent == "period.timeInterval" and len(self._path) == 2:
            if local == "start":
                self.doc.period_start = text
            elif local == "end":
                self.doc.period_end = text
        elif series is not None and parent == "TimeSeries":
            if local == "in_Domain.mRID":
                series.in_domain = text
            elif local == "out_Domain.mRID":
                series.out_domain = text
        elif period is not None and parent == "Period" and local == "resolution":
            period.resolution = text
        elif period is not None and grand == "Period" and parent == "timeInterval":
            if local == "start":
                period.start = text
            elif local == "end":
                period.end = text
        elif period is not None and parent == "Point":
            if local == "position":
                self._position = text
            elif local == "price.amount":
                period.points.append((self._position, text))


def _read(text: str, source: str) -> _Document:
    reader = _Reader()
    parser = xml.parsers.expat.ParserCreate()
    parser.StartElementHandler = reader.start
    parser.EndElementHandler = reader.end
    parser.CharacterDataHandler = reader.data
    try:
        parser.Parse(text.encode("utf-8"), True)
    except xml.parsers.expat.ExpatError:
        raise PriceDataError(source, f"the answer is not well-formed XML; {_KEEP}") from None
    return reader.doc


def _instant(text: str) -> datetime | None:
    try:
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return at.astimezone(UTC) if at.tzinfo is not None else None


def _number(text: str) -> float | None:
    try:
        value = float(text.replace(",", ""))
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def check_document(
    text: str, *, source: str, zone: str, zone_eic: str | None, start: datetime, end: datetime
) -> tuple[Conflict, ...]:
    """Refuse a document that is not the day-ahead prices of ``zone`` for ``[start, end)``.

    Args:
        text: the answer's body (an acknowledgement is handled before this is called).
        source: the source name for messages (``entsoe``).
        zone: the zone asked for (``NL``), for messages.
        zone_eic: its EIC code (``10YNL----------L``); None skips the zone check.
        start: the first instant asked for.
        end: the end of the asked half-open window.

    Returns:
        The instants priced twice differently, each with the periods to refuse.

    Raises:
        PriceDataError: another kind of document, another zone or another period; the message
            says what came and what was asked.
    """
    doc = _read(text, source)
    if doc.root != _ROOT:
        raise PriceDataError(
            source,
            f"the answer is a {doc.root or 'document without root'}, not the {_ROOT} of "
            f"day-ahead prices ({_DOC_TYPE}) asked for; {_KEEP}",
        )
    if doc.doc_type != _DOC_TYPE:
        raise PriceDataError(
            source,
            f"the document is of type {doc.doc_type or '(none)'}, asked for {_DOC_TYPE} "
            f"(day-ahead prices); {_KEEP}",
        )
    if zone_eic is not None:
        for series in doc.series:
            for got in (series.in_domain, series.out_domain):
                if got != zone_eic:
                    raise PriceDataError(
                        source,
                        f"the document holds prices of bidding zone {got or '(none)'}, asked "
                        f"for {zone} ({zone_eic}); {_KEEP}",
                    )
    covered_from = _instant(doc.period_start or "")
    covered_to = _instant(doc.period_end or "")
    if covered_from is None or covered_to is None:
        raise PriceDataError(source, f"the document states no readable period; {_KEEP}")
    if not (covered_from < end and start < covered_to):
        raise PriceDataError(
            source,
            f"the document covers {covered_from:%Y-%m-%dT%H:%MZ}/{covered_to:%Y-%m-%dT%H:%MZ}, "
            f"asked for {start:%Y-%m-%dT%H:%MZ}/{end:%Y-%m-%dT%H:%MZ}; {_KEEP}",
        )
    return _conflicts(doc)


def _conflicts(doc: _Document) -> tuple[Conflict, ...]:
    """Return every instant of one resolution that has two different prices."""
    seen: dict[tuple[int, datetime], tuple[float, tuple[datetime, datetime]]] = {}
    found: list[Conflict] = []
    for series in doc.series:
        for period in series.periods:
            minutes = _RESOLUTIONS.get(period.resolution)
            first = _instant(period.start)
            last = _instant(period.end)
            if minutes is None or first is None or last is None:
                continue  # entsoe-py's parse refuses these with its own error
            for position_text, price_text in period.points:
                price = _number(price_text)
                if not position_text.isdigit() or len(position_text) > 6 or price is None:
                    continue  # likewise: entsoe-py's parse refuses these
                at = first + timedelta(minutes=minutes * (int(position_text) - 1))
                before, where = seen.setdefault((minutes, at), (price, (first, last)))
                if before != price:
                    refused = (where,) if where == (first, last) else (where, (first, last))
                    found.append(Conflict(at, minutes, before, price, refused))
    return tuple(found)


__all__ = ["Conflict", "check_document"]
