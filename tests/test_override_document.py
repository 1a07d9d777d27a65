"""The OVERRIDE document has one source: the API and `smartcharge status --json` say the same."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from smartcharge.session.model import DaemonState
from smartcharge.session.steering import SessionOverride, SteerMode, SteerSource, override_data
from smartcharge.simulator.clock import SimulatedClock
from smartcharge.state import StateStore
from smartcharge.web.documents import status_document
from tests.web.doubles import facts

SET_AT = datetime(2026, 12, 7, 17, 30, 12, 654321, tzinfo=UTC)
READY_BY = datetime(2026, 12, 8, 5, 30, 0, 250000, tzinfo=UTC)
OVERRIDE = SessionOverride(SteerMode.PLAN, 35.123456789, READY_BY, SteerSource.API, SET_AT)
DOCUMENT = {
    "mode": "plan",
    "target_kwh": 35.123,
    "ready_by": "2026-12-08T05:30:00Z",
    "set_by": "api",
    "set_at": "2026-12-07T17:30:12Z",
}


def test_the_document_is_to_the_second_and_the_wh():
    """Times to the second with Z, the target to the Wh; no override is null."""
    assert DOCUMENT == override_data(OVERRIDE)
    assert override_data(None) is None
    assert override_data(SessionOverride(SteerMode.OFF, None, None, SteerSource.CLI, SET_AT)) == {
        "mode": "off",
        "target_kwh": None,
        "ready_by": None,
        "set_by": "cli",
        "set_at": "2026-12-07T17:30:12Z",
    }


def test_the_cli_status_and_the_api_say_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    """The same waiting override, through `status --json` and `GET /api/status`'s document."""
    from smartcharge.cli import main  # noqa: PLC0415

    state = DaemonState(next_override=OVERRIDE)
    StateStore(tmp_path, SimulatedClock(SET_AT)).save(state)
    monkeypatch.setenv("SMARTCHARGE_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("SMARTCHARGE_HEALTH_PORT", "0")

    assert 0 == main(["status", "--json"])
    cli = json.loads(capsys.readouterr().out)["next_override"]
    api = status_document(facts(state=state))["next_override"]

    assert DOCUMENT == cli == api
