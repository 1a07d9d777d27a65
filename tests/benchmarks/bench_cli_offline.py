"""Benchmark: how long `smartcharge charger status` takes to fail with the cloud unreachable.

Three runs in a row each, as real processes (interpreter start-up included), for: a closed
port on 127.0.0.1 (connection refused), a server that accepts and never answers (the call's
timeout, ``SMARTCHARGE_WALLBOX_TIMEOUT_S`` at its default of 20 s), and, as root with
``unshare -n``, no network at all with the real cloud URLs (DNS failure). Printed: the wall
time, exit status and message of each run. Nothing about time is asserted (the issue's bound
is 30 s; see tests/test_cli_budget.py for the behaviour).

Run: ``python -m pytest tests/benchmarks/bench_cli_offline.py -m benchmark -s``
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.resilience.ports import refused_port

pytestmark = pytest.mark.benchmark


def _env(state: Path, url: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMARTCHARGE_")}
    env.update(
        {
            "SMARTCHARGE_WALLBOX_USERNAME": "bench@example.com",
            "SMARTCHARGE_WALLBOX_PASSWORD": "bench-password-123",
            "SMARTCHARGE_WALLBOX_CHARGER_ID": "999001",
            "SMARTCHARGE_STATE_DIR": str(state),
        }
    )
    if url is not None:
        env["SMARTCHARGE_WALLBOX_API_URL"] = url
        env["SMARTCHARGE_WALLBOX_AUTH_URL"] = url
    return env


def _three_runs(label: str, prefix: list[str], env: dict[str, str], cwd: Path) -> None:
    for i in range(3):
        started = time.monotonic()
        proc = subprocess.run(  # noqa: S603 - our own CLI
            [*prefix, sys.executable, "-m", "smartcharge", "charger", "status"],
            env=env,
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        elapsed = time.monotonic() - started
        lines = proc.stderr.splitlines()
        print(
            f"[figures] {label} run {i + 1}: {elapsed:.2f} s exit={proc.returncode} "
            f"lines={len(lines)} {lines[-1] if lines else ''}"
        )


def test_closed_port(tmp_path: Path):
    """Connection refused on 127.0.0.1."""
    with refused_port() as port:
        _three_runs("closed port", [], _env(tmp_path / "s", f"http://127.0.0.1:{port}"), tmp_path)


def test_server_that_never_answers(tmp_path: Path):
    """A listening socket that accepts and never answers: the default 20 s call timeout."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(16)
        port = s.getsockname()[1]
        _three_runs("no answer", [], _env(tmp_path / "s", f"http://127.0.0.1:{port}"), tmp_path)


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("unshare") is None, reason="needs root and unshare -n"
)
def test_no_network(tmp_path: Path):
    """``unshare -n``: no interface but a down loopback; the real cloud URLs."""
    _three_runs("unshare -n", ["unshare", "-n"], _env(tmp_path / "s", None), tmp_path)
