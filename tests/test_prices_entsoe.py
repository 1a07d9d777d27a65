"""ENTSO-E through entsoe-py against a fake ENTSO-E on 127.0.0.1 serving recorded XML.

entsoe-py itself fetches and parses; nothing of entsoe-py or of ours is patched.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import entsoe.entsoe
import pytest
from aiohttp.test_utils import TestServer
from structlog.testing import capture_logs

from smartcharge.config import load_settings
from smartcharge.domain import PriceSlot, utc
from smartcharge.errors import ConfigError
from smartcharge.logsetup import register_secret
from smartcharge.ports import PriceSource
from smartcharge.prices.entsoe import EntsoePriceSource
from smartcharge.prices.errors import (
    PriceAuthError,
    PriceDataError,
    PriceRateLimitedError,
    PricesNotPublishedError,
    PriceUnavailableError,
)
from smartcharge.pricing import Tariff
from smartcharge.simulator.clock import SimulatedClock
from smartcharge.simulator.entsoe_server import (
    EntsoeFakeServer,
    EntsoeFault,
    a44_document,
    read_price_csv,
)

FIXTURES = Path(__file__).parent / "fixtures" / "entsoe"
CSV = Path(__file__).parents[1] / "smartcharge" / "simulator" / "data" / "prices_nl_sample.csv"
AMS = ZoneInfo("Europe/Amsterdam")
TARIFF = Tariff(markup_eur_per_kwh=0.02, tax_eur_per_kwh=0.09161, vat_percent=21)
KEY = "test-entsoe-key-0123456789"


def local_day(y: int, m: int, d: int) -> tuple[datetime, datetime]:
    start = datetime(y, m, d, tzinfo=AMS)
    end = start + timedelta(days=1)
    return start.astimezone(UTC), datetime.combine(end.date(), start.timetz()).astimezone(UTC)


@pytest.fixture
async def fake() -> AsyncIterator[tuple[EntsoeFakeServer, str]]:
    server = EntsoeFakeServer()
    for path in sorted(FIXTURES.glob("day_ahead_*.xml")):
        server.add_recording_file(path)
    test_server = TestServer(server.app())
    await test_server.start_server()
    try:
        yield server, str(test_server.make_url("/api"))
    finally:
        server.release_hangs()
        await test_server.close()


def source(url: str, clock: SimulatedClock, area: str = "NL", **kw: object) -> EntsoePriceSource:
    return EntsoePriceSource(
        KEY,
        area,
        url,
        clock,
        tariff=TARIFF,
        register_secret=register_secret,
        **kw,  # type: ignore[arg-type]
    )


def test_conforms_to_the_price_source_protocol(clock: SimulatedClock) -> None:
    """mypy checks this assignment."""
    _: PriceSource = source("http://127.0.0.1:1/api", clock)


async def test_nl_hourly_day_exact_prices_and_query(fake, clock) -> None:
    """The NL 2024-09-02 recording gives its 24 hours with the exact XML prices."""
    server, url = fake
    start, end = local_day(2024, 9, 2)

    slots = await source(url, clock).fetch(start, end)

    assert 24 == len(slots)
    assert (
        PriceSlot(utc(2024, 9, 1, 22), utc(2024, 9, 1, 23), 91.24, 0.245448, "entsoe") == slots[0]
    )
    assert (utc(2024, 9, 2, 21), 104.0) == (slots[-1].start, slots[-1].spot_eur_per_mwh)
    assert (81.02, 255.53) == (
        min(s.spot_eur_per_mwh for s in slots),
        max(s.spot_eur_per_mwh for s in slots),
    )
    assert all(s.duration == timedelta(hours=1) for s in slots)
    assert round((91.24 / 1000 + 0.02 + 0.09161) * 1.21, 6) == slots[0].price_eur_per_kwh
    query = server.requests[-1]
    assert ("A44", "10YNL----------L", "0") == (
        query["documentType"],
        query["in_Domain"],
        query["offset"],
    )
    assert ("202409012200", "202409022200") == (query["periodStart"], query["periodEnd"])
    assert 1 == len(server.requests)


async def test_window_is_half_open(fake, clock) -> None:
    """Asking for 2024-09-02 02:00Z..05:00Z gives exactly the three hours starting in it."""
    _, url = fake

    slots = await source(url, clock).fetch(utc(2024, 9, 2, 2), utc(2024, 9, 2, 5))

    assert [utc(2024, 9, 2, h) for h in (2, 3, 4)] == [s.start for s in slots]


async def test_a03_left_out_positions_repeat_the_price_before(fake, clock) -> None:
    """ES 2025-10-01 leaves out position 12 (00:45Z): it repeats position 11 (100.00)."""
    _, url = fake
    start, end = utc(2025, 9, 30, 22), utc(2025, 10, 1, 22)

    slots = await source(url, clock, area="ES").fetch(start, end)

    by_start = {s.start: s.spot_eur_per_mwh for s in slots}
    assert 96 == len(slots)
    assert all(s.duration == timedelta(minutes=15) for s in slots)
    assert 100.0 == by_start[utc(2025, 10, 1, 0, 30)]
    assert 100.0 == by_start[utc(2025, 10, 1, 0, 45)]
    assert 105.1 == by_start[utc(2025, 9, 30, 22)]


async def test_hourly_then_quarter_hourly_across_the_go_live(fake, clock) -> None:
    """ES 2025-09-29..10-02: hourly before the SDAC 15-minute go-live, quarters after it."""
    _, url = fake

    slots = await source(url, clock, area="ES").fetch(utc(2025, 9, 28, 22), utc(2025, 10, 2, 22))

    hours = [s for s in slots if s.duration == timedelta(hours=1)]
    quarters = [s for s in slots if s.duration == timedelta(minutes=15)]
    assert (48, 192) == (len(hours), len(quarters))
    assert utc(2025, 9, 30, 21) == hours[-1].start
    assert utc(2025, 9, 30, 22) == quarters[0].start
    assert all(a.end == b.start for a, b in zip(slots, slots[1:], strict=False))


async def test_fr_a01_old_schema(fake, clock) -> None:
    """The older 7:0 schema with curve type A01 parses too."""
    _, url = fake

    slots = await source(url, clock, area="FR").fetch(utc(2023, 5, 6, 22), utc(2023, 5, 8, 22))

    assert 48 == len(slots)
    assert (utc(2023, 5, 6, 22), 106.78) == (slots[0].start, slots[0].spot_eur_per_mwh)


async def test_de_lu_asks_for_sequence_1_and_gets_sdac_prices(fake, clock) -> None:
    """DE_LU asks for classificationSequence 1; 00:00 local is the SDAC 67.04, not EXAA 98.1."""
    server, url = fake

    slots = await source(url, clock, area="DE_LU").fetch(utc(2024, 10, 5, 22), utc(2024, 10, 6, 22))

    assert "1" == server.requests[-1]["classificationSequence_AttributeInstanceComponent.position"]
    assert 24 == len(slots)
    assert 67.04 == slots[0].spot_eur_per_mwh


async def test_unfiltered_de_lu_still_yields_the_hourly_sdac_series(fake, clock) -> None:
    """Served with both sequences, the 60-minute SDAC series wins over EXAA's quarters."""
    server, url = fake
    server.filter_sequences = False

    slots = await source(url, clock, area="DE_LU").fetch(utc(2024, 10, 5, 22), utc(2024, 10, 6, 22))

    assert 24 == len(slots)
    assert all(s.duration == timedelta(hours=1) for s in slots)
    assert 67.04 == slots[0].spot_eur_per_mwh


