"""One reconcile step: what the charger should be told, and the rules around it.

``decide()`` is pure: from what the charger reports, the plan's current slot and the current
all-in price it returns the commands that bring the charger there, ``()`` when it already is.
The daemon sends them (``Daemon._send``). The values it reads and returns (``Limits``,
``Hold``, ``Baseline``, ``PendingCommand``) are in ``smartcharge.session.model``.

The status groups (wallbox-api.md §5) and what ``decide()`` does in each:

==========================  =======================================================
group (status ids)          commands
==========================  =======================================================
CHARGING (193-195)          enabled: PAUSE when the slot is paused; current; cost
WAITING (164, 183-189)      enabled (HA's switch is "on"): as CHARGING
WAITING_FOR_CAR_DEMAND      enabled (180, 181): as CHARGING
PAUSED (178, 182)           disabled: RESUME when the slot charges; current; cost
SCHEDULED (177, 179)        disabled: as PAUSED
LOCKED_CAR_CONNECTED (210)  energy cost only: never unlocks (that is the user's choice)
DISCHARGING (196)           nothing: bidirectional operation is left to the user
READY, LOCKED (161-163,     nothing: no car, so no session; never RESUME
165, 209)
OFFLINE, UNKNOWN (0, other) nothing: the charger cannot be reached
ERROR (14, 15), UPDATING    nothing (a charger in error may be restarted, see
(166)                       ``should_restart``; never while updating)
==========================  =======================================================

**Pending commands.** A real charger applies a pause, resume or current change 20-60 s after
the cloud accepted it, and readings in between show the old state. So every such command the
daemon sends stays *pending* (``PendingCommand``, saved with the session) until a reading shows
its effect or ``PENDING_DEADLINE`` passes. While it is pending it is never sent again and a
reading that does not show it yet is not taken for the user's. If the deadline passes and a
reading taken after it still does not show it, it is sent once more (``command_not_applied``);
if that one never shows either, the daemon stops sending it (``command_not_applied`` again,
``gave_up``) and takes the reading for the truth, until the plan asks for something else.
The five minutes are of passing time: when the wall clock steps (NTP, a VM resume) the daemon
moves every pending command's instants by the step (``pending_rebased``), so a step back
neither strands a command for the size of the step nor a step forward sends one again early.

**The manual-override rule.** Only a change made by hand *after* the daemon's own last
command counts as the user's choice: the daemon remembers what it last brought the charger to
(``Baseline``) and compares each new reading with it. A pause or resume that differs from the
baseline, with no pause or resume of the daemon's own pending, is the user's; likewise a current
with no current change pending. Only a command that changes the same thing can explain a
reading: an energy-cost write explains nothing about charging. With
``SMARTCHARGE_MANUAL_OVERRIDE=respect`` (the default) the daemon keeps that choice (a ``Hold``)
until the next plan change (new prices, a new session, a restart of the daemon) and logs it;
with ``ignore`` it brings the charger back to the plan at once. A current set by hand becomes
the session's upper limit and triggers a re-plan (``ignore``: the plan's current wins).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from smartcharge.domain import (
    ChargerSnapshot,
    ChargerStatus,
    Command,
    CommandKind,
    energy_cost_cents,
    same_energy_cost,
)
from smartcharge.session.model import Aspect, Baseline, Hold, Limits, PendingCommand
from strategies.base import PlanSlot

# The daemon keeps the energy cost right to the cent (domain.energy_cost_cents): it sends the
# price rounded to cents, and only when the cents differ.
# The range the cloud accepts: the app and HA's number entity offer -5...5 (wallbox-api.md §4.5)
# and the cloud answers HTTP 400 above 5 EUR/kWh. An all-in price outside it is sent clamped.
ENERGY_COST_MIN_EUR_PER_KWH = -5.0
ENERGY_COST_MAX_EUR_PER_KWH = 5.0
# How long after the daemon's own command a power reading may still show the state before it
# (the measured-power re-plan waits this long): the charger syncs to the cloud every ~30 s
# (``live_refresh_time``, wallbox-api.md §4.2) and the poll runs every 60-120 s (§9).
COMMAND_SETTLE = timedelta(minutes=2)
# How long a pause, resume or current change may take to show in a reading before it counts as
# not applied. The charger applies a command 20-60 s after the cloud accepts it (issue 16 §3),
# then syncs to the cloud within ~30 s (``live_refresh_time``, §4.2), and the poll reads every
# 60-120 s (§9; 180 s after a 403 back-off): the first reading that can show it comes up to
# 60 + 30 + 180 = 270 s after sending. Five minutes leaves room for that reading; a fixed
# 2-minute window took a 150 s lag for the user's pause (issue 16 §4 c).
PENDING_DEADLINE = timedelta(minutes=5)
# A command that never shows is sent this many times in all: the first time and once more.
MAX_SENDS = 2
# A charger that stays in error this long during a session is restarted (issue 6 §6) ...
RESTART_AFTER_ERROR = timedelta(minutes=10)
# ... at most this often, so a charger that keeps failing is not rebooted in a loop.
RESTART_MIN_INTERVAL = timedelta(hours=6)
# A plan's float current within this of a whole amp is that amp (avoids ceil(6.0000001) = 7).
_CURRENT_EPSILON_A = 1e-6

_ENABLED = frozenset(
    {ChargerStatus.CHARGING, ChargerStatus.WAITING, ChargerStatus.WAITING_FOR_CAR_DEMAND}
)
_DISABLED = frozenset({ChargerStatus.PAUSED, ChargerStatus.SCHEDULED})
_COST_SETTABLE = frozenset({*_ENABLED, *_DISABLED, ChargerStatus.LOCKED_CAR_CONNECTED})


def shows(snapshot: ChargerSnapshot, command: Command) -> bool:
    """Return whether a reading shows ``command``'s effect."""
    if command.kind is CommandKind.PAUSE:
        return is_enabled(snapshot.status) is False
    if command.kind is CommandKind.RESUME:
        return is_enabled(snapshot.status) is True
    if command.kind is CommandKind.SET_MAX_CURRENT and command.value is not None:
        return snapshot.max_charging_current_a == round(command.value)
    return False


