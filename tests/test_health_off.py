"""``SMARTCHARGE_HEALTH_PORT=0`` means no health endpoint at all (issue 11, item 17).

Black box: ``smartcharge run`` as a subprocess against the fakes on 127.0.0.1. Once its log
says the scheduler runs, its listening sockets are read from ``/proc`` (the old code listened on
a random port there, so the container's health check, asking 8765, failed forever).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest
from aiohttp import web

from smartcharge.clock import SystemClock
from smartcharge.simulator.entsoe_server import EntsoeFakeServer
from smartcharge.simulator.wallbox_cloud import WallboxCloudSimulator

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
    entsoe = EntsoeFakeServer(valid_keys=[KEY])
    cloud_url = await cloud.start()
    runner = web.AppRunner(entsoe.app(), handle_signals=False, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    entsoe_port = runner.addresses[0][1]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SMARTCHARGE_", "ENTSOE_"))}
    env.update(
        {
            "SMARTCHARGE_WALLBOX_USERNAME": USER,
            "SMARTCHARGE_WALLBOX_PASSWORD": PASSWORD,
            "SMARTCHARGE_WALLBOX_API_URL": cloud_url,
            "SMARTCHARGE_WALLBOX_AUTH_URL": cloud_url,
            "SMARTCHARGE_WALLBOX_CHARGER_ID": "999001",
            "SMARTCHARGE_ENTSOE_API_KEY": KEY,
            "SMARTCHARGE_ENTSOE_API_URL": f"http://127.0.0.1:{entsoe_port}/api",
            "SMARTCHARGE_PRICE_SOURCES": "entsoe",
            "SMARTCHARGE_STATE_DIR": str(tmp_path / "state"),
            "SMARTCHARGE_HEALTH_PORT": "0",
            "SMARTCHARGE_LOG_FORMAT": "json",
        }
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "smartcharge",
        "run",
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    seen: list[str] = []
    try:
        assert proc.stdout is not None

        async def until_scheduled() -> None:
            assert proc.stdout is not None
            while line := (await proc.stdout.readline()).decode():
                seen.append(line)
                if "scheduler_started" in line:
                    return

        await asyncio.wait_for(until_scheduled(), 30)
        listening = socket_inodes(proc.pid) & listening_inodes()
        proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(proc.wait(), 15)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await runner.cleanup()
        await cloud.stop()
    output = "".join(seen)

    assert set() == listening, output[-3000:]
    assert "health_endpoint_disabled" in output
    assert 0 == code
