"""A state disk that cannot be written never stops the charger from being driven (issue 11, 1).

The daemon runs in process against the simulated cloud and ENTSO-E on a simulated clock; its
state folder's file system is a ``StateDisk`` whose writes fail with ENOSPC, the way a full
disk answers, until the test frees it. The disk is injected through the constructors (the
daemon's, the Wallbox client's), the seam every store of the process writes through.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import signal
import subprocess
from collections.abc import Iterator
from datetime import time, timedelta
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from smartcharge.clock import SystemClock
from smartcharge.demo import DEMO_DAY, SimulatedWorld, local, simulated_world
from smartcharge.runtime.compose import build_daemon, health_facts
from smartcharge.runtime.daemon import Daemon
from smartcharge.simulator.wallbox_cloud import WallboxCloudSimulator
from smartcharge.state import STATE_FILE
from smartcharge.storage import StateDisk, StateIOError, save_document
from smartcharge.wallbox.limiter import budget_file_name
from smartcharge.wallbox.tokens import TOKEN_FILE
from smartcharge.web.health import check
from tests.resilience.daemon_process import (
    HTTP,
    START_S,
    cloud_settings,
    ready_by,
    run_environment,
    running_daemon,
)
from tests.test_daemon_rules import actions, plug_in, run_until

USER = "fulldisk@example.com"
PASSWORD = "fulldisk-password-123"  # noqa: S105 - the fake account's
START = local(DEMO_DAY, time(17, 45))
PLUG_IN = local(DEMO_DAY, time(18, 0))


class FullDisk(StateDisk):
    """A disk with no space left while ``full`` is set: every write fails with ENOSPC."""

    def __init__(self) -> None:
        super().__init__()
        self.full = True
        self.refused = 0

    def write_file(self, path: Path, text: str) -> None:
        if self.full:
            self.refused += 1
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        super().write_file(path, text)


def daemon_on(world: SimulatedWorld, disk: StateDisk) -> Daemon:
    """Build the world's daemon with ``disk`` under every store (as ``run()`` does)."""
    settings, clock = world.settings, world.clock
    world.daemon = build_daemon(settings, clock, world.http, disk=disk)
    return world.daemon


async def test_full_state_disk_still_drives_the_charger(tmp_path: Path):
    """With no space left: the plan's commands and the on-exit resume still reach the cloud.

    ``state_write_failed`` is logged once per file, not per tick; ``/healthz`` is 503 naming
    the file and the OS error; once space is back the next save writes the state again.
    """
    disk = FullDisk()
    with capture_logs() as logs:
        async with simulated_world(tmp_path, START) as world:
            daemon = daemon_on(world, disk)
            await daemon.start()
            await run_until(world, local(DEMO_DAY, time(18, 30)), {PLUG_IN: plug_in(world)})
            health = check(health_facts(daemon), world.clock.now())
            sent_while_full = actions(world)
            stop_at = world.clock.now()
            await daemon.shutdown()
            resumed = actions(world, after=stop_at - timedelta(seconds=1))
            refused = disk.refused
            disk.full = False
            budget_file = budget_file_name(world.settings.wallbox_username or "")
            await daemon.tick("poll")
            recovered = check(health_facts(daemon), world.clock.now())
    failed = [e for e in logs if e["event"] == "state_write_failed"]

    assert sent_while_full  # the plan's pause went out, whatever the disk said
    assert [1] == resumed
    assert refused > 40  # every tick kept trying to save
    assert sorted(str(tmp_path / n) for n in (STATE_FILE, budget_file, TOKEN_FILE)) == sorted(
        e["path"] for e in failed
    )
    assert all("No space left on device (ENOSPC)" in e["error"] for e in failed)
    assert not health.ok
    assert any(
        str(tmp_path / STATE_FILE) in r and "No space left on device" in r for r in health.reasons
    )
    assert recovered.ok, recovered.reasons
    assert (tmp_path / STATE_FILE).exists()
    assert 3 == len([e for e in logs if e["event"] == "state_write_recovered"])


