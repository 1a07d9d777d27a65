"""The page's routes over real HTTP on 127.0.0.1 (web/page_routes.py), with a double of the view.

``GET /`` renders the same documents the API serves; ``POST /plan`` (the form without
JavaScript) goes through the server's write door: 303 to ``/`` when applied, the page again
with the reason next to the field when refused (nothing asked of the daemon when the form
itself is wrong), 415 for a body that is not a form, 429 past the write limit it shares with
``POST /api/plan``; the server's guard (cross-site writes, the token beyond loopback) holds for
the page as for the API.
"""

from __future__ import annotations

import asyncio
import base64
import re
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from pydantic import SecretStr

from smartcharge.session.steering import (
    SteerMode,
    SteerOutcome,
    SteerRefusal,
    SteerRequest,
    SteerSource,
)
from smartcharge.simulator.clock import SimulatedClock
from smartcharge.web.page_assets import CONTENT_SECURITY_POLICY
from smartcharge.web.server import HttpServer
from tests.web.doubles import NOW, ViewDouble

TIMEOUT = aiohttp.ClientTimeout(total=5)
TOKEN = "page-test-token-123"  # noqa: S105 - the test's own
FORM = "application/x-www-form-urlencoded"


class Client:
    """Requests to one server, redirects not followed: ``(status, headers, text)``."""

    def __init__(self, http: aiohttp.ClientSession, port: int) -> None:
        self.http = http
        self.base = f"http://127.0.0.1:{port}"

    async def call(self, method: str, path: str, **kwargs: Any) -> tuple[int, dict[str, str], str]:
        async with self.http.request(
            method, self.base + path, allow_redirects=False, **kwargs
        ) as resp:
            return resp.status, dict(resp.headers), await resp.text()


@pytest.fixture
def view() -> ViewDouble:
    return ViewDouble()


@pytest.fixture
async def client(view: ViewDouble) -> AsyncIterator[Client]:
    server = HttpServer(view, "127.0.0.1", 0, SimulatedClock(NOW))
    await server.start()
    try:
        async with aiohttp.ClientSession(timeout=TIMEOUT) as http:
            yield Client(http, server.port)
    finally:
        await server.stop()


def basic(user: str, password: str) -> dict[str, str]:
    pair = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {pair}"}


def rects(html: str) -> list[str]:
    return re.findall(r"<rect [^>]*>", html)


async def test_the_page_shows_the_views_documents_with_a_strict_content_security_policy(client):
    status, headers, html = await client.call("GET", "/")

    assert 200 == status
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert CONTENT_SECURITY_POLICY == headers["Content-Security-Policy"]
    assert "no-store" == headers["Cache-Control"]
    # not no-referrer: under it a browser sends "Origin: null" with the form's POST (refused)
    assert "same-origin" == headers["Referrer-Policy"]
    assert "Charged so far</dt><dd>2.5 kWh" in html
    assert "Still needed</dt><dd>17.5 kWh" in html
    # hourly prices: local 7 and 8 December whole; the plan charges 01:00-03:00Z
    bars = rects(html)
    assert 48 == len(bars)
    planned = [
        re.findall(r'data-start="([^"]+)"', r)[0] for r in bars if 'data-planned="true"' in r
    ]
    assert ["2026-12-08T01:00:00Z", "2026-12-08T02:00:00Z"] == planned


async def test_a_form_post_steers_from_the_page_and_answers_303_to_the_page(client, view):
    form = {"mode": "plan", "target_kwh": "30", "ready_by": "06:00"}
    status, headers, _ = await client.call("POST", "/plan", data=form)

    assert 303 == status
    assert "/" == headers["Location"]
    assert [(SteerRequest(SteerMode.PLAN, 30.0, "06:00"), SteerSource.PAGE)] == view.calls


async def test_the_pages_script_steers_through_the_api_as_the_page(client, view):
    status, _, _ = await client.call(
        "POST", "/api/plan", json={"mode": "now"}, headers={"X-Smartcharge-Client": "page"}
    )

    assert 200 == status
    assert [(SteerRequest(SteerMode.NOW), SteerSource.PAGE)] == view.calls


