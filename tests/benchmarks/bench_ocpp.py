"""Benchmark: the OCPP central system's added memory and CPU with one charger for an hour.

The central system (``OcppServer`` + ``OcppCharger``) runs in a child process on 127.0.0.1; the
simulated Wallbox in this process connects to it over a real websocket, is set up, starts a
transaction and sends a simulated hour of MeterValues every 10 s (360 messages, the simulated
clock drives them as fast as the server answers). Printed: the child's resident memory before
and after importing the OCPP link, after the charger connected, and after the hour; the child's
CPU seconds for the hour. Nothing about time is asserted.

Run: ``python -m pytest tests/benchmarks/bench_ocpp.py -m benchmark -s``
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest

from smartcharge.simulator._car import Car
from smartcharge.simulator.clock import SimulatedClock
from smartcharge.simulator.ocpp_charge_point import SimulatedOcppWallbox

pytestmark = pytest.mark.benchmark

TICK_S = os.sysconf("SC_CLK_TCK")
CP_ID = "WB-BENCH"
WAIT_S = 10.0

_SERVER = f"""
import asyncio, sys
from pathlib import Path

def rss_kb():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])

import aiohttp, structlog
from smartcharge.clock import SystemClock
structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))
before = rss_kb()
from smartcharge.ocpp import OcppCharger, OcppServer
from smartcharge.domain import Command, CommandKind
after = rss_kb()

async def main():
    charger = OcppCharger({CP_ID!r}, SystemClock(), max_current_a=16)
    server = OcppServer(charger)
    port = await server.start("127.0.0.1", 0)
    print(port, before, after, flush=True)
    while line := await asyncio.to_thread(sys.stdin.readline):
        if line.strip() == "resume":
            await charger.apply(Command(CommandKind.RESUME))
            print("ok", flush=True)
    await server.close()

asyncio.run(main())
"""


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK_S


async def test_ocpp_server_with_one_charger_for_a_simulated_hour() -> None:
    """Print the central system's memory and CPU for one charger's hour of readings."""
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _SERVER,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert child.stdin is not None
    assert child.stdout is not None
    try:
        async with asyncio.timeout(WAIT_S):
            port_text, before_kb, after_kb = (await child.stdout.readline()).decode().split()
        idle_mb = _rss_mb(child.pid)
        clock = SimulatedClock(datetime(2025, 1, 15, 18, 0, tzinfo=UTC))
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=WAIT_S)) as http:
            wallbox = SimulatedOcppWallbox(
                f"ws://127.0.0.1:{port_text}/",
                CP_ID,
                clock,
                http,
                car=Car(max_power_kw=11.0),
                timeout_s=WAIT_S,
            )
            await wallbox.connect()
            await wallbox.wait_for(lambda: len(wallbox.received) >= 4, WAIT_S)
            await wallbox.plug_in()
            child.stdin.write(b"resume\n")
            async with asyncio.timeout(WAIT_S):
                await child.stdout.readline()
            await wallbox.wait_for(lambda: wallbox.transaction is not None, WAIT_S)
            connected_mb = _rss_mb(child.pid)
            cpu_start_s, wall_start_s = _cpu_s(child.pid), time.monotonic()
            await wallbox.pass_time(3600)
            cpu_hour_s, wall_s = _cpu_s(child.pid) - cpu_start_s, time.monotonic() - wall_start_s
            hour_mb = _rss_mb(child.pid)
            meter_values = sum(1 for a, _ in wallbox.sent if a == "MeterValues")
            await wallbox.close()
    finally:
        child.stdin.close()
        async with asyncio.timeout(WAIT_S):
            await child.wait()

    print()
    print("OCPP central system, one charger, one simulated hour")
    print(f"  MeterValues handled:                {meter_values}")
    print(f"  RSS before importing the OCPP link: {int(before_kb) / 1024:.1f} MB")
    print(
        f"  RSS after importing it:             {int(after_kb) / 1024:.1f} MB"
        f" (+{(int(after_kb) - int(before_kb)) / 1024:.1f} MB: ocpp, jsonschema)"
    )
    print(f"  RSS listening, no charger:          {idle_mb:.1f} MB")
    print(f"  RSS charger set up, charging:       {connected_mb:.1f} MB")
    print(
        f"  RSS after the hour:                 {hour_mb:.1f} MB"
        f" (+{hour_mb - connected_mb:.2f} MB over the hour)"
    )
    print(
        f"  CPU for the hour:                   {cpu_hour_s:.2f} s"
        f" ({1000 * cpu_hour_s / max(1, meter_values):.2f} ms per MeterValues;"
        f" replayed in {wall_s:.1f} s)"
    )
    assert 360 == meter_values
