"""session.policy: tables of (state, reading, now) -> step, the way test_decide tests decide()."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from smartcharge.domain import (
    ChargerSnapshot,
    ChargerStatus,
    Command,
    CommandKind,
    PriceCurve,
    PriceSlot,
)
from smartcharge.ports import ChargerCapabilities
from smartcharge.session import policy
from smartcharge.session.decide import PENDING_DEADLINE, pending_after_send
from smartcharge.session.model import (
    Baseline,
    DaemonState,
    Hold,
    PlanRecord,
    ReplanReason,
    SessionState,
)
from smartcharge.session.override import ManualCommandSeen
from smartcharge.session.rules import OverrideRule, Rules
from strategies.base import Plan, PlanSlot

T0 = datetime(2025, 1, 15, 17, 0, tzinfo=UTC)
Q = timedelta(minutes=15)
MINUTE = timedelta(minutes=1)
RULES = Rules(
    target_kwh=20.0,
    ready_by=time(7, 0),
    timezone=ZoneInfo("Europe/Amsterdam"),
    min_current_a=6,
    max_current_a=16,
    phases=3,
    voltage_v=230.0,
    capabilities=ChargerCapabilities(
        energy_cost=True, restart=True, lock=True, min_read_interval_s=60.0
    ),
)
PRICES = PriceCurve(PriceSlot(T0 + i * Q, T0 + (i + 1) * Q, 200.0, 0.25) for i in range(96))


def reading(
    status: ChargerStatus = ChargerStatus.CHARGING,
    *,
    at: datetime = T0,
    added_kwh: float = 0.0,
    power_kw: float = 11.0,
    current_a: int = 16,
) -> ChargerSnapshot:
    return ChargerSnapshot(
        charger_id=1,
        status=status,
        status_id=None,
        charging_power_kw=power_kw if status is ChargerStatus.CHARGING else 0.0,
        added_energy_kwh=added_kwh,
        max_charging_current_a=current_a,
        max_available_current_a=32,
        energy_cost_eur_per_kwh=0.25,
        locked=False,
        fetched_at=at,
    )


def a_plan(charging_from: int = 4, slots: int = 40) -> PlanRecord:
    plan = Plan(
        "cheapest",
        tuple(
            PlanSlot(
                T0 + i * Q,
                T0 + (i + 1) * Q,
                16.0 if i >= charging_from else 0.0,
                2.76 if i >= charging_from else 0.0,
                0.25,
            )
            for i in range(slots)
        ),
        cost_eur=5.0,
        energy_kwh=20.0,
        is_reachable=True,
    )
    return PlanRecord("p#1", plan, T0, ReplanReason.SESSION_STARTED, 0.0)


def a_session(**changes: object) -> SessionState:
    session = SessionState(
        session_id=T0.isoformat(),
        plugged_in_at=T0,
        ready_by=T0 + timedelta(hours=13),
        target_kwh=20.0,
        last_added_kwh=0.0,
        last_energy_at=T0,
        plan=a_plan(),
        plans_made=1,
        baseline=Baseline(False, 16, T0),
    )
    return replace(session, **changes)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Case:
    name: str
    state: DaemonState
    snapshot: ChargerSnapshot
    now: datetime
    replan: ReplanReason | None
    events: tuple[str, ...]


CASES = [
    Case(
        "no car, no session: nothing",
        DaemonState(),
        reading(ChargerStatus.READY),
        T0,
        None,
        (),
    ),
    Case(
        "a car plugged in: a session, planned at once",
        DaemonState(),
        reading(ChargerStatus.WAITING),
        T0,
        ReplanReason.SESSION_STARTED,
        ("session_started",),
    ),
    Case(
        "the plan's pause shown: nothing to do",
        DaemonState(session=a_session()),
        reading(ChargerStatus.PAUSED, at=T0 + Q),
        T0 + Q,
        None,
        (),
    ),
    Case(
        "new prices: plan again",
        DaemonState(session=a_session(), prices_changed=True),
        reading(ChargerStatus.PAUSED, at=T0 + Q),
        T0 + Q,
        ReplanReason.PRICES_CHANGED,
        (),
    ),
    Case(
        "a current set by hand asked for a plan: that reason first",
        DaemonState(session=a_session(replan_for_user_current=True), prices_changed=True),
        reading(ChargerStatus.PAUSED, at=T0 + Q),
        T0 + Q,
        ReplanReason.USER_CHANGED_CURRENT,
        (),
    ),
    Case(
        "the user resumed against the plan: a hold, no plan",
        DaemonState(session=a_session()),
        reading(ChargerStatus.CHARGING, at=T0 + Q),
        T0 + Q,
        None,
        ("manual_override_detected",),
    ),
    Case(
        "the user set 10 A: the cap is taken and a plan asked for",
        DaemonState(session=a_session()),
        reading(ChargerStatus.PAUSED, at=T0 + Q, current_a=10),
        T0 + Q,
        ReplanReason.USER_CHANGED_CURRENT,
        ("manual_current_detected",),
    ),
    Case(
        "energy far behind the plan: plan again",
        DaemonState(session=a_session(baseline=Baseline(True, 16, T0))),
        reading(ChargerStatus.CHARGING, at=T0 + 8 * Q, added_kwh=1.0),
        T0 + 8 * Q,
        ReplanReason.ENERGY_BEHIND,
        (),
    ),
    Case(
        "a one-phase car draws a third: plan with its draw",
        DaemonState(session=a_session(baseline=Baseline(True, 16, T0), plan=a_plan(0))),
        reading(ChargerStatus.CHARGING, at=T0 + 10 * MINUTE, added_kwh=0.6, power_kw=3.6),
        T0 + 10 * MINUTE,
        ReplanReason.POWER_DEVIATED,
        (),
    ),
    Case(
        "the car unplugged: the session ends",
        DaemonState(session=a_session()),
        reading(ChargerStatus.READY, at=T0 + Q),
        T0 + Q,
        None,
        (),
    ),
    Case(
        "no car while the charger reboots after our restart: the session goes on",
        DaemonState(session=a_session(), restarted_at=T0 + Q - timedelta(minutes=1)),
        reading(ChargerStatus.READY, at=T0 + Q),
        T0 + Q,
        None,
        (),
    ),
    Case(
        "the first good read after an outage logs the recovery",
        DaemonState(charger_unreachable=True),
        reading(ChargerStatus.READY),
        T0,
        None,
        ("wallbox_recovered",),
    ),
    Case(
        "the charger in error: noted once",
        DaemonState(session=a_session()),
        reading(ChargerStatus.ERROR, at=T0 + Q),
        T0 + Q,
        None,
        ("charger_in_error",),
    ),
    Case(
        "the need met: the event, and no plan",
        DaemonState(session=a_session(baseline=Baseline(True, 16, T0))),
        reading(ChargerStatus.CHARGING, at=T0 + 8 * Q, added_kwh=20.0),
        T0 + 8 * Q,
        None,
        ("target_met",),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_step(case: Case):
    """Each reading gives the re-plan reason and the events of its row."""
    out = policy.step(case.state, case.snapshot, case.now, PRICES, RULES)

    assert case.replan == out.replan
    assert case.events == tuple(e.name for e in out.events)
    assert case.snapshot == out.state.last_status
    assert not out.state.charger_unreachable


def test_an_unplug_hands_the_finished_session_to_the_runtime():
    """The session ended is returned as finished, with its last energy; the state has none."""
    session = a_session()
    out = policy.step(DaemonState(session=session), reading(ChargerStatus.READY), T0, PRICES, RULES)

    assert session == out.finished
    assert out.state.session is None


def test_energy_between_readings_is_attributed_to_its_slot():
    """2.75 kWh read within the second quarter hour is that quarter's, at its price."""
    state = DaemonState(session=a_session(baseline=Baseline(True, 16, T0), last_energy_at=T0 + Q))
    snapshot = reading(at=T0 + 2 * Q - timedelta(minutes=1), added_kwh=2.75)

    out = policy.step(state, snapshot, T0 + 2 * Q - timedelta(minutes=1), PRICES, RULES)

    assert out.state.session is not None
    assert 2.75 == out.state.session.delivered_kwh
    assert [(T0 + Q, 2.75, 0.25)] == [
        (s.start, s.energy_kwh, s.price_eur_per_kwh) for s in out.state.session.slot_energy
    ]


