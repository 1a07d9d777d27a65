"""``SMARTCHARGE_HEALTH_PORT=0`` means no health endpoint at all (issue 11, item 17).

Black box: ``smartcharge run`` as a subprocess against the fakes on 127.0.0.1. Once its log
says the scheduler runs, its listening sockets are read from ``/proc`` (the old code listened on
a random port there, so the container's health check, asking 8765, failed forever).
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import pytest

from smartcharge.clock import SystemClock
from smartcharge.simulator.entsoe_server import EntsoeFakeServer
from smartcharge.simulator.wallbox_cloud import WallboxCloudSimulator
from tests.resilience.daemon_process import (
    START_S,
    cloud_settings,
    entsoe_settings,
    run_environment,
    running_daemon,
    served,
)

USER = "healthoff@example.com"
PASSWORD = "healthoff-password-123"  # noqa: S105 - the fake account's
KEY = "healthoff-entsoe-key"
_TCP_LISTEN = "0A"


def listening_inodes() -> set[str]:
    """Return the socket inodes in LISTEN state on this host's network namespace."""
    found: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not os.path.exists(table):
            continue
        with open(table, encoding="ascii") as fh:
            next(fh)
            for line in fh:
                fields = line.split()
                if fields[3] == _TCP_LISTEN:
                    found.add(fields[9])
    return found


def socket_inodes(pid: int) -> set[str]:
    """Return the inodes of the sockets process ``pid`` holds open."""
    found: set[str] = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            found.add(target[len("socket:[") : -1])
    return found


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
async def test_health_port_0_opens_no_port(tmp_path: Path):
    """Item 17: with SMARTCHARGE_HEALTH_PORT=0 the daemon runs and listens on nothing."""
    clock = SystemClock()
    cloud = WallboxCloudSimulator(clock, username=USER, password=PASSWORD)
    cloud_url = await cloud.start()
    try:
        async with served(EntsoeFakeServer(valid_keys=[KEY]).app()) as entsoe_url:
            env = run_environment(
                {
                    **cloud_settings(cloud_url, USER, PASSWORD),
                    **entsoe_settings(entsoe_url, KEY),
                    "SMARTCHARGE_STATE_DIR": str(tmp_path / "state"),
                    "SMARTCHARGE_HEALTH_PORT": "0",
                    "SMARTCHARGE_LOG_FORMAT": "json",
                }
            )
            async with running_daemon(env, tmp_path) as daemon:
                await daemon.wait_event("scheduler_started", START_S)
                listening = socket_inodes(daemon.proc.pid) & listening_inodes()
                daemon.send(signal.SIGTERM)
                code, _ = await daemon.exited()
    finally:
        await cloud.stop()
    output = daemon.output

    assert set() == listening, output[-3000:]
    assert "health_endpoint_disabled" in output
    assert 0 == code