@pytest.mark.parametrize(
    ("day", "minutes", "count"),
    [
        ((2024, 3, 31), 60, 23),
        ((2024, 10, 27), 60, 25),
        ((2025, 10, 26), 15, 100),
    ],
)
async def test_dst_days_from_generated_documents(fake, clock, day, minutes, count) -> None:
    """23- and 25-hour days (and 100 quarter-hours) come out with the CSV's exact prices."""
    server, url = fake
    start, end = local_day(*day)
    rows = read_price_csv(CSV, start, end)
    server.serve_points("NL", [(at, price) for at, price, _ in rows], minutes)

    slots = await source(url, clock).fetch(start, end)

    assert count == len(rows) == len(slots)
    assert [(at, price) for at, price, _ in rows] == [(s.start, s.spot_eur_per_mwh) for s in slots]
    assert all(s.duration == timedelta(minutes=minutes) for s in slots)
    assert (start, end) == (slots[0].start, slots[-1].end)


async def test_fall_back_day_2025_10_26_exact_quarters(fake, clock) -> None:
    """Both 02:00 local hours of 2025-10-26 are present, at their own UTC instants."""
    server, url = fake
    start, end = local_day(2025, 10, 26)
    rows = read_price_csv(CSV, start, end)
    server.serve_points("NL", [(at, price) for at, price, _ in rows], 15)

    slots = await source(url, clock).fetch(start, end)

    by_start = {s.start: s.spot_eur_per_mwh for s in slots}
    assert 3.2 == by_start[utc(2025, 10, 26, 0, 0)]  # first 02:00 (CEST)
    assert 2.9 == by_start[utc(2025, 10, 26, 1, 0)]  # second 02:00 (CET)
    assert utc(2025, 10, 25, 22) == slots[0].start


