"""The composition root: one session timeout, one disk under every store, one way to build."""

from __future__ import annotations

from pathlib import Path

import pytest

from smartcharge.clock import SystemClock
from smartcharge.config import Settings
from smartcharge.prices.energyzero import DEFAULT_TIMEOUT_S as ENERGYZERO_TIMEOUT_S
from smartcharge.runtime.compose import (
    SESSION_SLACK_S,
    build_daemon,
    open_http,
    session_timeout_s,
)
from smartcharge.storage import StateDisk


def settings(tmp_path: Path, **values: object) -> Settings:
    base: dict[str, object] = {
        "wallbox_username": "u@example.com",
        "wallbox_password": "a-password-123",
        "wallbox_charger_id": 1,
        "state_dir": tmp_path,
        "price_sources": ("energyzero",),
    }
    base.update(values)
    return Settings(_env_file=None, **base)  # type: ignore[arg-type]


@pytest.mark.parametrize("wallbox_timeout_s", [0.3, 20.0, 120.0])
def test_the_session_timeout_outlasts_every_client_timeout(
    tmp_path: Path, wallbox_timeout_s: float
):
    """The session's bound is a backstop: above the Wallbox client's and EnergyZero's own."""
    limit_s = session_timeout_s(settings(tmp_path, wallbox_timeout_s=wallbox_timeout_s))

    assert limit_s >= wallbox_timeout_s + SESSION_SLACK_S
    assert limit_s >= ENERGYZERO_TIMEOUT_S + SESSION_SLACK_S


def test_the_default_session_timeout_is_thirty_seconds(tmp_path: Path):
    """With the defaults (Wallbox 20 s, EnergyZero 15 s) the session allows 30 s."""
    assert 30.0 == session_timeout_s(settings(tmp_path))


async def test_the_daemon_gets_the_disk_and_the_session_its_timeout(tmp_path: Path):
    """The disk handed in is the daemon's; the session carries the one timeout (nothing is sent).

    That the Wallbox client's budget and token files go through the same disk is shown by
    tests/test_full_disk.py (their failed writes are reported with the state file's).
    """
    disk = StateDisk()
    config = settings(tmp_path)

    async with open_http(config) as http:
        daemon = build_daemon(config, SystemClock(), http, disk=disk)

        assert disk is daemon.disk
        assert config.wallbox_timeout_s + SESSION_SLACK_S == http.timeout.total
