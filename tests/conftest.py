"""Shared fixtures: a simulated clock, a clean environment, structlog reset."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import structlog

from smartcharge.simulator.clock import SimulatedClock


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
