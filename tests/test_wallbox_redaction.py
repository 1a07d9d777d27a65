"""No secret ever reaches a log line, an error message or a file other than the token store.

The adapter's scenarios (sign-in, renewal, a rejected refresh, a 401, a 500, a timeout, every
command, a wrong password) run with logging at DEBUG into a StringIO, and again under
``structlog.testing.capture_logs`` (which sees events before redaction, so it proves we never
hand a secret to the logger at all). The secrets are the password, the Basic credentials and
every token the fake issued (taken from what reached the wire and from the token store).
"""

from __future__ import annotations

import base64
import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr
from structlog.testing import capture_logs

from smartcharge.cli import main
from smartcharge.config import LogFormat, LogLevel, Settings
from smartcharge.logsetup import configure_logging
from smartcharge.simulator.clock import SimulatedClock
from smartcharge.simulator.wallbox_cloud import Fault
from smartcharge.wallbox import WallboxError
from smartcharge.wallbox.tokens import TOKEN_FILE
from tests.test_cli_charger import CID, ThreadedCloud
from tests.test_wallbox_client import PASSWORD, STATUS_PATH, USER, Cloud, start_cloud, stop_cloud

WRONG_PASSWORD = "wrong-horse-battery-staple"  # noqa: S105 - a deliberately wrong fake


def _basic(password: str) -> str:
    return base64.b64encode(f"{USER}:{password}".encode()).decode()


def _secrets(cloud_requests: list[dict[str, str]], state_dir: Path) -> set[str]:
    """Return every secret that existed in the scenario."""
    found = {PASSWORD, WRONG_PASSWORD, _basic(PASSWORD), _basic(WRONG_PASSWORD)}
    for headers in cloud_requests:
        scheme, _, value = headers.get("Authorization", "").partition(" ")
        if scheme in ("Bearer", "Basic") and value:
            found.add(value)
    store = state_dir / TOKEN_FILE
    if store.exists():
        data = json.loads(store.read_text())["data"]
        found.update({data["token"], data["refresh_token"]})
    return found


def _leaks(text: str, secrets: set[str]) -> list[str]:
    return sorted(s for s in secrets if s in text)


def _state_files(state_dir: Path) -> dict[str, str]:
    return {
        p.name: p.read_text(errors="replace")
        for p in state_dir.rglob("*")
        if p.is_file() and p.name != TOKEN_FILE
    }


async def _scenarios(cloud: Cloud) -> list[str]:
    """Run the adapter's scenarios; return the messages of the errors they raised."""
    messages: list[str] = []
    sim = cloud.sim
    client = cloud.client(timeout_s=0.1)
    await client.status()  # sign-in
    await cloud.clock.advance(3600 - 200)
    await client.status(fresh=True)  # renewal before expiry
    sim.revoke_access_tokens()
    await client.status(fresh=True)  # 401: renew once, retry once
    sim.revoke_access_tokens()
    sim.revoke_refresh_tokens()
    await client.status(fresh=True)  # refresh rejected: fresh sign-in
    sim.inject(Fault.SERVER_ERROR, path_contains=STATUS_PATH)
    await client.status(fresh=True)  # 500 then success
    sim.inject(Fault.HANG, path_contains=STATUS_PATH)
    await client.status(fresh=True)  # timeout then success
    sim.inject(Fault.MALFORMED_JSON, path_contains=STATUS_PATH)
    try:
        await client.status(fresh=True)
    except WallboxError as err:
        messages.append(str(err))
    await client.pause()
    await client.resume()
    await client.set_max_current(10)
    await client.set_energy_cost(0.3)
    await client.lock()
    await client.unlock()
    sim.inject(Fault.UNAUTHORIZED, count=2, path_contains=STATUS_PATH)
    try:
        await client.status(fresh=True)
    except WallboxError as err:
        messages.append(str(err))
    await client.restart()
    restarted = cloud.client()  # a restart reuses the stored token
    await restarted.status(fresh=True)
    wrong = cloud.client(password=SecretStr(WRONG_PASSWORD), state_dir=cloud.state_dir / "other")
    for _ in range(5):
        try:
            await wrong.status()
        except WallboxError as err:
            messages.append(str(err))
    return messages


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