def test_generated_a03_document_leaves_out_repeats() -> None:
    """The generator writes A03 like ENTSO-E: a repeated price's position is left out."""
    points = [(utc(2025, 1, 1, h), p) for h, p in enumerate([10.0, 10.0, 12.5, -3.0])]

    text = a44_document(points, 60, "NL")

    assert "<position>2</position>" not in text
    assert "<position>3</position>" in text
    assert "<price.amount>-3</price.amount>" in text


async def test_not_published_yet_is_its_own_error(fake, clock) -> None:
    """A no-data acknowledgement (HTTP 200, text/xml) raises PricesNotPublishedError."""
    server, url = fake
    start, end = local_day(2025, 10, 26)
    server.serve_points("NL", [(start, 50.0)], 15)
    server.published_until = start

    with pytest.raises(PricesNotPublishedError):
        await source(url, clock).fetch(start, end)


@pytest.mark.filterwarnings("ignore::bs4.XMLParsedAsHTMLWarning")
async def test_fake_answers_nonzero_offset_with_no_data(fake, clock) -> None:
    """entsoe-py's pandas client pages with offset; the fake ends paging at once."""
    import pandas as pd  # noqa: PLC0415
    from entsoe.entsoe import EntsoePandasClient  # noqa: PLC0415

    server, url = fake
    client = EntsoePandasClient(api_key=KEY, retry_count=1, retry_delay=0, timeout=5)
    old = entsoe.entsoe.URL
    entsoe.entsoe.URL = url  # only in this test, to check the fake against the stock client
    try:
        series = await asyncio.to_thread(
            client.query_day_ahead_prices,
            "NL",
            start=pd.Timestamp("2024-09-02", tz="Europe/Amsterdam"),
            end=pd.Timestamp("2024-09-03", tz="Europe/Amsterdam"),
        )
    finally:
        entsoe.entsoe.URL = old

    assert ["0", "100"] == [q["offset"] for q in server.requests]
    assert 91.24 == float(series.iloc[0])


async def test_401_names_the_setting_and_never_the_key(fake, clock) -> None:
    """A refused key gives PriceAuthError naming SMARTCHARGE_ENTSOE_API_KEY, without the key."""
    server, url = fake
    server.valid_keys = {"another-key"}

    with capture_logs() as logs, pytest.raises(PriceAuthError) as info:
        await source(url, clock).fetch(*local_day(2024, 9, 2))

    assert "SMARTCHARGE_ENTSOE_API_KEY" in str(info.value)
    assert "401" in str(info.value)
    assert KEY not in str(info.value)
    assert KEY not in repr(info.value.__cause__)
    assert KEY not in repr(logs)
    assert logging.getLogger("entsoe").getEffectiveLevel() >= logging.INFO


