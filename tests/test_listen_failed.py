"""``smartcharge run`` on a port another program listens on: one line naming the setting, exit 2.

A port in use is a set-up problem like a state dir in use: the user hears which variable names
the port and what would be accepted, never a traceback, and nothing reaches the charger (the
servers start before the daemon's first command).
"""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.resilience.daemon_process import cloud_settings, entsoe_settings, run_environment
from tests.resilience.ports import free_port, refused_port

ROOT = Path(__file__).resolve().parent.parent
RUN_S = 60.0


@contextmanager
def taken_port() -> Iterator[int]:
    """Yield a port on 127.0.0.1 that another program listens on, for the block."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield int(s.getsockname()[1])


def run(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own module, fixed arguments
        [sys.executable, "-m", "smartcharge", "run"],
        env=run_environment(env),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=RUN_S,
        check=False,
    )


@pytest.mark.parametrize("link", ["cloud", "ocpp"])
def test_a_health_port_in_use_is_one_line_naming_it(tmp_path: Path, link: str) -> None:
    for _ in range(3):  # the OCPP endpoint's port was free when picked; if taken since, again
        with refused_port() as nowhere, taken_port() as port:
            env = {
                **cloud_settings(
                    f"http://127.0.0.1:{nowhere}", "user@example.com", "pw-not-logged"
                ),
                **entsoe_settings(f"http://127.0.0.1:{nowhere}", "k" * 36),
                "SMARTCHARGE_STATE_DIR": str(tmp_path / "state"),
                "SMARTCHARGE_HEALTH_PORT": str(port),
            }
            if link == "ocpp":
                env |= {
                    "SMARTCHARGE_CHARGER_LINK": "ocpp",
                    "SMARTCHARGE_OCPP_CHARGE_POINT_ID": "WB-1",
                    "SMARTCHARGE_OCPP_PORT": str(free_port()),
                }
            done = run(env)
        if "SMARTCHARGE_OCPP_PORT=" not in done.stderr:
            break

    assert 2 == done.returncode, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    lines = [line for line in done.stderr.splitlines() if line.startswith("smartcharge:")]
    assert 1 == len(lines), done.stderr
    assert lines[0].startswith(
        f"smartcharge: SMARTCHARGE_HEALTH_PORT={port} (on SMARTCHARGE_HTTP_HOST=127.0.0.1)"
    )
    assert "address already in use" in lines[0]
    assert lines[0].endswith("or 0 for no HTTP server")
    assert "pw-not-logged" not in done.stderr + done.stdout


def test_an_ocpp_port_in_use_is_one_line_naming_it(tmp_path: Path) -> None:
    with refused_port() as nowhere, taken_port() as port:
        env = {
            **cloud_settings(f"http://127.0.0.1:{nowhere}", "user@example.com", "pw-not-logged"),
            **entsoe_settings(f"http://127.0.0.1:{nowhere}", "k" * 36),
            "SMARTCHARGE_STATE_DIR": str(tmp_path / "state"),
            "SMARTCHARGE_HEALTH_PORT": "0",
            "SMARTCHARGE_CHARGER_LINK": "ocpp",
            "SMARTCHARGE_OCPP_CHARGE_POINT_ID": "WB-1",
            "SMARTCHARGE_OCPP_PORT": str(port),
        }
        done = run(env)

    assert 2 == done.returncode, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    lines = [line for line in done.stderr.splitlines() if line.startswith("smartcharge:")]
    assert 1 == len(lines), done.stderr
    assert lines[0].startswith(
        f"smartcharge: SMARTCHARGE_OCPP_PORT={port} (on SMARTCHARGE_OCPP_HOST=127.0.0.1)"
    )
    assert "address already in use" in lines[0]
