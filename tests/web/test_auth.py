"""Beyond loopback: the token on every path but ``/healthz`` (Bearer and Basic), the same 401 for
a missing and a wrong one, the token never logged, and no server beyond loopback without one
(``check-config`` and ``run`` exit 2). The pure checks (``web.auth``) first.

"Beyond loopback" is decided by the configured address, not the peer: the server binds 0.0.0.0
and the test connects to 127.0.0.1, and still every request needs the token.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from pydantic import SecretStr
from structlog.testing import capture_logs

from smartcharge.config.http import is_loopback, local_base_url
from smartcharge.errors import ConfigError
from smartcharge.simulator.clock import SimulatedClock
from smartcharge.web.auth import cross_site, host_is_loopback, token_matches
from smartcharge.web.server import HttpServer
from tests.resilience.cli import run_cli, scoped_environ
from tests.web.doubles import NOW, ViewDouble

TOKEN = "Tq8v-3kP_zW1nR6yLm0aXc4sHb7dJe2U"  # noqa: S105 - the test's own token
TIMEOUT = aiohttp.ClientTimeout(total=5)
PATHS = [
    ("GET", "/"),
    ("GET", "/api/status"),
    ("GET", "/api/plan"),
    ("GET", "/api/prices"),
    ("GET", "/api/sessions"),
    ("POST", "/api/plan"),
    ("POST", "/plan"),
    ("GET", "/api/nothing"),
    ("GET", "/favicon.ico"),
]


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


# --- the pure checks


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.1", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("LOCALHOST", True),
        ("0.0.0.0", False),  # noqa: S104 - the value under test
        ("::", False),
        ("192.168.1.5", False),
        ("smartcharge.lan", False),
        ("localhost.evil.example", False),
    ],
)
def test_loopback_is_the_configured_address(host: str, loopback: bool):
    assert loopback is is_loopback(host)


@pytest.mark.parametrize(
    ("header", "ok"),
    [
        (f"Bearer {TOKEN}", True),
        (f"bearer   {TOKEN}", True),
        (basic("", TOKEN), True),
        (basic("anyone", TOKEN), True),
        (basic("me:with:colons", TOKEN), False),  # the password is after the FIRST colon
        (basic(TOKEN, ""), False),  # the token as the user name is not the password
        (f"Bearer {TOKEN}x", False),
        (f"Bearer {TOKEN[:-1]}", False),
        ("Bearer ", False),
        (f"Token {TOKEN}", False),
        ("Basic !!!not-base64", False),
        ("Basic " + base64.b64encode(b"\xff\xfe:x").decode(), False),
        (TOKEN, False),
        ("", False),
        (None, False),
    ],
)
def test_token_matches_bearer_or_basic_with_any_user(header: str | None, ok: bool):
    assert ok is token_matches(header, TOKEN)


def test_an_empty_token_matches_nothing():
    assert not token_matches("Bearer ", "")
    assert not token_matches(basic("u", ""), "")


@pytest.mark.parametrize(
    ("origin", "site", "host", "refused"),
    [
        (None, None, "127.0.0.1:8765", False),  # curl, the CLI
        ("http://127.0.0.1:8765", "same-origin", "127.0.0.1:8765", False),  # our own page
        (None, "none", "127.0.0.1:8765", False),  # typed or bookmarked
        ("http://evil.example", "cross-site", "127.0.0.1:8765", True),
        ("http://127.0.0.1:3000", "same-site", "127.0.0.1:8765", True),  # another port
        ("http://127.0.0.1:3000", None, "127.0.0.1:8765", True),  # an old browser
        ("null", None, "127.0.0.1:8765", True),  # a sandboxed frame
        (None, "cross-site", "127.0.0.1:8765", True),
        ("https://smartcharge.lan", "same-origin", "smartcharge.lan", False),  # a TLS proxy
        ("http://evil.example", None, "smartcharge.lan", True),
        ("file://", None, "127.0.0.1:8765", True),
        ("http://[bad", None, "127.0.0.1:8765", True),
    ],
)
def test_cross_site_writes(origin: str | None, site: str | None, host: str, refused: bool):
    assert refused is cross_site(origin, site, host)


@pytest.mark.parametrize(
    ("header", "ok"),
    [
        ("127.0.0.1:8765", True),
        ("localhost:8765", True),
        ("[::1]:8765", True),
        ("localhost", True),
        ("evil.example:8765", False),
        ("127.0.0.1.nip.io:8765", False),
        ("", False),
        (None, False),
        ("[bad", False),
    ],
)
def test_host_header_on_loopback(header: str | None, ok: bool):
    assert ok is host_is_loopback(header)


# --- over HTTP, listening on every interface


@pytest.fixture
async def server() -> AsyncIterator[HttpServer]:
    server = HttpServer(ViewDouble(), "0.0.0.0", 0, SimulatedClock(NOW), SecretStr(TOKEN))  # noqa: S104
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def call(
    server: HttpServer, method: str, path: str, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], Any]:
    async with (
        aiohttp.ClientSession(timeout=TIMEOUT) as http,
        http.request(
            method,
            f"http://127.0.0.1:{server.port}{path}",
            headers=headers or {},
            json={"mode": "now"} if method == "POST" else None,
        ) as resp,
    ):
        text = await resp.text()
        body = json.loads(text) if resp.content_type == "application/json" else text
        return resp.status, dict(resp.headers), body


@pytest.mark.parametrize(("method", "path"), PATHS)
@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong-token-wrong-token-wrong", basic("me", "wrong"), f"Bearer {TOKEN[:-1]}"],
    ids=["none", "wrong-bearer", "wrong-basic", "prefix"],
)
async def test_every_path_but_healthz_needs_the_token(
    server: HttpServer, method: str, path: str, authorization: str | None
):
    headers = {} if authorization is None else {"Authorization": authorization}
    status, got, body = await call(server, method, path, headers)

    assert 401 == status
    assert got["WWW-Authenticate"].startswith('Basic realm="smartcharge"')
    assert "Authorization" == body["error"]["field"]
    assert "" == body["error"]["value"]
    assert "Basic" in body["error"]["accepted"]


async def test_the_answer_is_the_same_for_a_missing_and_a_wrong_token(server: HttpServer):
    missing = await call(server, "GET", "/api/status")
    wrong = await call(server, "GET", "/api/status", {"Authorization": basic("me", "nope")})

    assert missing[0] == wrong[0]
    assert missing[2] == wrong[2]


async def test_healthz_needs_no_token(server: HttpServer):
    status, _, body = await call(server, "GET", "/healthz")

    assert 200 == status
    assert "ok" == body["status"]


@pytest.mark.parametrize(
    "authorization", [f"Bearer {TOKEN}", basic("", TOKEN), basic("browser-user", TOKEN)]
)
async def test_with_the_token_every_path_answers(server: HttpServer, authorization: str):
    headers = {"Authorization": authorization}
    status_doc = await call(server, "GET", "/api/status", headers)
    plan = await call(server, "GET", "/api/plan", headers)
    steer = await call(server, "POST", "/api/plan", headers)
    missing = await call(server, "GET", "/api/nothing", headers)

    assert 200 == status_doc[0]
    assert "2026-12-07T17:30:00Z" == status_doc[2]["now"]
    assert 200 == plan[0]
    assert 200 == steer[0]
    assert "session" == steer[2]["applies_to"]
    assert 404 == missing[0]


async def test_beyond_loopback_any_host_name_is_answered(server: HttpServer):
    """The Host check is loopback's (rebinding); beyond it the token decides."""
    status, _, _ = await call(
        server,
        "GET",
        "/api/status",
        {"Host": "smartcharge.lan:8765", "Authorization": f"Bearer {TOKEN}"},
    )

    assert 200 == status


