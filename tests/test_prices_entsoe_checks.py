"""An ENTSO-E answer is checked against the request before its prices are used (issue 11, 8).

entsoe-py fetches and parses recorded XML served by the fake ENTSO-E on 127.0.0.1
(``smartcharge/simulator/entsoe_server.py``; recordings from ``tests/fixtures/entsoe``, copied
from ``/work/shared/fixtures/entsoe``). The fake's ``serve_verbatim`` plays a misrouted or
misconfigured server that answers every query with one document.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer
from structlog.testing import capture_logs

from smartcharge.domain import PriceCurve, utc
from smartcharge.logsetup import register_secret
from smartcharge.prices import PriceChain
from smartcharge.prices.entsoe import EntsoePriceSource, EntsoeRunner, parse_day_ahead
from smartcharge.prices.errors import PriceDataError
from smartcharge.pricing import Tariff
from smartcharge.simulator.clock import SimulatedClock
from smartcharge.simulator.entsoe_server import EntsoeFakeServer, a44_document

FIXTURES = Path(__file__).parent / "fixtures" / "entsoe"
NL_TEXT = (FIXTURES / "day_ahead_nl_2024-09-02_pt60m.xml").read_text(encoding="utf-8")
BE_TEXT = (FIXTURES / "day_ahead_be_2024-10-08_pt60m.xml").read_text(encoding="utf-8")
TARIFF = Tariff(markup_eur_per_kwh=0.02, tax_eur_per_kwh=0.09161, vat_percent=21)
KEY = "test-entsoe-key-0123456789"
NL_DAY = (utc(2024, 9, 1, 22), utc(2024, 9, 2, 22))
BE_DAY = (utc(2024, 10, 7, 22), utc(2024, 10, 8, 22))
# The point at position 5 of the NL recording: 02:00Z, 92.22 EUR/MWh.
_POINT_5 = re.compile(r"(<Point>\s*<position>5</position>\s*<price\.amount>)([^<]+)(<)")


@pytest.fixture
async def fake() -> AsyncIterator[tuple[EntsoeFakeServer, str]]:
    server = EntsoeFakeServer()
    for path in sorted(FIXTURES.glob("day_ahead_*.xml")):
        server.add_recording_file(path)
    test_server = TestServer(server.app(), host="127.0.0.1")
    await test_server.start_server()
    try:
        yield server, str(test_server.make_url("/api"))
    finally:
        server.release_hangs()
        await test_server.close()


def nl(url: str, clock: SimulatedClock, **kw: object) -> EntsoePriceSource:
    # A 5 s request timeout: every request here goes to 127.0.0.1.
    return EntsoePriceSource(
        KEY,
        "NL",
        url,
        clock,
        tariff=TARIFF,
        timeout_s=5.0,
        register_secret=register_secret,
        **kw,  # type: ignore[arg-type]
    )


def _with_point_5(text: str, *, duplicate_value: str) -> str:
    """Return ``text`` with position 5 given a second time with ``duplicate_value``."""
    match = _POINT_5.search(text)
    assert match is not None
    end = text.index("</Point>", match.end()) + len("</Point>")
    extra = f"\n<Point><position>5</position><price.amount>{duplicate_value}</price.amount></Point>"
    return text[:end] + extra + text[end:]


async def test_entsoe_document_of_another_zone_is_refused(fake, clock) -> None:
    """Item 8: a BE document answering an NL query is refused, naming both zones."""
    server, url = fake
    server.serve_verbatim(BE_TEXT)

    with pytest.raises(PriceDataError) as caught:
        await nl(url, clock).fetch(*BE_DAY)

    assert "10YBE----------2" in str(caught.value)
    assert "NL (10YNL----------L)" in str(caught.value)
    assert 1 == len(server.requests)


async def test_entsoe_document_of_another_zone_is_refused_by_the_worker_process(
    fake, clock
) -> None:
    """The daemon's runner (a worker process) makes the same check."""
    server, url = fake
    server.serve_verbatim(BE_TEXT)

    with pytest.raises(PriceDataError) as caught:
        await nl(url, clock, runner=EntsoeRunner.PROCESS, worker_deadline_s=60.0).fetch(*BE_DAY)

    assert "10YBE----------2" in str(caught.value)


async def test_entsoe_gl_market_document_is_not_taken_as_prices(fake, clock) -> None:
    """Item 8: another root (GL_MarketDocument) with price-like series is refused by name."""
    server, url = fake
    gl = NL_TEXT.replace("Publication_MarketDocument", "GL_MarketDocument").replace(
        "<type>A44</type>", "<type>A65</type>"
    )
    server.serve_verbatim(gl)

    with pytest.raises(PriceDataError) as caught:
        await nl(url, clock).fetch(*NL_DAY)

    assert "GL_MarketDocument" in str(caught.value)
    assert "A44" in str(caught.value)


async def test_entsoe_document_of_another_type_is_refused(fake, clock) -> None:
    """A Publication_MarketDocument that is not A44 is refused, naming its type."""
    server, url = fake
    server.serve_verbatim(NL_TEXT.replace("<type>A44</type>", "<type>A25</type>"))

    with pytest.raises(PriceDataError, match="of type A25, asked for A44"):
        await nl(url, clock).fetch(*NL_DAY)


