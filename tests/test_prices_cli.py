"""``smartcharge prices``: against fakes served from a thread, then from the cache alone."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiohttp import web

from smartcharge.cli import main
from smartcharge.simulator.energyzero_server import EnergyZeroFakeServer
from smartcharge.simulator.entsoe_server import EntsoeFakeServer

FIXTURES = Path(__file__).parent / "fixtures"
NL_XML = FIXTURES / "entsoe" / "day_ahead_nl_2024-09-02_pt60m.xml"
KEY = "cli-test-key-987654321"


class ThreadedServer:
    """An aiohttp app served on 127.0.0.1 from its own thread and event loop."""

    def __init__(self, app: web.Application) -> None:
        self._app = app
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.port = 0

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._runner = web.AppRunner(self._app)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        self._loop.run_until_complete(site.start())
        self.port = self._runner.addresses[0][1]
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(self._runner.cleanup())
        self._loop.close()

    def start(self) -> ThreadedServer:
        self._thread.start()
        assert self._ready.wait(10)
        return self

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


@pytest.fixture(autouse=True)
def restore_root_logging() -> Iterator[None]:
    """The CLI configures stdlib logging; put the root logger back afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def expected_nl_slots(tax: float, vat: float) -> list[dict[str, object]]:
    """The fixture's 24 hours read straight from the XML (no position is left out in it)."""
    text = NL_XML.read_text()
    prices = [float(p) for p in re.findall(r"<price.amount>([^<]+)</price.amount>", text)]
    start = datetime(2024, 9, 1, 22, tzinfo=UTC)
    out = []
    for i, spot in enumerate(prices):
        a, b = start + timedelta(hours=i), start + timedelta(hours=i + 1)
        out.append(
            {
                "start": a.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "end": b.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "spot_eur_mwh": spot,
                "price_eur_kwh": round((spot / 1000 + tax) * (1 + vat / 100), 6),
                "source": "entsoe",
            }
        )
    return out


