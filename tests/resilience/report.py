"""Print figures at the end of a test module through pytest's terminal reporter."""

from __future__ import annotations

from typing import Any

import pytest


def write_figures(request: pytest.FixtureRequest, title: str, figures: dict[str, Any]) -> None:
    """Write ``title: k=v ...`` as one line of pytest's output (shown without ``-s``)."""
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    text = " ".join(f"{k}={v}" for k, v in figures.items())
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is None or capture is None:
        return
    with capture.global_and_fixture_disabled():
        reporter.write_line(f"\n[figures] {title}: {text}")
