"""A fake ENTSO-E Transparency Platform (``GET /api``, day-ahead prices A44) on real HTTP.

It answers the way the live API does, as far as entsoe-py can tell
(``/work/shared/fixtures/entsoe/README.md``):

* recorded XML whose delivery period overlaps the query's ``periodStart``/``periodEnd`` for the
  query's ``in_Domain``, with the ``<TimeSeries>`` of another ``classificationSequence`` dropped
  when the query names one;
* or a valid A44 document generated from ``(start_utc, EUR/MWh)`` points at 60 or 15 minutes
  (``serve_points``), so the demo and soak tests can serve real historical prices;
* the no-data acknowledgement (reason 999, "No matching data found", HTTP 200, ``text/xml``)
  when nothing matches, for every ``offset`` other than 0 (entsoe-py's pandas client pages with
  ``offset`` until it gets one), and for periods starting at or after ``published_until``.

Faults can be switched on for the next N requests or for good: 401, 429 with ``Retry-After``,
503, a hang, malformed XML. Every request is recorded (``requests``).
"""

from __future__ import annotations

import csv
import enum
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from aiohttp import web

from smartcharge.simulator._faults import FaultSwitch

# The market day: SDAC delivery days run from midnight to midnight CET/CEST.
_MARKET_TZ = ZoneInfo("Europe/Brussels")
_TIMESERIES = re.compile(r"<TimeSeries>.*?</TimeSeries>\s*", re.DOTALL)
_INTERVAL = re.compile(
    r"<timeInterval>\s*<start>([^<]+)</start>\s*<end>([^<]+)</end>\s*</timeInterval>"
)
_DOMAIN = re.compile(r"<in_Domain\.mRID[^>]*>([^<]+)</in_Domain\.mRID>")
_SEQUENCE = re.compile(r"<classificationSequence_AttributeInstanceComponent\.position>(\d+)<")

DATA_DIR = Path(__file__).parent / "data"


def zone_eic(zone: str) -> str:
    """Return the EIC code of a zone name entsoe-py knows (``NL`` -> ``10YNL----------L``)."""
    from entsoe.mappings import Area  # noqa: PLC0415 - pandas is heavy; import on demand

    return str(Area[zone].code)


def _parse_utc(text: str) -> datetime:
    text = text.strip().replace("Z", "+00:00")
    return datetime.fromisoformat(text).astimezone(UTC)