def test_json_from_a_fake_then_from_the_cache_alone(tmp_path, monkeypatch, capsys) -> None:
    """--json prints exactly the fixture's slots; after a restart with the server gone, too."""
    fake = EntsoeFakeServer()
    fake.add_recording_file(NL_XML)
    server = ThreadedServer(fake.app()).start()
    monkeypatch.setenv("SMARTCHARGE_ENTSOE_API_URL", f"http://127.0.0.1:{server.port}/api")
    monkeypatch.setenv("SMARTCHARGE_ENTSOE_API_KEY", KEY)
    monkeypatch.setenv("SMARTCHARGE_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("SMARTCHARGE_PRICE_SOURCES", "entsoe")
    monkeypatch.setenv("SMARTCHARGE_TARIFF_TAX_EUR_KWH", "0.09161")
    try:
        first_status = main(["prices", "--date", "2024-09-02", "--json"])
        first = capsys.readouterr()
    finally:
        server.stop()
    second_status = main(["prices", "--date", "2024-09-02", "--json"])
    second = capsys.readouterr()

    expected = {"zone": "NL", "slots": expected_nl_slots(0.09161, 21.0)}
    assert (0, 0) == (first_status, second_status)
    assert expected == json.loads(first.out)
    assert expected == json.loads(second.out)
    assert 1 == len(fake.requests)
    assert KEY not in first.err + second.err + first.out


def test_table_marks_the_cheapest_and_shows_local_time(tmp_path, monkeypatch, capsys) -> None:
    """The table is in local time (CEST) with the cheapest quarter of the day marked."""
    fake = EntsoeFakeServer()
    fake.add_recording_file(NL_XML)
    server = ThreadedServer(fake.app()).start()
    monkeypatch.setenv("SMARTCHARGE_ENTSOE_API_URL", f"http://127.0.0.1:{server.port}/api")
    monkeypatch.setenv("SMARTCHARGE_ENTSOE_API_KEY", KEY)
    monkeypatch.setenv("SMARTCHARGE_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("SMARTCHARGE_PRICE_SOURCES", "entsoe")
    try:
        status = main(["prices", "--date", "2024-09-02"])
    finally:
        server.stop()
    out = capsys.readouterr().out

    rows = [line for line in out.splitlines() if re.match(r"\d\d:\d\d-\d\d:\d\d", line)]
    assert 0 == status
    assert 24 == len(rows)
    assert rows[0].startswith("00:00-01:00")
    assert "91.24" in rows[0]
    assert 6 == sum(1 for r in rows if " *entsoe" in r)
    cheapest = min(rows, key=lambda r: float(r.split()[2]))
    assert " *entsoe" in cheapest


def test_no_key_no_cache_still_tries_energyzero(tmp_path, monkeypatch, capsys) -> None:
    """Without an ENTSO-E key the next source answers; the note names the missing key."""
    fake = EnergyZeroFakeServer()
    fake.add_recording_file(
        FIXTURES / "energyzero" / "rest_electricity_quarter_2025-12-16_to_2025-12-18.json"
    )
    server = ThreadedServer(fake.app()).start()
    monkeypatch.setenv("SMARTCHARGE_ENERGYZERO_API_URL", f"http://127.0.0.1:{server.port}")
    monkeypatch.setenv("SMARTCHARGE_STATE_DIR", str(tmp_path / "state"))
    try:
        status = main(["prices", "--date", "2025-12-17", "--json"])
    finally:
        server.stop()
    captured = capsys.readouterr()
    doc = json.loads(captured.out)

    assert 0 == status
    assert 96 == len(doc["slots"])
    assert {"energyzero"} == {s["source"] for s in doc["slots"]}
    assert 88.49 == doc["slots"][0]["spot_eur_mwh"]
    assert "SMARTCHARGE_ENTSOE_API_KEY" in captured.err


def test_nothing_known_exits_1(tmp_path, monkeypatch, capsys) -> None:
    """With no source reachable and no cache, the slots are empty and the status is 1."""
    monkeypatch.setenv("SMARTCHARGE_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("SMARTCHARGE_PRICE_SOURCES", "entsoe")

    status = main(["prices", "--date", "2024-09-02", "--json"])

    assert 1 == status
    assert {"zone": "NL", "slots": []} == json.loads(capsys.readouterr().out)


def test_bad_date_is_a_usage_error(capsys) -> None:
    """--date must be YYYY-MM-DD."""
    with pytest.raises(SystemExit) as info:
        main(["prices", "--date", "02-09-2024"])

    assert 2 == info.value.code
    assert "expected YYYY-MM-DD" in capsys.readouterr().err


def test_one_shot_says_each_problem_once_in_a_sentence(tmp_path, monkeypatch, capsys) -> None:
    """No key and EnergyZero unreachable: one note, one failure, one verdict; no log lines.

    Before: three JSON log lines (the missing optional key at level error), then the same
    reasons again as a note ending in "will retry later", although the command exits.
    """
    server = ThreadedServer(web.Application()).start()
    port = server.port
    server.stop()  # nothing listens there any more: the connection is refused
    monkeypatch.setenv("SMARTCHARGE_ENERGYZERO_API_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("SMARTCHARGE_STATE_DIR", str(tmp_path / "state"))

    status = main(["prices", "--date", "2025-12-17"])
    err = capsys.readouterr().err.strip().splitlines()

    assert 1 == status
    assert [
        "smartcharge: note: entsoe skipped: SMARTCHARGE_ENTSOE_API_KEY is not set "
        "(optional; asking energyzero)",
        "smartcharge: no prices known for 2025-12-17",
    ] == [err[0], err[-1]]
    assert 3 == len(err)
    assert err[1].startswith("smartcharge: price source energyzero failed: ")
    assert "cannot connect" in err[1]
    assert "retry" not in " ".join(err)
