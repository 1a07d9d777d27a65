"""state: the session survives a restart, and a broken file never crashes the daemon."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from structlog.testing import capture_logs

from smartcharge.domain import ChargerSnapshot, ChargerStatus, Command, CommandKind
from smartcharge.errors import StateError
from smartcharge.session.decide import pending_after_send
from smartcharge.session.model import (
    Baseline,
    CommandReason,
    DaemonState,
    DrawSample,
    Hold,
    NextAction,
    PendingCommand,
    PlanRecord,
    ReplanReason,
    SentCommand,
    SessionState,
    SlotEnergy,
)
from smartcharge.session.steering import SessionOverride, SteerMode, SteerSource
from smartcharge.simulator.clock import SimulatedClock
from smartcharge.state import STATE_FILE, StateStore, state_from_data, state_to_data
from strategies.base import Plan, PlanSlot

T0 = datetime(2025, 1, 15, 17, 0, tzinfo=UTC)


def a_plan() -> Plan:
    slots = tuple(
        PlanSlot(
            T0 + timedelta(minutes=15 * i),
            T0 + timedelta(minutes=15 * (i + 1)),
            16.0 if i % 2 else 0.0,
            2.76 if i % 2 else 0.0,
            0.2 + i / 100,
        )
        for i in range(4)
    )
    return Plan("cheapest", slots, cost_eur=1.23, energy_kwh=5.52, is_reachable=True)


def a_state() -> DaemonState:
    session = SessionState(
        session_id="2025-01-15T17:00:00+00:00",
        plugged_in_at=T0,
        ready_by=T0 + timedelta(hours=13),
        target_kwh=20.0,
        delivered_kwh=3.5,
        last_added_kwh=3.5,
        last_energy_at=T0 + timedelta(minutes=45),
        slot_energy=(SlotEnergy(T0, T0 + timedelta(minutes=15), 2.76, 0.21),),
        plan=PlanRecord("p#1", a_plan(), T0, ReplanReason.SESSION_STARTED, 0.0, 10.8, 2.5),
        plans_made=1,
        commands=(SentCommand(T0, Command(CommandKind.SET_ENERGY_COST, 0.21), CommandReason.PLAN),),
        baseline=Baseline(True, 16, T0),
        hold=Hold(False, T0 + timedelta(minutes=5), "p#1"),
        user_max_current_a=12,
        target_met_at=None,
        error_since=T0,
        max_power_seen_kw=10.9,
        pending=(
            pending_after_send(Command(CommandKind.PAUSE), T0 + timedelta(minutes=44)),
            PendingCommand(
                Command(CommandKind.SET_MAX_CURRENT, 10.0),
                T0,
                T0 + timedelta(minutes=5),
                sends=2,
                gave_up=True,
            ),
        ),
        carried_hold=Hold(True, T0 - timedelta(hours=1), "p#0"),
        replan_for_user_current=True,
        measured_share=0.31,
        draw_samples=(DrawSample(16, 3.42),),
        override=SessionOverride(
            SteerMode.NOW, 30.0, T0 + timedelta(hours=12), SteerSource.CLI, T0 + timedelta(hours=1)
        ),
        replan_for_override=True,
    )
    return DaemonState(
        session=session,
        last_command=session.commands[-1],
        last_restart_at=T0 - timedelta(hours=7),
        last_poll_at=T0,
        last_price_fetch_at=T0 - timedelta(hours=1),
        last_status=ChargerSnapshot(
            charger_id=999001,
            status=ChargerStatus.CHARGING,
            status_id=194,
            charging_power_kw=10.9,
            added_energy_kwh=3.5,
            max_charging_current_a=16,
            max_available_current_a=32,
            energy_cost_eur_per_kwh=0.21,
            locked=False,
            fetched_at=T0,
        ),
        next_action=NextAction(T0 + timedelta(minutes=15), CommandKind.PAUSE),
        manual_seen_at=T0 + timedelta(minutes=30),
        restarted_at=T0 - timedelta(hours=7),
        charger_unreachable=True,
        prices_changed=True,
        refused_energy_cost=0.21,
        energy_cost_clamped=True,
        next_override=SessionOverride(SteerMode.OFF, None, None, SteerSource.PAGE, T0),
    )


def test_state_round_trips_through_the_file(tmp_path):
    """Everything the daemon needs after a restart comes back equal."""
    clock = SimulatedClock(T0)
    state = a_state()

    StateStore(tmp_path, clock).save(state)
    loaded = StateStore(tmp_path, clock).load()

    assert replace(state, saved_at=T0) == loaded
    assert state_to_data(replace(state, saved_at=T0)) == state_to_data(loaded)
    assert state.session == loaded.session
    assert loaded.session is not None
    assert 2 == len(loaded.session.pending)
    assert T0 + timedelta(minutes=30) == loaded.manual_seen_at
    assert loaded.saved_at == T0


def test_the_override_round_trips_and_a_state_written_before_it_still_loads():
    """The user's override is saved with the session (and the one waiting for the next); a
    state file written before there were overrides loads with none."""
    state = a_state()
    data = state_to_data(state)

    assert state == state_from_data(data)
    assert "now" == data["session"]["override"]["mode"]
    assert "page" == data["next_override"]["set_by"]
    del data["next_override"]
    del data["session"]["override"]
    del data["session"]["replan_for_override"]
    older = state_from_data(data)
    assert older.next_override is None
    assert older.session is not None
    assert older.session.override is None
    assert not older.session.replan_for_override


def test_state_file_is_private_and_keeps_a_backup(tmp_path):
    """Mode 0600; the previous good copy stays as .bak."""
    store = StateStore(tmp_path, SimulatedClock(T0))
    store.save(DaemonState())
    store.save(a_state())

    assert 0o600 == os.stat(tmp_path / STATE_FILE).st_mode & 0o777
    assert (tmp_path / (STATE_FILE + ".bak")).exists()


def test_missing_file_gives_a_fresh_state(tmp_path):
    """No file yet: no session, nothing sent."""
    state = StateStore(tmp_path, SimulatedClock(T0)).load()

    assert DaemonState() == state


def test_corrupt_file_falls_back_to_the_backup_and_is_logged(tmp_path):
    """A torn main file is moved aside, logged loudly, and the .bak copy is used."""
    store = StateStore(tmp_path, SimulatedClock(T0))
    store.save(a_state())
    store.save(a_state())
    (tmp_path / STATE_FILE).write_text('{"kind": "smartcharge-state", "ver')

    with capture_logs() as logs:
        state = store.load()

    assert state.session is not None
    assert 20.0 == state.session.target_kwh
    assert ["state_file_corrupt"] == [e["event"] for e in logs]
    assert list(tmp_path.glob(STATE_FILE + ".corrupt-*"))


def test_corrupt_file_without_backup_gives_a_fresh_state(tmp_path):
    """Nothing usable: a fresh state, no crash."""
    (tmp_path / STATE_FILE).write_text("garbage")

    with capture_logs():
        state = StateStore(tmp_path, SimulatedClock(T0)).load()

    assert state.session is None


def test_a_newer_state_version_is_refused(tmp_path):
    """A file from a newer smartcharge is not silently misread."""
    store = StateStore(tmp_path, SimulatedClock(T0))
    store.save(DaemonState())
    doc = json.loads((tmp_path / STATE_FILE).read_text())
    doc["version"] = 99
    (tmp_path / STATE_FILE).write_text(json.dumps(doc))

    with pytest.raises(StateError, match="version 99"):
        store.load()


def test_expected_delivered_follows_the_plan():
    """The plan's expected energy by a given instant: whole slots plus the running part."""
    record = PlanRecord("p#1", a_plan(), T0, ReplanReason.SESSION_STARTED, 1.0)

    assert 1.0 == record.expected_delivered_kwh(T0 + timedelta(minutes=15))
    assert pytest.approx(1.0 + 1.38) == record.expected_delivered_kwh(T0 + timedelta(minutes=22.5))
    assert pytest.approx(1.0 + 5.52) == record.expected_delivered_kwh(T0 + timedelta(hours=2))


def test_remaining_need_is_never_negative():
    """Delivering more than the target leaves nothing to do."""
    session = a_state().session
    assert session is not None
    session = replace(session, delivered_kwh=25.0)

    assert 0.0 == session.remaining_kwh
