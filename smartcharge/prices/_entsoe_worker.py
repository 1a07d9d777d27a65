"""The blocking half of the ENTSO-E source: one entsoe-py query and its parse.

entsoe-py needs pandas, numpy and bs4: about 50 MB of resident memory for a job done about
once a day (issue 6: the daemon must stay under 80 MB). So the daemon never imports them: it
runs this module as a short-lived process, ``python -m smartcharge.prices._entsoe_worker``,
writes one request to its stdin and reads one answer from its stdout, both JSON:

* request: ``{"api_key", "area", "endpoint", "start", "end", "timeout_s", "source"}``. The key
  travels over stdin only: argv and the environment of a process are visible to others
  (``ps``, ``/proc/<pid>/environ`` of a container's other tools);
* answer: ``{"slots": [[start, end, spot_eur_per_mwh], ...]}`` or
  ``{"error": kind, "message": ..., "retry_after_s": ...}``, where ``kind`` names one class of
  the PriceSourceError tree (``smartcharge.prices.entsoe`` maps it back).

The same ``answer_for()`` also runs in a thread of the caller's process (the tests' default,
and ``parse_day_ahead``): nothing here depends on being a separate process.

We use ``EntsoeRawClient.query_day_ahead_prices`` (one request, ``offset=0``) and entsoe-py's
own ``parse_prices``, not the pandas client: the pandas client widens the window by a day on
each side, pages with ``offset`` until it gets a no-data answer (several requests per fetch),
and its ``truncate`` keeps the end instant (a 25th hour). The A03 forward fill of left-out
positions is entsoe-py's; the half-open slicing and the choice of the SDAC resolution are ours.
The pandas Series never leave this module: they become plain ``(start, end, spot)`` tuples.
"""

from __future__ import annotations

import json
import logging
import math
import re
import sys
import xml.parsers.expat
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from smartcharge.prices._entsoe_document import Conflict, check_document
from smartcharge.prices.errors import (
    PriceAuthError,
    PriceDataError,
    PriceRateLimitedError,
    PricesNotPublishedError,
    PriceSourceError,
    PriceUnavailableError,
)

# SDAC moved to 15-minute market time units on 2025-10-01 00:00 Europe/Amsterdam
# (entsoe-py 0.8: ``QUARTER_MTU_SDAC_GOLIVE``).
SDAC_QUARTER_GOLIVE = datetime(2025, 9, 30, 22, 0, tzinfo=UTC)
# Without a Retry-After header, wait this long after a 429.
DEFAULT_RETRY_AFTER_S = 300.0
_RESOLUTIONS = {"15min": 15, "30min": 30, "60min": 60}
_REASON = re.compile(r"<text>([^<]*)</text>", re.IGNORECASE)
_XML_DECL = re.compile(r"^\s*<\?xml[^>]*\?>")
_CURRENCY = re.compile(r"<currency_Unit\.name>\s*([A-Z]{3})\s*<", re.IGNORECASE)

# The error kinds an answer may name; anything else is garbage.
ERROR_KINDS: dict[str, type[PriceSourceError]] = {
    cls.__name__: cls
    for cls in (
        PriceSourceError,
        PricesNotPublishedError,
        PriceDataError,
        PriceAuthError,
        PriceRateLimitedError,
        PriceUnavailableError,
    )
}

if TYPE_CHECKING:
    import requests

SpotPoint = tuple[datetime, datetime, float]


@dataclass(frozen=True, slots=True)
class EntsoeQuery:
    """One day-ahead query.

    Attributes:
        api_key: the security token (never in ``repr``).
        area: a zone code entsoe-py knows (``NL``).
        endpoint: ``SMARTCHARGE_ENTSOE_API_URL``.
        start: the first instant asked for (UTC).
        end: the end of the half-open window (UTC).
        timeout_s: requests' connect and read timeout.
        source: the source name used in messages (``entsoe``, ``entsoe:BE``).
    """

    api_key: str = field(repr=False)
    area: str
    endpoint: str
    start: datetime
    end: datetime
    timeout_s: float
    source: str

    def to_json(self) -> str:
        """Return the request as the worker reads it on stdin."""
        return json.dumps(
            {
                "api_key": self.api_key,
                "area": self.area,
                "endpoint": self.endpoint,
                "start": self.start.isoformat(),
                "end": self.end.isoformat(),
                "timeout_s": self.timeout_s,
                "source": self.source,
            }
        )

    @classmethod
    def from_json(cls, text: str) -> EntsoeQuery:
        """Read a request; raises ValueError, KeyError or TypeError on a bad one."""
        raw = json.loads(text)
        return cls(
            api_key=str(raw["api_key"]),
            area=str(raw["area"]),
            endpoint=str(raw["endpoint"]),
            start=_utc(raw["start"]),
            end=_utc(raw["end"]),
            timeout_s=float(raw["timeout_s"]),
            source=str(raw["source"]),
        )


