"""ENTSO-E in a worker process: entsoe-py fetches and parses there, pandas stays out of the daemon.

The worker is the real ``python -m smartcharge.prices._entsoe_worker`` asking a fake ENTSO-E on
127.0.0.1 that serves recorded XML; nothing of entsoe-py or of ours is patched. A crashing or
babbling worker is a command line we inject (``worker_argv``).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import textwrap
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from structlog.testing import capture_logs

from smartcharge.config import child_environment
from smartcharge.domain import PriceSlot, utc
from smartcharge.logsetup import register_secret
from smartcharge.prices._entsoe_worker import (
    EntsoeQuery,
    Failure,
    decode_answer,
    encode_answer,
)
from smartcharge.prices.entsoe import WORKER_MODULE, EntsoePriceSource, EntsoeRunner
from smartcharge.prices.errors import (
    PriceAuthError,
    PriceDataError,
    PriceRateLimitedError,
    PricesNotPublishedError,
    PriceSourceError,
    PriceUnavailableError,
)
from smartcharge.prices.zones import ENTSOE_ZONES
from smartcharge.pricing import Tariff
from smartcharge.simulator.clock import SimulatedClock
from smartcharge.simulator.entsoe_server import EntsoeFakeServer, EntsoeFault

FIXTURES = Path(__file__).parent / "fixtures" / "entsoe"
NL_DAY = FIXTURES / "day_ahead_nl_2024-09-02_pt60m.xml"
TARIFF = Tariff(markup_eur_per_kwh=0.02, tax_eur_per_kwh=0.09161, vat_percent=21)
KEY = "worker-entsoe-key-0123456789"
DAY = (utc(2024, 9, 1, 22), utc(2024, 9, 2, 22))
HEAVY = ("pandas", "numpy", "entsoe", "bs4")


@pytest.fixture
async def fake() -> AsyncIterator[tuple[EntsoeFakeServer, str]]:
    server = EntsoeFakeServer(valid_keys=[KEY])
    for path in sorted(FIXTURES.glob("day_ahead_*.xml")):
        server.add_recording_file(path)
    test_server = TestServer(server.app(), host="127.0.0.1")
    await test_server.start_server()
    try:
        yield server, str(test_server.make_url("/api"))
    finally:
        server.release_hangs()
        await test_server.close()


def worker_source(url: str, clock: SimulatedClock, **kw: object) -> EntsoePriceSource:
    return EntsoePriceSource(
        KEY,
        "NL",
        url,
        clock,
        tariff=TARIFF,
        runner=EntsoeRunner.PROCESS,
        worker_env=child_environment(),
        register_secret=register_secret,
        **kw,  # type: ignore[arg-type]
    )


def children_running(module: str) -> list[int]:
    """Return the pids of our child processes whose command line names ``module``."""
    me, found = os.getpid(), []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == me and module.encode() in cmdline:
            found.append(int(entry.name))
    return found


async def test_worker_process_gives_the_exact_prices(fake, clock) -> None:
    """The NL 2024-09-02 recording through the worker: 24 hours with the XML's exact prices."""
    server, url = fake

    slots = await worker_source(url, clock).fetch(*DAY)

    assert 24 == len(slots)
    assert (
        PriceSlot(utc(2024, 9, 1, 22), utc(2024, 9, 1, 23), 91.24, 0.245448, "entsoe") == (slots[0])
    )
    assert (utc(2024, 9, 2, 21), 104.0) == (slots[-1].start, slots[-1].spot_eur_per_mwh)
    assert (81.02, 255.53) == (
        min(s.spot_eur_per_mwh for s in slots),
        max(s.spot_eur_per_mwh for s in slots),
    )
    assert [("A44", "10YNL----------L", KEY)] == [
        (q["documentType"], q["in_Domain"], q["securityToken"]) for q in server.requests
    ]
    assert [] == children_running(WORKER_MODULE)


async def test_worker_401_names_the_setting_and_never_the_key(fake, clock) -> None:
    """A refused key: PriceAuthError naming SMARTCHARGE_ENTSOE_API_KEY and 401, without the key."""
    server, url = fake
    server.valid_keys = {"another-key"}

    with capture_logs() as logs, pytest.raises(PriceAuthError) as info:
        await worker_source(url, clock).fetch(*DAY)

    assert "SMARTCHARGE_ENTSOE_API_KEY" in str(info.value)
    assert "401" in str(info.value)
    assert KEY not in str(info.value)
    assert KEY not in repr(logs)