def _fmt(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")


def _price_text(value: float) -> str:
    text = f"{value:.5f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def read_price_csv(
    path: Path, start: datetime | None = None, end: datetime | None = None
) -> list[tuple[datetime, float, int]]:
    """Read ``start_utc,price_eur_per_mwh`` rows as ``(start, EUR/MWh, minutes)``.

    Each row lasts until the next row's start, 15 or 60 minutes (the last row, and a row before
    a gap, as long as the one before it): the format of ``/work/shared/data/*.csv``. Rows
    outside ``[start, end)`` are left out.
    """
    rows: list[tuple[datetime, float]] = []
    with path.open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            rows.append((_parse_utc(row["start_utc"]), float(row["price_eur_per_mwh"])))
    out: list[tuple[datetime, float, int]] = []
    minutes = 60
    for i, (at, price) in enumerate(rows):
        step = rows[i + 1][0] - at if i + 1 < len(rows) else None
        # A step other than 15 or 60 minutes is a gap between excerpts (or the last row):
        # such a row keeps the resolution of the row before it.
        if step in (timedelta(minutes=15), timedelta(minutes=60)):
            minutes = int(step.total_seconds() // 60)
        if (start is None or at >= start) and (end is None or at < end):
            out.append((at, price, minutes))
    return out


def a44_document(
    points: Sequence[tuple[datetime, float]],
    resolution_minutes: int,
    zone: str,
    *,
    curve_type: str = "A03",
    sequence: int | None = None,
    created_at: datetime | None = None,
) -> str:
    """Return a Publication_MarketDocument (A44) holding ``points``.

    One ``<TimeSeries>`` per market day (CET) and contiguous run. With curve type A03, a
    position whose price repeats the one before is left out, as ENTSO-E does.

    Args:
        points: ``(start_utc, EUR/MWh)``, one per market time unit.
        resolution_minutes: 60 or 15.
        zone: a zone name entsoe-py knows (``NL``) or an EIC code.
        curve_type: ``A03`` (variable-sized blocks) or ``A01`` (every position).
        sequence: the ``classificationSequence`` position to write, if any.
        created_at: the document's creation time (default: the first point's start).
    """
    if resolution_minutes not in (15, 30, 60):
        raise ValueError("resolution_minutes must be 15, 30 or 60")
    eic = zone if "-" in zone else zone_eic(zone)
    step = timedelta(minutes=resolution_minutes)
    ordered = sorted(points, key=lambda p: p[0])
    runs: list[list[tuple[datetime, float]]] = []
    for at, price in ordered:
        run = runs[-1] if runs else None
        if (
            run is not None
            and run[-1][0] + step == at
            and at.astimezone(_MARKET_TZ).date() == run[0][0].astimezone(_MARKET_TZ).date()
        ):
            run.append((at, price))
        else:
            runs.append([(at, price)])
    res = f"PT{resolution_minutes}M"
    series: list[str] = []
    for n, run in enumerate(runs, start=1):
        lines = []
        previous: float | None = None
        for pos, (_, price) in enumerate(run, start=1):
            if curve_type == "A03" and previous is not None and price == previous:
                continue
            previous = price
            lines.append(
                f"        <Point>\n          <position>{pos}</position>\n"
                f"          <price.amount>{_price_text(price)}</price.amount>\n        </Point>\n"
            )
        seq = (
            f"    <classificationSequence_AttributeInstanceComponent.position>{sequence}"
            "</classificationSequence_AttributeInstanceComponent.position>\n"
            if sequence is not None
            else ""
        )
        series.append(
            "  <TimeSeries>\n"
            f"    <mRID>{n}</mRID>\n"
            "    <auction.type>A01</auction.type>\n"
            "    <businessType>A62</businessType>\n"
            f"{seq}"
            f'    <in_Domain.mRID codingScheme="A01">{eic}</in_Domain.mRID>\n'
            f'    <out_Domain.mRID codingScheme="A01">{eic}</out_Domain.mRID>\n'
            "    <contract_MarketAgreement.type>A01</contract_MarketAgreement.type>\n"
            "    <currency_Unit.name>EUR</currency_Unit.name>\n"
            "    <price_Measure_Unit.name>MWH</price_Measure_Unit.name>\n"
            f"    <curveType>{curve_type}</curveType>\n"
            "    <Period>\n"
            "      <timeInterval>\n"
            f"        <start>{_fmt(run[0][0])}</start>\n"
            f"        <end>{_fmt(run[-1][0] + step)}</end>\n"
            "      </timeInterval>\n"
            f"      <resolution>{res}</resolution>\n"
            f"{''.join(lines)}"
            "    </Period>\n"
            "  </TimeSeries>\n"
        )
    first = ordered[0][0] if ordered else datetime(2000, 1, 1, tzinfo=UTC)
    last = ordered[-1][0] + step if ordered else first
    created = created_at or first
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<Publication_MarketDocument xmlns="urn:iec62325.351:tc57wg16:451-3:'
        'publicationdocument:7:3">\n'
        "  <mRID>smartcharge-simulator</mRID>\n"
        "  <revisionNumber>1</revisionNumber>\n"
        "  <type>A44</type>\n"
        '  <sender_MarketParticipant.mRID codingScheme="A01">10X1001A1001A450'
        "</sender_MarketParticipant.mRID>\n"
        "  <sender_MarketParticipant.marketRole.type>A32"
        "</sender_MarketParticipant.marketRole.type>\n"
        '  <receiver_MarketParticipant.mRID codingScheme="A01">10X1001A1001A450'
        "</receiver_MarketParticipant.mRID>\n"
        "  <receiver_MarketParticipant.marketRole.type>A33"
        "</receiver_MarketParticipant.marketRole.type>\n"
        f"  <createdDateTime>{created.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}"
        "</createdDateTime>\n"
        "  <period.timeInterval>\n"
        f"    <start>{_fmt(first)}</start>\n"
        f"    <end>{_fmt(last)}</end>\n"
        "  </period.timeInterval>\n"
        f"{''.join(series)}"
        "</Publication_MarketDocument>\n"
    )


