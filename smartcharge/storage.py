"""Private, atomic JSON files in the state dir.

Every file is written to a temporary file in the same folder, flushed, fsynced and renamed over
the old one (``os.replace``), so a crash at any instant leaves either the old or the new
content, never a torn file. Files are created with mode 0600; a state folder smartcharge creates
gets mode 0700. A folder that already exists is never chmod-ed (it may be shared), and one that
every user can write (``/tmp``, mode 1777) is refused with the fix. No symbolic link inside the
state folder is ever followed (``O_NOFOLLOW``): a link planted there cannot make smartcharge
read or create a file elsewhere.

Each document is wrapped as ``{"kind": ..., "version": ..., "sha256": ..., "data": ...}`` so a
foreign, torn or hand-edited file is recognised and never mistaken for good data. The previous
good copy is kept as ``<name>.bak``; a corrupt file is moved aside with a timestamp. Only
content that fails its checksum or its parse is corrupt: a file that cannot be *read* (permission
denied, an I/O error) raises ``StateIOError`` and is left where it is.

Every OS error becomes a ``StateIOError`` whose message names the path, the OS error and the
fix (``chown 10001:10001 /data``), so the CLI prints one line instead of a traceback.

``StateDisk`` is the seam under all of it: the three raw operations (write a file, read a file,
open a lock file) and the record of which saves are failing. ``state_write_failed`` is logged
once per file and cause, ``state_write_recovered`` when that file is saved again, and
``problems`` feeds ``/healthz``. A test passes a subclass whose ``write_file`` raises
``OSError(ENOSPC)`` to play a full disk.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import stat
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog

from smartcharge.errors import StateError

log = structlog.get_logger(__name__)

FILE_MODE = 0o600
DIR_MODE = 0o700
# Never follow a link at the last component; never leak the descriptor into a child process.
_OPEN_FLAGS = os.O_NOFOLLOW | os.O_CLOEXEC


def _fix(path: Path, err: OSError, folder: Path) -> str:
    """Return what the user can do about ``err`` on ``path`` (in the state dir ``folder``)."""
    code = err.errno
    if code in (errno.EACCES, errno.EPERM):
        return (
            f"give the state folder to the user smartcharge runs as: "
            f"chown -R {os.geteuid()}:{os.getegid()} {folder}"
        )
    if code == errno.EROFS:
        return f"mount {folder} read-write (a volume or bind mount without :ro)"
    if code in (errno.ENOSPC, errno.EDQUOT):
        return f"free space on the disk that holds {folder}"
    if code == errno.EISDIR:
        return f"remove the folder {path} (smartcharge keeps a file of that name there)"
    if code == errno.ELOOP:
        return f"remove the symbolic link {path} (smartcharge never follows links in {folder})"
    if code == errno.ENOTDIR:
        return f"point SMARTCHARGE_STATE_DIR at a folder ({folder} is not one)"
    return f"check SMARTCHARGE_STATE_DIR ({folder}) and its permissions"


class StateIOError(StateError):
    """A state file or the state folder cannot be read or written (an OS error, not content).

    Attributes:
        path: the file or folder.
        error: the OS error.
        cause: the error's symbolic name (``ENOSPC``, ``EACCES``, ...).
    """

    def __init__(self, action: str, path: Path, error: OSError, folder: Path) -> None:
        self.path = path
        self.error = error
        self.cause = errno.errorcode.get(error.errno or 0, type(error).__name__)
        reason = error.strerror or str(error)
        super().__init__(
            f"cannot {action} {path}: {reason} ({self.cause}); fix: {_fix(path, error, folder)}"
        )


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` (mode 0700) if it is missing; refuse an existing one others can write.

    A folder smartcharge did not create keeps its mode: it may be shared with other programs.

    Raises:
        StateIOError: the folder cannot be created, or ``path`` is not a folder.
        StateError: every user may write the folder (mode 1777, 0777, ...).
    """
    created = False
    try:
        path.mkdir(parents=True, mode=DIR_MODE)
        created = True
    except FileExistsError:
        pass
    except OSError as exc:
        if not path.is_dir():
            raise StateIOError("create the state folder", path, exc, path) from None
    try:
        if created:
            # The umask may have taken bits from mkdir's mode; this folder is ours to set.
            path.chmod(DIR_MODE)
        mode = path.stat().st_mode
    except OSError as exc:
        raise StateIOError("use the state folder", path, exc, path) from None
    if not stat.S_ISDIR(mode):
        err = NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR))
        raise StateIOError("use the state folder", path, err, path)
    if mode & stat.S_IWOTH:
        raise StateError(
            f"the state folder {path} can be written by every user (mode "
            f"{stat.S_IMODE(mode):04o}); smartcharge does not change the mode of a folder it did "
            f"not create: point SMARTCHARGE_STATE_DIR at a folder of its own (e.g. "
            f"{path / 'smartcharge'}, created 0700) or run chmod 700 {path}"
        )
    return path


