"""Benchmark: ``smartcharge run`` as a real process, against the fakes on 127.0.0.1.

Two daemons run side by side for ``SMARTCHARGE_BENCH_SECONDS`` of real time (default 600, the
10 minutes the issue names): one with a car plugged in and paused by the plan, one with no car.
Printed: resident memory at the end, CPU seconds scaled to an hour (after the first minute of
start-up), and cloud requests scaled to an hour, by kind. Nothing about time is asserted.

Run: ``python -m pytest tests/benchmarks/bench_daemon.py -m benchmark -s``
"""

from __future__ import annotations

import asyncio
import collections
import os
import signal
import time
from datetime import timedelta
from pathlib import Path

import pytest

from smartcharge.clock import SystemClock
from smartcharge.simulator.entsoe_server import EntsoeFakeServer
from smartcharge.simulator.wallbox_cloud import WallboxCloudSimulator
from tests.resilience.daemon_process import (
    HTTP,
    cloud_settings,
    entsoe_settings,
    run_environment,
    running_daemon,
    served,
)

pytestmark = pytest.mark.benchmark

SECONDS = float(os.environ.get("SMARTCHARGE_BENCH_SECONDS", "600"))
WARMUP_S = min(60.0, SECONDS / 4)
USER = "bench@example.com"
PASSWORD = "bench-password-123"  # noqa: S105 - the fake account's
KEY = "bench-entsoe-key"
TICK_S = os.sysconf("SC_CLK_TCK")


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK_S


async def _daemon(tmp: Path, name: str, plugged: bool, entsoe_url: str) -> dict[str, float]:
    clock = SystemClock()
    cloud = WallboxCloudSimulator(clock, username=USER, password=PASSWORD)
    if plugged:
        cloud.charger.plug_in(car_max_power_kw=11.0)
    url = await cloud.start()
    env = run_environment(
        {
            **cloud_settings(url, USER, PASSWORD),
            **entsoe_settings(entsoe_url, KEY),
            "SMARTCHARGE_STATE_DIR": str(tmp / name),
        }
    )
    started = time.monotonic()
    try:
        async with running_daemon(env, tmp, listen=HTTP) as daemon:
            pid = daemon.proc.pid
            await asyncio.sleep(WARMUP_S)  # a benchmark waits for real time on purpose
            cpu0, t0, n0 = _cpu_s(pid), time.monotonic(), len(cloud.requests)
            await asyncio.sleep(SECONDS - WARMUP_S)
            cpu1, t1 = _cpu_s(pid), time.monotonic()
            rss = _rss_mb(pid)
            window = cloud.requests[n0:]
            daemon.send(signal.SIGTERM)
            code, _ = await daemon.exited(20)
    finally:
        await cloud.stop()
    events = [str(e["event"]) for e in daemon.events if "event" in e]
    print(
        f"\n[{name}] {len(cloud.requests)} cloud requests in all; "
        f"log events: {dict(collections.Counter(events))}"
    )
    per_hour = 3600.0 / (t1 - t0)
    return {
        "ran_s": t1 - started,
        "rss_mb": rss,
        "cpu_s_per_hour": (cpu1 - cpu0) * per_hour,
        "reads_per_hour": sum(r.method == "GET" for r in window) * per_hour,
        "writes_per_hour": sum(r.method != "GET" for r in window) * per_hour,
        "exit_code": float(code),
    }


async def test_daemon_memory_cpu_and_requests(tmp_path: Path):
    """Print RSS, CPU per hour and requests per hour, with and without a car."""
    now = SystemClock().now()
    entsoe = EntsoeFakeServer(valid_keys=[KEY])
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    entsoe.serve_points(
        "NL", [(day + timedelta(minutes=15 * i), 100.0 + (i % 7)) for i in range(-96, 384)], 15
    )
    async with served(entsoe.app()) as entsoe_url:
        plugged, idle = await asyncio.gather(
            _daemon(tmp_path, "plugged", True, entsoe_url),
            _daemon(tmp_path, "idle", False, entsoe_url),
        )

    for name, fig in (("car plugged in", plugged), ("no car", idle)):
        print(
            f"\n[figures] smartcharge run, {name}, {fig['ran_s']:.0f} s real time: "
            f"RSS {fig['rss_mb']:.1f} MB; CPU {fig['cpu_s_per_hour']:.2f} s per hour; "
            f"cloud reads {fig['reads_per_hour']:.0f}/h, writes {fig['writes_per_hour']:.0f}/h; "
            f"exit code {fig['exit_code']:.0f}"
        )
    assert 0 == plugged["exit_code"]
    assert 0 == idle["exit_code"]
