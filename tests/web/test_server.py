"""The HTTP server over real HTTP on 127.0.0.1, with a double of the daemon's view.

Every path's document and errors; what the guard lets through on loopback (the Host check,
cross-site writes); ``/healthz`` as before the move. Auth beyond loopback: ``test_auth.py``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import aiohttp
import pytest
from structlog.testing import capture_logs

from smartcharge.domain import PriceCurve
from smartcharge.session.model import DaemonState
from smartcharge.simulator.clock import SimulatedClock
from smartcharge.web.health import Health
from smartcharge.web.server import HttpServer
from smartcharge.web.view import ApiFacts
from tests.web.doubles import NOW, OVERRIDE, ViewDouble, facts, health_facts

TIMEOUT = aiohttp.ClientTimeout(total=5)


class Client:
    """Requests to one server: ``(status, headers, JSON body)``."""

    def __init__(self, http: aiohttp.ClientSession, port: int) -> None:
        self.http = http
        self.base = f"http://127.0.0.1:{port}"

    async def call(self, method: str, path: str, **kwargs: Any) -> tuple[int, dict[str, str], Any]:
        async with self.http.request(method, self.base + path, **kwargs) as resp:
            text = await resp.text()
            body = json.loads(text) if resp.content_type == "application/json" else text
            return resp.status, dict(resp.headers), body


@pytest.fixture
def view() -> ViewDouble:
    return ViewDouble()


@pytest.fixture
def clock() -> SimulatedClock:
    return SimulatedClock(NOW)


@pytest.fixture
async def client(view: ViewDouble, clock: SimulatedClock) -> AsyncIterator[Client]:
    server = HttpServer(view, "127.0.0.1", 0, clock)
    await server.start()
    try:
        async with aiohttp.ClientSession(timeout=TIMEOUT) as http:
            yield Client(http, server.port)
    finally:
        await server.stop()


STATUS: dict[str, Any] = {
    "now": "2026-12-07T17:30:00Z",
    "link": "cloud",
    "session": {
        "session_id": "2026-12-07T17:00:00+00:00",
        "plugged_in_at": "2026-12-07T17:00:00Z",
        "ready_by": "2026-12-08T06:00:00Z",
        "target_kwh": 20.0,
        "delivered_kwh": 2.5,
        "remaining_kwh": 17.5,
        "target_met_at": None,
        "override": {
            "mode": "plan",
            "target_kwh": 35.0,
            "ready_by": "2026-12-08T05:30:00Z",
            "set_by": "cli",
            "set_at": "2026-12-07T17:30:00Z",
        },
    },
    "next_override": None,
    "plan": {
        "made_at": "2026-12-07T17:01:00Z",
        "reason": "session_started",
        "strategy": "cheapest",
        "target_kwh": 20.0,
        "ready_by": "2026-12-08T06:00:00Z",
        "energy_kwh": 22.08,
        "cost_eur": 4.6368,
        "immediate_cost_eur": 6.1235,
        "reachable": True,
        "slots": [
            {
                "start": "2026-12-07T17:00:00Z",
                "end": "2026-12-07T18:00:00Z",
                "current_a": 0.0,
                "power_kw": 0.0,
                "energy_kwh": 0.0,
                "price_eur_per_kwh": 0.37,
                "charging": False,
            },
            {
                "start": "2026-12-08T01:00:00Z",
                "end": "2026-12-08T03:00:00Z",
                "current_a": 16.0,
                "power_kw": 11.04,
                "energy_kwh": 22.08,
                "price_eur_per_kwh": 0.21,
                "charging": True,
            },
        ],
    },
    "next_action": {"action": "resume", "at": "2026-12-08T01:00:00Z"},
    "prices_known_until": "2026-12-09T01:00:00Z",
    "last_contact": {
        "charger_at": "2026-12-07T17:29:50Z",
        "charger_reachable": True,
        "prices_at": "2026-12-07T16:30:00Z",
        "price_source": "entsoe",
    },
    "car": {
        "full_power_kw": 3.42,
        "at_current_a": 16,
        "draw_share": 0.31,
        "taper_share": 0.45,
        "power_by_current_kw": [[16, 3.42]],
        "sessions": 2,
        "readings": 40,
        "learnt_at": "2026-12-06T17:30:00Z",
    },
    "energy_cost_in_app": {"kept": True, "by": "cloud", "missing": [], "why": None, "note": None},
    "health": {"status": "ok", "reasons": []},
    "settings_problems": [],
}


async def test_status_is_the_whole_document(client: Client):
    status, headers, body = await client.call("GET", "/api/status")

    assert 200 == status
    assert headers["Content-Type"].startswith("application/json")
    assert "no-store" == headers["Cache-Control"]
    assert STATUS == body


async def test_status_with_no_car_plugged_in_and_nothing_known(client: Client, view: ViewDouble):
    view.current = facts(
        state=DaemonState(charger_unreachable=True, next_override=OVERRIDE),
        car=None,
        prices=PriceCurve(),
        health=Health(False, ("no successful charger poll since start",)),
        settings_problems=("SMARTCHARGE_TARGET_KWH='lots': expected a number",),
    )

    _, _, body = await client.call("GET", "/api/status")

    assert body["session"] is None
    assert body["plan"] is None
    assert body["next_action"] is None
    assert body["car"] is None
    assert body["prices_known_until"] is None
    assert body["next_override"] == STATUS["session"]["override"]
    assert {
        "charger_at": None,
        "charger_reachable": False,
        "prices_at": None,
        "price_source": None,
    } == body["last_contact"]
    assert {"status": "unhealthy", "reasons": ["no successful charger poll since start"]} == (
        body["health"]
    )
    assert ["SMARTCHARGE_TARGET_KWH='lots': expected a number"] == body["settings_problems"]


async def test_healthz_is_served_as_before(client: Client, view: ViewDouble, tmp_path):
    view.healthy = health_facts(tmp_path)
    ok = await client.call("GET", "/healthz")
    view.healthy = replace(view.healthy, last_poll_mono=None, started_mono=None)
    bad = await client.call("GET", "/healthz")

    assert (200, "ok") == (ok[0], ok[2]["status"])
    assert {"status", "reasons", "state_dir", "settings_problems"} == set(ok[2])
    assert str(tmp_path.resolve()) == ok[2]["state_dir"]
    assert 503 == bad[0]
    assert "unhealthy" == bad[2]["status"]
    assert bad[2]["reasons"][0].startswith("no successful charger poll since")


async def test_plan_document(client: Client, view: ViewDouble):
    with_plan = await client.call("GET", "/api/plan")
    view.current = facts(state=DaemonState())
    without = await client.call("GET", "/api/plan")

    assert (200, {"session_id": STATUS["session"]["session_id"], "plan": STATUS["plan"]}) == (
        with_plan[0],
        with_plan[2],
    )
    assert (200, {"session_id": None, "plan": None}) == (without[0], without[2])


async def test_prices_of_a_local_day_with_the_planned_slots(client: Client):
    _, _, today = await client.call("GET", "/api/prices")
    _, _, tomorrow = await client.call("GET", "/api/prices", params={"date": "2026-12-08"})
    _, _, unknown = await client.call("GET", "/api/prices", params={"date": "2027-01-01"})

    # 2026-12-07 in Amsterdam is 2026-12-06T23:00Z to 2026-12-07T23:00Z: 24 hourly slots.
    assert ("2026-12-07", "Europe/Amsterdam") == (today["date"], today["timezone"])
    assert 24 == len(today["slots"])
    assert {
        "start": "2026-12-06T23:00:00Z",
        "end": "2026-12-07T00:00:00Z",
        "price_eur_per_kwh": 0.43,
        "planned": False,
    } == today["slots"][0]
    assert [] == [s for s in today["slots"] if s["planned"]]
    # The prices end at 2026-12-09T01:00Z: tomorrow is whole; the plan charges 01:00-03:00Z.
    assert 24 == len(tomorrow["slots"])
    assert ["2026-12-08T01:00:00Z", "2026-12-08T02:00:00Z"] == [
        s["start"] for s in tomorrow["slots"] if s["planned"]
    ]
    assert {"date": "2027-01-01", "timezone": "Europe/Amsterdam", "slots": []} == unknown


@pytest.mark.parametrize("value", ["2026-13-01", "tomorrow", "2026-12-7", "20261207", ""])
async def test_prices_refuse_a_bad_date(client: Client, value: str):
    status, _, body = await client.call("GET", "/api/prices", params={"date": value})

    assert 400 == status
    assert "date" == body["error"]["field"]
    assert value == body["error"]["value"]
    assert "YYYY-MM-DD" in body["error"]["accepted"]


async def test_sessions_newest_first_with_totals(client: Client):
    status, _, body = await client.call("GET", "/api/sessions")
    _, _, one = await client.call("GET", "/api/sessions", params={"limit": "1"})

    assert 200 == status
    assert ["2026-12-06T17:00:00Z", "2026-12-05T17:00:00Z"] == [
        s["plugged_in_at"] for s in body["sessions"]
    ]
    assert {
        "session_id": "2026-12-05T17:00:00+00:00",
        "plugged_in_at": "2026-12-05T17:00:00Z",
        "plugged_out_at": "2026-12-06T07:00:00Z",
        "ready_by": "2026-12-06T06:00:00Z",
        "target_kwh": 20.0,
        "energy_kwh": 20.0,
        "cost_eur": 4.0,
        "immediate_cost_eur": 6.0,
        "saving_eur": 2.0,
        "target_met": True,
        "target_met_at": "2026-12-06T04:00:00Z",
        "commands": 4,
    } == body["sessions"][1]
    assert body["sessions"][0]["saving_eur"] is None
    assert {
        "sessions": 2,
        "energy_kwh": 40.0,
        "cost_eur": 7.5,
        "immediate_cost_eur": 6.0,
        "saving_eur": 2.0,
        "targets_met": 2,
    } == body["totals"]
    assert body["ledger_problem"] is None
    assert ["2026-12-06T17:00:00Z"] == [s["plugged_in_at"] for s in one["sessions"]]
    assert 2 == one["totals"]["sessions"]  # the totals are the whole ledger's


@pytest.mark.parametrize("value", ["0", "-1", "1001", "ten", "1.5", "", "１"])
async def test_sessions_refuse_a_bad_limit(client: Client, value: str):
    status, _, body = await client.call("GET", "/api/sessions", params={"limit": value})

    assert 400 == status
    assert ("limit", value) == (body["error"]["field"], body["error"]["value"])
    assert "1 to 1000" in body["error"]["accepted"]


async def test_unknown_path_and_wrong_method_answer_json(client: Client):
    missing = await client.call("GET", "/api/nothing")
    wrong = await client.call("DELETE", "/api/plan")

    assert 404 == missing[0]
    assert "/api/nothing" == missing[2]["error"]["value"]
    assert "/api/status" in missing[2]["error"]["accepted"]
    assert 405 == wrong[0]
    assert "path" == wrong[2]["error"]["field"]
    assert {"GET", "HEAD", "POST"} <= {m.strip() for m in wrong[1]["Allow"].split(",")}


async def test_a_loopback_server_answers_loopback_names_only(client: Client):
    """A DNS-rebinding page reaches 127.0.0.1 under its own name: refused (but /healthz)."""
    rebound = await client.call("GET", "/api/status", headers={"Host": "evil.example:8765"})
    health = await client.call("GET", "/healthz", headers={"Host": "evil.example:8765"})
    by_name = await client.call("GET", "/api/status", headers={"Host": "localhost:8765"})
    by_v6 = await client.call("GET", "/api/status", headers={"Host": "[::1]:8765"})

    assert 403 == rebound[0]
    assert ("Host", "evil.example:8765") == (
        rebound[2]["error"]["field"],
        rebound[2]["error"]["value"],
    )
    assert 200 == health[0]
    assert (200, 200) == (by_name[0], by_v6[0])


class _Broken(ViewDouble):
    def facts(self) -> ApiFacts:
        raise RuntimeError("a bug")


async def test_a_failure_is_a_json_500_and_logged(clock: SimulatedClock):
    server = HttpServer(_Broken(), "127.0.0.1", 0, clock)
    await server.start()
    try:
        with capture_logs() as logs:
            async with aiohttp.ClientSession(timeout=TIMEOUT) as http:
                status, _, body = await Client(http, server.port).call("GET", "/api/status")
    finally:
        await server.stop()

    assert 500 == status
    assert ("server", "/api/status") == (body["error"]["field"], body["error"]["value"])
    assert "RuntimeError" in body["error"]["message"]
    assert ["http_request_failed"] == [e["event"] for e in logs if e["log_level"] == "error"]


async def test_a_request_without_a_host_header_is_refused_on_loopback(client: Client):
    """HTTP/1.0 without Host: no name to check, so no answer but /healthz."""
    port = int(client.base.rsplit(":", 1)[1])

    async def raw(path: str) -> bytes:
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 5)
        writer.write(f"GET {path} HTTP/1.0\r\n\r\n".encode())
        await writer.drain()
        data = await asyncio.wait_for(reader.read(), 5)
        writer.close()
        return data

    status = await raw("/api/status")
    health = await raw("/healthz")

    assert status.startswith(b"HTTP/1.0 403")
    assert health.startswith(b"HTTP/1.0 200")
