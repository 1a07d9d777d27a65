"""Shared fixtures: a simulated clock, a clean environment, structlog reset."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import structlog

from smartcharge.simulator.clock import SimulatedClock

TMPFS = Path("/dev/shm")  # noqa: S108 - a tmpfs, used like /tmp (pytest's own folders in it)
TMPFS_ROOM_BYTES = 1 << 30


def _temp_files_on_tmpfs() -> None:
    """Keep the tests' temporary files (tmp_path, tempfile, subprocesses) on tmpfs.

    The daemon fsyncs every state write, as it must; on a busy disk those fsyncs, not the code
    under test, set the pace (a simulated night: 57 s on the shared disk, 18 s on tmpfs). Only
    when TMPDIR is unset and /dev/shm is a writable folder with 1 GiB free (a container's
    default 64 MiB /dev/shm is left alone).
    """
    if "TMPDIR" in os.environ or not os.access(TMPFS, os.W_OK):
        return
    try:
        stat = os.statvfs(TMPFS)
    except OSError:
        return
    if stat.f_bavail * stat.f_frsize >= TMPFS_ROOM_BYTES:
        os.environ["TMPDIR"] = str(TMPFS)  # children (demo, daemon processes) inherit it
        tempfile.tempdir = None  # recomputed from TMPDIR on next use


_temp_files_on_tmpfs()


@pytest.fixture(autouse=True)
def clean_environ(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Hide the developer's own SMARTCHARGE_ settings and .env from every test."""
    for name in list(os.environ):
        if name.startswith("SMARTCHARGE_") or name.startswith("ENTSOE_"):
            monkeypatch.delenv(name, raising=False)
    empty = tmp_path_factory.mktemp("cwd")
    monkeypatch.chdir(empty)


@pytest.fixture(autouse=True)
def reset_structlog() -> Iterator[None]:
    """Leave structlog as each test found it."""
    yield
    structlog.reset_defaults()


@pytest.fixture
def clock() -> SimulatedClock:
    """A clock at 2025-01-15 12:00 UTC that moves only when told to."""
    return SimulatedClock(datetime(2025, 1, 15, 12, 0, tzinfo=UTC))


@pytest.fixture
def auto_clock() -> SimulatedClock:
    """A clock that jumps forward whenever someone sleeps on it."""
    return SimulatedClock(datetime(2025, 1, 15, 12, 0, tzinfo=UTC), auto_advance=True)
