"""Private, atomic JSON files in the state dir.

Every file is written to a temporary file in the same folder, flushed, fsynced and renamed over
the old one (``os.replace``), so a crash at any instant leaves either the old or the new
content, never a torn file. Files are created with mode 0600 and the folder with 0700.

Each document is wrapped as ``{"kind": ..., "version": ..., "sha256": ..., "data": ...}`` so a
foreign, torn or hand-edited file is recognised and never mistaken for good data. The previous
good copy is kept as ``<name>.bak``; a corrupt file is moved aside with a timestamp.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from smartcharge.errors import StateError

FILE_MODE = 0o600
DIR_MODE = 0o700


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` (mode 0700) if needed and tighten its mode; return it.

    Raises:
        StateError: when the folder cannot be created.
    """
    try:
        path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
        if (path.stat().st_mode & 0o777) != DIR_MODE:
            with contextlib.suppress(PermissionError):
                path.chmod(DIR_MODE)
    except OSError as exc:
        raise StateError(
            f"cannot create the state folder {path}: {exc.strerror}; "
            "check SMARTCHARGE_STATE_DIR and its permissions"
        ) from None
    return path


def _digest(data: Any) -> str:
    body = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(body.encode()).hexdigest()


def write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` atomically, mode 0600.

    Raises:
        StateError: when the file cannot be written (the old content stays).
    """
    ensure_private_dir(path.parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            os.fchmod(fh.fileno(), FILE_MODE)
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise StateError(f"cannot write {path}: {exc.strerror}") from None


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


def save_document(path: Path, kind: str, version: int, data: Any) -> None:
    """Write ``data`` as a checksummed document of ``kind``; keep the previous one as .bak."""
    doc = {"kind": kind, "version": version, "sha256": _digest(data), "data": data}
    text = json.dumps(doc, indent=1, ensure_ascii=False, sort_keys=True)
    if path.exists():
        with contextlib.suppress(OSError):
            old = path.read_text(encoding="utf-8")
            if _check(old, kind) is not None:
                write_atomic(path.with_name(path.name + ".bak"), old)
    write_atomic(path, text)


def _check(text: str, kind: str) -> tuple[int, Any] | None:
    try:
        doc = json.loads(text)
    except json.JSONDecodeError:
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


def load_document(path: Path, kind: str, now: datetime) -> LoadResult:
    """Read a document written by ``save_document``; fall back to the .bak copy.

    A corrupt or foreign main file is moved aside as ``<name>.corrupt-<UTC time>``, never
    overwritten silently and never raised; ``problem`` says what was wrong.
    """
    result = LoadResult()
    if not path.exists():
        return result
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        text = ""
        result.problem = f"{path}: unreadable ({exc})"
    checked = _check(text, kind) if text else None
    if checked is not None:
        result.version, result.data = checked
        return result
    if result.problem is None:
        result.problem = f"{path}: not a valid {kind} document (torn, corrupt or foreign)"
    stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    aside = path.with_name(f"{path.name}.corrupt-{stamp}")
    with contextlib.suppress(OSError):
        os.replace(path, aside)
        result.moved_to = aside
    backup = path.with_name(path.name + ".bak")
    if backup.exists():
        with contextlib.suppress(OSError, UnicodeDecodeError):
            checked = _check(backup.read_text(encoding="utf-8"), kind)
            if checked is not None:
                result.version, result.data = checked
                result.used_backup = True
    return result