@dataclass(frozen=True, slots=True)
class Failure:
    """A query that gave no prices.

    Attributes:
        kind: the name of a class in ``ERROR_KINDS``.
        message: what went wrong, without the source's name (never the key).
        retry_after_s: for a 429, how long the server asked us to wait.
    """

    kind: str
    message: str
    retry_after_s: float | None = None


@dataclass(frozen=True, slots=True)
class Partial:
    """Prices of which some days were refused (an instant priced twice differently).

    Attributes:
        points: the spot prices of the days kept.
        refused: one reason per refused day's conflict, naming the instant and both values.
    """

    points: tuple[SpotPoint, ...]
    refused: tuple[str, ...]


Answer = tuple[SpotPoint, ...] | Partial | Failure


def _utc(text: object) -> datetime:
    if not isinstance(text, str):
        raise TypeError("expected an ISO 8601 string")
    at = datetime.fromisoformat(text)
    if at.tzinfo is None:
        raise ValueError("naive datetime")
    return at.astimezone(UTC)


def encode_answer(answer: Answer) -> str:
    """Return ``answer`` as the JSON line the worker writes to stdout."""
    if isinstance(answer, Failure):
        return json.dumps(
            {"error": answer.kind, "message": answer.message, "retry_after_s": answer.retry_after_s}
        )
    points, refused = (
        (answer.points, answer.refused) if isinstance(answer, Partial) else (answer, ())
    )
    body: dict[str, Any] = {"slots": [[a.isoformat(), b.isoformat(), v] for a, b, v in points]}
    if refused:
        body["refused"] = list(refused)
    return json.dumps(body)


def decode_answer(text: str) -> Answer:
    """Read the worker's stdout.

    Raises:
        ValueError: the text is not an answer (garbage, a wrong kind, a non-finite price).
    """
    try:
        raw = json.loads(text)
        if not isinstance(raw, dict):
            raise ValueError("not an object")
        if "error" in raw:
            kind, message, after = raw["error"], raw["message"], raw.get("retry_after_s")
            if kind not in ERROR_KINDS or not isinstance(message, str):
                raise ValueError("unknown error kind")
            if after is not None and not (isinstance(after, int | float) and math.isfinite(after)):
                raise ValueError("bad retry_after_s")
            return Failure(kind, message[:500], None if after is None else float(after))
        points: list[SpotPoint] = []
        for item in raw["slots"]:
            start, end, value = item
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError("price is not a number")
            if not math.isfinite(value):
                raise ValueError("price is not finite")
            points.append((_utc(start), _utc(end), float(value)))
        refused = raw.get("refused", [])
        if not isinstance(refused, list) or not all(isinstance(r, str) for r in refused):
            raise ValueError("bad refused")
        if refused:
            return Partial(tuple(points), tuple(r[:500] for r in refused))
        return tuple(points)
    except (KeyError, TypeError, ValueError, RecursionError) as err:
        raise ValueError(f"not a worker answer ({type(err).__name__})") from None


