"""EnergyZero against a fake EnergyZero on 127.0.0.1 serving the recorded answers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from smartcharge.domain import utc
from smartcharge.ports import PriceSource
from smartcharge.prices.energyzero import EnergyZeroPriceSource
from smartcharge.prices.errors import (
    PriceDataError,
    PriceRateLimitedError,
    PricesNotPublishedError,
    PriceSourceError,
    PriceUnavailableError,
)
from smartcharge.pricing import Tariff
from smartcharge.simulator.clock import SimulatedClock
from smartcharge.simulator.energyzero_server import EnergyZeroFakeServer, EnergyZeroFault

FIXTURES = Path(__file__).parent / "fixtures" / "energyzero"
AMS = ZoneInfo("Europe/Amsterdam")
TARIFF = Tariff(0.0, 0.09161, 21)


def day(y: int, m: int, d: int, n: int = 1) -> tuple[datetime, datetime]:
    start = datetime(y, m, d, tzinfo=AMS)
    end = datetime.combine(start.date() + timedelta(days=n), start.timetz())
    return start.astimezone(UTC), end.astimezone(UTC)


@pytest.fixture
async def ez() -> AsyncIterator[tuple[EnergyZeroFakeServer, EnergyZeroPriceSource]]:
    fake = EnergyZeroFakeServer()
    fake.add_recording_file(FIXTURES / "rest_electricity_quarter_2025-12-16_to_2025-12-18.json")
    server = TestServer(fake.app())
    await server.start_server()
    clock = SimulatedClock(utc(2025, 12, 17, 12))
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
        src = EnergyZeroPriceSource(
            session, str(server.make_url("")), clock, tariff=TARIFF, timeout_s=0.3
        )
        try:
            yield fake, src
        finally:
            fake.release_hangs()
            await server.close()


async def test_conforms_to_the_price_source_protocol(clock) -> None:
    """mypy checks the typed assignment."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
        src: PriceSource = EnergyZeroPriceSource(
            session, "http://127.0.0.1:1", clock, tariff=TARIFF
        )

    assert "energyzero" == src.name


async def test_quarter_hours_of_a_day_with_exact_base_prices(ez) -> None:
    """2025-12-17: 96 quarter-hours, base 0.08849 -> 88.49 EUR/MWh first, 0.06633 last."""
    fake, src = ez

    slots = await src.fetch(*day(2025, 12, 17))

    assert 96 == len(slots)
    assert (utc(2025, 12, 16, 23), utc(2025, 12, 16, 23, 15), 88.49, "energyzero") == (
        slots[0].start,
        slots[0].end,
        slots[0].spot_eur_per_mwh,
        slots[0].source,
    )
    assert (utc(2025, 12, 17, 22, 45), 66.33) == (slots[-1].start, slots[-1].spot_eur_per_mwh)
    assert round((0.08849 + 0.09161) * 1.21, 6) == slots[0].price_eur_per_kwh
    assert [
        {
            "energyType": "ENERGY_TYPE_ELECTRICITY",
            "date": "17-12-2025",
            "interval": "INTERVAL_QUARTER",
        }
    ] == fake.requests


async def test_today_and_tomorrow_in_one_request(ez) -> None:
    """The answer for D also holds D+1: two days cost one request."""
    fake, src = ez

    slots = await src.fetch(*day(2025, 12, 17, 2))

    assert 192 == len(slots)
    assert (utc(2025, 12, 17, 23), 75.87) == (slots[96].start, slots[96].spot_eur_per_mwh)
    assert ["17-12-2025"] == [q["date"] for q in fake.requests]


async def test_string_interval_form_gives_the_same_prices(ez) -> None:
    """``"interval": "RESPONSE_INTERVAL_QUARTER"`` (the 2026 form) parses the same."""
    fake, src = ez
    fake.interval_style = "str"

    slots = await src.fetch(*day(2025, 12, 17))

    assert (96, 88.49) == (len(slots), slots[0].spot_eur_per_mwh)


@pytest.mark.parametrize("style", ["404", "empty", "absent"])
async def test_unpublished_day_is_not_published(ez, style) -> None:
    """A day not out yet (404, empty streams, or absent from the window) is "not published"."""
    fake, src = ez
    fake.published_until = day(2025, 12, 18)[0]
    fake.not_published_style = style

    with pytest.raises(PricesNotPublishedError):
        await src.fetch(*day(2025, 12, 18))


async def test_tomorrow_missing_returns_today_only(ez) -> None:
    """Before tomorrow is out, asking for both days gives today's 96 and no error."""
    fake, src = ez
    fake.published_until = day(2025, 12, 18)[0]

    slots = await src.fetch(*day(2025, 12, 17, 2))

    assert 96 == len(slots)
    assert utc(2025, 12, 17, 22, 45) == slots[-1].start


async def test_400_is_refused_with_the_servers_message(ez) -> None:
    """The recorded 400 body's message reaches the error."""
    fake, src = ez
    fake.fail(EnergyZeroFault.BAD_REQUEST)

    with pytest.raises(PriceSourceError, match="DailyEnergyPricesRequest.Date"):
        await src.fetch(*day(2025, 12, 17))


@pytest.mark.parametrize(
    ("fault", "error", "text"),
    [
        (EnergyZeroFault.UNAVAILABLE, PriceUnavailableError, "503"),
        (EnergyZeroFault.HTML, PriceDataError, "not JSON"),
        (EnergyZeroFault.INVALID_JSON, PriceDataError, "invalid JSON"),
        (EnergyZeroFault.HANG, PriceUnavailableError, "no answer within 0.3 s"),
        (EnergyZeroFault.RATE_LIMITED, PriceRateLimitedError, "429"),
    ],
)
async def test_failures_map_to_the_error_tree(ez, fault, error, text) -> None:
    """Each failure becomes the matching PriceSourceError."""
    fake, src = ez
    fake.fail(fault)

    with pytest.raises(error, match=text):
        await src.fetch(*day(2025, 12, 17))


async def test_generated_dst_day_has_100_quarters(ez) -> None:
    """A served fall-back day (2025-10-26) comes back as 100 quarter-hours."""
    fake, src = ez
    start, end = day(2025, 10, 26)
    points = [(start + timedelta(minutes=15 * i), float(i)) for i in range(100)]
    fake.serve_points(points, 15)

    slots = await src.fetch(start, end)

    assert 100 == len(slots)
    assert [float(i) for i in range(100)] == [s.spot_eur_per_mwh for s in slots]
    assert end == slots[-1].end
