"""session.decide: decide() over every status id of wallbox-api.md §5, and the rules around it."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from smartcharge.domain import ChargerSnapshot, ChargerStatus, Command, CommandKind
from smartcharge.session.decide import (
    MAX_SENDS,
    PENDING_DEADLINE,
    ManualChange,
    after_command,
    decide,
    detect_manual_change,
    energy_cost_differs,
    is_enabled,
    observed_baseline,
    pending_after_send,
    review_pending,
    should_restart,
    whole_amps,
    without_pending,
)
from smartcharge.session.model import Baseline, Hold, Limits
from strategies.base import PlanSlot

NOW = datetime(2025, 1, 15, 22, 5, tzinfo=UTC)
LIMITS = Limits(min_current_a=6, max_current_a=16)

# wallbox-api.md §5, every row, mapped to the domain's groups (163 = car unplugged, 165/209 =
# locked without a car, 196 = discharging; anything else and null = unknown, handled as offline).
STATUS_TABLE: dict[int, ChargerStatus] = {
    0: ChargerStatus.OFFLINE,
    14: ChargerStatus.ERROR,
    15: ChargerStatus.ERROR,
    161: ChargerStatus.READY,
    162: ChargerStatus.READY,
    163: ChargerStatus.READY,
    164: ChargerStatus.WAITING,
    165: ChargerStatus.LOCKED,
    166: ChargerStatus.UPDATING,
    177: ChargerStatus.SCHEDULED,
    178: ChargerStatus.PAUSED,
    179: ChargerStatus.SCHEDULED,
    180: ChargerStatus.WAITING_FOR_CAR_DEMAND,
    181: ChargerStatus.WAITING_FOR_CAR_DEMAND,
    182: ChargerStatus.PAUSED,
    183: ChargerStatus.WAITING,
    184: ChargerStatus.WAITING,
    185: ChargerStatus.WAITING,
    186: ChargerStatus.WAITING,
    187: ChargerStatus.WAITING,
    188: ChargerStatus.WAITING,
    189: ChargerStatus.WAITING,
    193: ChargerStatus.CHARGING,
    194: ChargerStatus.CHARGING,
    195: ChargerStatus.CHARGING,
    196: ChargerStatus.DISCHARGING,
    209: ChargerStatus.LOCKED,
    210: ChargerStatus.LOCKED_CAR_CONNECTED,
}
UNKNOWN_IDS = (1, 4, 5, 167, 190, 197, 255, 999)
ENABLED_IDS = (164, 180, 181, 183, 184, 185, 186, 187, 188, 189, 193, 194, 195)
DISABLED_IDS = (177, 178, 179, 182)
INERT_IDS = (0, 14, 15, 161, 162, 163, 165, 166, 196, 209)  # no command of any kind
ALL_CASES = [(i, s) for i, s in STATUS_TABLE.items()] + [
    (i, ChargerStatus.UNKNOWN) for i in UNKNOWN_IDS
]


def snap(
    status_id: int | None,
    status: ChargerStatus,
    *,
    current_a: int = 16,
    cost: float | None = 0.25,
    available_a: int = 32,
) -> ChargerSnapshot:
    return ChargerSnapshot(
        charger_id=1,
        status=status,
        status_id=status_id,
        charging_power_kw=0.0,
        added_energy_kwh=0.0,
        max_charging_current_a=current_a,
        max_available_current_a=available_a,
        energy_cost_eur_per_kwh=cost,
        locked=status in (ChargerStatus.LOCKED, ChargerStatus.LOCKED_CAR_CONNECTED),
        fetched_at=NOW,
    )


def slot(current_a: float) -> PlanSlot:
    return PlanSlot(NOW - timedelta(minutes=5), NOW + timedelta(minutes=10), current_a, 1.0, 0.25)


CHARGE = slot(16.0)
PAUSE = slot(0.0)


def kinds(commands: tuple[Command, ...]) -> list[CommandKind]:
    return [c.kind for c in commands]


@pytest.mark.parametrize(("status_id", "status"), ALL_CASES)
def test_decide_is_as_the_table_says_for_every_status_id(status_id, status):
    """Each status id gets exactly the commands its group calls for, with the price unchanged."""
    charge = decide(snap(status_id, status), CHARGE, 0.25, LIMITS)
    pause = decide(snap(status_id, status), PAUSE, 0.25, LIMITS)

    if status_id in ENABLED_IDS:
        assert ((), [CommandKind.PAUSE]) == (charge, kinds(pause))
    elif status_id in DISABLED_IDS:
        assert ([CommandKind.RESUME], ()) == (kinds(charge), pause)
    else:
        assert ((), ()) == (charge, pause)


@pytest.mark.parametrize(("status_id", "status"), ALL_CASES)
def test_decide_never_resumes_without_a_car(status_id, status):
    """RESUME goes out only where a car is connected and pause/resume applies."""
    commands = decide(snap(status_id, status, cost=None, current_a=10), CHARGE, 0.3, LIMITS)

    if CommandKind.RESUME in kinds(commands):
        assert status.is_car_connected
        assert status.can_pause_or_resume
    if status_id in INERT_IDS or status is ChargerStatus.UNKNOWN:
        assert () == commands


@pytest.mark.parametrize(("status_id", "status"), ALL_CASES)
def test_energy_cost_is_set_only_with_a_car_and_a_different_price(status_id, status):
    """Energy cost goes out (rounded to cents) only where a car is connected and it differs."""
    commands = decide(snap(status_id, status, cost=0.20), PAUSE, 0.31234, LIMITS)
    cost_commands = [c for c in commands if c.kind is CommandKind.SET_ENERGY_COST]

    if status_id in (*ENABLED_IDS, *DISABLED_IDS, 210):
        assert [Command(CommandKind.SET_ENERGY_COST, 0.31)] == cost_commands
    else:
        assert [] == cost_commands


def test_locked_with_a_car_gets_the_energy_cost_and_nothing_else():
    """210: the daemon never unlocks, resumes or sets a current, but keeps the price right."""
    commands = decide(
        snap(210, ChargerStatus.LOCKED_CAR_CONNECTED, current_a=8, cost=0.1), CHARGE, 0.2, LIMITS
    )

    assert (Command(CommandKind.SET_ENERGY_COST, 0.2),) == commands


def test_nothing_is_sent_when_the_charger_already_is_as_desired():
    """Charging at the planned current with the right price: no command."""
    commands = decide(
        snap(194, ChargerStatus.CHARGING, current_a=16, cost=0.25), CHARGE, 0.2501, LIMITS
    )

    assert () == commands


def test_current_is_set_before_resume():
    """A paused charger gets its current first, then RESUME, then the price."""
    commands = decide(
        snap(182, ChargerStatus.PAUSED, current_a=16, cost=0.1), slot(9.2), 0.2, LIMITS
    )

    assert (
        Command(CommandKind.SET_MAX_CURRENT, 10.0),
        Command(CommandKind.RESUME),
        Command(CommandKind.SET_ENERGY_COST, 0.2),
    ) == commands


@pytest.mark.parametrize(
    ("plan_a", "expected"),
    [(6.0, 6), (6.0000001, 6), (6.01, 7), (9.5, 10), (16.0, 16), (15.2, 16), (3.0, 6), (40.0, 16)],
)
def test_plan_currents_round_up_to_whole_amps_within_the_limits(plan_a, expected):
    """The plan's float current: ceil, then clamped to [min, max]."""
    assert expected == whole_amps(plan_a, LIMITS)