# What ``StateDisk`` logs for a failing operation, and for its recovery. A lock file that
# cannot be opened keeps the state from being shared as surely as a failed write.
_EVENTS = {
    "write": ("state_write_failed", "state_write_recovered"),
    "lock": ("state_write_failed", "state_write_recovered"),
    "read": ("state_read_failed", "state_read_recovered"),
}


@dataclass(frozen=True, slots=True)
class _Failure:
    cause: str
    message: str
    since: datetime | None
    text: str | None = None  # the content to write again from ``retry``, if any


class StateDisk:
    """The state folder's file system as one process uses it, and which saves are failing.

    Subclass it to simulate a failing disk; pass the same instance to every store of a process
    (state, ledger, tokens, limiter) so ``problems`` covers them all.
    """

    def __init__(self) -> None:
        # By (operation, path): a failed read and a failed write of one file are two problems.
        self._failing: dict[tuple[str, Path], _Failure] = {}

    # --- the raw operations (they raise OSError; FileNotFoundError means "not there")

    def write_file(self, path: Path, text: str) -> None:
        """Replace ``path`` with ``text`` atomically (temp file, fsync, rename), mode 0600."""
        # mkstemp opens with O_CREAT | O_EXCL | O_NOFOLLOW: never through a planted link.
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                os.fchmod(fh.fileno(), FILE_MODE)
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)  # rename replaces a link itself, never its target
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def read_file(self, path: Path) -> bytes:
        """Return the bytes of ``path``, never through a symbolic link (ELOOP)."""
        fd = os.open(path, os.O_RDONLY | _OPEN_FLAGS)
        with os.fdopen(fd, "rb") as fh:
            return fh.read()

    def open_lock(self, path: Path) -> int:
        """Open (create, mode 0600) the lock file ``path`` and return its descriptor."""
        return os.open(path, os.O_RDWR | os.O_CREAT | _OPEN_FLAGS, FILE_MODE)

    # --- what is failing

    def failed(
        self,
        path: Path,
        cause: str,
        message: str,
        now: datetime | None,
        retry_text: str | None = None,
        *,
        op: str = "write",
    ) -> None:
        """Note that saving (``op``: or reading) ``path`` failed; log it once per cause.

        ``retry_text``: what ``retry`` should write to ``path`` later (for a file no one else
        saves again soon, such as the token store).
        """
        known = self._failing.get((op, path))
        since = now if known is None else known.since
        self._failing[op, path] = _Failure(cause, message, since, retry_text)
        if known is None or known.cause != cause:
            log.error(_EVENTS[op][0], path=str(path), error=message, cause=cause)

    def retry(self) -> None:
        """Write again the files whose failed save left a ``retry_text``."""
        for (op, path), failure in list(self._failing.items()):
            if failure.text is None or op != "write":
                continue
            try:
                self.write_file(path, failure.text)
            except OSError:
                continue
            self.saved(path)

    def saved(self, path: Path, *, op: str = "write") -> None:
        """Note that ``path`` was saved (or read); log the recovery if it had been failing."""
        known = self._failing.pop((op, path), None)
        if known is not None:
            since = None if known.since is None else known.since.isoformat(timespec="seconds")
            log.warning(_EVENTS[op][1], path=str(path), failing_since=since)

    @property
    def problems(self) -> tuple[str, ...]:
        """Return one line per file that cannot be saved or read (for ``/healthz``)."""
        return tuple(
            ("state not read" if op == "read" else "state not saved")
            + ("" if f.since is None else f" since {f.since.isoformat(timespec='seconds')}")
            + f": {f.message}"
            for (op, _), f in self._failing.items()
        )


def _digest(data: Any) -> str:
    body = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(body.encode()).hexdigest()