def pending_after_send(command: Command, sent_at: datetime, sends: int = 1) -> PendingCommand:
    """Return the pending record of ``command`` sent at ``sent_at`` (the ``sends``-th time)."""
    return PendingCommand(command, sent_at, sent_at + PENDING_DEADLINE, sends)


def pending_rebased(
    pending: Sequence[PendingCommand], step: timedelta
) -> tuple[PendingCommand, ...]:
    """Return ``pending`` after the wall clock stepped by ``step``: every instant moved with it.

    ``sent_at`` and ``deadline_at`` were read on the wall clock before the step; moved by the
    step they stand where they would have been on the new clock, so a reading taken after the
    step can confirm the command and its deadline comes after ``PENDING_DEADLINE`` of passing
    time, whichever way the clock went.
    """
    return tuple(
        replace(p, sent_at=p.sent_at + step, deadline_at=p.deadline_at + step) for p in pending
    )


@dataclass(frozen=True, slots=True)
class PendingReview:
    """What one reading says about the pending commands (``review_pending``).

    Attributes:
        pending: still pending (or given up), in order.
        confirmed: shown by the reading.
        not_applied: past their deadline and not shown by a reading taken after it.
    """

    pending: tuple[PendingCommand, ...]
    confirmed: tuple[PendingCommand, ...]
    not_applied: tuple[PendingCommand, ...]


def review_pending(
    pending: Sequence[PendingCommand], snapshot: ChargerSnapshot, now: datetime
) -> PendingReview:
    """Sort the pending commands by what ``snapshot`` (read at or before ``now``) shows.

    Only a reading taken after the command was sent can confirm it, and only one taken after
    its deadline can say it was not applied (that is the re-read), and only in a state where
    the command could show (a car connected; not offline, unknown, in error or updating):
    until then it stays pending.
    """
    kept: list[PendingCommand] = []
    confirmed: list[PendingCommand] = []
    not_applied: list[PendingCommand] = []
    for p in pending:
        if snapshot.fetched_at >= p.sent_at and shows(snapshot, p.command):
            confirmed.append(p)
        elif (
            not p.gave_up
            and now >= p.deadline_at
            and snapshot.fetched_at >= p.deadline_at
            and is_enabled(snapshot.status) is not None
        ):
            not_applied.append(p)
        else:
            kept.append(p)
    return PendingReview(tuple(kept), tuple(confirmed), tuple(not_applied))