@pytest.mark.parametrize("plan_a", [0.5, 3.0, 6.2, 11.7, 16.0, 25.0, 80.0])
@pytest.mark.parametrize("available_a", [0, 10, 16, 32])
def test_decide_never_sets_a_current_outside_the_limits(plan_a, available_a):
    """Whatever the plan says, the current sent lies in [6, 16] and under the installation's."""
    commands = decide(
        snap(194, ChargerStatus.CHARGING, current_a=1, available_a=available_a),
        slot(plan_a),
        None,
        LIMITS,
    )
    [current] = [c.value for c in commands if c.kind is CommandKind.SET_MAX_CURRENT]

    assert current is not None
    assert LIMITS.min_current_a <= current <= LIMITS.max_current_a
    if available_a >= LIMITS.min_current_a:
        assert current <= available_a


def test_no_current_is_sent_while_paused_by_the_plan():
    """A paused slot pauses; it does not touch the current."""
    commands = decide(snap(194, ChargerStatus.CHARGING, current_a=6), PAUSE, None, LIMITS)

    assert (Command(CommandKind.PAUSE),) == commands


@pytest.mark.parametrize(
    ("reported", "price", "differs"),
    [
        (None, 0.25, True),
        (0.25, 0.25, False),
        (0.25, 0.2549, False),
        (0.25, 0.2551, True),
        (0.2549, 0.2549, False),  # a cloud that stores more decimals than we send
        (0.26, 0.2551, False),
        (0.25, 0.24, True),
        (-0.02, -0.0213, False),
    ],
)
def test_energy_cost_rounding_tolerance(reported, price, differs):
    """The price is compared to the cent; once sent, it is not sent again."""
    assert differs == energy_cost_differs(reported, price)