async def test_no_secret_in_debug_logs_errors_or_state_files(
    auto_clock: SimulatedClock, tmp_path: Path, restore_logging: None
):
    """At DEBUG, the JSON log output, error messages and state files never hold a secret."""
    stream = io.StringIO()
    settings = Settings(
        _env_file=None,
        log_level=LogLevel.DEBUG,
        log_format=LogFormat.JSON,
        wallbox_password=SecretStr(PASSWORD),
    )
    configure_logging(settings, stream=stream)
    cloud = await start_cloud(auto_clock, tmp_path / "state")
    cloud.sim.charger.plug_in(car_max_power_kw=11.0)
    try:
        messages = await _scenarios(cloud)
    finally:
        await stop_cloud(cloud)

    output = stream.getvalue()
    secrets = _secrets([r.headers for r in cloud.sim.requests], cloud.state_dir)
    assert len(secrets) >= 10  # password, Basic, and several generations of tokens
    assert "wallbox_signed_in" in output  # the log really was written at DEBUG
    assert "wallbox_response" in output
    assert [] == _leaks(output, secrets)
    assert [] == _leaks("\n".join(messages), secrets)
    assert len(messages) >= 3
    for name, text in _state_files(cloud.state_dir).items():
        assert [] == _leaks(text, secrets), name


async def test_no_secret_is_ever_handed_to_the_logger(auto_clock: SimulatedClock, tmp_path: Path):
    """capture_logs sees events before redaction: none carries a secret in the first place."""
    cloud = await start_cloud(auto_clock, tmp_path / "state")
    cloud.sim.charger.plug_in(car_max_power_kw=11.0)
    try:
        with capture_logs() as events:
            await _scenarios(cloud)
    finally:
        await stop_cloud(cloud)

    secrets = _secrets([r.headers for r in cloud.sim.requests], cloud.state_dir)
    assert len(events) > 20
    assert [] == _leaks(repr(events), secrets)


def test_cli_at_debug_leaks_nothing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    """The CLI at DEBUG: status, pause, a wrong password; no secret in stdout, stderr or files."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    access = logging.getLogger("aiohttp.access")
    access.disabled = True
    cloud = ThreadedCloud()
    cloud.sim.charger.plug_in(car_max_power_kw=11.0)
    state_dir = tmp_path / "state"
    for name, value in {
        "SMARTCHARGE_WALLBOX_USERNAME": USER,
        "SMARTCHARGE_WALLBOX_PASSWORD": PASSWORD,
        "SMARTCHARGE_WALLBOX_CHARGER_ID": str(CID),
        "SMARTCHARGE_WALLBOX_API_URL": cloud.url,
        "SMARTCHARGE_WALLBOX_AUTH_URL": cloud.url,
        "SMARTCHARGE_STATE_DIR": str(state_dir),
        "SMARTCHARGE_LOG_LEVEL": "DEBUG",
    }.items():
        monkeypatch.setenv(name, value)
    try:
        assert 0 == main(["charger", "status", "--json"])
        assert 0 == main(["charger", "pause"])
        monkeypatch.setenv("SMARTCHARGE_WALLBOX_PASSWORD", WRONG_PASSWORD)
        monkeypatch.setenv("SMARTCHARGE_STATE_DIR", str(tmp_path / "other"))
        assert 1 == main(["charger", "status"])
        captured = capsys.readouterr()
    finally:
        cloud.close()
        access.disabled = False
        root.handlers[:] = handlers
        root.setLevel(level)

    secrets = _secrets([r.headers for r in cloud.sim.requests], state_dir)
    assert "wallbox_signed_in" in captured.err
    assert [] == _leaks(captured.out + captured.err, secrets)
    for base in (state_dir, tmp_path / "other"):
        for name, text in _state_files(base).items():
            assert [] == _leaks(text, secrets), name
