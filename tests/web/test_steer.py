"""``POST /api/plan`` over real HTTP with a double of the daemon's view: the strict body (400
naming the field), 415, cross-site 403, the write limit (429 + Retry-After on an injected
clock) and the bounded answer (202 while the daemon is busy; the steer still ends whole)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import aiohttp
import pytest

from smartcharge.session.steering import (
    SteerMode,
    SteerOutcome,
    SteerRefusal,
    SteerRequest,
    SteerSource,
)
from smartcharge.simulator.clock import SimulatedClock
from smartcharge.web.auth import WriteLimiter
from smartcharge.web.body import parse_steer
from smartcharge.web.server import MAX_BODY_BYTES, HttpServer
from tests.web.doubles import NOW, ViewDouble
from tests.web.test_server import STATUS

TIMEOUT = aiohttp.ClientTimeout(total=5)


@pytest.fixture
def view() -> ViewDouble:
    return ViewDouble()


@pytest.fixture
def clock() -> SimulatedClock:
    return SimulatedClock(NOW)


@pytest.fixture
async def server(view: ViewDouble, clock: SimulatedClock) -> AsyncIterator[HttpServer]:
    server = HttpServer(view, "127.0.0.1", 0, clock, steer_timeout_s=0.5)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def post(
    server: HttpServer,
    body: Any = None,
    *,
    raw: bytes | None = None,
    content_type: str | None = "application/json",
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], Any]:
    data = raw if raw is not None else json.dumps(body).encode()
    sent = dict(headers or {})
    if content_type is not None:
        sent["Content-Type"] = content_type
    async with (
        aiohttp.ClientSession(timeout=TIMEOUT) as http,
        http.post(
            f"http://127.0.0.1:{server.port}/api/plan",
            data=data,
            headers=sent,
            skip_auto_headers=["Content-Type"],
        ) as resp,
    ):
        text = await resp.text()
        got = json.loads(text) if resp.content_type == "application/json" else text
        return resp.status, dict(resp.headers), got


async def test_an_accepted_request_answers_the_override_and_the_plan(
    server: HttpServer, view: ViewDouble
):
    status, _, body = await post(server, {"mode": "plan", "target_kwh": 35, "ready_by": "06:30"})

    assert 200 == status
    assert {
        "applies_to": "session",
        "override": STATUS["session"]["override"],
        "plan": STATUS["plan"],
    } == body
    assert [(SteerRequest(SteerMode.PLAN, 35.0, "06:30"), SteerSource.API)] == view.calls


@pytest.mark.parametrize(
    ("header", "source"),
    [
        ("cli", SteerSource.CLI),
        ("CLI", SteerSource.CLI),
        ("page", SteerSource.PAGE),  # the web page's script (web/page_assets.py)
        ("browser", SteerSource.API),  # any other name: the API
    ],
)
async def test_the_cli_and_the_page_say_so_in_a_header(
    server: HttpServer, view: ViewDouble, header: str, source: SteerSource
):
    await post(server, {"mode": "now"}, headers={"X-Smartcharge-Client": header})

    assert [(SteerRequest(SteerMode.NOW), source)] == view.calls


@pytest.mark.parametrize(
    ("mode", "extra"),
    [("off", {}), ("clear", {}), ("now", {"target_kwh": None, "ready_by": None})],
)
async def test_every_mode_reaches_the_daemon(
    server: HttpServer, view: ViewDouble, mode: str, extra: dict[str, Any]
):
    status, _, _ = await post(server, {"mode": mode, **extra})

    assert 200 == status
    assert [SteerRequest(SteerMode(mode))] == [r for r, _ in view.calls]


BAD_BODIES: list[tuple[bytes, str, str]] = [
    (b"", "body", "not JSON"),
    (b"{", "body", "not JSON"),
    (b"[]", "body", "not a JSON object"),
    (b'"now"', "body", "not a JSON object"),
    (b"null", "body", "not a JSON object"),
    (b'{"mode": "now", "force": true}', "force", "unknown field"),
    (b'{"target_kwh": 30}', "mode", "required"),
    (b'{"mode": "boost"}', "mode", "unknown mode"),
    (b'{"mode": "NOW"}', "mode", "unknown mode"),
    (b'{"mode": 1}', "mode", "unknown mode"),
    (b'{"mode": "plan", "target_kwh": "35"}', "target_kwh", "not a number"),
    (b'{"mode": "plan", "target_kwh": true}', "target_kwh", "not a number"),
    (b'{"mode": "plan", "target_kwh": [35]}', "target_kwh", "not a number"),
    (b'{"mode": "plan", "target_kwh": NaN}', "body", "not a number JSON allows"),
    (b'{"mode": "plan", "target_kwh": Infinity}', "body", "not a number JSON allows"),
    (b'{"mode": "plan", "target_kwh": -Infinity}', "body", "not a number JSON allows"),
    (b'{"mode": "plan", "target_kwh": 1e400}', "target_kwh", "not a finite number"),
    (b'{"mode": "plan", "target_kwh": 1' + b"0" * 400 + b"}", "target_kwh", "finite"),
    (b'{"mode": "plan", "ready_by": 630}', "ready_by", "not a time"),
    (b'{"mode": "plan", "ready_by": "  "}', "ready_by", "not a time"),
    (b'{"mode": "now", "mode": "off"}', "mode", "given twice"),
    (b"\xff\xfe{}", "body", "not UTF-8"),
    (b"[" * 5000 + b"]" * 5000, "body", "not JSON"),  # deeper than Python recurses
]


@pytest.mark.parametrize(("raw", "field", "message"), BAD_BODIES, ids=range(len(BAD_BODIES)))
async def test_a_bad_body_is_refused_naming_the_field(
    server: HttpServer, view: ViewDouble, raw: bytes, field: str, message: str
):
    status, _, body = await post(server, raw=raw)

    assert 400 == status
    error = body["error"]
    assert field == error["field"]
    assert message in error["message"]
    assert error["accepted"]
    assert len(error["value"]) <= 80
    assert [] == view.calls  # nothing reached the daemon


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
async def test_a_body_that_is_not_json_by_its_type_is_415(
    server: HttpServer, view: ViewDouble, content_type: str | None
):
    status, _, body = await post(server, {"mode": "now"}, content_type=content_type)

    assert 415 == status
    assert "Content-Type" == body["error"]["field"]
    assert "application/json" in body["error"]["accepted"]
    assert [] == view.calls


async def test_json_with_a_charset_is_json(server: HttpServer, view: ViewDouble):
    status, _, _ = await post(
        server, {"mode": "now"}, content_type="application/json; charset=utf-8"
    )

    assert 200 == status
    assert 1 == len(view.calls)


async def test_a_huge_body_is_413_as_json(server: HttpServer, view: ViewDouble):
    status, _, body = await post(server, raw=b'{"mode": "' + b"x" * MAX_BODY_BYTES + b'"}')

    assert 413 == status
    assert "path" == body["error"]["field"]
    assert [] == view.calls


async def test_the_daemons_refusal_is_a_400_with_what_is_accepted(
    server: HttpServer, view: ViewDouble
):
    refusal = SteerRefusal(
        "ready_by", "05:00", "the ready-by is in the past", "a time after now (18:30)"
    )
    view.answer = SteerOutcome(refusal, None, None)

    status, _, body = await post(server, {"mode": "plan", "ready_by": "05:00"})

    assert 400 == status
    assert {
        "error": {
            "field": "ready_by",
            "value": "05:00",
            "message": "the ready-by is in the past",
            "accepted": "a time after now (18:30)",
        }
    } == body


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://evil.example"},
        {"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site", "Origin": "http://127.0.0.1:1"},
        {"Origin": "null"},
    ],
)
async def test_a_write_from_another_site_is_403(
    server: HttpServer, view: ViewDouble, headers: dict[str, str]
):
    status, _, body = await post(server, {"mode": "now"}, headers=headers)

    assert 403 == status
    assert "Origin" == body["error"]["field"]
    assert [] == view.calls


async def test_a_write_from_our_own_page_is_allowed(server: HttpServer, view: ViewDouble):
    origin = f"http://127.0.0.1:{server.port}"
    status, _, _ = await post(
        server, {"mode": "now"}, headers={"Origin": origin, "Sec-Fetch-Site": "same-origin"}
    )

    assert 200 == status
    assert 1 == len(view.calls)


async def test_writes_are_limited_to_six_a_minute(
    server: HttpServer, view: ViewDouble, clock: SimulatedClock
):
    answers = [(await post(server, {"mode": "now"}))[0] for _ in range(6)]
    limited = await post(server, {"mode": "off"})
    clock.set(clock.now() + timedelta(seconds=45))
    still = await post(server, {"mode": "off"})
    reads = await asyncio.gather(*(_get(server, "/api/status") for _ in range(20)))
    clock.set(clock.now() + timedelta(seconds=15))
    again = await post(server, {"mode": "clear"})

    assert [200] * 6 == answers
    assert 429 == limited[0]
    assert "60" == limited[1]["Retry-After"]
    assert "rate" == limited[2]["error"]["field"]
    assert (429, "15") == (still[0], still[1]["Retry-After"])
    assert [200] * 20 == reads  # reads are not limited
    assert 200 == again[0]
    assert [SteerMode.NOW] * 6 + [SteerMode.CLEAR] == [r.mode for r, _ in view.calls]


async def test_a_bad_body_does_not_count_against_the_limit(server: HttpServer):
    for _ in range(10):
        await post(server, raw=b"{")
    statuses = [(await post(server, {"mode": "now"}))[0] for _ in range(6)]

    assert [200] * 6 == statuses


async def test_a_busy_daemon_answers_202_and_the_steer_still_ends_whole(
    view: ViewDouble, clock: SimulatedClock
):
    view.gate = asyncio.Event()
    server = HttpServer(view, "127.0.0.1", 0, clock, steer_timeout_s=0.05)
    await server.start()
    try:
        status, _, body = await post(server, {"mode": "now"})
        assert [] == view.done  # still waiting for the daemon when the answer came
        view.gate.set()
    finally:
        await server.stop()  # waits for the steer in the background

    assert 202 == status
    assert body["pending"] is True
    assert "GET /api/status" in body["message"]
    assert [(SteerRequest(SteerMode.NOW), SteerSource.API)] == view.done


async def _get(server: HttpServer, path: str) -> int:
    async with (
        aiohttp.ClientSession(timeout=TIMEOUT) as http,
        http.get(f"http://127.0.0.1:{server.port}{path}") as resp,
    ):
        return resp.status


def test_the_limiter_slides_on_the_injected_clock():
    now = [0.0]
    limiter = WriteLimiter(lambda: now[0], limit=2, window_s=60)

    first = [limiter.take(), limiter.take(), limiter.take()]
    now[0] = 30.0
    middle = limiter.take()
    now[0] = 60.0
    after = [limiter.take(), limiter.take(), limiter.take()]

    assert [None, None, 60.0] == first
    assert 30.0 == middle
    assert [None, None, 60.0] == after


def test_parse_steer_reads_the_documented_body():
    assert SteerRequest(SteerMode.PLAN, 35.5, "2026-12-08T06:30:00+01:00") == parse_steer(
        b'{"mode": "plan", "target_kwh": 35.5, "ready_by": " 2026-12-08T06:30:00+01:00 "}'
    )
    assert SteerRequest(SteerMode.CLEAR) == parse_steer(b'{"mode": "clear"}')
