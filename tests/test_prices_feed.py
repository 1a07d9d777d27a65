"""The feed and the chain: ENTSO-E first, EnergyZero and stand-ins when it has no prices.

Both sources are real HTTP fakes on 127.0.0.1; time comes from a SimulatedClock.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from pydantic import SecretStr
from structlog.testing import capture_logs

from smartcharge.config import Settings
from smartcharge.domain import utc
from smartcharge.prices import EntsoeRunner, PriceFeed
from smartcharge.prices.feed import BACKOFF
from smartcharge.runtime.adapters import build_price_feed
from smartcharge.simulator.clock import SimulatedClock
from smartcharge.simulator.energyzero_server import EnergyZeroFakeServer
from smartcharge.simulator.entsoe_server import EntsoeFakeServer, EntsoeFault, read_price_csv

CSV = Path(__file__).parents[1] / "smartcharge" / "simulator" / "data" / "prices_nl_sample.csv"
AMS = ZoneInfo("Europe/Amsterdam")
KEY = "feed-test-key-abcdef"


def local(y: int, m: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, m, d, h, mi, tzinfo=AMS).astimezone(UTC)


def rows(start: datetime, end: datetime) -> list[tuple[datetime, float]]:
    return [(at, p) for at, p, _ in read_price_csv(CSV, start, end)]


@dataclass
class World:
    entsoe: EntsoeFakeServer
    ez: EnergyZeroFakeServer
    entsoe_url: str
    ez_url: str
    session: aiohttp.ClientSession
    clock: SimulatedClock
    state_dir: Path

    def settings(self, **kw: object) -> Settings:
        base: dict[str, Any] = {
            "entsoe_api_key": SecretStr(KEY),
            "entsoe_api_url": self.entsoe_url,
            "energyzero_api_url": self.ez_url,
            "state_dir": self.state_dir,
            "tariff_tax_eur_kwh": 0.09161,
        }
        base.update(kw)
        return Settings(**base)

    def feed(self, **kw: object) -> PriceFeed:
        # entsoe-py in a thread: fast; the daemon's worker process has its own tests
        # (tests/test_prices_entsoe_worker.py).
        return build_price_feed(
            self.settings(**kw),
            self.session,
            self.clock,
            timeout_s=0.3,
            entsoe_runner=EntsoeRunner.THREAD,
        )


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    entsoe, ez = EntsoeFakeServer(), EnergyZeroFakeServer()
    s1, s2 = TestServer(entsoe.app()), TestServer(ez.app())
    await s1.start_server()
    await s2.start_server()
    # 2025-10-25 10:00 local: today is the 25th, tomorrow (the 26th, DST) due at 13:00.
    clock = SimulatedClock(local(2025, 10, 25, 10))
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
        yield World(
            entsoe,
            ez,
            str(s1.make_url("/api")),
            str(s2.make_url("")),
            session,
            clock,
            tmp_path / "state",
        )
    entsoe.release_hangs()
    ez.release_hangs()
    await s1.close()
    await s2.close()


DAY25 = (local(2025, 10, 25), local(2025, 10, 26))
DAY26 = (local(2025, 10, 26), local(2025, 10, 27))


async def test_before_publication_tomorrow_missing_is_complete(world) -> None:
    """At 10:00 only today is due: complete, no fallback asked, next due at 13:00 CET."""
    world.entsoe.serve_points("NL", rows(*DAY25), 15)
    world.entsoe.serve_points("NL", rows(*DAY26), 15)
    world.entsoe.published_until = DAY26[0]
    world.ez.serve_points(rows(*DAY26), 15)
    feed = world.feed()

    with capture_logs() as logs:
        result = await feed.refresh(world.clock.now())
        again = await feed.refresh(world.clock.now())

    assert (96, True, None, None) == (
        result.new_slots,
        result.complete,
        result.retry_at,
        result.error,
    )
    assert 0 == again.new_slots
    assert [] == world.ez.requests
    assert {"entsoe"} == {s.source for s in feed.curve}
    assert local(2025, 10, 25, 13) == feed.next_due(world.clock.now())
    assert [] == [e for e in logs if e["log_level"] in ("warning", "error")]


async def test_after_publication_tomorrow_arrives_with_100_quarters(world) -> None:
    """At 13:00 the DST day's 100 quarter-hours come in; next due is 13:00 the next day."""
    world.entsoe.serve_points("NL", rows(*DAY25), 15)
    world.entsoe.serve_points("NL", rows(*DAY26), 15)
    feed = world.feed()
    world.clock.set(local(2025, 10, 25, 13))

    result = await feed.refresh(world.clock.now())

    assert (196, True) == (result.new_slots, result.complete)
    assert local(2025, 10, 27) == feed.curve.known_until
    assert 3.2 == feed.curve.slot_at(utc(2025, 10, 26, 0, 5)).spot_eur_per_mwh
    assert local(2025, 10, 26, 13) == feed.next_due(world.clock.now())


