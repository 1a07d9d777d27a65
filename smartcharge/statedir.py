"""One daemon per state dir, and the start-up check of that folder.

``claim_state_dir`` is what ``smartcharge run`` does first: take the instance lock (an
exclusive ``flock`` on ``<state dir>/daemon.lock``), then check that the folder and the files
the daemon will use can be written and read, so a problem is one line at start-up instead of
a failure in the night. Split from ``storage`` (the private, atomic documents it builds on).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import tempfile
from pathlib import Path

from smartcharge.errors import StateError
from smartcharge.storage import StateDisk, StateIOError, ensure_private_dir, sweep_temp_files

# The daemon's instance lock: one ``smartcharge run`` per state dir (the CLI commands do not
# take it; they share the Wallbox budget through the limiter's own lock).
DAEMON_LOCK_FILE = "daemon.lock"


class InstanceLockedError(StateError):
    """Another ``smartcharge run`` holds the state dir."""


class InstanceLock:
    """One daemon per state dir: an exclusive ``flock`` on ``<state dir>/daemon.lock``.

    The lock file holds the owner's pid (for the message only); the kernel drops the lock
    when the owner exits, however it exits, so a stale file never blocks a start.
    """

    def __init__(self, state_dir: Path, disk: StateDisk | None = None) -> None:
        self.path = state_dir / DAEMON_LOCK_FILE
        self._dir = state_dir
        self._disk = disk or StateDisk()
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock at once or raise.

        Raises:
            InstanceLockedError: another daemon holds it.
            StateIOError: the lock file cannot be opened (names the fix).
            StateError: the state folder is unusable.
        """
        ensure_private_dir(self._dir)
        try:
            fd = self._disk.open_lock(self.path)
        except OSError as exc:
            raise StateIOError("open the lock file", self.path, exc, self._dir) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise InstanceLockedError(
                f"another smartcharge daemon (pid {owner}) uses {self._dir}; stop it first, "
                "or give this one a state dir of its own (SMARTCHARGE_STATE_DIR)"
            ) from None
        except OSError as exc:
            os.close(fd)
            raise StateIOError("lock", self.path, exc, self._dir) from None
        with contextlib.suppress(OSError):  # the pid is for the message only
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        self._fd = fd

    def release(self) -> None:
        """Drop the lock (closing the descriptor releases the flock)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def check_state_dir(state_dir: Path, files: tuple[str, ...], disk: StateDisk) -> None:
    """Check at start-up that the daemon can work in ``state_dir``; raise the first problem.

    The folder must be usable (see ``ensure_private_dir``) and writable (a temp file is made
    and removed; a full disk passes: the daemon runs on and reports it); each of ``files``
    that exists must be a readable regular file, each ``*.lock`` among them openable.

    Raises:
        StateError: one line naming the path, the OS error and the fix.
    """
    ensure_private_dir(state_dir)
    sweep_temp_files(state_dir, ("probe",))  # a probe a killed start-up left behind
    try:
        fd, probe = tempfile.mkstemp(prefix=".probe.", suffix=".tmp", dir=state_dir)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise StateIOError("write in", state_dir, exc, state_dir) from None
    for name in files:
        path = state_dir / name
        try:
            if name.endswith(".lock"):
                os.close(disk.open_lock(path))
            elif path.exists() or path.is_symlink():
                disk.read_file(path)
        except OSError as exc:
            raise StateIOError("open", path, exc, state_dir) from None


def claim_state_dir(state_dir: Path, files: tuple[str, ...], disk: StateDisk) -> InstanceLock:
    """Take the daemon's instance lock on ``state_dir`` and check its files; return the lock.

    Raises:
        InstanceLockedError: another daemon holds the state dir.
        StateError: the state dir or one of ``files`` is unusable (see ``check_state_dir``).
    """
    lock = InstanceLock(state_dir, disk)
    lock.acquire()
    try:
        check_state_dir(state_dir, files, disk)
    except BaseException:
        lock.release()
        raise
    return lock
