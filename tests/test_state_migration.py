"""state: a state dir written by state version 1 (main before issue 13) is read by this one.

The fixtures in tests/fixtures/state_v1/ were written by the version 1 code during a simulated
night (SOURCE.md says how); each is loaded here and checked against its own JSON.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from smartcharge.domain import Command, CommandKind, utc
from smartcharge.session.model import CommandReason, ReplanReason
from smartcharge.simulator.clock import SimulatedClock
from smartcharge.state import STATE_FILE, STATE_VERSION, StateStore
from smartcharge.storage import load_document

FIXTURES = Path(__file__).parent / "fixtures" / "state_v1"
DIRS = ["night_planned", "night_pending", "night_hold", "idle"]
# After the last fixture was written (08:00 local the morning after).
NOW = utc(2025, 12, 17, 8, 0)


def v1_data(name: str) -> dict[str, Any]:
    doc = json.loads((FIXTURES / name / STATE_FILE).read_text())
    assert 1 == doc["version"]
    data: dict[str, Any] = doc["data"]
    return data


def load(name: str, tmp_path: Path) -> Any:
    shutil.copy(FIXTURES / name / STATE_FILE, tmp_path / STATE_FILE)
    store = StateStore(tmp_path, SimulatedClock(NOW))
    with capture_logs() as logs:
        state = store.load()
    assert [] == [e for e in logs if e["event"] == "state_file_corrupt"]
    return store, state


@pytest.mark.parametrize("name", DIRS)
def test_a_version_1_state_is_read_with_everything_it_holds(name: str, tmp_path: Path):
    """The session, its plan, energy, commands, baseline, hold and pending commands come back."""
    data = v1_data(name)
    _, state = load(name, tmp_path)

    assert data["last_poll_at"] == state.last_poll_at.isoformat()
    assert data["last_price_fetch_at"] == state.last_price_fetch_at.isoformat()
    last = data["last_command"]
    assert (
        Command(CommandKind(last["kind"]), last["value"]),
        CommandReason(last["reason"]),
        last["at"],
    ) == (
        state.last_command.command,
        state.last_command.reason,
        state.last_command.at.isoformat(),
    )
    # Version 1 kept only part of the reading: the next poll writes a whole one.
    assert state.last_status is None
    action = data["next_action"]
    assert (None if not action else (action["at"], CommandKind(action["action"]))) == (
        None
        if state.next_action is None
        else (state.next_action.at.isoformat(), state.next_action.action)
    )
    s1 = data["session"]
    if s1 is None:
        assert state.session is None
        return
    s2 = state.session
    assert s1["session_id"] == s2.session_id
    assert s1["ready_by"] == s2.ready_by.isoformat()
    assert s1["target_kwh"] == s2.target_kwh
    assert s1["delivered_kwh"] == s2.delivered_kwh
    assert [(e["start"], e["energy_kwh"], e["price_eur_per_kwh"]) for e in s1["slot_energy"]] == [
        (e.start.isoformat(), e.energy_kwh, e.price_eur_per_kwh) for e in s2.slot_energy
    ]
    assert s1["plan"]["plan_id"] == s2.plan.plan_id
    assert ReplanReason(s1["plan"]["reason"]) == s2.plan.reason
    assert len(s1["plan"]["plan"]["slots"]) == len(s2.plan.plan.slots)
    assert s1["plan"]["plan"]["cost_eur"] == s2.plan.plan.cost_eur
    assert [(c["at"], c["kind"], c["value"], c["reason"]) for c in s1["commands"]] == [
        (c.at.isoformat(), c.command.kind.value, c.command.value, c.reason.value)
        for c in s2.commands
    ]
    assert (
        s1["baseline"]["enabled"],
        s1["baseline"]["current_a"],
        s1["baseline"]["command_at"],
    ) == (
        s2.baseline.enabled,
        s2.baseline.current_a,
        s2.baseline.command_at.isoformat(),
    )
    assert [(p["kind"], p["sent_at"], p["deadline_at"], p["sends"]) for p in s1["pending"]] == [
        (p.command.kind.value, p.sent_at.isoformat(), p.deadline_at.isoformat(), p.sends)
        for p in s2.pending
    ]
    hold = s1["hold"]
    assert (None if hold is None else (hold["charge"], hold["since"], hold["plan_id"])) == (
        None if s2.hold is None else (s2.hold.charge, s2.hold.since.isoformat(), s2.hold.plan_id)
    )


def test_the_fixtures_hold_each_thing_the_migration_must_carry():
    """A plan, a pending command, a hold, and a state with no session (so the test means it)."""
    assert v1_data("night_planned")["session"]["plan"] is not None
    assert v1_data("night_pending")["session"]["pending"]
    assert v1_data("night_hold")["session"]["hold"] is not None
    assert v1_data("idle")["session"] is None


@pytest.mark.parametrize("name", DIRS)
def test_a_migrated_state_is_saved_as_the_current_version_and_reads_back_equal(
    name: str, tmp_path: Path
):
    """The first save after the upgrade writes the current version; nothing is lost by it."""
    store, state = load(name, tmp_path)

    saved = store.save(state)
    again = store.load()

    assert STATE_VERSION == load_document(tmp_path / STATE_FILE, "smartcharge-state", NOW).version
    assert saved == again