@pytest.mark.parametrize("mode", ["now", "off", "clear"])
async def test_the_buttons_send_their_mode_alone(client, view, mode: str):
    form = {"mode": mode, "target_kwh": "30", "ready_by": "06:00"}
    status, _, _ = await client.call("POST", "/plan", data=form)

    assert 303 == status
    assert [(SteerRequest(SteerMode(mode)), SteerSource.PAGE)] == view.calls


async def test_a_form_that_is_wrong_by_itself_asks_nothing_of_the_daemon(client, view):
    form = {"mode": "plan", "target_kwh": "lots", "ready_by": "06:00"}
    status, _, html = await client.call("POST", "/plan", data=form)

    assert 400 == status
    assert [] == view.calls
    assert re.search(r'id="target_kwh"[^>]*value="lots"[^>]*aria-invalid="true"', html)
    assert "&#x27;lots&#x27; is not a number of kWh." in html


async def test_a_refusal_by_the_daemon_is_shown_next_to_its_field(client, view):
    refusal = SteerRefusal("ready_by", "04:00", "04:00 is in the past.", "a time after now")
    view.answer = SteerOutcome(refusal, None, None)
    form = {"mode": "plan", "target_kwh": "30", "ready_by": "04:00"}
    status, _, html = await client.call("POST", "/plan", data=form)

    assert 400 == status
    assert 1 == len(view.calls)
    assert re.search(r'id="ready_by"[^>]*value="04:00"[^>]*aria-invalid="true"', html)
    error = re.search(r'<p class="error" id="ready_by-error">([^<]*)</p>', html)
    assert error is not None
    assert "04:00 is in the past. (accepted: a time after now)" == error.group(1)


async def test_a_body_that_is_not_a_form_is_415(client, view):
    status, _, html = await client.call("POST", "/plan", json={"mode": "now"})

    assert 415 == status
    assert [] == view.calls
    assert "form-encoded" in html


async def test_the_page_and_the_api_share_the_write_limit(client, view):
    for _ in range(6):
        status, _, _ = await client.call("POST", "/api/plan", json={"mode": "now"})
        assert 200 == status
    status, headers, html = await client.call("POST", "/plan", data={"mode": "off"})

    assert 429 == status
    assert int(headers["Retry-After"]) >= 1
    assert 6 == len(view.calls)
    assert "Too many changes" in html


async def test_a_cross_site_form_post_is_refused(client, view):
    status, _, _ = await client.call(
        "POST", "/plan", data={"mode": "now"}, headers={"Origin": "http://evil.example"}
    )

    assert 403 == status
    assert [] == view.calls


async def test_a_daemon_busy_past_the_bound_still_answers_303(view):
    view.gate = asyncio.Event()
    server = HttpServer(view, "127.0.0.1", 0, SimulatedClock(NOW), steer_timeout_s=0.2)
    await server.start()
    try:
        async with aiohttp.ClientSession(timeout=TIMEOUT) as http:
            status, headers, _ = await Client(http, server.port).call(
                "POST", "/plan", data={"mode": "now"}
            )
        view.gate.set()
    finally:
        await server.stop()

    assert 303 == status
    assert "/" == headers["Location"]
    assert [(SteerRequest(SteerMode.NOW), SteerSource.PAGE)] == view.done


async def test_beyond_loopback_the_page_needs_the_token_as_basic_password(view):
    server = HttpServer(view, "0.0.0.0", 0, SimulatedClock(NOW), SecretStr(TOKEN))  # noqa: S104
    await server.start()
    try:
        async with aiohttp.ClientSession(timeout=TIMEOUT) as http:
            client = Client(http, server.port)
            bare = await client.call("GET", "/")
            wrong = await client.call("GET", "/", headers=basic("me", "wrong"))
            right = await client.call("GET", "/", headers=basic("anyone", TOKEN))
            post = await client.call("POST", "/plan", data={"mode": "now"})
    finally:
        await server.stop()

    for status, headers, _ in (bare, wrong, post):
        assert 401 == status
        assert headers["WWW-Authenticate"].startswith('Basic realm="smartcharge"')
    assert 200 == right[0]
    assert 'id="price-chart"' in right[2]
    assert [] == view.calls


async def test_an_unknown_path_names_the_pages_paths_among_those_accepted(client):
    status, _, text = await client.call("GET", "/nowhere")

    assert 404 == status
    assert "GET / (the page)" in text
    assert "POST /api/plan, /plan (the page's form)" in text
