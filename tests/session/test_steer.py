"""session.steer and the override in the core: applied to the state, honoured by planning, the
policy and the on-exit rule, kept by a live edit and a restart, ended at unplug."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, time, timedelta

from smartcharge.domain import ChargerStatus
from smartcharge.session import planning, policy
from smartcharge.session.commands import may_resume_on_exit
from smartcharge.session.model import DaemonState, ReplanReason
from smartcharge.session.retarget import retarget
from smartcharge.session.steer import steer
from smartcharge.session.steering import (
    SessionOverride,
    SteerMode,
    SteerRequest,
    SteerSource,
    SteerTarget,
)
from tests.session.test_policy import PRICES, RULES, T0, a_plan, a_session, reading

NOW = T0 + timedelta(hours=1)  # 19:00 in Amsterdam
MORNING = datetime(2025, 1, 16, 5, 30, tzinfo=UTC)  # 06:30 in Amsterdam


def plugged(**changes: object) -> DaemonState:
    return DaemonState(session=a_session(**changes))


def test_a_target_and_ready_by_become_the_sessions_and_ask_for_a_plan():
    state, outcome, events = steer(
        plugged(delivered_kwh=5.0),
        SteerRequest(SteerMode.PLAN, 35.0, "06:30"),
        SteerSource.CLI,
        NOW,
        RULES,
    )

    session = state.session
    assert session is not None
    assert (35.0, MORNING) == (session.target_kwh, session.ready_by)
    assert session.replan_for_override
    assert outcome.refusal is None
    assert SteerTarget.SESSION == outcome.applies_to
    assert outcome.override == session.override
    assert [
        {
            "mode": "plan",
            "target_kwh": 35.0,
            "ready_by": MORNING.isoformat(),
            "set_by": "cli",
            "applies_to": "session",
            "session": session.session_id,
        }
    ] == [e.fields for e in events if e.name == "session_override_set"]


def test_the_next_tick_plans_again_for_the_override():
    state, _, _ = steer(plugged(), SteerRequest(SteerMode.PLAN, 35.0), SteerSource.API, NOW, RULES)

    result = policy.step(state, reading(at=NOW), NOW, PRICES, RULES)

    assert ReplanReason.SESSION_OVERRIDE == result.replan
    assert result.state.session is not None
    assert not result.state.session.replan_for_override


def test_a_refusal_changes_nothing_and_is_logged():
    before = plugged()

    after, outcome, events = steer(
        before, SteerRequest(SteerMode.PLAN, 500.0), SteerSource.PAGE, NOW, RULES
    )

    assert before is after
    assert outcome.refusal is not None
    assert ("target_kwh", None, None) == (
        outcome.refusal.field,
        outcome.override,
        outcome.applies_to,
    )
    assert ["session_override_refused"] == [e.name for e in events]
    assert "target_kwh" == events[0].fields["field"]
    assert "page" == events[0].fields["set_by"]


def test_now_with_the_need_met_is_refused_and_with_a_higher_target_accepted():
    met = plugged(delivered_kwh=20.0)

    after, outcome, _ = steer(met, SteerRequest(SteerMode.NOW), SteerSource.CLI, NOW, RULES)
    assert met is after
    assert outcome.refusal is not None
    assert "met already" in outcome.refusal.message
    assert "above 20" in outcome.refusal.accepted

    after, outcome, _ = steer(met, SteerRequest(SteerMode.NOW, 30.0), SteerSource.CLI, NOW, RULES)
    assert outcome.refusal is None
    assert after.session is not None
    assert (SteerMode.NOW, 30.0) == (after.session.mode, after.session.target_kwh)


def test_clear_returns_to_the_settings():
    state, _, _ = steer(
        plugged(), SteerRequest(SteerMode.PLAN, 35.0, "06:30"), SteerSource.CLI, NOW, RULES
    )

    state, outcome, events = steer(
        state, SteerRequest(SteerMode.CLEAR), SteerSource.CLI, NOW, RULES
    )

    assert state.session is not None
    assert state.session.override is None
    assert (20.0, datetime(2025, 1, 16, 6, 0, tzinfo=UTC)) == (
        state.session.target_kwh,
        state.session.ready_by,
    )
    assert state.session.replan_for_override
    assert (None, SteerTarget.SESSION) == (outcome.override, outcome.applies_to)
    assert ["session_override_cleared"] == [e.name for e in events]


def test_with_no_car_the_override_waits_and_the_next_session_takes_it():
    state, outcome, events = steer(
        DaemonState(), SteerRequest(SteerMode.PLAN, 35.0, "06:30"), SteerSource.CLI, NOW, RULES
    )
    assert SteerTarget.NEXT_SESSION == outcome.applies_to
    assert state.next_override is not None
    assert "next_session" == events[0].fields["applies_to"]

    plug_in = NOW + timedelta(hours=1)
    result = policy.step(state, reading(ChargerStatus.WAITING, at=plug_in), plug_in, PRICES, RULES)

    session = result.state.session
    assert session is not None
    assert result.state.next_override is None
    assert state.next_override == session.override
    assert (35.0, MORNING) == (session.target_kwh, session.ready_by)
    started = [e.fields for e in result.events if e.name == "session_started"]
    assert [35.0] == [f["target_kwh"] for f in started]
    assert ["plan"] == [f["override"] for f in started]


def test_a_waiting_override_whose_ready_by_has_passed_is_dropped_at_plug_in():
    state, _, _ = steer(
        DaemonState(), SteerRequest(SteerMode.PLAN, 35.0, "06:30"), SteerSource.CLI, NOW, RULES
    )
    later = MORNING + timedelta(hours=2)

    result = policy.step(state, reading(ChargerStatus.WAITING, at=later), later, PRICES, RULES)

    assert result.state.session is not None
    assert result.state.session.override is None
    assert 20.0 == result.state.session.target_kwh
    assert result.state.next_override is None
    ended = [e.fields for e in result.events if e.name == "session_override_ended"]
    assert ["expired"] == [f["reason"] for f in ended]


def test_the_override_ends_at_unplug_and_the_next_session_starts_from_the_settings():
    state, _, _ = steer(plugged(), SteerRequest(SteerMode.OFF), SteerSource.CLI, NOW, RULES)

    gone = policy.step(state, reading(ChargerStatus.READY, at=NOW), NOW, PRICES, RULES)
    back = policy.step(
        gone.state, reading(ChargerStatus.WAITING, at=NOW + timedelta(hours=1)), NOW, PRICES, RULES
    )

    assert gone.finished is not None
    ended = [e.fields for e in gone.events if e.name == "session_override_ended"]
    assert [("unplugged", "off")] == [(f["reason"], f["mode"]) for f in ended]
    assert back.state.session is not None
    assert back.state.session.override is None
    assert 20.0 == back.state.session.target_kwh


def test_a_live_edit_keeps_what_the_override_sets_and_follows_the_rest():
    state, _, _ = steer(plugged(), SteerRequest(SteerMode.PLAN, 35.0), SteerSource.CLI, NOW, RULES)

    after, _ = retarget(state, replace(RULES, target_kwh=25.0, ready_by=time(6, 30)))

    assert after.session is not None
    assert (35.0, MORNING) == (after.session.target_kwh, after.session.ready_by)


def test_a_restart_keeps_the_override():
    state, _, _ = steer(plugged(), SteerRequest(SteerMode.NOW), SteerSource.CLI, NOW, RULES)

    started, _ = policy.on_start(state)

    assert started.session is not None
    assert state.session is not None
    assert state.session.override == started.session.override


def test_now_asks_for_the_need_at_full_power_from_now():
    session = replace(
        a_session(delivered_kwh=9.0),
        override=SessionOverride(SteerMode.NOW, None, None, SteerSource.CLI, NOW),
    )

    ask = planning.plan_request(session, NOW, PRICES, RULES, None)

    # 11 kWh at 11.04 kW: 1 h, one slot more, and the margin
    assert NOW + timedelta(hours=1, minutes=15) + RULES.deadline_margin == ask.request.ready_by
    assert 11.0 == ask.request.energy_needed_kwh


def test_off_asks_for_nothing_and_stays_paused_past_the_plan():
    session = replace(
        a_session(plan=a_plan()),
        override=SessionOverride(SteerMode.OFF, None, None, SteerSource.CLI, NOW),
    )
    late = session.ready_by + timedelta(hours=1)

    ask = planning.plan_request(session, NOW, PRICES, RULES, None)

    assert 0.0 == ask.request.energy_needed_kwh
    assert not planning.current_slot(session, late, RULES).is_charging
    # without the override the same session charges at full current past its plan
    assert planning.current_slot(replace(session, override=None), late, RULES).is_charging


def test_off_is_not_resumed_on_exit_unlike_the_plan():
    session = a_session(plan=a_plan())
    off = replace(
        session, override=SessionOverride(SteerMode.OFF, None, None, SteerSource.CLI, NOW)
    )

    assert may_resume_on_exit(DaemonState(session=session), RULES)
    assert not may_resume_on_exit(DaemonState(session=off), RULES)


def test_off_asks_for_no_new_plan_when_energy_falls_behind():
    """Nothing is to be charged: energy short of the old plan is no reason to plan again."""
    record = replace(a_plan(charging_from=0), made_at=T0)
    session = replace(
        a_session(plan=record),
        override=SessionOverride(SteerMode.OFF, None, None, SteerSource.CLI, T0),
    )
    state = DaemonState(session=session)
    late = T0 + timedelta(hours=3)

    result = policy.step(state, reading(ChargerStatus.PAUSED, at=late), late, PRICES, RULES)
    without = policy.step(
        replace(state, session=replace(session, override=None)),
        reading(ChargerStatus.PAUSED, at=late),
        late,
        PRICES,
        RULES,
    )

    assert result.replan is None
    assert ReplanReason.ENERGY_BEHIND == without.replan