def test_with_override_ignore_the_users_pause_is_overruled_not_held():
    """SMARTCHARGE_MANUAL_OVERRIDE=ignore: no hold, the event says it was overruled."""
    state = DaemonState(session=a_session(baseline=Baseline(True, 16, T0)))
    rules = replace(RULES, manual_override=OverrideRule.IGNORE)

    out = policy.step(state, reading(ChargerStatus.PAUSED, at=T0 + Q), T0 + Q, PRICES, rules)

    assert out.state.session is not None
    assert out.state.session.hold is None
    assert ("manual_change_overruled",) == tuple(e.name for e in out.events)


def test_a_pending_command_past_its_deadline_is_reported_not_applied():
    """Our pause, not shown by a reading after its deadline: not applied, to be sent once more."""
    pause = Command(CommandKind.PAUSE)
    session = a_session(
        baseline=Baseline(False, 16, T0), pending=(pending_after_send(pause, T0 + Q),)
    )
    at = T0 + Q + PENDING_DEADLINE + timedelta(minutes=1)

    out = policy.step(DaemonState(session=session), reading(at=at), at, PRICES, RULES)

    assert {pause: 1} == dict(out.not_applied)
    assert "command_not_applied" in [e.name for e in out.events]


def test_a_manual_pause_sent_with_the_cli_becomes_a_hold_and_pending():
    """A pause sent with `smartcharge charger`: the user's hold, and pending until it shows."""
    state = DaemonState(session=a_session(baseline=Baseline(True, 16, T0)))
    manual = (ManualCommandSeen(Command(CommandKind.PAUSE), T0 + Q),)

    out = policy.step(state, reading(at=T0 + Q), T0 + Q, PRICES, RULES, manual)

    assert out.state.session is not None
    assert Hold(False, T0 + Q, "p#1") == out.state.session.hold
    assert [Command(CommandKind.PAUSE)] == [p.command for p in out.state.session.pending]
    assert T0 + Q == out.state.manual_seen_at


def test_on_start_forgets_the_baseline_and_carries_the_hold():
    """A restart brings the charger to the plan; the old hold is kept for the on-exit rule."""
    hold = Hold(False, T0, "p#1")
    state = DaemonState(session=a_session(hold=hold))

    out, events = policy.on_start(state)

    assert out.session is not None
    assert (None, hold) == (out.session.hold, out.session.carried_hold)
    assert Baseline(command_at=T0) == out.session.baseline
    assert ("manual_override_ended",) == tuple(e.name for e in events)


def test_an_outage_is_logged_once():
    """wallbox_unavailable on the first failed read only."""
    first, events1 = policy.unreachable(DaemonState(), "timeout")
    second, events2 = policy.unreachable(first, "timeout")

    assert (["wallbox_unavailable"], []) == ([e.name for e in events1], [e.name for e in events2])
    assert second.charger_unreachable
