"""The commands of a tick, pure: what to send, what a sent or failed one changes, on exit.

``commands_for`` asks ``decide`` what brings the charger to the plan (or restarts a charger
stuck in error), less what is still pending and what the charger's link does not carry (no
energy cost or restart without ``ChargerCapabilities`` for them); the runtime sends them one by
one and folds each answer in with ``after_sent`` or ``after_failed``. ``resume_on_exit`` is the
on-exit rule.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from smartcharge.domain import ChargerSnapshot, Command, CommandKind, PriceCurve
from smartcharge.domain import energy_cost_cents as cents
from smartcharge.session.accounting import TARGET_TOLERANCE_KWH
from smartcharge.session.decide import (
    ENERGY_COST_MAX_EUR_PER_KWH,
    ENERGY_COST_MIN_EUR_PER_KWH,
    accepted_energy_cost,
    after_command,
    decide,
    is_enabled,
    observed_baseline,
    pending_after_send,
    should_restart,
    without_pending,
)
from smartcharge.session.events import Event, Level, event
from smartcharge.session.model import (
    CommandReason,
    DaemonState,
    SentCommand,
    SessionState,
    aspect_of,
)
from smartcharge.session.planning import current_slot
from smartcharge.session.rules import OnExitRule, OverrideRule, Rules
from smartcharge.session.steering import SteerMode

EVENTS = {
    CommandKind.RESUME: "charger_resumed",
    CommandKind.PAUSE: "charger_paused",
    CommandKind.SET_MAX_CURRENT: "charger_current_set",
    CommandKind.SET_ENERGY_COST: "energy_cost_set",
    CommandKind.RESTART: "charger_restarted",
    CommandKind.LOCK: "charger_locked",
    CommandKind.UNLOCK: "charger_unlocked",
}


def commands_for(
    state: DaemonState,
    snapshot: ChargerSnapshot,
    now: datetime,
    prices: PriceCurve,
    rules: Rules,
) -> tuple[DaemonState, tuple[Command, ...], tuple[Event, ...]]:
    """Return the commands that bring the charger to the plan now (none already pending)."""
    session = state.session
    assert session is not None
    if should_restart(
        snapshot.status,
        session.error_since,
        state.last_restart_at,
        now,
        enabled=rules.restart_on_error and rules.capabilities.restart,
        in_session=True,
    ):
        return state, (Command(CommandKind.RESTART),), ()
    hold = session.hold if rules.manual_override is OverrideRule.RESPECT else None
    price = prices.price_at(now) if rules.capabilities.energy_cost else None
    state, events = _note_energy_cost_clamp(state, price)
    commands = decide(
        snapshot,
        current_slot(session, now, rules),
        price,
        rules.limits(session.user_max_current_a),
        hold,
        state.refused_energy_cost,
    )
    # A command given up on stays given up only while the plan asks for the same.
    pending = tuple(p for p in session.pending if not p.gave_up or p.command in commands)
    session = replace(session, pending=pending)
    # A pending command is never sent again (it may still take effect).
    return replace(state, session=session), without_pending(commands, pending), events


def _note_energy_cost_clamp(
    state: DaemonState, price: float | None
) -> tuple[DaemonState, tuple[Event, ...]]:
    """Log ``energy_cost_clamped`` once when the price leaves the range the cloud accepts."""
    clamped = price is not None and accepted_energy_cost(price) != cents(price)
    events: tuple[Event, ...] = ()
    if clamped and not state.energy_cost_clamped and price is not None:
        events = (
            event(
                "energy_cost_clamped",
                Level.WARNING,
                price_eur_per_kwh=round(price, 5),
                energy_cost_eur_per_kwh=accepted_energy_cost(price),
                accepted_min_eur_per_kwh=ENERGY_COST_MIN_EUR_PER_KWH,
                accepted_max_eur_per_kwh=ENERGY_COST_MAX_EUR_PER_KWH,
            ),
        )
    return replace(state, energy_cost_clamped=clamped), events


def settled(state: DaemonState, snapshot: ChargerSnapshot) -> DaemonState:
    """Return the state after a tick that sent nothing: the baseline is what the charger shows."""
    session = state.session
    if session is None:
        return state
    baseline = observed_baseline(snapshot, session.baseline, session.pending)
    return replace(state, session=replace(session, baseline=baseline))


def _track_pending(
    session: SessionState, command: Command, sent_at: datetime, sends: int
) -> SessionState:
    """Keep ``command`` pending until a reading shows it (it replaces one of the same kind)."""
    aspect = aspect_of(command)
    if aspect is None:
        return session
    pending = tuple(p for p in session.pending if p.aspect is not aspect)
    return replace(session, pending=(*pending, pending_after_send(command, sent_at, sends)))


def after_sent(
    state: DaemonState,
    command: Command,
    sent_at: datetime,
    at: datetime,
    reason: CommandReason,
    sends: int = 1,
) -> DaemonState:
    """Return the state once the cloud accepted ``command``.

    Args:
        state: the state before.
        command: the command.
        sent_at: when it was sent.
        at: when the answer came.
        reason: why it was sent.
        sends: how many times it has now been sent (2: once more after it was not applied).
    """
    sent = SentCommand(at, command, reason)
    state = replace(state, last_command=sent)
    if command.kind is CommandKind.SET_ENERGY_COST:
        state = replace(state, refused_energy_cost=None)
    if command.kind is CommandKind.RESTART:
        state = replace(state, last_restart_at=at, restarted_at=at)
    session = state.session
    if session is not None:
        session = replace(
            session,
            commands=(*session.commands, sent),
            baseline=after_command(session.baseline, command, at),
        )
        session = _track_pending(session, command, sent_at, sends)
        state = replace(state, session=session)
    return state


def after_failed(
    state: DaemonState,
    command: Command,
    sent_at: datetime,
    *,
    refused: bool,
    outcome_unknown: bool,
    sends: int = 1,
) -> DaemonState:
    """Return the state once sending ``command`` failed.

    Args:
        state: the state before.
        command: the command.
        sent_at: when it was sent.
        refused: the cloud refused it (an energy cost it refuses is not sent again).
        outcome_unknown: it may have reached the charger: pending, like an accepted one.
        sends: how many times it has now been sent.
    """
    if command.kind is CommandKind.SET_ENERGY_COST and refused:
        state = replace(state, refused_energy_cost=command.value)
    session = state.session
    if session is not None and outcome_unknown:
        session = replace(session, baseline=after_command(session.baseline, command, sent_at))
        session = _track_pending(session, command, sent_at, sends)
        state = replace(state, session=session)
    return state


def command_event(
    state: DaemonState, command: Command, at: datetime, reason: CommandReason, prices: PriceCurve
) -> Event:
    """Return the event that logs a command the cloud accepted."""
    price_slot = prices.slot_at(at)
    data: dict[str, Any] = {"reason": reason.value}
    if price_slot is not None:
        data["slot_start"] = price_slot.start.isoformat()
        data["slot_end"] = price_slot.end.isoformat()
        data["price_eur_per_kwh"] = round(price_slot.price_eur_per_kwh, 5)
    session = state.session
    if session is not None:
        data["delivered_kwh"] = round(session.delivered_kwh, 3)
        data["remaining_kwh"] = round(session.remaining_kwh, 3)
    if command.kind is CommandKind.SET_MAX_CURRENT:
        data["current_a"] = command.value
    elif command.kind is CommandKind.SET_ENERGY_COST:
        data["energy_cost_eur_per_kwh"] = command.value
    elif command.kind is CommandKind.RESTART:
        last = state.last_status
        data["status"] = None if last is None else last.status.value
        data["status_id"] = None if last is None else last.status_id
    return event(EVENTS[command.kind], **data)


def may_resume_on_exit(state: DaemonState, rules: Rules) -> bool:
    """Return whether the on-exit rule applies to the session.

    It does to a session whose need is not met, that the user did not pause by hand (this
    run's hold, or the one carried over from the last run) and did not switch off
    (``smartcharge plan --off``: the user's no, like a pause by hand; a restart keeps it).
    """
    session = state.session
    if session is None or rules.on_exit is not OnExitRule.RESUME:
        return False
    if session.mode is SteerMode.OFF:
        return False
    hold = session.hold if session.hold is not None else session.carried_hold
    return not (
        session.remaining_kwh <= TARGET_TOLERANCE_KWH or (hold is not None and not hold.charge)
    )


def resume_on_exit(state: DaemonState, snapshot: ChargerSnapshot | None) -> bool:
    """Return whether to resume on exit, given what the charger is known to do (None: unknown).

    A paused charger, one whose state is unknown, or one with a pause of ours still pending
    (it may take effect after we are gone) is resumed: a stopped daemon must not strand a car.
    """
    session = state.session
    pause_pending = session is not None and any(
        p.command.kind is CommandKind.PAUSE for p in session.pending
    )
    return snapshot is None or is_enabled(snapshot.status) is False or pause_pending


def tick_completed(
    snapshot: ChargerSnapshot, session: SessionState | None, commands: tuple[Command, ...]
) -> Event:
    """Return the tick's summary line (STYLE.md §9: one canonical line per tick)."""
    return event(
        "tick_completed",
        status=snapshot.status.value,
        status_id=snapshot.status_id,
        power_kw=snapshot.charging_power_kw,
        session=None if session is None else session.session_id,
        delivered_kwh=None if session is None else round(session.delivered_kwh, 3),
        commands=[str(c) for c in commands],
    )
