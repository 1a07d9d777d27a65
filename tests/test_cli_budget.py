"""``smartcharge charger ...`` as real processes: the shared budget, waits, and the cloud offline.

Each CLI run is a real ``python -m smartcharge`` process on the real clock. The simulated cloud
runs in a background thread on the real clock too, so the times it records are the times the
requests arrived; it counts what reached it. Nothing here asserts wall time (the benchmark
``tests/benchmarks/bench_cli_offline.py`` prints it); every wait on a process is bounded.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Coroutine, Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest

from smartcharge.clock import SystemClock
from smartcharge.simulator.wallbox_cloud import WallboxCloudSimulator
from smartcharge.wallbox.limiter import CallKind, RateLimiter, budget_file_name
from tests.resilience.ports import refused_port

USER = "test.user@example.com"
PASSWORD = "correct-horse-battery-staple"  # noqa: S105 - the simulator's fake account
CID = 999001
# A CLI process starts in a few seconds; a loaded 2-core CI machine may take much longer.
PROCESS_TIMEOUT_S = 120

_T = TypeVar("_T")


class RealTimeCloud:
    """The fake cloud on the real clock, served from a background thread's event loop."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.sim = WallboxCloudSimulator(SystemClock())
        self.sim.charger.plug_in(car_max_power_kw=11.0)
        self.url = self.run(self.sim.start())

    def run(self, coro: Coroutine[Any, Any, _T]) -> _T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=10)

    def close(self) -> None:
        self.run(self.sim.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


@pytest.fixture
def cloud() -> Iterator[RealTimeCloud]:
    """A running fake cloud with a charging car."""
    c = RealTimeCloud()
    yield c
    c.close()


def _env(url: str, state_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMARTCHARGE_")}
    env.update(
        {
            "SMARTCHARGE_WALLBOX_USERNAME": USER,
            "SMARTCHARGE_WALLBOX_PASSWORD": PASSWORD,
            "SMARTCHARGE_WALLBOX_CHARGER_ID": str(CID),
            "SMARTCHARGE_WALLBOX_API_URL": url,
            "SMARTCHARGE_WALLBOX_AUTH_URL": url,
            "SMARTCHARGE_WALLBOX_TIMEOUT_S": "5",
            "SMARTCHARGE_STATE_DIR": str(state_dir),
            **extra,
        }
    )
    return env


def _start(env: dict[str, str], cwd: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(  # noqa: S603 - our own CLI, fixed arguments
        [sys.executable, "-m", "smartcharge", "charger", *args],
        env=env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


# --- one budget per account (issue 16, item 2) ------------------------------------------


def test_two_state_dirs_bursting_10_status_reads_each_stay_within_the_accounts_budget(
    cloud: RealTimeCloud, tmp_path: Path
):
    """20 CLI processes at once, 10 per state dir of one account: one read reaches the cloud.

    Each state dir points at the same SMARTCHARGE_WALLBOX_BUDGET_DIR. Every process answers;
    the simulated cloud sees at most the account's 1 read a minute, and one sign-in.
    """
    budget = tmp_path / "budget"
    envs = [
        _env(cloud.url, tmp_path / name, SMARTCHARGE_WALLBOX_BUDGET_DIR=str(budget))
        for name in ("a", "b")
    ]

    procs = [_start(envs[i % 2], tmp_path, "status", "--json") for i in range(20)]
    results = [p.communicate(timeout=PROCESS_TIMEOUT_S) for p in procs]

    reads = cloud.sim.requests_to("GET", f"/chargers/status/{CID}")
    print(  # the figures for the closing note
        f"\n[figures] two state dirs x 10 status: status GETs={len(reads)} "
        f"most reads in any 60 s={cloud.sim.most_reads_in_window()} sign-ins={cloud.sim.signins} "
        f"requests={len(cloud.sim.requests)}"
    )
    assert [0] * 20 == [p.returncode for p in procs], [err for _, err in results]
    assert all(f'"charger_id": {CID}' in out for out, _ in results)
    assert 1 >= cloud.sim.most_reads_in_window()
    assert 1 == len(reads)
    assert 1 == cloud.sim.signins
    assert [budget / budget_file_name(USER)] == sorted(budget.glob("*.json"))


# --- waits are said at once (issue 11, item 20) -----------------------------------------


def test_a_cli_waiting_for_the_budget_says_so_at_once_naming_the_daemon(
    cloud: RealTimeCloud, tmp_path: Path
):
    """With the read slot taken by a daemon, `charger status` says at once until when it waits.

    The daemon's read is recorded in the budget as a daemon would (this test process stands in
    for it: a live pid registered as driving the charger). The CLI's first line on stderr names
    the budget, the time and the daemon; it is read before the CLI's wait is over.
    """
    state = tmp_path / "state"
    limiter = RateLimiter(state, SystemClock(), username=USER)
    limiter.register_driver(CID, state)
    assert None is limiter.reserve(CallKind.READ)

    proc = _start(_env(cloud.url, state, SMARTCHARGE_TIMEZONE="UTC"), tmp_path, "status")
    try:
        assert proc.stderr is not None
        first_line = proc.stderr.readline()
    finally:
        proc.kill()
        proc.communicate(timeout=PROCESS_TIMEOUT_S)

    until = limiter.next_slot(CallKind.READ)
    assert first_line.startswith(
        f"smartcharge: waiting for the Wallbox read budget until {until:%H:%M:%S} "
        f"(shared with the running daemon, pid {os.getpid()})"
    )
    assert "--no-wait" in first_line
    assert [] == cloud.sim.requests_to("GET", f"/chargers/status/{CID}")


def test_a_cli_waiting_out_a_back_off_says_why_at_once(cloud: RealTimeCloud, tmp_path: Path):
    """After a 403/429 every process of the account waits: the CLI says so and until when."""
    state = tmp_path / "state"
    limiter = RateLimiter(state, SystemClock(), username=USER)
    limiter.back_off(SystemClock().now() + timedelta(seconds=170))
    until = limiter.next_slot(CallKind.READ)

    proc = _start(_env(cloud.url, state, SMARTCHARGE_TIMEZONE="UTC"), tmp_path, "pause")
    try:
        assert proc.stderr is not None
        first_line = proc.stderr.readline()
    finally:
        proc.kill()
        proc.communicate(timeout=PROCESS_TIMEOUT_S)

    assert first_line.startswith(
        f"smartcharge: waiting for the Wallbox read budget until {until:%H:%M:%S} "
        "(the cloud asked every client of this account to slow down)"
    )
    assert [] == [r for r in cloud.sim.requests if not r.path.startswith("/users/")]


def test_no_wait_answers_from_the_stored_status_at_once(cloud: RealTimeCloud, tmp_path: Path):
    """`status --no-wait` inside the window prints the stored status with its age, reads nothing.

    The stored status is made 30 s old by storing it through a limiter whose clock is 30 s
    behind (as if the daemon had read it then); its read slot is still taken.
    """
    state = tmp_path / "state"
    env = _env(cloud.url, state)
    first = _start(env, tmp_path, "status", "--json")
    first.communicate(timeout=PROCESS_TIMEOUT_S)
    stored = RateLimiter(state, SystemClock(), username=USER).cached_status(CID)
    assert stored is not None
    RateLimiter(state, SystemClock(), username=USER).store_status(
        replace(stored, fetched_at=stored.fetched_at - timedelta(seconds=30))
    )

    proc = _start(env, tmp_path, "status", "--no-wait")
    out, err = proc.communicate(timeout=PROCESS_TIMEOUT_S)

    age = re.search(r"stored status, (\d+) s old", out)
    assert 0 == proc.returncode, err
    assert age is not None
    assert int(age.group(1)) >= 30
    assert "" == err
    assert 1 == len(cloud.sim.requests_to("GET", f"/chargers/status/{CID}"))


# --- the CLI offline (issue 12, item 5) -------------------------------------------------


def _offline_runs(env: dict[str, str], cwd: Path) -> list[tuple[int, str, str]]:
    runs = []
    for _ in range(3):
        proc = _start(env, cwd, "status")
        out, err = proc.communicate(timeout=PROCESS_TIMEOUT_S)
        runs.append((proc.returncode, out, err))
    return runs


def _assert_three_real_attempts(runs: list[tuple[int, str, str]], state: Path, where: str):
    for code, out, err in runs:
        assert 1 == code
        assert "" == out
        assert 1 == len(err.splitlines()), err
        assert err.startswith("smartcharge: Wallbox cloud: GET users/signin (sign-in): cannot ")
        assert where in err
        assert "check the network connection" in err
    limiter = RateLimiter(state, SystemClock(), username=USER, signins_per_hour=1)
    assert None is limiter.reserve(CallKind.SIGNIN)  # the one allowed attempt is still there


def test_cloud_unreachable_fails_with_one_line_three_times_without_lockout(tmp_path: Path):
    """A closed port: three `charger status` runs each try, fail with one line, exit 1.

    With an allowance of one sign-in an hour, a counted attempt would lock the second run out
    ("SIGNINS_PER_HOUR"); the unanswered attempts are not counted, so each run really tries.
    """
    state = tmp_path / "state"
    with refused_port() as port:
        env = _env(f"http://127.0.0.1:{port}", state, SMARTCHARGE_WALLBOX_SIGNINS_PER_HOUR="1")
        runs = _offline_runs(env, tmp_path)

    _assert_three_real_attempts(runs, state, f"127.0.0.1:{port}")


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("unshare") is None, reason="needs root and unshare -n"
)
def test_network_down_fails_with_one_line_three_times_without_lockout(tmp_path: Path):
    """`unshare -n` (no network at all) and the real cloud URLs: three one-line failures."""
    probe = subprocess.run(  # noqa: S603
        ["unshare", "-n", "true"],  # noqa: S607 - found on PATH above
        capture_output=True,
        timeout=30,
        check=False,
    )
    if probe.returncode != 0:
        pytest.skip("unshare -n is not permitted here")
    state = tmp_path / "state"
    env = _env("https://api.wall-box.com", state, SMARTCHARGE_WALLBOX_SIGNINS_PER_HOUR="1")
    env["SMARTCHARGE_WALLBOX_AUTH_URL"] = "https://user-api.wall-box.com"
    runs = []
    for _ in range(3):
        proc = subprocess.run(  # noqa: S603
            ["unshare", "-n", sys.executable, "-m", "smartcharge", "charger", "status"],  # noqa: S607
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=PROCESS_TIMEOUT_S,
            check=False,
        )
        runs.append((proc.returncode, proc.stdout, proc.stderr))

    _assert_three_real_attempts(runs, state, "https://user-api.wall-box.com")