async def test_the_token_never_reaches_a_log(tmp_path: Path):
    """Good, wrong and malformed credentials on every path; nothing logged carries the token."""
    with capture_logs() as logs:
        server = HttpServer(
            ViewDouble(),
            "0.0.0.0",  # noqa: S104
            0,
            SimulatedClock(NOW),
            SecretStr(TOKEN),
        )
        await server.start()
        try:
            for method, path in PATHS:
                for auth in (f"Bearer {TOKEN}", basic("u", TOKEN), f"Bearer {TOKEN}x", "x"):
                    await call(server, method, path + f"?t={TOKEN[:8]}", {"Authorization": auth})
        finally:
            await server.stop()

    text = repr(logs)
    assert any(e["event"] == "http_server_started" for e in logs)
    assert TOKEN not in text
    assert TOKEN[:12] not in text
    assert base64.b64encode(f"u:{TOKEN}".encode()).decode() not in text


def test_no_server_beyond_loopback_without_a_token():
    with pytest.raises(ConfigError) as info:
        HttpServer(ViewDouble(), "0.0.0.0", 0, SimulatedClock(NOW), None)  # noqa: S104
    with pytest.raises(ConfigError):
        HttpServer(ViewDouble(), "192.168.1.5", 0, SimulatedClock(NOW), SecretStr(""))

    assert "SMARTCHARGE_HTTP_HOST=0.0.0.0" in str(info.value)
    assert "SMARTCHARGE_API_TOKEN" in str(info.value)


