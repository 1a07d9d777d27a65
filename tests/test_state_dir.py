"""The state dir (issue 11, items 9, 11, 12, 13, 21): one daemon per state dir; an unusable dir
or file stops ``smartcharge run`` at once with exit 2 and one line naming the path, the OS error
and the fix; an unreadable file is an error, never corruption; a newer ledger is never
rewritten; no directory mode is changed that smartcharge did not set; no link is followed.

``smartcharge run`` runs as a real process. Permission errors need a user the kernel checks:
as root the process runs without the capabilities that bypass file permissions (``setpriv``)
and meets a folder or file owned by uid 10001 (the container's user); otherwise the test's own
user meets a folder it may not write. The read-only case mounts a read-only tmpfs (root only).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import os
import signal
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from smartcharge.clock import SystemClock
from smartcharge.ledger import LEDGER_FILE, LEDGER_KIND, Ledger, LedgerEntry
from smartcharge.manual import MANUAL_FILE, manual_commands_after
from smartcharge.session.model import DaemonState
from smartcharge.simulator.clock import SimulatedClock
from smartcharge.simulator.wallbox_cloud import WallboxCloudSimulator
from smartcharge.state import STATE_FILE, STATE_KIND, StateStore
from smartcharge.statedir import DAEMON_LOCK_FILE
from smartcharge.storage import (
    StateDisk,
    StateIOError,
    load_document,
    save_document,
)
from smartcharge.wallbox.limiter import CallKind, RateLimiter, budget_file_name, budget_lock_name
from tests.resilience.daemon_process import cloud_settings, run_environment, running_daemon

NOW = datetime(2025, 1, 15, 12, 0, tzinfo=UTC)
APP_UID = 10001  # the container's user (docker/Dockerfile)
AS_ROOT = os.geteuid() == 0
USER = "statedir@example.com"
PASSWORD = "statedir-password-123"  # noqa: S105 - the fake account's
# Generous bounds for a process that should stop at once (slow CI, 2 shared cores).
EXIT_TIMEOUT_S = 30


def daemon_env(state_dir: Path, cloud_url: str = "http://127.0.0.1:9") -> dict[str, str]:
    """Return the environment of ``smartcharge run`` on ``state_dir`` (port 9: nothing there)."""
    return run_environment(
        {
            **cloud_settings(cloud_url, USER, PASSWORD),
            "SMARTCHARGE_PRICE_SOURCES": "energyzero",
            "SMARTCHARGE_ENERGYZERO_API_URL": "http://127.0.0.1:9",
            "SMARTCHARGE_STATE_DIR": str(state_dir),
            "SMARTCHARGE_HEALTH_PORT": "0",
            "SMARTCHARGE_LOG_FORMAT": "json",
        }
    )


# Root without these capabilities is held to file permissions like any user.
NO_DAC = ["/usr/bin/setpriv", "--bounding-set=-dac_override,-dac_read_search", "--"]


def run_once(state_dir: Path, *, checked: bool = False) -> subprocess.CompletedProcess[str]:
    """Run ``smartcharge run`` and wait for it to exit; ``checked``: held to file permissions."""
    prefix = NO_DAC if checked and AS_ROOT else []
    return subprocess.run(  # noqa: S603 - our own interpreter and module
        [*prefix, sys.executable, "-m", "smartcharge", "run"],
        env=daemon_env(state_dir),
        cwd="/",
        capture_output=True,
        text=True,
        timeout=EXIT_TIMEOUT_S,
        check=False,
    )


def one_line(proc: subprocess.CompletedProcess[str]) -> str:
    """Return the only line the process wrote to stderr (asserting there is exactly one)."""
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert 1 == len(lines), proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    return lines[0]


@pytest.fixture
def open_base() -> Iterator[Path]:
    """A folder every user may enter (pytest's tmp_path is 0700, closed to uid 10001)."""
    with tempfile.TemporaryDirectory(prefix="smartcharge-statedir-") as name:
        base = Path(name)
        base.chmod(0o755)
        yield base


# --- 9: one daemon per state dir ----------------------------------------------------------------


async def test_second_daemon_on_the_same_state_dir_exits_2_at_once(tmp_path: Path):
    """A second ``smartcharge run`` on a state dir in use exits 2 naming the first one's pid.

    The first is a real daemon driving the simulated cloud; the second, pointed at a cloud of
    its own, makes no request there.
    """
    cloud = WallboxCloudSimulator(SystemClock(), username=USER, password=PASSWORD)
    cloud_url = await cloud.start()
    other_cloud = WallboxCloudSimulator(SystemClock(), username=USER, password=PASSWORD)
    other_url = await other_cloud.start()
    state_dir = tmp_path / "state"
    try:
        async with running_daemon(daemon_env(state_dir, cloud_url), tmp_path) as first:
            await first.wait_for(
                "the first daemon to call the cloud", lambda: bool(cloud.requests), EXIT_TIMEOUT_S
            )
            second = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "smartcharge",
                "run",
                cwd=tmp_path,
                env=daemon_env(state_dir, other_url),
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            try:
                out, err = await asyncio.wait_for(second.communicate(), EXIT_TIMEOUT_S)
            finally:
                if second.returncode is None:  # it did not stop at once: not left running
                    second.kill()
                    await second.wait()
            first.send(signal.SIGTERM)
            first_code, _ = await first.exited(EXIT_TIMEOUT_S)
    finally:
        await cloud.stop()
        await other_cloud.stop()
    lines = [line for line in err.decode().splitlines() if line.strip()]

    assert 2 == second.returncode
    assert [
        f"smartcharge: another smartcharge daemon (pid {first.proc.pid}) uses {state_dir}; stop it "
        "first, or give this one a state dir of its own (SMARTCHARGE_STATE_DIR)"
    ] == lines
    assert b"" == out
    assert [] == other_cloud.requests
    assert 0 == first_code


# --- 11: an unusable state dir ------------------------------------------------------------------


@contextlib.contextmanager
def read_only_mount(path: Path) -> Iterator[None]:
    path.mkdir()
    mounted = subprocess.run(  # noqa: S603
        ["/bin/mount", "-t", "tmpfs", "-o", "ro,size=64k,mode=0700", "tmpfs", str(path)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a read-only tmpfs here: {mounted.stderr!r}")
    try:
        yield
    finally:
        subprocess.run(["/bin/umount", str(path)], check=False)  # noqa: S603


@pytest.mark.skipif(not AS_ROOT, reason="mounting a read-only file system needs root")
def test_read_only_state_dir_exits_2_with_one_line_and_the_fix(open_base: Path):
    """A state dir on a read-only mount: exit 2, one line with the path, EROFS and the fix."""
    state_dir = open_base / "state"
    with read_only_mount(state_dir):
        proc = run_once(state_dir)
    line = one_line(proc)

    assert 2 == proc.returncode
    assert (
        f"smartcharge: cannot open the lock file {state_dir / DAEMON_LOCK_FILE}: Read-only file "
        f"system (EROFS); fix: mount {state_dir} read-write (a volume or bind mount without :ro)"
    ) == line


def test_state_dir_owned_by_another_user_exits_2_with_one_line_and_the_fix(open_base: Path):
    """A state dir the daemon's user may not write (a bind mount owned by root): exit 2."""
    state_dir = open_base / "state"
    state_dir.mkdir(mode=0o755)
    if AS_ROOT:
        os.chown(state_dir, APP_UID, APP_UID)
    else:
        state_dir.chmod(0o555)
    uid, gid = os.geteuid(), os.getegid()
    proc = run_once(state_dir, checked=True)
    line = one_line(proc)

    assert 2 == proc.returncode
    assert (
        f"smartcharge: cannot open the lock file {state_dir / DAEMON_LOCK_FILE}: Permission "
        f"denied (EACCES); fix: give the state folder to the user smartcharge runs as: "
        f"chown -R {uid}:{gid} {state_dir}"
    ) == line


@pytest.mark.parametrize("name", [DAEMON_LOCK_FILE, budget_lock_name(USER)])
def test_lock_file_replaced_by_a_directory_exits_2_with_one_line_and_the_fix(
    tmp_path: Path, name: str
):
    """The instance lock or the Wallbox budget's lock is a directory: exit 2, EISDIR, the fix."""
    state_dir = tmp_path / "state"
    (state_dir / name).mkdir(parents=True)
    proc = run_once(state_dir)
    line = one_line(proc)

    assert 2 == proc.returncode
    assert line.startswith("smartcharge: cannot open")
    assert (
        f"{state_dir / name}: Is a directory (EISDIR); fix: remove the folder {state_dir / name}"
        in line
    )


# --- 13: an unreadable state file is no corrupt one ---------------------------------------------


class UnreadableDisk(StateDisk):
    """A disk on which reading ``path`` is refused (permission denied)."""

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path

    def read_file(self, path: Path) -> bytes:
        if path == self.path:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
        return super().read_file(path)


def test_unreadable_state_file_is_an_error_not_corruption(tmp_path: Path):
    """Permission denied on state.json raises StateIOError; nothing is moved aside or reset."""
    clock = SimulatedClock(NOW)
    StateStore(tmp_path, clock).save(DaemonState(last_poll_at=NOW))
    before = (tmp_path / STATE_FILE).read_bytes()
    store = StateStore(tmp_path, clock, UnreadableDisk(tmp_path / STATE_FILE))

    with pytest.raises(StateIOError, match=r"Permission denied \(EACCES\)"):
        store.load()

    assert before == (tmp_path / STATE_FILE).read_bytes()
    assert [] == [p.name for p in tmp_path.iterdir() if ".corrupt-" in p.name]


def test_unreadable_state_file_at_start_exits_2_and_keeps_it(open_base: Path):
    """``smartcharge run`` with a state.json it may not read: exit 2, the file untouched."""
    state_dir = open_base / "state"
    StateStore(state_dir, SimulatedClock(NOW)).save(DaemonState(last_poll_at=NOW))
    path = state_dir / STATE_FILE
    if AS_ROOT:
        os.chown(path, APP_UID, APP_UID)  # 0600, another user's
    else:
        path.chmod(0)
    before = os.stat(path)
    proc = run_once(state_dir, checked=True)
    line = one_line(proc)

    assert 2 == proc.returncode
    assert line.startswith(f"smartcharge: cannot open {path}: Permission denied (EACCES)")
    assert before.st_ino == os.stat(path).st_ino
    assert [] == [p.name for p in state_dir.iterdir() if ".corrupt-" in p.name]


def test_unreadable_budget_file_while_running_keeps_the_budget(tmp_path: Path):
    """The limiter file turns unreadable mid-run: the budget is kept in memory, not reset."""
    limiter_file = tmp_path / budget_file_name(USER)
    limiter = RateLimiter(
        tmp_path,
        SimulatedClock(NOW),
        username=USER,
        reads_per_minute=1.0,
        disk=UnreadableDisk(limiter_file),
    )
    first = limiter.reserve(CallKind.READ)  # recorded in memory (the file is never readable)
    second = limiter.reserve(CallKind.READ)

    assert first is None
    assert NOW + timedelta(minutes=1) == second
    assert any("Permission denied" in p for p in limiter._disk.problems)


def test_unreadable_manual_record_while_running_is_read_again_not_raised(tmp_path: Path):
    """manual.json turned unreadable (here: a folder) costs the tick nothing; no exception."""
    (tmp_path / MANUAL_FILE).mkdir()

    assert () == manual_commands_after(tmp_path, 999001, None, NOW)


# --- 12: the ledger's version -------------------------------------------------------------------


def an_entry(n: int) -> LedgerEntry:
    start = NOW + timedelta(days=n)
    return LedgerEntry(
        session_id=start.isoformat(),
        plugged_in_at=start,
        plugged_out_at=start + timedelta(hours=10),
        ready_by=start + timedelta(hours=13),
        target_kwh=20.0,
        energy_kwh=20.0,
        cost_eur=4.0,
        unpriced_kwh=0.0,
        immediate_cost_eur=5.0,
        target_met=True,
        target_met_at=start + timedelta(hours=8),
        commands=4,
    )


def test_ledger_written_by_a_newer_version_is_never_rewritten(tmp_path: Path):
    """A ledger of version 2 is refused by record() and entries(), and left byte for byte."""
    path = tmp_path / LEDGER_FILE
    save_document(path, LEDGER_KIND, 2, [{"session_id": "x", "format": "of the future"}])
    before = path.read_bytes()
    ledger = Ledger(tmp_path, SimulatedClock(NOW))

    with pytest.raises(Exception, match="written by a newer smartcharge .ledger version 2"):
        ledger.record(an_entry(1))
    with pytest.raises(Exception, match="newer smartcharge"):
        ledger.entries()

    assert before == path.read_bytes()


def test_unparseable_ledger_rows_are_kept_verbatim(tmp_path: Path):
    """Rows this version cannot parse survive two recorded sessions exactly as they were."""
    odd = [{"session_id": "odd", "plugged_in_at": "yesterday"}, "a row from a script"]
    ledger = Ledger(tmp_path, SimulatedClock(NOW))
    save_document(tmp_path / LEDGER_FILE, LEDGER_KIND, 1, [an_entry(0).to_json(), *odd])

    ledger.record(an_entry(1))
    ledger.record(an_entry(2))
    rows = load_document(tmp_path / LEDGER_FILE, LEDGER_KIND, NOW).data

    assert 3 == len(ledger.entries())
    assert odd == [r for r in rows if r in odd]
    assert 5 == len(rows)


# --- 21: modes and links ------------------------------------------------------------------------


def test_shared_state_dir_is_refused_and_its_mode_never_changed(open_base: Path):
    """A state dir every user may write (mode 1777): exit 2 with the fix; its mode stays."""
    state_dir = open_base / "shared"
    state_dir.mkdir()
    state_dir.chmod(0o1777)
    proc = run_once(state_dir)
    line = one_line(proc)

    assert 2 == proc.returncode
    assert f"the state folder {state_dir} can be written by every user (mode 1777)" in line
    assert f"chmod 700 {state_dir}" in line
    assert 0o1777 == stat.S_IMODE(state_dir.stat().st_mode)
    assert [] == list(state_dir.iterdir())


def test_symlinks_in_the_state_dir_are_never_followed(tmp_path: Path):
    """Links planted for the lock files or state.json: no target is created, read or written."""
    state_dir = tmp_path / "state"
    state_dir.mkdir(mode=0o700)
    outside = tmp_path / "outside"
    outside.mkdir()
    (state_dir / DAEMON_LOCK_FILE).symlink_to(outside / "daemon-target")
    (state_dir / budget_lock_name(USER)).symlink_to(outside / "limiter-target")
    StateStore(outside, SimulatedClock(NOW)).save(DaemonState(last_poll_at=NOW))
    (state_dir / STATE_FILE).symlink_to(outside / STATE_FILE)
    outside_state = (outside / STATE_FILE).read_bytes()

    proc = run_once(state_dir)
    line = one_line(proc)
    limiter = RateLimiter(state_dir, SimulatedClock(NOW), username=USER)
    reserved = limiter.reserve(CallKind.READ)
    with pytest.raises(StateIOError, match="ELOOP"):
        StateStore(state_dir, SimulatedClock(NOW)).load()

    assert 2 == proc.returncode
    assert "Too many levels of symbolic links (ELOOP)" in line
    assert f"remove the symbolic link {state_dir / DAEMON_LOCK_FILE}" in line
    assert None is reserved  # the call still goes out; the budget is kept in memory
    assert ["state.json"] == sorted(p.name for p in outside.iterdir())
    assert outside_state == (outside / STATE_FILE).read_bytes()
    assert json.loads(outside_state)["kind"] == STATE_KIND