async def test_worker_no_data_is_not_published(fake, clock) -> None:
    """The no-data acknowledgement comes back as PricesNotPublishedError."""
    server, url = fake
    server.published_until = DAY[0]

    with pytest.raises(PricesNotPublishedError, match="no prices published"):
        await worker_source(url, clock).fetch(*DAY)


async def test_worker_malformed_xml_is_a_data_error(fake, clock) -> None:
    """A truncated document is PriceDataError, as in a thread."""
    server, url = fake
    server.fail(EntsoeFault.MALFORMED)

    with pytest.raises(PriceDataError, match="not well-formed"):
        await worker_source(url, clock).fetch(*DAY)


async def test_worker_429_retry_at_comes_from_our_clock(fake, clock) -> None:
    """Retry-After: 120 crosses the process boundary as seconds; retry_at is our now + 120 s."""
    server, url = fake
    server.fail(EntsoeFault.RATE_LIMITED, times=1)

    with pytest.raises(PriceRateLimitedError) as info:
        await worker_source(url, clock).fetch(*DAY)

    assert clock.now() + timedelta(seconds=120) == info.value.retry_at
    assert f"next try at {info.value.retry_at:%H:%MZ}" in str(info.value)


async def test_hanging_worker_is_killed_after_its_deadline(fake, clock) -> None:
    """A worker stuck on a server that never answers is killed at the deadline: unavailable."""
    server, url = fake
    server.fail(EntsoeFault.HANG)
    source = worker_source(url, clock, timeout_s=60.0, worker_deadline_s=1.5)

    with capture_logs() as logs, pytest.raises(PriceUnavailableError, match="killed"):
        await source.fetch(*DAY)

    killed = [e for e in logs if e["event"] == "entsoe_worker_killed"]
    assert 1 == len(killed)
    with pytest.raises(ProcessLookupError):
        os.kill(killed[0]["pid"], 0)
    assert [] == children_running(WORKER_MODULE)