async def test_entsoe_without_today_falls_back_to_energyzero_and_back(world) -> None:
    """No NL data at ENTSO-E for today: EnergyZero fills it; later ENTSO-E serves again.

    The switch and the return are each logged once.
    """
    world.ez.serve_points(rows(*DAY25), 15)
    feed = world.feed()

    with capture_logs() as logs:
        first = await feed.refresh(world.clock.now())
        world.clock.set(local(2025, 10, 25, 13))
        world.entsoe.serve_points("NL", rows(*DAY26), 15)
        second = await feed.refresh(world.clock.now())

    assert (96, True) == (first.new_slots, first.complete)
    assert {"energyzero"} == {s.source for s in feed.curve.between(*DAY25)}
    assert {"entsoe"} == {s.source for s in feed.curve.between(*DAY26)}
    assert 100 == second.new_slots
    events = [e["event"] for e in logs]
    assert 1 == events.count("price_source_fallback")
    assert 1 == events.count("price_source_restored")
    assert [r["date"] for r in world.ez.requests] == ["25-10-2025"]


async def test_entsoe_failing_uses_energyzero_and_reports_the_error(world) -> None:
    """ENTSO-E answering 503: EnergyZero's prices are used, the error is reported."""
    world.entsoe.serve_points("NL", rows(*DAY25), 15)
    world.entsoe.fail(EntsoeFault.UNAVAILABLE)
    world.ez.serve_points(rows(*DAY25), 15)
    feed = world.feed()

    with capture_logs() as logs:
        result = await feed.refresh(world.clock.now())
        await feed.refresh(world.clock.now())

    assert result.complete
    assert result.error is not None
    assert "503" in result.error
    assert {"energyzero"} == {s.source for s in feed.curve}
    assert 1 == [e["event"] for e in logs].count("price_source_failed")


async def test_tomorrow_missing_after_publication_asks_the_fallback(world) -> None:
    """After 13:00 a missing tomorrow is due: EnergyZero is asked for it."""
    world.entsoe.serve_points("NL", rows(*DAY25), 15)
    world.entsoe.published_until = DAY26[0]
    world.ez.serve_points(rows(*DAY26), 15)
    world.clock.set(local(2025, 10, 25, 14))
    feed = world.feed()

    result = await feed.refresh(world.clock.now())

    assert (196, True) == (result.new_slots, result.complete)
    assert {"energyzero"} == {s.source for s in feed.curve.between(*DAY26)}
    assert {"entsoe"} == {s.source for s in feed.curve.between(*DAY25)}


async def test_belgian_stand_in_is_replaced_by_nl_prices_later(world) -> None:
    """entsoe:BE fills an NL gap as an approximation and gives way to NL prices once out."""
    be = [(at, 42.0) for at, _ in rows(*DAY25)]
    world.entsoe.serve_points("BE", be, 15)
    feed = world.feed(price_sources="entsoe,entsoe:BE")

    first = await feed.refresh(world.clock.now())
    world.entsoe.serve_points("NL", rows(*DAY25), 15)
    world.clock.set(first.retry_at)
    second = await feed.refresh(world.clock.now())

    assert first.complete
    assert first.retry_at == local(2025, 10, 25, 10) + BACKOFF[0]
    assert 96 == second.new_slots
    assert {"entsoe"} == {s.source for s in feed.curve}
    assert rows(*DAY25)[0][1] == feed.curve.slots[0].spot_eur_per_mwh