@pytest.fixture
def full_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs filled to the last block (root only; skipped elsewhere)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root; the injected FullDisk covers the rest")
    mount = tmp_path / "small"
    mount.mkdir()
    mounted = subprocess.run(  # noqa: S603
        ["/bin/mount", "-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs", str(mount)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr!r}")
    try:
        with contextlib.suppress(OSError), (mount / "filler").open("wb") as fh:
            while True:
                fh.write(b"\0" * 4096)
                fh.flush()
        yield mount
    finally:
        subprocess.run(["/bin/umount", str(mount)], check=False)  # noqa: S603


def test_full_tmpfs_save_fails_cleanly_and_is_reported_once(full_tmpfs: Path):
    """On a really full file system a save raises ENOSPC, leaves no temp file, logs once."""
    disk = StateDisk()
    path = full_tmpfs / STATE_FILE
    with capture_logs() as logs:
        for _ in range(3):
            with pytest.raises(StateIOError, match=r"No space left on device \(ENOSPC\)"):
                save_document(path, "x", 1, {"n": "x" * 10_000}, disk=disk)
        (full_tmpfs / "filler").unlink()
        save_document(path, "x", 1, {"n": 1}, disk=disk)

    assert ["state_write_failed", "state_write_recovered"] == [e["event"] for e in logs]
    assert [STATE_FILE] == sorted(p.name for p in full_tmpfs.iterdir())
    assert () == disk.problems


async def test_full_state_disk_still_drives_the_charger_as_a_process(full_tmpfs: Path):
    """``smartcharge run`` on a really full tmpfs: it resumes the car, /healthz names the disk.

    The car is paused by hand and needs 20 kWh within half an hour: the daemon must resume it
    although not one state file can be written; it logs each file's failure once, never a
    traceback, and still stops with status 0.
    """
    cloud = WallboxCloudSimulator(SystemClock(), username=USER, password=PASSWORD)
    cloud.charger.plug_in(car_max_power_kw=11.0)
    cloud.charger.user_pause()
    cloud_url = await cloud.start()
    env = run_environment(
        {
            **cloud_settings(cloud_url, USER, PASSWORD),
            "SMARTCHARGE_PRICE_SOURCES": "energyzero",
            "SMARTCHARGE_ENERGYZERO_API_URL": "http://127.0.0.1:9",
            "SMARTCHARGE_STATE_DIR": str(full_tmpfs),
            "SMARTCHARGE_LOG_FORMAT": "json",
            "SMARTCHARGE_TARGET_KWH": "20",
            "SMARTCHARGE_TIMEZONE": "Europe/Amsterdam",
            "SMARTCHARGE_READY_BY": ready_by(SystemClock().now(), timedelta(minutes=30)),
        }
    )
    try:
        async with running_daemon(env, "/", listen=HTTP) as daemon:
            await daemon.wait_for(
                "a command to reach the cloud",
                lambda: bool([r for r in cloud.requests if r.method == "POST"]),
                START_S,
            )
            health = await daemon.wait_answer(
                "/healthz to name the disk",
                "/healthz",
                lambda _, body: any(
                    "state not saved" in r for r in (body or {}).get("reasons", [])
                ),
                START_S,
            )
            daemon.send(signal.SIGTERM)
            code, _ = await daemon.exited()
    finally:
        await cloud.stop()
    output = daemon.output
    events = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    failed = [e["path"] for e in events if e["event"] == "state_write_failed"]

    assert [{"action": 1}] == [r.body for r in cloud.requests if "remote-action" in r.path]
    assert 503 == health[0]
    assert any("No space left on device" in r for r in health[1]["reasons"]), health
    assert failed, output[-3000:]
    assert len(failed) == len(set(failed)), failed
    assert "Traceback" not in output
    assert 0 == code, output[-3000:]