def test_one_energy_cost_command_per_price_change():
    """Feeding back what was sent gives no second command; a new price gives exactly one."""
    charger = snap(194, ChargerStatus.CHARGING, cost=None)
    sent = []
    for price in (0.2512, 0.2512, 0.2498, 0.3101, 0.3102, 0.1899):
        for command in decide(charger, CHARGE, price, LIMITS):
            sent.append(command.value)
            charger = replace(charger, energy_cost_eur_per_kwh=command.value)

    assert [0.25, 0.31, 0.19] == sent


def test_no_slot_means_no_opinion_on_charging():
    """Outside any plan slot the daemon leaves pause/resume and the current alone."""
    assert () == decide(snap(182, ChargerStatus.PAUSED, cost=0.25), None, 0.25, LIMITS)


@pytest.mark.parametrize(("status_id", "status"), ALL_CASES)
def test_a_hold_wins_over_the_plan(status_id, status):
    """The user's hand-made choice is kept: no PAUSE against a resume, no RESUME against a pause."""
    hold_charge = Hold(charge=True, since=NOW, plan_id="p1")
    hold_pause = Hold(charge=False, since=NOW, plan_id="p1")
    against_pause = decide(snap(status_id, status), PAUSE, None, LIMITS, hold_charge)
    against_charge = decide(snap(status_id, status), CHARGE, None, LIMITS, hold_pause)

    assert CommandKind.PAUSE not in kinds(against_pause)
    assert CommandKind.RESUME not in kinds(against_charge)
    assert CommandKind.SET_MAX_CURRENT not in kinds(against_charge)


@pytest.mark.parametrize(
    ("status_id", "expected"),
    [(i, True) for i in ENABLED_IDS]
    + [(i, False) for i in DISABLED_IDS]
    + [(i, None) for i in (*INERT_IDS, 210)],
)
def test_is_enabled_per_status_id(status_id, expected):
    """Enabled where HA's switch is on, disabled where paused or scheduled, else meaningless."""
    assert expected == is_enabled(STATUS_TABLE[status_id])


def test_a_pause_by_hand_after_the_daemons_command_is_the_users():
    """Charger paused although the daemon last resumed it, nothing pending: a manual change."""
    baseline = Baseline(enabled=True, current_a=16, command_at=NOW - timedelta(seconds=30))

    change = detect_manual_change(snap(182, ChargerStatus.PAUSED), baseline)

    assert ManualChange(enabled=False) == change


def test_a_lagging_reading_while_our_command_is_pending_is_not_the_users():
    """A resume of ours still pending: a reading that still shows paused is no change."""
    baseline = Baseline(enabled=True, current_a=16, command_at=NOW - timedelta(seconds=150))
    pending = [pending_after_send(Command(CommandKind.RESUME), NOW - timedelta(seconds=150))]

    change = detect_manual_change(snap(182, ChargerStatus.PAUSED), baseline, pending)
    kept = observed_baseline(snap(182, ChargerStatus.PAUSED, current_a=12), baseline, pending)

    assert None is change
    assert Baseline(True, 12, baseline.command_at) == kept


def test_an_energy_cost_write_explains_nothing_about_charging():
    """A pause seconds after an energy-cost write is the user's (issue 11 §5).

    The write neither opens a settle window nor is it pending; a current change pending
    explains the current only.
    """
    resumed = after_command(Baseline(), Command(CommandKind.RESUME), NOW - timedelta(minutes=30))
    baseline = after_command(resumed, Command(CommandKind.SET_ENERGY_COST, 0.31), NOW)
    pending = [pending_after_send(Command(CommandKind.SET_MAX_CURRENT, 10.0), NOW)]

    change = detect_manual_change(snap(182, ChargerStatus.PAUSED), baseline, pending)

    assert resumed == baseline
    assert ManualChange(enabled=False) == change


def test_nothing_counts_as_manual_before_the_daemon_has_a_baseline():
    """With no baseline (start-up, new plan) nothing is manual: the plan is applied."""
    assert detect_manual_change(snap(182, ChargerStatus.PAUSED), Baseline()) is None


def test_a_current_set_by_hand_is_detected():
    """A current different from the one the daemon set is the user's."""
    baseline = Baseline(enabled=True, current_a=16, command_at=None)

    change = detect_manual_change(snap(194, ChargerStatus.CHARGING, current_a=10), baseline)

    assert ManualChange(current_a=10) == change


def test_car_becoming_full_is_no_manual_change():
    """Charging -> waiting for car demand stays enabled: not the user's doing."""
    baseline = Baseline(enabled=True, current_a=16)

    assert detect_manual_change(snap(181, ChargerStatus.WAITING_FOR_CAR_DEMAND), baseline) is None