def _endpoint_session(endpoint: str) -> requests.Session:
    """Return a requests session that sends every request to ``endpoint``.

    entsoe-py has no base-URL argument: it reads the module global ``entsoe.entsoe.URL`` (set
    from ``ENTSOE_ENDPOINT_URL`` at import time) on every request. Mutating that global is not
    safe when the daemon and the tests query different servers in one process, so instead each
    of our clients gets its own session that replaces whatever URL entsoe-py passes with
    ``SMARTCHARGE_ENTSOE_API_URL``. This is the only endpoint override in the code base.
    (requests is imported here, not at the top: the daemon reads answers with this module's
    codec and needs no HTTP library of its own for that.)
    """
    import requests  # noqa: PLC0415

    class _EndpointSession(requests.Session):
        def request(  # type: ignore[override]  # we only pin the URL and pass the rest through
            self, method: str, url: str, *args: Any, **kwargs: Any
        ) -> requests.Response:
            """Send the request to our endpoint instead of ``url``."""
            return super().request(method, endpoint, *args, **kwargs)

    return _EndpointSession()


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


def parse_spot(
    text: str,
    start: datetime,
    end: datetime,
    source: str,
    *,
    zone: str | None = None,
    refused: list[str] | None = None,
) -> list[SpotPoint]:
    """Turn an A44 document into ``(start, end, EUR/MWh)`` for the slots starting in the window.

    The document is first checked against the request (``_entsoe_document.check_document``):
    an A44 ``Publication_MarketDocument`` of ``zone`` (when given; the query's zone always is)
    overlapping the window. A day (``<Period>``) that prices one instant twice differently is
    refused: its slots are left out and the reason, naming both values, is appended to
    ``refused``; without a ``refused`` list, or with nothing else left, it raises.

    One slot per market time unit as published: 60 minutes before the SDAC 15-minute go-live,
    15 minutes after it. When a document holds several resolutions for the same time (another
    auction's series), the SDAC resolution of that time wins and the others are dropped.

    Raises:
        PricesNotPublishedError: the document is the "No matching data found" acknowledgement.
        PriceDataError: the text is not well-formed XML, holds no prices, or not in EUR; it is
            another kind of document, for another zone or period, or prices an instant twice.
    """
    if not _well_formed(text):
        raise PriceDataError(source, "the answer is not well-formed XML; keeping the last prices")
    if "Acknowledgement_MarketDocument" in text:
        reason = _REASON.search(text)
        why = reason.group(1).strip() if reason else "no reason given"
        if "No matching data found" in why:
            raise PricesNotPublishedError(source, "no prices published for this period yet")
        raise PriceDataError(source, f"the API acknowledged without data: {why[:200]}")
    conflicts = check_document(
        text, source=source, zone=zone or "", zone_eic=_eic(zone), start=start, end=end
    )
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
    points: list[SpotPoint] = []
    for _, at, minutes, value in candidates:
        until = at + timedelta(minutes=minutes)
        if not (start <= at < end):
            continue
        if not math.isfinite(value):
            raise PriceDataError(source, f"price at {at.isoformat()} is not a number")
        if any(a < until and at < b for a, b in taken):
            continue
        taken.append((at, until))
        points.append((at, until, value))
    points.sort(key=lambda p: p[0])
    return _refuse_conflicting_days(points, conflicts, start, end, source, refused)


def _refuse_conflicting_days(
    points: list[SpotPoint],
    conflicts: tuple[Conflict, ...],
    start: datetime,
    end: datetime,
    source: str,
    refused: list[str] | None,
) -> list[SpotPoint]:
    """Drop the days holding an instant priced twice differently; say why in ``refused``.

    Raises:
        PriceDataError: nothing of the window is left, or the caller keeps no ``refused`` list;
            the message names the instant and both values.
    """
    relevant = [c for c in conflicts if any(a < end and start < b for a, b in c.refused)]
    if not relevant:
        return points
    kept = [p for p in points if not any(a <= p[0] < b for c in relevant for a, b in c.refused)]
    reasons = [c.describe() for c in relevant]
    if not kept or refused is None:
        shown = "; ".join(reasons[:3]) + (f"; {len(reasons) - 3} more" if len(reasons) > 3 else "")
        raise PriceDataError(source, f"{shown}; keeping the last prices")
    refused.extend(reasons)
    return kept


def _eic(zone: str | None) -> str | None:
    """Return the EIC code of a zone entsoe-py knows (``NL`` -> ``10YNL----------L``)."""
    if zone is None:
        return None
    from entsoe.mappings import lookup_area  # noqa: PLC0415 - pandas is heavy

    return str(lookup_area(zone).code)