def without_pending(
    commands: Sequence[Command], pending: Sequence[PendingCommand]
) -> tuple[Command, ...]:
    """Return ``commands`` without those already pending (never sent twice while pending)."""
    held = {p.command for p in pending}
    return tuple(c for c in commands if c not in held)


def pending_aspects(pending: Sequence[PendingCommand]) -> frozenset[Aspect]:
    """Return what the daemon's pending commands (not given up) may still change."""
    return frozenset(p.aspect for p in pending if p.aspect is not None and not p.gave_up)


@dataclass(frozen=True, slots=True)
class ManualChange:
    """A change made by hand, found by ``detect_manual_change``.

    Attributes:
        enabled: the user's pause (False) or resume (True), or None when unchanged.
        current_a: the current the user set, or None when unchanged.
    """

    enabled: bool | None = None
    current_a: int | None = None


def is_enabled(status: ChargerStatus) -> bool | None:
    """Return whether charging is enabled: True, False, or None where that means nothing.

    ``None`` for every state in which pause and resume do not apply: no car, locked, offline,
    in error, updating, unknown or discharging.
    """
    if status in _ENABLED:
        return True
    if status in _DISABLED:
        return False
    return None


def whole_amps(current_a: float, limits: Limits) -> int:
    """Round a plan's float current up to whole amps and clamp it into ``limits``."""
    amps = math.ceil(current_a - _CURRENT_EPSILON_A)
    return max(limits.min_current_a, min(limits.max_current_a, amps))


def accepted_energy_cost(price_eur_per_kwh: float) -> float:
    """Return the energy cost to send for a price: clamped to what the cloud accepts, in cents."""
    clamped = min(ENERGY_COST_MAX_EUR_PER_KWH, max(ENERGY_COST_MIN_EUR_PER_KWH, price_eur_per_kwh))
    return energy_cost_cents(clamped)


def energy_cost_differs(reported: float | None, price_eur_per_kwh: float) -> bool:
    """Return whether the charger's energy cost must be updated to ``price_eur_per_kwh``."""
    if reported is None:
        return True
    return not same_energy_cost(reported, price_eur_per_kwh)


def decide(
    snapshot: ChargerSnapshot,
    slot: PlanSlot | None,
    price_eur_per_kwh: float | None,
    limits: Limits,
    hold: Hold | None = None,
    refused_energy_cost: float | None = None,
) -> tuple[Command, ...]:
    """Return the commands that make the charger do what the plan wants; ``()`` if it does.

    Args:
        snapshot: what the charger reports now.
        slot: the plan's slot containing now; ``None`` leaves pause/resume and current as they
            are (no opinion).
        price_eur_per_kwh: the all-in price of the current price slot, or None when unknown.
        limits: the currents allowed; the installation's own ceiling lowers them further.
        hold: the user's choice made by hand, which wins over ``slot`` for pause/resume.
        refused_energy_cost: an energy cost the cloud refused; it is not sent again.

    Returns:
        The commands, in order: the current before a resume (so charging starts at the right
        current), the pause or resume, then the energy cost.
    """
    status = snapshot.status
    commands: list[Command] = []
    enabled = is_enabled(status)
    if enabled is not None and slot is not None:
        want_charge = slot.is_charging if hold is None else hold.charge
        if want_charge:
            if slot.is_charging:
                amps = whole_amps(slot.current_a, limits.capped(snapshot))
                if amps != snapshot.max_charging_current_a:
                    commands.append(Command(CommandKind.SET_MAX_CURRENT, float(amps)))
            if not enabled:
                commands.append(Command(CommandKind.RESUME))
        elif enabled:
            commands.append(Command(CommandKind.PAUSE))
    cost = None if price_eur_per_kwh is None else accepted_energy_cost(price_eur_per_kwh)
    if (
        status in _COST_SETTABLE
        and cost is not None
        and cost != refused_energy_cost
        and energy_cost_differs(snapshot.energy_cost_eur_per_kwh, cost)
    ):
        commands.append(Command(CommandKind.SET_ENERGY_COST, cost))
    return tuple(commands)


