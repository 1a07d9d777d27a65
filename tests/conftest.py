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
from tests.resilience.report import FIGURES_ENV

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


_FIGURES_FILE = pytest.StashKey[Path]()


def pytest_configure(config: pytest.Config) -> None:
    """Run in one process under ``-s``; name a file where xdist workers leave their figures.

    ``-s`` (the benchmarks' printed figures) asks to see output, which xdist workers swallow:
    it turns the ``-n auto`` of pyproject's addopts off (before xdist's own, trylast, hook).
    """
    if config.getoption("capture") == "no" and config.pluginmanager.hasplugin("xdist"):
        config.option.numprocesses = 0
        config.option.dist = "no"
        config.option.tx = []
    if os.environ.get("PYTEST_XDIST_WORKER") is None and FIGURES_ENV not in os.environ:
        fd, name = tempfile.mkstemp(prefix="smartcharge-figures-", suffix=".txt")
        os.close(fd)
        os.environ[FIGURES_ENV] = name
        config.stash[_FIGURES_FILE] = Path(name)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print the figures the xdist workers wrote (tests/resilience/report.py)."""
    path = terminalreporter.config.stash.get(_FIGURES_FILE, None)
    if path is None:
        return
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    path.unlink(missing_ok=True)
    os.environ.pop(FIGURES_ENV, None)
    for line in lines:
        terminalreporter.write_line(line)


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
