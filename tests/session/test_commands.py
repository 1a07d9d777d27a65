"""session.commands and session.planning: the commands of a tick, and the plan's bookkeeping."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from smartcharge.domain import ChargerStatus, Command, CommandKind
from smartcharge.session import planning
from smartcharge.session.commands import (
    after_failed,
    after_sent,
    commands_for,
    may_resume_on_exit,
    resume_on_exit,
)
from smartcharge.session.decide import RESTART_AFTER_ERROR
from smartcharge.session.model import (
    Baseline,
    CommandReason,
    DaemonState,
    Hold,
    ReplanReason,
)
from smartcharge.session.rules import OnExitRule
from strategies.base import Plan
from tests.session.test_policy import PRICES, RULES, T0, Q, a_session, reading

RESUME = Command(CommandKind.RESUME)
PAUSE = Command(CommandKind.PAUSE)


def test_the_plan_charging_now_resumes_and_sets_the_price():
    """In a charging slot a paused charger is resumed and told the price."""
    state = DaemonState(session=a_session())
    at = T0 + 5 * Q

    _, commands, _ = commands_for(state, reading(ChargerStatus.PAUSED, at=at), at, PRICES, RULES)

    assert (RESUME,) == commands


def test_no_energy_cost_for_a_link_without_that_command():
    """A link that cannot set the energy cost is never sent one."""
    state = DaemonState(session=a_session())
    at = T0 + 5 * Q
    snapshot = replace(reading(ChargerStatus.PAUSED, at=at), energy_cost_eur_per_kwh=0.1)
    rules = replace(RULES, capabilities=replace(RULES.capabilities, energy_cost=False))

    _, with_cost, _ = commands_for(state, snapshot, at, PRICES, RULES)
    _, without, _ = commands_for(state, snapshot, at, PRICES, rules)

    assert (RESUME, Command(CommandKind.SET_ENERGY_COST, 0.25)) == with_cost
    assert (RESUME,) == without


def test_a_pending_command_is_not_sent_again():
    """Our resume, sent a minute ago and not shown yet, is not repeated."""
    at = T0 + 5 * Q
    sent = after_sent(
        DaemonState(session=a_session()), RESUME, at - timedelta(minutes=1), at, CommandReason.PLAN
    )

    _, commands, _ = commands_for(sent, reading(ChargerStatus.PAUSED, at=at), at, PRICES, RULES)

    assert () == commands
    assert sent.session is not None
    assert (RESUME,) == tuple(c.command for c in sent.session.commands)
    assert Baseline(True, 16, at) == sent.session.baseline


def test_a_charger_in_error_long_enough_is_restarted_once_enabled():
    """Only with the rule on, after RESTART_AFTER_ERROR in error, over a link that can."""
    at = T0 + 5 * Q
    state = DaemonState(session=a_session(error_since=at - RESTART_AFTER_ERROR))
    snapshot = reading(ChargerStatus.ERROR, at=at)

    _, off, _ = commands_for(state, snapshot, at, PRICES, RULES)
    _, on, _ = commands_for(state, snapshot, at, PRICES, replace(RULES, restart_on_error=True))

    no_restart = replace(RULES, restart_on_error=True)
    no_restart = replace(no_restart, capabilities=replace(RULES.capabilities, restart=False))
    _, unsupported, _ = commands_for(state, snapshot, at, PRICES, no_restart)

    assert () == off
    assert (Command(CommandKind.RESTART),) == on
    assert () == unsupported


def test_a_refused_energy_cost_is_remembered_and_a_sent_one_forgets_it():
    """HTTP 400 on an energy cost: not sent again; a later accepted one clears that."""
    cost = Command(CommandKind.SET_ENERGY_COST, 0.25)
    state = after_failed(DaemonState(), cost, T0, refused=True, outcome_unknown=False)

    assert 0.25 == state.refused_energy_cost
    assert after_sent(state, cost, T0, T0, CommandReason.PLAN).refused_energy_cost is None


def test_on_exit_resumes_unless_the_user_paused_or_the_need_is_met():
    """The on-exit rule: a paused or unknown charger is resumed; a user's pause is left."""
    state = DaemonState(session=a_session())
    paused = reading(ChargerStatus.PAUSED)

    assert may_resume_on_exit(state, RULES)
    assert resume_on_exit(state, paused)
    assert resume_on_exit(state, None)
    assert not resume_on_exit(state, reading(ChargerStatus.CHARGING))
    held = DaemonState(session=a_session(carried_hold=Hold(False, T0, "p#0")))
    assert not may_resume_on_exit(held, RULES)
    assert not may_resume_on_exit(state, replace(RULES, on_exit=OnExitRule.LEAVE))
    assert not may_resume_on_exit(DaemonState(session=a_session(delivered_kwh=20.0)), RULES)


def test_a_new_plan_ends_the_hold_and_forgets_the_baseline():
    """after_plan: the plan in force, the hold over, prices no longer changed."""
    session = a_session(hold=Hold(False, T0, "p#1"), measured_share=0.31)
    state = DaemonState(session=session, prices_changed=True)
    ask = planning.plan_request(session, T0 + Q, PRICES, RULES, None)
    plan = Plan("cheapest", (), 0.0, 0.0, True)

    out, events = planning.after_plan(state, ask, plan, ReplanReason.POWER_DEVIATED, RULES)

    assert pytest.approx(0.31 * 230.0) == ask.request.voltage_v
    assert out.session is not None
    assert (None, None, 2) == (out.session.hold, out.session.measured_share, out.session.plans_made)
    assert Baseline(command_at=T0) == out.session.baseline
    assert not out.prices_changed
    assert ["manual_override_ended", "plan_made"] == [e.name for e in events]