def no_data_acknowledgement(eic: str, start: datetime, end: datetime) -> str:
    """Return the acknowledgement ENTSO-E sends when nothing matches (reason 999).

    Modelled on the recorded ``no_data_ack_999_nl.xml``, with the data item of day-ahead prices.
    """
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        "<Acknowledgement_MarketDocument\n"
        '\txmlns="urn:iec62325.351:tc57wg16:451-1:acknowledgementdocument:7:0">\n'
        "\t<mRID>smartcharge-sim</mRID>\n"
        "\t<createdDateTime>2026-05-07T13:47:39Z</createdDateTime>\n"
        '\t<sender_MarketParticipant.mRID codingScheme="A01">10X1001A1001A450'
        "</sender_MarketParticipant.mRID>\n"
        "\t<sender_MarketParticipant.marketRole.type>A32</sender_MarketParticipant.marketRole.type>\n"
        '\t<receiver_MarketParticipant.mRID codingScheme="A01">10X1001A1001A450'
        "</receiver_MarketParticipant.mRID>\n"
        "\t<receiver_MarketParticipant.marketRole.type>A39"
        "</receiver_MarketParticipant.marketRole.type>\n"
        "\t<Reason>\n"
        "\t\t<code>999</code>\n"
        "\t\t<text>No matching data found for Data item ENERGY_PRICES [12.1.D] "
        f"({eic}) and interval {start.strftime('%Y-%m-%dT%H:%M:%SZ')}/"
        f"{end.strftime('%Y-%m-%dT%H:%M:%SZ')}.</text>\n"
        "\t</Reason>\n"
        "</Acknowledgement_MarketDocument>\n"
    )


@dataclass(frozen=True, slots=True)
class _Block:
    text: str
    eic: str
    start: datetime
    end: datetime
    sequence: int | None


@dataclass(slots=True)
class _Recording:
    head: str
    tail: str
    blocks: list[_Block]
    raw: str

    @classmethod
    def parse(cls, text: str) -> _Recording:
        found = list(_TIMESERIES.finditer(text))
        if not found:
            raise ValueError("no <TimeSeries> in the recording")
        blocks = []
        for m in found:
            body = m.group(0)
            intervals = _INTERVAL.findall(body)
            domain = _DOMAIN.search(body)
            seq = _SEQUENCE.search(body)
            blocks.append(
                _Block(
                    body,
                    domain.group(1).strip() if domain else "",
                    _parse_utc(intervals[0][0]),
                    _parse_utc(intervals[-1][1]),
                    int(seq.group(1)) if seq else None,
                )
            )
        return cls(text[: found[0].start()], text[found[-1].end() :], blocks, text)


class EntsoeFault(enum.Enum):
    """A failure the fake can answer with."""

    UNAUTHORIZED = "401"
    RATE_LIMITED = "429"
    UNAVAILABLE = "503"
    HANG = "hang"
    MALFORMED = "malformed"


@dataclass(slots=True)
class _Generated:
    eic: str
    minutes: int
    points: dict[datetime, float] = field(default_factory=dict)