async def test_entsoe_document_of_another_period_is_refused(fake, clock) -> None:
    """The NL day of 2024-09-02 answering a query for 2024-10-08 is refused, not read as empty."""
    server, url = fake
    server.serve_verbatim(NL_TEXT)

    with pytest.raises(PriceDataError) as caught:
        await nl(url, clock).fetch(*BE_DAY)

    assert "covers 2024-09-01T22:00Z/2024-09-02T22:00Z" in str(caught.value)
    assert "asked for 2024-10-07T22:00Z/2024-10-08T22:00Z" in str(caught.value)


async def test_entsoe_conflicting_duplicate_positions_refuse_the_day(fake, clock) -> None:
    """Item 8: position 5 given twice (92.22 and 999.5): the day is refused, both values logged."""
    server, url = fake
    server.serve_verbatim(_with_point_5(NL_TEXT, duplicate_value="999.5"))
    chain = PriceChain([nl(url, clock)], "NL")

    with capture_logs() as logs:
        outcome = await chain.fill(PriceCurve(), *NL_DAY, due_until=NL_DAY[1], now=clock.now())

    assert () == outcome.slots
    assert 1 == len(outcome.failures)
    assert isinstance(outcome.failures[0], PriceDataError)
    failed = [e for e in logs if e["event"] == "price_source_failed"]
    assert 1 == len(failed)
    assert "2024-09-02T02:00Z" in failed[0]["error"]
    assert "92.22 and 999.5 EUR/MWh" in failed[0]["error"]


async def test_entsoe_conflicting_duplicates_across_time_series_refuse_the_day(fake, clock) -> None:
    """The same hour in two <TimeSeries> with different prices is refused too."""
    server, url = fake
    start = NL_TEXT.index("<TimeSeries>")
    end = NL_TEXT.index("</TimeSeries>") + len("</TimeSeries>")
    twin = _POINT_5.sub(r"\g<1>12.5\g<3>", NL_TEXT[start:end])
    server.serve_verbatim(NL_TEXT[:end] + twin + NL_TEXT[end:])

    with pytest.raises(PriceDataError, match=r"92\.22 and 12\.5 EUR/MWh"):
        await nl(url, clock).fetch(*NL_DAY)


async def test_entsoe_conflicting_duplicates_refuse_only_their_day(fake, clock) -> None:
    """Two days asked, the second prices 02:00Z twice (52 and 999.5): the first day's 24 hours
    arrive, the second is left out and logged with both values (worker process included).
    """
    server, url = fake
    first_day = utc(2024, 9, 1, 22)
    hours = [(first_day + timedelta(hours=h), 50.0 + h) for h in range(48)]
    text = a44_document(hours, 60, "NL")
    last_period = text.rindex("</Period>")
    duplicate = "<Point><position>5</position><price.amount>999.5</price.amount></Point>\n"
    server.serve_verbatim(text[:last_period] + duplicate + text[last_period:])
    window = (first_day, first_day + timedelta(hours=48))

    with capture_logs() as logs:
        by_thread = await nl(url, clock).fetch(*window)
        by_process = await nl(url, clock, runner=EntsoeRunner.PROCESS).fetch(*window)

    for slots in (by_thread, by_process):
        assert [first_day + timedelta(hours=h) for h in range(24)] == [s.start for s in slots]
    refused = [e for e in logs if e["event"] == "price_day_refused"]
    assert 2 == len(refused)
    for event in refused:
        assert "2024-09-03T02:00Z (60 min): 78 and 999.5 EUR/MWh" in event["reason"]
        assert "refused 2024-09-02T22:00Z/2024-09-03T22:00Z" in event["reason"]


async def test_entsoe_identical_duplicate_positions_are_fine(fake, clock) -> None:
    """Position 5 given twice with the same price: the 24 hours arrive, 02:00Z at 92.22."""
    server, url = fake
    server.serve_verbatim(_with_point_5(NL_TEXT, duplicate_value="92.22"))

    slots = await nl(url, clock).fetch(*NL_DAY)

    assert 24 == len(slots)
    assert 92.22 == next(s.spot_eur_per_mwh for s in slots if s.start == utc(2024, 9, 2, 2))


@pytest.mark.parametrize(
    ("name", "zone"),
    [
        ("day_ahead_at_2024-07-28_pt60m_seq1.xml", "AT"),
        ("day_ahead_be_2024-10-08_pt60m.xml", "BE"),
        ("day_ahead_de-lu_2024-10-06_seq1-pt60m_seq2-pt15m.xml", "DE_LU"),
        ("day_ahead_es_2025-09-29_to_2025-10-02_pt60m-then-pt15m.xml", "ES"),
        ("day_ahead_fr_2023-05-07_to_2023-05-08_pt60m_a01.xml", "FR"),
        ("day_ahead_nl_2024-09-02_pt60m.xml", "NL"),
    ],
)
def test_every_recording_passes_the_checks_for_its_own_zone(name: str, zone: str) -> None:
    """The real documents (several resolutions, sequences, A01/A03) pass for their zone."""
    text = (FIXTURES / name).read_text(encoding="utf-8")
    wide = (datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))

    slots = parse_day_ahead(text, *wide, tariff=TARIFF, source="entsoe", zone=zone)

    assert len(slots) >= 24
    assert all(b.start >= a.end for a, b in zip(slots, slots[1:], strict=False))
    assert timedelta(0) < min(s.duration for s in slots)
