"""Answers that would end in a traceback: a JSON body nested thousands deep, a sign-in ``ttl``
no datetime can hold (issue 11, item 14). Each is a ``WallboxResponseError`` naming the
endpoint and the field, like every other malformed answer.

A tiny aiohttp server of ours on 127.0.0.1 serves the bodies; the client talks real HTTP to it.
"""

from __future__ import annotations

import json
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from pydantic import SecretStr

from smartcharge.logsetup import register_secret
from smartcharge.simulator.clock import SimulatedClock
from smartcharge.wallbox import WallboxClient, WallboxResponseError
from smartcharge.wallbox._json import MAX_JSON_DEPTH, json_too_deep
from smartcharge.wallbox.tokens import TOKEN_FILE

CID = 999001
HOUR_MS = 3_600_000


@dataclass
class Odd:
    """What the tiny server answers: the sign-in's attributes and the status body."""

    clock: SimulatedClock
    signin: dict[str, Any] = field(default_factory=dict)
    status_body: str = "{}"
    hits: list[str] = field(default_factory=list)

    async def handle_signin(self, request: web.Request) -> web.Response:
        self.hits.append(request.path)
        now_ms = int(self.clock.now().timestamp() * 1000)
        attributes = {
            "token": "odd-token-not-a-jwt",
            "refresh_token": "odd-refresh-not-a-jwt",
            "ttl": now_ms + HOUR_MS,
            "refresh_token_ttl": now_ms + 24 * HOUR_MS,
            **self.signin,
        }
        return web.Response(
            text=json.dumps({"data": {"attributes": attributes}}), content_type="application/json"
        )

    async def handle_status(self, request: web.Request) -> web.Response:
        self.hits.append(request.path)
        return web.Response(text=self.status_body, content_type="application/json")


@pytest.fixture
async def odd(auto_clock: SimulatedClock) -> AsyncIterator[tuple[Odd, str]]:
    server = Odd(auto_clock)
    app = web.Application()
    app.router.add_get("/users/signin", server.handle_signin)
    app.router.add_get(f"/chargers/status/{CID}", server.handle_status)
    test_server = TestServer(app, host="127.0.0.1")
    await test_server.start_server()
    try:
        yield server, str(test_server.make_url("")).rstrip("/")
    finally:
        await test_server.close()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def client(
    http: aiohttp.ClientSession, url: str, clock: SimulatedClock, state: Path
) -> WallboxClient:
    return WallboxClient(
        http,
        register_secret=register_secret,
        api_url=url,
        auth_url=url,
        username="odd@example.com",
        password=SecretStr("odd-password"),
        clock=clock,
        state_dir=state,
        charger_id=CID,
        timeout_s=5.0,  # everything here is on 127.0.0.1
        rng=random.Random(7),
    )


def nested(depth: int) -> str:
    """A status body whose ``config_data`` holds ``depth`` objects, one in the other."""
    return '{"config_data": ' + '{"x": ' * depth + "1" + "}" * depth + "}"


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 100_000])
async def test_deeply_nested_json_in_a_200_answer_is_an_unexpected_response(
    odd, http, auto_clock, tmp_path: Path, depth: int
):
    """Item 14: a 200 status answer nested 100 000 deep (old: RecursionError) or just past the
    limit is a WallboxResponseError naming the endpoint and the field.
    """
    server, url = odd
    server.status_body = nested(depth)

    with pytest.raises(WallboxResponseError) as caught:
        await client(http, url, auto_clock, tmp_path).status()

    assert f"GET chargers/status/{CID}" == caught.value.endpoint
    assert "config_data.x.x.x..." == caught.value.field
    assert "nested more than 32 levels" in str(caught.value)


@pytest.mark.parametrize(
    ("attribute", "value"),
    [("ttl", 10**30), ("ttl", 10**17), ("ttl", -(10**30)), ("refresh_token_ttl", 10**30)],
    ids=["ttl_1e30", "ttl_year_3e6", "ttl_minus_1e30", "refresh_ttl_1e30"],
)
async def test_a_sign_in_ttl_of_1e30_is_an_unexpected_response(
    odd, http, auto_clock, tmp_path: Path, attribute: str, value: int
):
    """Item 14: a sign-in ``ttl`` of 1e30 ms (old: OverflowError) names the endpoint and the
    field, and no token is kept (nothing half-applied).
    """
    server, url = odd
    server.signin = {attribute: value}

    with pytest.raises(WallboxResponseError) as caught:
        await client(http, url, auto_clock, tmp_path).status()

    assert "GET users/signin" == caught.value.endpoint
    assert f"data.attributes.{attribute}" == caught.value.field
    assert ["/users/signin"] == server.hits
    assert not (tmp_path / TOKEN_FILE).exists()


def test_the_depth_guard_skips_brackets_inside_strings():
    """Brackets in string values do not count; keys name the way down."""
    text = '{"a": "[[[[[[", "b": [{"c": [1]}]}'

    assert json_too_deep(text, 4) is None
    assert "b.[].c..." == json_too_deep(text, 3)