def detect_manual_change(
    snapshot: ChargerSnapshot,
    baseline: Baseline,
    pending: Sequence[PendingCommand] = (),
) -> ManualChange | None:
    """Return what the user changed by hand since the daemon's baseline, or None.

    Only a pending command that changes the same thing explains a reading: while a pause or
    resume of the daemon's is pending, the enabled state is not judged; while a current change
    is pending, the current is not. Nothing counts while the baseline is unknown (start-up, a
    new plan, a new session: then the daemon brings the charger to the plan instead).
    """
    busy = pending_aspects(pending)
    enabled = is_enabled(snapshot.status)
    changed_enabled = (
        enabled
        if Aspect.ENABLED not in busy
        and enabled is not None
        and baseline.enabled is not None
        and enabled != baseline.enabled
        else None
    )
    changed_current = (
        snapshot.max_charging_current_a
        if Aspect.CURRENT not in busy
        and enabled is not None
        and baseline.current_a is not None
        and snapshot.max_charging_current_a > 0
        and snapshot.max_charging_current_a != baseline.current_a
        else None
    )
    if changed_enabled is None and changed_current is None:
        return None
    return ManualChange(enabled=changed_enabled, current_a=changed_current)


def observed_baseline(
    snapshot: ChargerSnapshot, baseline: Baseline, pending: Sequence[PendingCommand] = ()
) -> Baseline:
    """Return the baseline after a tick that sent nothing: what the charger now shows.

    What a pending command of the daemon's changes keeps what that command asked for, so a
    reading that lags behind it is not taken for the truth.
    """
    enabled = is_enabled(snapshot.status)
    if enabled is None:
        return baseline
    busy = pending_aspects(pending)
    current = snapshot.max_charging_current_a if snapshot.max_charging_current_a > 0 else None
    return Baseline(
        enabled=baseline.enabled if Aspect.ENABLED in busy else enabled,
        current_a=baseline.current_a if Aspect.CURRENT in busy else current,
        command_at=baseline.command_at,
    )


def after_command(baseline: Baseline, command: Command, at: datetime) -> Baseline:
    """Return the baseline once ``command`` has been accepted at ``at``.

    An energy-cost write changes nothing the manual-override rule looks at.
    """
    if command.kind is CommandKind.RESUME:
        return Baseline(True, baseline.current_a, at)
    if command.kind is CommandKind.PAUSE:
        return Baseline(False, baseline.current_a, at)
    if command.kind is CommandKind.SET_MAX_CURRENT and command.value is not None:
        return Baseline(baseline.enabled, round(command.value), at)
    if command.kind is CommandKind.SET_ENERGY_COST:
        return baseline
    return Baseline(baseline.enabled, baseline.current_a, at)


def should_restart(
    status: ChargerStatus,
    error_since: datetime | None,
    last_restart_at: datetime | None,
    now: datetime,
    *,
    enabled: bool,
    in_session: bool,
) -> bool:
    """Return whether a charger in error should be restarted now (remote action 3).

    Only with ``SMARTCHARGE_RESTART_ON_ERROR=true``, during a session, after
    ``RESTART_AFTER_ERROR`` in error, at most once per ``RESTART_MIN_INTERVAL``, and never while
    updating (an updating charger is not in ERROR; wallbox-api.md §4.4).
    """
    if not (enabled and in_session) or status is not ChargerStatus.ERROR or error_since is None:
        return False
    if now - error_since < RESTART_AFTER_ERROR:
        return False
    return last_restart_at is None or now - last_restart_at >= RESTART_MIN_INTERVAL
