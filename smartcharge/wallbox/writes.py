"""What a command is on the wire, and what the charger is after the cloud accepted it.

Pure functions of the command, the snapshot before and the write's answer: which call sends a
command (``write_for``), whether a snapshot already shows it (``command_satisfied``), and the
snapshot a successful write implies (``after_write``), confirmed or not.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import structlog

from smartcharge.domain import (
    ChargerSnapshot,
    ChargerStatus,
    Command,
    CommandKind,
    same_energy_cost,
)
from smartcharge.wallbox.errors import WallboxResponseError
from smartcharge.wallbox.limiter import CallKind
from smartcharge.wallbox.models import (
    ChargerUpdateResponse,
    ConfigResponse,
    RemoteAction,
    RemoteActionResponse,
    parse,
    status_from_id,
)
from smartcharge.wallbox.transport import API, Endpoint

log = structlog.get_logger(__name__)

__all__ = ["after_write", "command_satisfied", "write_for"]


def command_satisfied(snapshot: ChargerSnapshot, command: Command) -> bool:
    """Return whether ``snapshot`` already shows what ``command`` asks for.

    A restart is never "already done".
    """
    kind = command.kind
    if kind is CommandKind.PAUSE:
        return snapshot.status is ChargerStatus.PAUSED
    if kind is CommandKind.RESUME:
        return snapshot.status in (
            ChargerStatus.CHARGING,
            ChargerStatus.DISCHARGING,
            ChargerStatus.WAITING_FOR_CAR_DEMAND,
            ChargerStatus.WAITING,
        )
    if kind is CommandKind.LOCK:
        return snapshot.locked
    if kind is CommandKind.UNLOCK:
        return not snapshot.locked
    if kind is CommandKind.SET_MAX_CURRENT:
        return command.value is not None and snapshot.max_charging_current_a == int(command.value)
    if kind is CommandKind.SET_ENERGY_COST:
        return (
            command.value is not None
            and snapshot.energy_cost_eur_per_kwh is not None
            and same_energy_cost(snapshot.energy_cost_eur_per_kwh, command.value)
        )
    return False


def _reported(
    before: ChargerSnapshot, status_id: int | None, at: datetime
) -> ChargerSnapshot | None:
    """Return ``before`` with the status a remote-action answer reports, or None without one."""
    if status_id is None:
        return None
    status = status_from_id(status_id)
    return ChargerSnapshot(
        charger_id=before.charger_id,
        status=status,
        status_id=status_id,
        charging_power_kw=before.charging_power_kw if status.is_charging else 0.0,
        added_energy_kwh=before.added_energy_kwh,
        max_charging_current_a=before.max_charging_current_a,
        max_available_current_a=before.max_available_current_a,
        energy_cost_eur_per_kwh=before.energy_cost_eur_per_kwh,
        locked=before.locked,
        fetched_at=at,
    )


def write_for(command: Command, charger_id: int) -> tuple[Endpoint, dict[str, Any]]:
    """Return the call that sends ``command`` to ``charger_id``, and its JSON body."""
    kind = command.kind
    action = kind.value
    if kind in (CommandKind.RESUME, CommandKind.PAUSE, CommandKind.RESTART):
        code = {
            CommandKind.RESUME: RemoteAction.RESUME,
            CommandKind.PAUSE: RemoteAction.PAUSE,
            CommandKind.RESTART: RemoteAction.RESTART,
        }[kind]
        path = f"v3/chargers/{charger_id}/remote-action"
        return Endpoint("POST", API, path, CallKind.WRITE, action), {"action": int(code)}
    if kind in (CommandKind.LOCK, CommandKind.UNLOCK):
        body = {"locked": 1 if kind is CommandKind.LOCK else 0}
        return Endpoint("PUT", API, f"v2/charger/{charger_id}", CallKind.WRITE, action), body
    assert command.value is not None
    if kind is CommandKind.SET_MAX_CURRENT:
        body = {"maxChargingCurrent": int(command.value)}
        return Endpoint("PUT", API, f"v2/charger/{charger_id}", CallKind.WRITE, action), body
    path = f"chargers/config/{charger_id}"
    return Endpoint("POST", API, path, CallKind.WRITE, action), {"energyCost": command.value}


def after_write(
    command: Command, before: ChargerSnapshot, answer: Any, endpoint: Endpoint, now: datetime
) -> tuple[ChargerSnapshot, bool]:
    """Return the snapshot a successful write's answer implies, and whether it is sure.

    The command went through (2xx), so an answer we cannot parse must not fail it: we then
    infer the new state from the command itself and say so in the log.

    The remote-action answer is unpublished (wallbox-api.md §4.4: HA's test mock is
    ``{"status_id": 193}``). Its ``status_id`` is used only when it confirms the command
    (a paused id after a pause, a charging or waiting id after a resume); otherwise the
    outcome is unknown until the next read, and ``before`` comes back unconfirmed (not
    stored, so the next status call reads the charger). Never sent again in between.
    """
    kind = command.kind
    try:
        if kind in (CommandKind.LOCK, CommandKind.UNLOCK, CommandKind.SET_MAX_CURRENT):
            after = parse(ChargerUpdateResponse, answer, endpoint.name).to_domain(before, now)
            return after, True
        if kind is CommandKind.SET_ENERGY_COST:
            return parse(ConfigResponse, answer, endpoint.name).to_domain(before, now), True
        status_id = parse(RemoteActionResponse, answer, endpoint.name).status_id
    except WallboxResponseError as err:
        log.warning("wallbox_write_answer_unexpected", endpoint=endpoint.name, field=err.field)
        status_id = None
    if kind in (CommandKind.PAUSE, CommandKind.RESUME):
        reported = _reported(before, status_id, now)
        if reported is not None and command_satisfied(reported, command):
            return reported, True
        log.info(
            "wallbox_command_unconfirmed",
            command=str(command),
            status_id=status_id,
            outcome="unknown until the next reading",
        )
        return before, False
    # A restart, or a write whose answer could not be read: inferred from the command.
    if status_id is None:
        status_id = before.status_id
    locked = before.locked
    if kind in (CommandKind.LOCK, CommandKind.UNLOCK):
        locked = kind is CommandKind.LOCK
    current = before.max_charging_current_a
    if kind is CommandKind.SET_MAX_CURRENT and command.value is not None:
        current = int(command.value)
    cost = before.energy_cost_eur_per_kwh
    if kind is CommandKind.SET_ENERGY_COST:
        cost = command.value
    status = status_from_id(status_id)
    return (
        ChargerSnapshot(
            charger_id=before.charger_id,
            status=status,
            status_id=status_id,
            charging_power_kw=before.charging_power_kw if status.is_charging else 0.0,
            added_energy_kwh=before.added_energy_kwh,
            max_charging_current_a=current,
            max_available_current_a=before.max_available_current_a,
            energy_cost_eur_per_kwh=cost,
            locked=locked,
            fetched_at=now,
        ),
        True,
    )