async def test_no_source_has_prices_nothing_is_invented(world) -> None:
    """Neither source has today: the period stays unknown, retries back off 5, 10, 20 min."""
    feed = world.feed()
    retries = []

    with capture_logs() as logs:
        for _ in range(3):
            result = await feed.refresh(world.clock.now())
            retries.append(result.retry_at - world.clock.now())
            world.clock.set(feed.next_due(world.clock.now()))

    assert 1 == [e["event"] for e in logs].count("prices_missing")
    assert not result.complete
    assert 0 == len(feed.curve)
    assert feed.curve.price_at(world.clock.now()) is None
    assert list(BACKOFF[:3]) == retries


async def test_malformed_xml_keeps_the_last_good_prices(world) -> None:
    """Today's prices stay in use when tomorrow's answer is malformed."""
    world.entsoe.serve_points("NL", rows(*DAY25), 15)
    world.entsoe.published_until = DAY26[0]
    feed = world.feed(price_sources="entsoe")
    await feed.refresh(world.clock.now())
    before = feed.curve
    world.entsoe.published_until = None
    world.entsoe.serve_points("NL", rows(*DAY26), 15)
    world.entsoe.fail(EntsoeFault.MALFORMED)
    world.clock.set(local(2025, 10, 25, 13))

    result = await feed.refresh(world.clock.now())

    assert before == feed.curve
    assert "not well-formed" in (result.error or "")
    assert not result.complete
    assert feed.curve.price_at(local(2025, 10, 25, 18)) is not None


async def test_rate_limit_retry_after_is_respected(world) -> None:
    """A 429 with Retry-After: 1800 puts the next try at least 30 minutes out."""
    world.entsoe.fail(EntsoeFault.RATE_LIMITED)
    world.entsoe.retry_after_s = 1800
    feed = world.feed(price_sources="entsoe")

    result = await feed.refresh(world.clock.now())

    assert world.clock.now() + timedelta(seconds=1800) == result.retry_at
    assert result.retry_at == feed.next_due(world.clock.now())


async def test_auth_error_names_the_setting_and_uses_energyzero(world) -> None:
    """A refused key is reported once, naming SMARTCHARGE_ENTSOE_API_KEY; EnergyZero serves."""
    world.entsoe.valid_keys = {"something-else"}
    world.ez.serve_points(rows(*DAY25), 15)
    feed = world.feed()

    with capture_logs() as logs:
        result = await feed.refresh(world.clock.now())

    assert "SMARTCHARGE_ENTSOE_API_KEY" in (result.error or "")
    assert result.complete
    errors = [e for e in logs if e["log_level"] == "error"]
    assert ["price_source_failed"] == [e["event"] for e in errors]
    assert KEY not in repr(logs)


async def test_hanging_entsoe_times_out_and_energyzero_serves(world) -> None:
    """A hanging ENTSO-E costs one timeout; the fallback's prices are used."""
    world.entsoe.fail(EntsoeFault.HANG)
    world.ez.serve_points(rows(*DAY25), 15)
    feed = world.feed()

    result = await feed.refresh(world.clock.now())

    assert result.complete
    assert "no answer within" in (result.error or "")
    assert 96 == len(feed.curve)


async def test_5xx_backs_off_then_recovers(world) -> None:
    """ENTSO-E answering 503 twice: retries after 5 then 10 minutes, then prices arrive."""
    world.entsoe.serve_points("NL", rows(*DAY25), 15)
    world.entsoe.fail(EntsoeFault.UNAVAILABLE, times=2)
    world.entsoe.published_until = DAY26[0]
    feed = world.feed(price_sources="entsoe")
    t0 = world.clock.now()

    first = await feed.refresh(t0)
    world.clock.set(feed.next_due(t0))
    second = await feed.refresh(world.clock.now())
    world.clock.set(feed.next_due(world.clock.now()))
    third = await feed.refresh(world.clock.now())

    assert t0 + BACKOFF[0] == first.retry_at
    assert t0 + BACKOFF[0] + BACKOFF[1] == second.retry_at
    assert (96, True, None) == (third.new_slots, third.complete, third.retry_at)
    assert 3 == len(world.entsoe.requests)
    assert world.clock.now() == feed.last_success_at