async def test_no_key_fails_clearly_without_a_request(fake, clock) -> None:
    """Without a key nothing is sent and the error says which setting is missing."""
    server, url = fake

    with pytest.raises(PriceAuthError, match="SMARTCHARGE_ENTSOE_API_KEY is not set"):
        await EntsoePriceSource(
            None, "NL", url, clock, tariff=TARIFF, register_secret=register_secret
        ).fetch(*local_day(2024, 9, 2))

    assert [] == server.requests


async def test_429_gives_retry_at_from_retry_after(fake, clock) -> None:
    """HTTP 429 with Retry-After: 120 means "not before now + 120 s"."""
    server, url = fake
    server.fail(EntsoeFault.RATE_LIMITED, times=1)

    with pytest.raises(PriceRateLimitedError) as info:
        await source(url, clock).fetch(*local_day(2024, 9, 2))

    assert clock.now() + timedelta(seconds=120) == info.value.retry_at


async def test_503_is_transient(fake, clock) -> None:
    """HTTP 503 is PriceUnavailableError, and one retry later works."""
    server, url = fake
    server.fail(EntsoeFault.UNAVAILABLE, times=1)
    src = source(url, clock)

    with pytest.raises(PriceUnavailableError, match="503"):
        await src.fetch(*local_day(2024, 9, 2))
    slots = await src.fetch(*local_day(2024, 9, 2))

    assert 24 == len(slots)
    assert 2 == len(server.requests)


async def test_timeout_on_a_hanging_server(fake, clock) -> None:
    """A server that never answers gives PriceUnavailableError after the request timeout."""
    server, url = fake
    server.fail(EntsoeFault.HANG)

    with pytest.raises(PriceUnavailableError, match="no answer within 0.2 s"):
        await source(url, clock, timeout_s=0.2).fetch(*local_day(2024, 9, 2))

    assert 1 == len(server.requests)


async def test_malformed_xml_is_a_data_error(fake, clock) -> None:
    """A truncated document raises PriceDataError (the feed keeps its last prices)."""
    server, url = fake
    server.fail(EntsoeFault.MALFORMED)

    with pytest.raises(PriceDataError, match="not well-formed"):
        await source(url, clock).fetch(*local_day(2024, 9, 2))


async def test_endpoint_override_leaves_entsoe_global_alone(fake, clock) -> None:
    """Two sources on two servers in one process each reach their own; entsoe's URL is intact."""
    _, url = fake
    other = EntsoeFakeServer()
    other.serve_points("NL", [(utc(2024, 9, 1, 22), 1.5)], 60)
    other_server = TestServer(other.app())
    await other_server.start_server()
    before = entsoe.entsoe.URL
    try:
        a, b = await asyncio.gather(
            source(url, clock).fetch(*local_day(2024, 9, 2)),
            source(str(other_server.make_url("/api")), clock).fetch(*local_day(2024, 9, 2)),
        )
    finally:
        await other_server.close()

    assert (91.24, 1.5) == (a[0].spot_eur_per_mwh, b[0].spot_eur_per_mwh)
    assert before == entsoe.entsoe.URL


def test_unknown_bidding_zone_lists_valid_codes(monkeypatch) -> None:
    """SMARTCHARGE_BIDDING_ZONE=NLX is refused with a few valid codes."""
    monkeypatch.setenv("SMARTCHARGE_BIDDING_ZONE", "NLX")

    with pytest.raises(ConfigError) as info:
        load_settings()

    assert "SMARTCHARGE_BIDDING_ZONE" in str(info.value)
    assert "NL" in str(info.value).split("e.g.")[1]