def sweep_temp_files(folder: Path, names: tuple[str, ...]) -> list[Path]:
    """Remove temporary files a killed process left behind while writing ``names``.

    Call it only where no other process can be writing those files at the same moment (the
    daemon at start-up, for its own files). Returns what was removed.
    """
    removed: list[Path] = []
    for name in names:
        for tmp in folder.glob(f".{name}.*.tmp"):
            with contextlib.suppress(OSError):
                tmp.unlink()
                removed.append(tmp)
    return removed


def save_document(
    path: Path,
    kind: str,
    version: int,
    data: Any,
    *,
    disk: StateDisk | None = None,
    now: datetime | None = None,
    retry: bool = False,
) -> None:
    """Write ``data`` as a checksummed document of ``kind``; keep the previous one as .bak.

    A failure is recorded on ``disk`` (and a success clears it); ``now`` dates it. With
    ``retry``, ``StateDisk.retry`` writes the document later if this write fails.

    Raises:
        StateError: the file cannot be written (the previous content stays).
    """
    disk = disk or StateDisk()
    doc = {"kind": kind, "version": version, "sha256": _digest(data), "data": data}
    text = json.dumps(doc, indent=1, ensure_ascii=False, sort_keys=True)
    try:
        ensure_private_dir(path.parent)
        old: str | None = None
        with contextlib.suppress(OSError, UnicodeDecodeError):
            old = disk.read_file(path).decode("utf-8")
        try:
            if old is not None and _check(old, kind) is not None:
                disk.write_file(path.with_name(path.name + ".bak"), old)
            disk.write_file(path, text)
        except OSError as exc:
            raise StateIOError("write", path, exc, path.parent) from None
    except StateIOError as exc:
        disk.failed(path, exc.cause, str(exc), now, text if retry else None)
        raise
    except StateError as exc:
        disk.failed(path, "state_dir", str(exc), now)
        raise
    disk.saved(path)


def _check(text: str, kind: str) -> tuple[int, Any] | None:
    try:
        doc = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        return None
    if not isinstance(doc, dict) or doc.get("kind") != kind or "data" not in doc:
        return None
    if doc.get("sha256") != _digest(doc["data"]):
        return None
    version = doc.get("version")
    if not isinstance(version, int):
        return None
    return version, doc["data"]


class LoadResult:
    """What ``load_document`` found.

    Attributes:
        version: the document's version, or None when nothing usable was found.
        data: the payload (None when nothing usable was found).
        problem: a description of what was wrong with the main file, if anything.
        used_backup: whether the data came from the .bak copy.
        moved_to: where a corrupt file was moved, if it was.
    """

    __slots__ = ("data", "moved_to", "problem", "used_backup", "version")

    def __init__(self) -> None:
        self.version: int | None = None
        self.data: Any = None
        self.problem: str | None = None
        self.used_backup = False
        self.moved_to: Path | None = None


def _read_text(path: Path, disk: StateDisk) -> str | None:
    """Return the file's text; None when it is missing or not UTF-8 (corrupt content).

    Raises:
        StateIOError: it is there but cannot be read.
    """
    try:
        raw = disk.read_file(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StateIOError("read", path, exc, path.parent) from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return ""


def load_document(
    path: Path, kind: str, now: datetime, *, disk: StateDisk | None = None
) -> LoadResult:
    """Read a document written by ``save_document``; fall back to the .bak copy.

    A corrupt or foreign main file (checksum or parse failure) is moved aside as
    ``<name>.corrupt-<UTC time>``, never overwritten silently; ``problem`` says what was wrong.

    Raises:
        StateIOError: a file is there but cannot be read (permission denied, I/O error, a
            symbolic link): that is no corruption, and nothing is moved.
    """
    disk = disk or StateDisk()
    result = LoadResult()
    text = _read_text(path, disk)
    if text is None:
        return result
    checked = _check(text, kind) if text else None
    if checked is not None:
        result.version, result.data = checked
        return result
    result.problem = f"{path}: not a valid {kind} document (torn, corrupt or foreign)"
    result.moved_to = move_aside(path, now)
    backup = path.with_name(path.name + ".bak")
    backup_text = _read_text(backup, disk)
    if backup_text:
        checked = _check(backup_text, kind)
        if checked is not None:
            result.version, result.data = checked
            result.used_backup = True
    return result


def move_aside(path: Path, now: datetime) -> Path | None:
    """Rename ``path`` to ``<name>.corrupt-<UTC time>``; return the new path (None if it failed)."""
    stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    aside = path.with_name(f"{path.name}.corrupt-{stamp}")
    try:
        os.replace(path, aside)
    except OSError:
        return None
    return aside