def test_baseline_follows_commands_and_settled_readings():
    """A command sets the baseline; a settled reading that sent nothing replaces it."""
    b = after_command(Baseline(), Command(CommandKind.SET_MAX_CURRENT, 10.0), NOW)
    b = after_command(b, Command(CommandKind.RESUME), NOW)
    seen = observed_baseline(snap(182, ChargerStatus.PAUSED, current_a=12), b)

    assert Baseline(True, 10, NOW) == b
    assert Baseline(False, 12, NOW) == seen


@pytest.mark.parametrize(
    ("status", "error_for_min", "last_restart_h", "enabled", "in_session", "expected"),
    [
        (ChargerStatus.ERROR, 10, None, True, True, True),
        (ChargerStatus.ERROR, 9, None, True, True, False),
        (ChargerStatus.ERROR, 60, 5.9, True, True, False),
        (ChargerStatus.ERROR, 60, 6.0, True, True, True),
        (ChargerStatus.ERROR, 60, None, False, True, False),
        (ChargerStatus.ERROR, 60, None, True, False, False),
        (ChargerStatus.UPDATING, 60, None, True, True, False),
        (ChargerStatus.CHARGING, 60, None, True, True, False),
    ],
)
def test_restart_on_error_rule(
    status, error_for_min, last_restart_h, enabled, in_session, expected
):
    """Restart after 10 min in error, once per 6 h at most, if enabled, never while updating."""
    last = None if last_restart_h is None else NOW - timedelta(hours=last_restart_h)

    result = should_restart(
        status,
        NOW - timedelta(minutes=error_for_min),
        last,
        NOW,
        enabled=enabled,
        in_session=in_session,
    )

    assert expected == result


# -- pending commands (issue 16 §4) ---------------------------------------------------------


def test_the_pending_deadline_is_several_minutes_and_one_resend():
    """Not a fixed 2-minute window: room for a 60 s lag, a 30 s sync and a 180 s poll."""
    assert timedelta(minutes=4) < PENDING_DEADLINE <= timedelta(minutes=10)
    assert 2 == MAX_SENDS


def test_a_reading_that_shows_the_command_confirms_it():
    """A pause pending: a later reading showing paused confirms it; charging keeps it pending."""
    sent = NOW - timedelta(seconds=150)
    pause = pending_after_send(Command(CommandKind.PAUSE), sent)

    shown = review_pending([pause], snap(182, ChargerStatus.PAUSED), NOW)
    not_yet = review_pending([pause], snap(194, ChargerStatus.CHARGING), NOW)

    assert ((), (pause,), ()) == (shown.pending, shown.confirmed, shown.not_applied)
    assert ((pause,), (), ()) == (not_yet.pending, not_yet.confirmed, not_yet.not_applied)


def test_a_reading_from_before_the_command_confirms_nothing():
    """A stored reading older than the command cannot show it."""
    pause = pending_after_send(Command(CommandKind.PAUSE), NOW + timedelta(seconds=1))

    review = review_pending([pause], snap(182, ChargerStatus.PAUSED), NOW + timedelta(seconds=2))

    assert (pause,) == review.pending


def test_past_its_deadline_only_a_reading_taken_after_it_says_not_applied():
    """The deadline passed: a reading from before it says nothing; a re-read after it does."""
    current = pending_after_send(Command(CommandKind.SET_MAX_CURRENT, 10.0), NOW)
    after_deadline = NOW + PENDING_DEADLINE
    stale = snap(194, ChargerStatus.CHARGING)
    fresh = replace(stale, fetched_at=after_deadline)

    waiting = review_pending([current], stale, after_deadline)
    expired = review_pending([current], fresh, after_deadline)
    given_up = review_pending([replace(current, gave_up=True)], fresh, after_deadline)

    assert (current,) == waiting.pending
    assert (current,) == expired.not_applied
    assert () == given_up.not_applied


def test_a_pending_command_is_not_sent_again():
    """decide() asks for the pending pause again: it is dropped; other commands go out."""
    pause = Command(CommandKind.PAUSE)
    cost = Command(CommandKind.SET_ENERGY_COST, 0.31)

    kept = without_pending([pause, cost], [pending_after_send(pause, NOW)])

    assert (cost,) == kept


def test_an_offline_reading_past_the_deadline_keeps_the_command_pending():
    """Offline (or unknown) the charger cannot show the command: it is not judged yet."""
    pause = pending_after_send(Command(CommandKind.PAUSE), NOW)
    later = NOW + PENDING_DEADLINE
    offline = replace(snap(0, ChargerStatus.OFFLINE), fetched_at=later)

    review = review_pending([pause], offline, later)

    assert ((pause,), ()) == (review.pending, review.not_applied)