# --- the settings: check-config and run refuse, exit 2, one line, no traceback


@pytest.mark.parametrize("command", [["check-config"], ["run"]])
def test_check_config_and_run_refuse_a_host_beyond_loopback_without_a_token(
    command: list[str], tmp_path: Path
):
    env = {
        "SMARTCHARGE_HTTP_HOST": "0.0.0.0",  # noqa: S104
        "SMARTCHARGE_STATE_DIR": str(tmp_path / "state"),
    }
    with scoped_environ(env):
        result = run_cli(command)

    assert 2 == result.status
    assert 1 == len(result.problems), result.err
    line = result.problems[0]
    assert line.startswith("smartcharge: SMARTCHARGE_HTTP_HOST='0.0.0.0' (from the environment)")
    assert "SMARTCHARGE_API_TOKEN is not set" in line
    assert "Traceback" not in result.err
    assert not (tmp_path / "state").exists()  # run stopped before touching anything


@pytest.mark.parametrize(
    "env",
    [
        {"SMARTCHARGE_HTTP_HOST": "0.0.0.0", "SMARTCHARGE_API_TOKEN": TOKEN},  # noqa: S104
        {"SMARTCHARGE_HTTP_HOST": "0.0.0.0", "SMARTCHARGE_HEALTH_PORT": "0"},  # noqa: S104
        {"SMARTCHARGE_HTTP_HOST": "::1"},
        {},
    ],
    ids=["with-token", "no-server", "loopback-v6", "default"],
)
def test_check_config_accepts_a_token_loopback_or_no_server(env: dict[str, str]):
    with scoped_environ(env):
        result = run_cli(["check-config"])

    assert not [p for p in result.problems if "HTTP_HOST" in p or "API_TOKEN" in p], result.err


@pytest.mark.parametrize("value", ["short", "has a space in it, 123456", "tab\tinside-0123456789"])
def test_a_bad_token_is_refused_without_showing_it(value: str):
    with scoped_environ({"SMARTCHARGE_API_TOKEN": value}):
        result = run_cli(["check-config"])

    assert 2 == result.status
    assert 1 == len(result.problems)
    assert result.problems[0].startswith("smartcharge: SMARTCHARGE_API_TOKEN=(secret hidden)")
    assert "at least 16" in result.problems[0]
    assert value not in result.out + result.err


def test_check_config_masks_the_token(tmp_path: Path):
    with scoped_environ({"SMARTCHARGE_API_TOKEN": TOKEN}):
        result = run_cli(["check-config"])

    assert TOKEN not in result.out + result.err
    assert "SMARTCHARGE_API_TOKEN" in result.out


def test_the_token_can_come_from_a_file(tmp_path: Path):
    secret = tmp_path / "api_token"
    secret.write_text(TOKEN + "\n", encoding="utf-8")
    env = {
        "SMARTCHARGE_HTTP_HOST": "0.0.0.0",  # noqa: S104
        "SMARTCHARGE_API_TOKEN_FILE": str(secret),
    }
    with scoped_environ(env):
        result = run_cli(["check-config"])

    assert not [p for p in result.problems if "HTTP_HOST" in p or "API_TOKEN" in p], result.err
    assert TOKEN not in result.out + result.err


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("127.0.0.1", "http://127.0.0.1:8765"),
        ("0.0.0.0", "http://127.0.0.1:8765"),  # noqa: S104
        ("::", "http://[::1]:8765"),
        ("::1", "http://[::1]:8765"),
        ("192.168.1.5", "http://192.168.1.5:8765"),
        ("localhost", "http://localhost:8765"),
    ],
)
def test_the_cli_reaches_the_server_here(host: str, url: str):
    assert url == local_base_url(host, 8765)
