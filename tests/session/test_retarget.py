"""session.retarget: the session in progress follows a live edit of its need and ready-by."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

from smartcharge.ports import ChargerCapabilities
from smartcharge.session.model import DaemonState, SessionState
from smartcharge.session.retarget import retarget
from smartcharge.session.rules import Rules

PLUGGED = datetime(2025, 1, 15, 17, 0, tzinfo=UTC)  # 18:00 in Amsterdam
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
SESSION = SessionState(
    session_id=PLUGGED.isoformat(),
    plugged_in_at=PLUGGED,
    ready_by=datetime(2025, 1, 16, 6, 0, tzinfo=UTC),  # 07:00 in Amsterdam
    target_kwh=20.0,
    delivered_kwh=5.0,
)


def test_no_session_nothing_changes():
    """Without a car plugged in there is nothing to follow (the next plug-in reads the rules)."""
    state = DaemonState()

    assert (state, ()) == retarget(state, replace(RULES, target_kwh=35.0))


def test_the_same_rules_change_nothing():
    """Rules that give the session what it has: the state as it was, no event."""
    state = DaemonState(session=SESSION)

    assert (state, ()) == retarget(state, RULES)


def test_a_new_target_and_ready_by_are_taken_from_the_plug_in():
    """35 kWh by 06:30: the need, and 06:30 after the plug-in (the next morning), with one event."""
    state = DaemonState(session=SESSION)

    after, events = retarget(state, replace(RULES, target_kwh=35.0, ready_by=time(6, 30)))

    assert after.session is not None
    assert 35.0 == after.session.target_kwh
    assert datetime(2025, 1, 16, 5, 30, tzinfo=UTC) == after.session.ready_by
    assert 5.0 == after.session.delivered_kwh
    assert ["session_retargeted"] == [e.name for e in events]
    assert 20.0 == events[0].fields["was_target_kwh"]
    assert "2025-01-16T05:30:00+00:00" == events[0].fields["ready_by"]


def test_a_need_raised_above_the_delivered_energy_is_no_longer_met():
    """A session that had met 20 kWh and is now asked for 30: not met any more."""
    met = replace(SESSION, delivered_kwh=20.0, target_met_at=PLUGGED)

    after, _ = retarget(DaemonState(session=met), replace(RULES, target_kwh=30.0))

    assert after.session is not None
    assert after.session.target_met_at is None


def test_a_need_lowered_keeps_a_met_mark():
    """Met 20 kWh, now asked for 15: still met, when it was met."""
    met = replace(SESSION, delivered_kwh=20.0, target_met_at=PLUGGED)

    after, _ = retarget(DaemonState(session=met), replace(RULES, target_kwh=15.0))

    assert after.session is not None
    assert PLUGGED == after.session.target_met_at
    assert 15.0 == after.session.target_kwh


def test_a_new_time_zone_moves_the_ready_by():
    """The same 07:00 in London is an hour later than in Amsterdam."""
    after, events = retarget(
        DaemonState(session=SESSION), replace(RULES, timezone=ZoneInfo("Europe/London"))
    )

    assert after.session is not None
    assert datetime(2025, 1, 16, 7, 0, tzinfo=UTC) == after.session.ready_by
    assert 1 == len(events)