def _query(query: EntsoeQuery) -> str | Failure:
    """Run one blocking A44 query and return the body, or why there is none."""
    import pandas as pd  # noqa: PLC0415 - heavy; only where the query runs
    import requests  # noqa: PLC0415
    from entsoe.entsoe import EntsoeRawClient  # noqa: PLC0415
    from entsoe.exceptions import NoMatchingDataError  # noqa: PLC0415

    session = _endpoint_session(query.endpoint)
    try:
        client = EntsoeRawClient(
            api_key=query.api_key,
            session=session,
            retry_count=1,
            retry_delay=0,
            timeout=query.timeout_s,  # type: ignore[arg-type]  # requests takes a float
        )
        sequence = 1 if query.area in ("DE_LU", "AT") else None
        return str(
            client.query_day_ahead_prices(
                query.area,
                start=pd.Timestamp(query.start),
                end=pd.Timestamp(query.end),
                sequence=sequence,  # type: ignore[arg-type]  # declared int, None is its default
            )
        )
    except NoMatchingDataError:
        return Failure("PricesNotPublishedError", "no prices published for this period yet")
    except requests.HTTPError as err:
        return _http_failure(query.endpoint, err.response)
    except requests.Timeout:
        return Failure(
            "PriceUnavailableError", f"no answer within {query.timeout_s:g} s; will retry later"
        )
    except requests.RequestException as err:
        # Never str(err): requests puts the URL, securityToken included, into it.
        return Failure(
            "PriceUnavailableError",
            f"cannot reach {query.endpoint} ({type(err).__name__}); will retry",
        )
    except Exception as err:  # noqa: BLE001 - entsoe-py raises its own and bs4 errors
        return Failure("PriceSourceError", f"the query failed ({type(err).__name__})")
    finally:
        session.close()


def _http_failure(endpoint: str, response: requests.Response | None) -> Failure:
    status = response.status_code if response is not None else 0
    where = f"{endpoint} answered HTTP {status}"
    if status == 401:
        return Failure(
            "PriceAuthError",
            f"{where}: the security token was refused; check SMARTCHARGE_ENTSOE_API_KEY",
        )
    if status == 429:
        raw = response.headers.get("Retry-After", "") if response is not None else ""
        try:
            seconds = min(max(float(raw), 1.0), 6 * 3600.0)
        except ValueError:
            seconds = DEFAULT_RETRY_AFTER_S
        if not math.isfinite(seconds):
            seconds = DEFAULT_RETRY_AFTER_S
        return Failure("PriceRateLimitedError", f"{where} (rate limited)", seconds)
    if status >= 500:
        return Failure("PriceUnavailableError", f"{where}; will retry later")
    return Failure("PriceSourceError", f"{where}; the query was refused")


def answer_for(query: EntsoeQuery) -> Answer:
    """Query ENTSO-E and parse the document: the spot prices, or why there are none."""
    body = _query(query)
    if isinstance(body, Failure):
        return body
    refused: list[str] = []
    try:
        points = tuple(
            parse_spot(body, query.start, query.end, query.source, zone=query.area, refused=refused)
        )
    except PriceSourceError as err:
        return Failure(type(err).__name__, str(err).removeprefix(f"{query.source}: "))
    return Partial(points, tuple(refused)) if refused else points


def main() -> int:
    """Read one request from stdin, write one answer to stdout; 0 when an answer was written."""
    # Nothing is logged here: entsoe-py logs its query, securityToken included, at DEBUG, and
    # stdlib's last-resort handler would print WARNING and up to stderr, which the daemon reads.
    logging.getLogger().addHandler(logging.NullHandler())
    logging.getLogger("entsoe").setLevel(logging.INFO)
    try:
        query = EntsoeQuery.from_json(sys.stdin.read())
    except (KeyError, TypeError, ValueError):
        sys.stderr.write("smartcharge entsoe worker: unreadable request on stdin\n")
        return 2
    try:
        answer = answer_for(query)
    except Exception as err:  # noqa: BLE001 - one answer for every failure; no traceback (the key)
        answer = Failure("PriceSourceError", f"the worker failed ({type(err).__name__})")
    sys.stdout.write(encode_answer(answer) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