async def test_key_travels_over_stdin_only(clock, monkeypatch) -> None:
    """While the worker waits on the server, neither its argv nor its environment holds the key.

    The key is also in our own environment here, as in a container: the worker gets none of it.
    """
    monkeypatch.setenv("SMARTCHARGE_ENTSOE_API_KEY", KEY)
    arrived, release = asyncio.Event(), asyncio.Event()
    tokens: list[str] = []

    async def handle(request: web.Request) -> web.Response:
        tokens.append(request.query["securityToken"])
        arrived.set()
        await release.wait()
        return web.Response(body=NL_DAY.read_bytes(), content_type="text/xml")

    app = web.Application()
    app.router.add_get("/api", handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        fetch = asyncio.create_task(worker_source(str(server.make_url("/api")), clock).fetch(*DAY))
        await asyncio.wait_for(arrived.wait(), 30)
        pids = children_running(WORKER_MODULE)
        argv = [Path(f"/proc/{pid}/cmdline").read_bytes() for pid in pids]
        environ = [Path(f"/proc/{pid}/environ").read_bytes() for pid in pids]
        release.set()
        slots = await fetch
    finally:
        release.set()
        await server.close()

    assert 1 == len(pids)
    assert KEY.encode() not in argv[0]
    assert WORKER_MODULE.encode() in argv[0]
    assert KEY.encode() not in environ[0]
    assert b"SMARTCHARGE_" not in environ[0]
    assert [KEY] == tokens
    assert 24 == len(slots)


async def run_worker(stdin: str) -> tuple[int, str, str]:
    """Run the real worker module with ``stdin``; return its exit code, stdout and stderr."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        WORKER_MODULE,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(stdin.encode()), 60)
    return proc.returncode or 0, out.decode(), err.decode()


async def test_worker_output_never_holds_the_key(fake) -> None:
    """A 401 and a refused connection (requests puts the URL in its error): no key on a pipe."""
    server, url = fake
    server.valid_keys = {"another-key"}
    refused = EntsoeQuery(KEY, "NL", "http://127.0.0.1:9/api", *DAY, 5.0, "entsoe")
    rejected = EntsoeQuery(KEY, "NL", url, *DAY, 5.0, "entsoe")

    answers = [await run_worker(q.to_json()) for q in (rejected, refused)]

    assert [0, 0] == [code for code, _, _ in answers]
    assert ["PriceAuthError", "PriceUnavailableError"] == [
        decode_answer(out).kind  # type: ignore[union-attr]
        for _, out, _ in answers
    ]
    assert all(KEY not in out and KEY not in err for _, out, err in answers)
    assert KEY not in repr(refused)


async def test_unreadable_request_exits_2() -> None:
    """Garbage on stdin: exit code 2 and a one-line reason, nothing on stdout."""
    code, out, err = await run_worker("not json")

    assert (2, "") == (code, out)
    assert "unreadable request" in err


@pytest.mark.parametrize(
    ("script", "match"),
    [
        (
            "import sys; sys.stderr.write('boom " + KEY + "\\n'); sys.exit(3)",
            r"exit code 3\): boom \*\*\*$",
        ),
        ("print('<html>not an answer</html>')", "unreadable"),
        ('print(\'{"error": "SystemExit", "message": "x"}\')', "unreadable"),
        ('print(\'{"slots": [["2024-09-02T00:00:00", "2024-09-02T01:00:00", 1]]}\')', "unr"),
        (
            'print(\'{"slots": [["2024-09-02T01:00:00Z", "2024-09-02T00:00:00Z", 1]]}\')',
            "impossible slots",
        ),
    ],
    ids=["crash", "html", "unknown-kind", "naive-time", "end-before-start"],
)
async def test_crashing_or_babbling_worker_is_a_price_source_error(
    clock, script: str, match: str
) -> None:
    """A worker that crashes or writes garbage is a PriceSourceError (the feed keeps its prices)."""
    source = EntsoePriceSource(
        KEY,
        "NL",
        "http://127.0.0.1:9/api",
        clock,
        tariff=TARIFF,
        runner=EntsoeRunner.PROCESS,
        worker_argv=(sys.executable, "-c", script),
        worker_env=child_environment(),
        register_secret=register_secret,
    )

    with pytest.raises(PriceSourceError, match=match) as info:
        await source.fetch(*DAY)

    assert type(info.value) is PriceSourceError
    assert KEY not in str(info.value)


def test_answers_round_trip() -> None:
    """Slots and failures survive encode and decode exactly (floats included)."""
    slots = ((utc(2024, 9, 1, 22), utc(2024, 9, 1, 23), 91.24), (DAY[0], DAY[1], -0.1 + 0.2))
    failure = Failure("PriceRateLimitedError", "rate limited", 120.0)

    assert slots == decode_answer(encode_answer(slots))
    assert failure == decode_answer(encode_answer(failure))


def test_zone_copy_matches_entsoe_py() -> None:
    """prices.zones.ENTSOE_ZONES is exactly entsoe-py's Area names (the copy keeps pandas out)."""
    from entsoe.mappings import Area  # noqa: PLC0415

    assert sorted(a.name for a in Area) == sorted(ENTSOE_ZONES)


async def test_daemon_feed_keeps_pandas_out_of_the_process(fake, tmp_path: Path) -> None:
    """A fresh process loads the settings, builds the daemon's feed, imports the daemon and
    fetches a day: 24 slots arrive, and pandas, numpy, entsoe and bs4 never enter it.
    """
    server, url = fake
    script = textwrap.dedent(
        f"""
        import asyncio, json, sys
        from datetime import UTC, datetime
        import aiohttp
        from pydantic import SecretStr
        from smartcharge.config import Settings
        from smartcharge.prices import EntsoeRunner
        from smartcharge.runtime.adapters import build_price_feed
        from smartcharge.simulator.clock import SimulatedClock
        import smartcharge.cli
        import smartcharge.runtime.daemon
        import smartcharge.runtime.serve

        async def main():
            settings = Settings(
                entsoe_api_key=SecretStr({KEY!r}),
                entsoe_api_url={url!r},
                price_sources="entsoe",
                bidding_zone="NL",
                state_dir={str(tmp_path)!r},
            )
            clock = SimulatedClock(datetime(2024, 9, 2, 10, 0, tzinfo=UTC))
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
                feed = build_price_feed(settings, session, clock)
                runners = [s.runner.value for s in feed.chain.sources]
                await feed.refresh(clock.now())
            day = feed.curve.between(datetime(2024, 9, 1, 22, tzinfo=UTC),
                                     datetime(2024, 9, 2, 22, tzinfo=UTC))
            heavy = [m for m in {HEAVY!r} if m in sys.modules]
            print(json.dumps({{"slots": len(day), "heavy": heavy, "runners": runners}}))

        asyncio.run(main())
        """
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SMARTCHARGE_", "ENTSOE_"))}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        script,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    result = json.loads(out.decode().strip().splitlines()[-1]) if proc.returncode == 0 else err

    assert {"slots": 24, "heavy": [], "runners": ["process"]} == result
    assert 1 == len(server.requests)