class EntsoeFakeServer:
    """The fake ENTSO-E API as an aiohttp application.

    Args:
        valid_keys: when given, a ``securityToken`` not in it gets HTTP 401, as the live API
            answers an unknown key.
        filter_sequences: drop ``<TimeSeries>`` of another ``classificationSequence`` than the
            query asks for (the live API does; False serves recordings unfiltered).
    """

    def __init__(
        self, *, valid_keys: Iterable[str] | None = None, filter_sequences: bool = True
    ) -> None:
        self.valid_keys = set(valid_keys) if valid_keys is not None else None
        self.filter_sequences = filter_sequences
        self.published_until: datetime | None = None
        self.requests: list[dict[str, str]] = []
        self.retry_after_s = 120
        self._recordings: list[_Recording] = []
        self._generated: list[_Generated] = []
        self._faults: FaultSwitch[EntsoeFault] = FaultSwitch()
        self._verbatim: str | None = None

    # --- configuration

    def add_recording(self, text: str) -> None:
        """Serve a recorded A44 document (its ``in_Domain`` and periods say when)."""
        self._recordings.append(_Recording.parse(text))

    def add_recording_file(self, path: Path) -> None:
        """Serve the recorded A44 document in ``path``."""
        self.add_recording(path.read_text(encoding="utf-8"))

    def serve_points(
        self, zone: str, points: Iterable[tuple[datetime, float]], resolution_minutes: int
    ) -> None:
        """Serve generated A44 documents for ``(start_utc, EUR/MWh)`` points of ``zone``."""
        eic = zone if "-" in zone else zone_eic(zone)
        target = next(
            (g for g in self._generated if g.eic == eic and g.minutes == resolution_minutes),
            None,
        )
        if target is None:
            target = _Generated(eic, resolution_minutes)
            self._generated.append(target)
        for at, price in points:
            target.points[at.astimezone(UTC)] = price

    def serve_csv(self, zone: str, path: Path, start: datetime, end: datetime) -> None:
        """Serve the prices of a ``start_utc,price_eur_per_mwh`` file for ``[start, end)``."""
        rows = read_price_csv(path, start, end)
        for minutes in (15, 60):
            chosen = [(at, price) for at, price, m in rows if m == minutes]
            if chosen:
                self.serve_points(zone, chosen, minutes)

    def serve_verbatim(self, text: str | None) -> None:
        """Answer every day-ahead query with ``text`` as it is, whatever zone or period it asks.

        A misrouted or misconfigured answer (another zone's document, another kind of document);
        None goes back to answering by the query.
        """
        self._verbatim = text

    def fail(self, fault: EntsoeFault | None, times: int | None = None) -> None:
        """Answer the next ``times`` requests (all, when None) with ``fault``; None heals."""
        self._faults.fail(fault, times)

    def release_hangs(self) -> None:
        """Let hanging requests finish (called on shutdown)."""
        self._faults.release_hangs()

    # --- serving

    def app(self) -> web.Application:
        """Return the aiohttp application (``GET /api``)."""
        return self._faults.app_with("/api", self._handle)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        q = dict(request.query)
        self.requests.append(q)
        if self.valid_keys is not None and q.get("securityToken") not in self.valid_keys:
            return web.Response(status=401, text="Unauthorized", content_type="text/html")
        fault = self._faults.take()
        if fault is EntsoeFault.UNAUTHORIZED:
            return web.Response(status=401, text="Unauthorized", content_type="text/html")
        if fault is EntsoeFault.RATE_LIMITED:
            return web.Response(
                status=429,
                text="Too Many Requests",
                content_type="text/html",
                headers={"Retry-After": str(self.retry_after_s)},
            )
        if fault is EntsoeFault.UNAVAILABLE:
            return web.Response(
                status=503, text="<html>Service Unavailable</html>", content_type="text/html"
            )
        if fault is EntsoeFault.HANG:
            await self._faults.hang()
            return web.Response(status=503, text="released", content_type="text/html")
        try:
            start = datetime.strptime(q["periodStart"], "%Y%m%d%H%M").replace(tzinfo=UTC)
            end = datetime.strptime(q["periodEnd"], "%Y%m%d%H%M").replace(tzinfo=UTC)
            eic = q["in_Domain"]
        except (KeyError, ValueError):
            return web.Response(status=400, text="bad query", content_type="text/html")
        body = None
        if q.get("documentType") == "A44" and q.get("offset", "0") == "0":
            seq = q.get("classificationSequence_AttributeInstanceComponent.position")
            body = self._document(eic, start, end, int(seq) if seq else None)
            if self._verbatim is not None:
                body = self._verbatim
        if body is None:
            body = no_data_acknowledgement(eic, start, end)
        elif fault is EntsoeFault.MALFORMED:
            body = body[: len(body) // 2]
        # Exactly "text/xml", no charset: entsoe-py recognises the no-data acknowledgement on
        # HTTP 200 only for that exact Content-Type (the live API sends it so).
        return web.Response(body=body.encode("utf-8"), headers={"Content-Type": "text/xml"})

    def _published(self, block_start: datetime) -> bool:
        return self.published_until is None or block_start < self.published_until

    def _document(
        self, eic: str, start: datetime, end: datetime, sequence: int | None
    ) -> str | None:
        for rec in self._recordings:
            kept = [
                b
                for b in rec.blocks
                if b.eic == eic
                and b.start < end
                and b.end > start
                and self._published(b.start)
                and (
                    not self.filter_sequences
                    or sequence is None
                    or b.sequence is None
                    or b.sequence == sequence
                )
            ]
            if kept:
                if len(kept) == len(rec.blocks):
                    return rec.raw
                return rec.head + "".join(b.text for b in kept) + rec.tail
        for gen in self._generated:
            if gen.eic != eic:
                continue
            days = self._days(start, end)
            points = [
                (at, price)
                for at, price in gen.points.items()
                if at.astimezone(_MARKET_TZ).date() in days and self._published(_day_start(at))
            ]
            if points:
                return a44_document(points, gen.minutes, eic)
        return None

    @staticmethod
    def _days(start: datetime, end: datetime) -> set[date]:
        """Return the market days overlapping ``[start, end)``; the API serves whole days."""
        days = set()
        day = start.astimezone(_MARKET_TZ).date()
        while _day_start_of(day) < end:
            days.add(day)
            day += timedelta(days=1)
        return days


def _day_start_of(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=_MARKET_TZ).astimezone(UTC)


def _day_start(instant: datetime) -> datetime:
    return _day_start_of(instant.astimezone(_MARKET_TZ).date())
