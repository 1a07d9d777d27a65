"""Print figures at the end of a test module through pytest's terminal reporter.

Under pytest-xdist a worker has no terminal: it appends the line to the file named by
``TESTS_FIGURES_FILE`` (set by ``tests/conftest.py`` in the controlling process), and the
controller prints those lines in its summary.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

FIGURES_ENV = "TESTS_FIGURES_FILE"  # not SMARTCHARGE_: clean_environ hides those


def write_figures(request: pytest.FixtureRequest, title: str, figures: dict[str, Any]) -> None:
    """Write ``title: k=v ...`` as one line of pytest's output (shown without ``-s``)."""
    text = " ".join(f"{k}={v}" for k, v in figures.items())
    line = f"[figures] {title}: {text}"
    path = os.environ.get(FIGURES_ENV)
    if os.environ.get("PYTEST_XDIST_WORKER") and path:  # a worker's terminal is not shown
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(line + "\n")
        return
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():
            reporter.write_line(f"\n{line}")
