"""The daemon's persistent state: the session in progress and what the daemon last did.

One versioned, checksummed JSON document, ``<state dir>/state.json``, written atomically with a
``.bak`` copy (``smartcharge.storage``). It holds everything needed to carry on after a restart
or a crash at any instant: the session (plug-in time, need, plan, delivered energy, energy per
price slot, every command sent with its time and reason), the daemon's baseline for the
manual-override rule, the user's hold, and the last contact with the cloud and with ENTSO-E.

A corrupt file (its checksum or its content does not parse) is moved aside
(``state_file_corrupt`` is logged) and the ``.bak`` copy or a fresh state is used: never a crash
loop. A file that cannot be *read* (permission denied, an I/O error) is not corrupt: ``load``
raises ``StateIOError`` and leaves it alone, so the daemon exits 2 at start instead of starting
the session again from zero. Prices and the token have their own files (the price cache and the
token store).

Version history: 1 is the first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import structlog

from smartcharge.clock import Clock
from smartcharge.controller import Baseline, Hold, PendingCommand
from smartcharge.domain import Command, CommandKind
from smartcharge.errors import StateError
from smartcharge.storage import StateDisk, load_document, move_aside, save_document
from strategies.base import Plan, PlanSlot

log = structlog.get_logger(__name__)

STATE_FILE = "state.json"
STATE_KIND = "smartcharge-state"
STATE_VERSION = 1
# Keep the command log of a session bounded: a session sends a few dozen commands a night.
MAX_COMMANDS_KEPT = 500


def dt_to_json(value: datetime | None) -> str | None:
    """Return an ISO-8601 string (UTC) or None."""
    return None if value is None else value.isoformat()


def dt_from_json(value: Any) -> datetime | None:
    """Parse what ``dt_to_json`` wrote."""
    if value is None:
        return None
    parsed = datetime.fromisoformat(str(value))
    if parsed.tzinfo is None:
        raise ValueError(f"naive datetime in state: {value!r}")
    return parsed


def dt_required(value: Any) -> datetime:
    """Parse a datetime that must be there.

    Raises:
        ValueError: it is missing or naive.
    """
    parsed = dt_from_json(value)
    if parsed is None:
        raise ValueError("missing datetime in state")
    return parsed


@dataclass(frozen=True, slots=True)
class SentCommand:
    """A command the daemon sent and the cloud accepted.

    Attributes:
        at: when it was accepted (UTC).
        command: what was sent.
        reason: why, in a few words (``plan``, ``on_exit``, ``restart_on_error``, ...).
    """

    at: datetime
    command: Command
    reason: str = "plan"

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-able dict."""
        return {
            "at": dt_to_json(self.at),
            "kind": self.command.kind.value,
            "value": self.command.value,
            "reason": self.reason,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SentCommand:
        """Build from ``to_json`` output."""
        value = data.get("value")
        return cls(
            at=dt_required(data["at"]),
            command=Command(CommandKind(data["kind"]), None if value is None else float(value)),
            reason=str(data.get("reason", "plan")),
        )


@dataclass(frozen=True, slots=True)
class SlotEnergy:
    """Energy delivered within one price slot, with that slot's all-in price.

    Attributes:
        start: the price slot's start (UTC).
        end: the price slot's end (UTC).
        energy_kwh: energy delivered in it.
        price_eur_per_kwh: its all-in price, or None when unknown.
    """

    start: datetime
    end: datetime
    energy_kwh: float
    price_eur_per_kwh: float | None

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-able dict."""
        return {
            "start": dt_to_json(self.start),
            "end": dt_to_json(self.end),
            "energy_kwh": self.energy_kwh,
            "price_eur_per_kwh": self.price_eur_per_kwh,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SlotEnergy:
        """Build from ``to_json`` output."""
        price = data.get("price_eur_per_kwh")
        return cls(
            start=dt_required(data["start"]),
            end=dt_required(data["end"]),
            energy_kwh=float(data["energy_kwh"]),
            price_eur_per_kwh=None if price is None else float(price),
        )


def plan_to_json(plan: Plan) -> dict[str, Any]:
    """Return a JSON-able dict for ``plan``."""
    return {
        "strategy": plan.strategy,
        "cost_eur": plan.cost_eur,
        "energy_kwh": plan.energy_kwh,
        "is_reachable": plan.is_reachable,
        "slots": [
            {
                "start": dt_to_json(s.start),
                "end": dt_to_json(s.end),
                "current_a": s.current_a,
                "energy_kwh": s.energy_kwh,
                "price_eur_per_kwh": s.price_eur_per_kwh,
            }
            for s in plan.slots
        ],
    }


def plan_from_json(data: dict[str, Any]) -> Plan:
    """Build a Plan from ``plan_to_json`` output."""
    slots = tuple(
        PlanSlot(
            start=dt_required(s["start"]),
            end=dt_required(s["end"]),
            current_a=float(s["current_a"]),
            energy_kwh=float(s["energy_kwh"]),
            price_eur_per_kwh=(
                None if s.get("price_eur_per_kwh") is None else float(s["price_eur_per_kwh"])
            ),
        )
        for s in data["slots"]
    )
    return Plan(
        strategy=str(data["strategy"]),
        slots=slots,
        cost_eur=float(data["cost_eur"]),
        energy_kwh=float(data["energy_kwh"]),
        is_reachable=bool(data["is_reachable"]),
    )


@dataclass(slots=True)
class PlanRecord:
    """A plan and what it was made from.

    Attributes:
        plan_id: a unique id (``<made_at>#<n>``); a new plan ends the user's hold.
        plan: the plan.
        made_at: when it was made (UTC).
        reason: why (``session_started``, ``prices_changed``, ``energy_behind``, ...).
        delivered_kwh: the session's delivered energy when it was made.
        measured_power_kw: the car's measured power it assumed, if any.
        immediate_cost_eur: what charging at once would cost for the same energy.
    """

    plan_id: str
    plan: Plan
    made_at: datetime
    reason: str
    delivered_kwh: float
    measured_power_kw: float | None = None
    immediate_cost_eur: float | None = None

    def expected_delivered_kwh(self, now: datetime) -> float:
        """Return the energy the plan expected delivered by ``now`` (since plug-in)."""
        total = self.delivered_kwh
        for s in self.plan.slots:
            if s.end <= now:
                total += s.energy_kwh
            elif s.start < now:
                total += s.energy_kwh * (now - s.start) / (s.end - s.start)
        return total

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-able dict."""
        return {
            "plan_id": self.plan_id,
            "plan": plan_to_json(self.plan),
            "made_at": dt_to_json(self.made_at),
            "reason": self.reason,
            "delivered_kwh": self.delivered_kwh,
            "measured_power_kw": self.measured_power_kw,
            "immediate_cost_eur": self.immediate_cost_eur,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PlanRecord:
        """Build from ``to_json`` output."""
        measured = data.get("measured_power_kw")
        immediate = data.get("immediate_cost_eur")
        return cls(
            plan_id=str(data["plan_id"]),
            plan=plan_from_json(data["plan"]),
            made_at=dt_required(data["made_at"]),
            reason=str(data["reason"]),
            delivered_kwh=float(data["delivered_kwh"]),
            measured_power_kw=None if measured is None else float(measured),
            immediate_cost_eur=None if immediate is None else float(immediate),
        )


def _baseline_to_json(b: Baseline) -> dict[str, Any]:
    return {"enabled": b.enabled, "current_a": b.current_a, "command_at": dt_to_json(b.command_at)}


def _baseline_from_json(data: dict[str, Any] | None) -> Baseline:
    if not data:
        return Baseline()
    enabled = data.get("enabled")
    current = data.get("current_a")
    return Baseline(
        enabled=None if enabled is None else bool(enabled),
        current_a=None if current is None else int(current),
        command_at=dt_from_json(data.get("command_at")),
    )


def _pending_to_json(p: PendingCommand) -> dict[str, Any]:
    return {
        "kind": p.command.kind.value,
        "value": p.command.value,
        "sent_at": dt_to_json(p.sent_at),
        "deadline_at": dt_to_json(p.deadline_at),
        "sends": p.sends,
        "gave_up": p.gave_up,
    }


def _pending_from_json(data: dict[str, Any]) -> PendingCommand:
    value = data.get("value")
    return PendingCommand(
        command=Command(CommandKind(data["kind"]), None if value is None else float(value)),
        sent_at=dt_required(data["sent_at"]),
        deadline_at=dt_required(data["deadline_at"]),
        sends=int(data.get("sends", 1)),
        gave_up=bool(data.get("gave_up", False)),
    )


@dataclass(slots=True)
class SessionState:
    """A car's stay at the charger, from plug-in to unplug.

    Attributes:
        session_id: unique id (the plug-in instant).
        plugged_in_at: when the car was seen plugged in (UTC).
        ready_by: when the need must be met (UTC; ``SMARTCHARGE_READY_BY`` after plug-in).
        target_kwh: the need.
        delivered_kwh: energy delivered so far.
        last_added_kwh: the charger's session counter at the last reading.
        last_energy_at: when that reading was taken.
        slot_energy: energy per price slot, in time order.
        plan: the plan in force.
        plans_made: how many plans this session has had.
        commands: every command sent in this session.
        baseline: what the daemon last brought the charger to (manual-override rule).
        hold: the user's choice made by hand, if any.
        user_max_current_a: a current the user set by hand, used as the session's upper limit.
        target_met_at: when the delivered energy first reached the need.
        error_since: since when the charger has been in error, if it is.
        max_power_seen_kw: the highest charging power seen this session.
        pending: the daemon's commands no reading has shown yet (``controller.PendingCommand``).
    """

    session_id: str
    plugged_in_at: datetime
    ready_by: datetime
    target_kwh: float
    delivered_kwh: float = 0.0
    last_added_kwh: float | None = None
    last_energy_at: datetime | None = None
    slot_energy: list[SlotEnergy] = field(default_factory=list)
    plan: PlanRecord | None = None
    plans_made: int = 0
    commands: list[SentCommand] = field(default_factory=list)
    baseline: Baseline = field(default_factory=Baseline)
    hold: Hold | None = None
    user_max_current_a: int | None = None
    target_met_at: datetime | None = None
    error_since: datetime | None = None
    max_power_seen_kw: float = 0.0
    pending: list[PendingCommand] = field(default_factory=list)

    @property
    def remaining_kwh(self) -> float:
        """Return the energy still needed (never negative)."""
        return max(0.0, self.target_kwh - self.delivered_kwh)

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-able dict."""
        hold = self.hold
        return {
            "session_id": self.session_id,
            "plugged_in_at": dt_to_json(self.plugged_in_at),
            "ready_by": dt_to_json(self.ready_by),
            "target_kwh": self.target_kwh,
            "delivered_kwh": self.delivered_kwh,
            "last_added_kwh": self.last_added_kwh,
            "last_energy_at": dt_to_json(self.last_energy_at),
            "slot_energy": [s.to_json() for s in self.slot_energy],
            "plan": None if self.plan is None else self.plan.to_json(),
            "plans_made": self.plans_made,
            "commands": [c.to_json() for c in self.commands[-MAX_COMMANDS_KEPT:]],
            "baseline": _baseline_to_json(self.baseline),
            "hold": None
            if hold is None
            else {"charge": hold.charge, "since": dt_to_json(hold.since), "plan_id": hold.plan_id},
            "user_max_current_a": self.user_max_current_a,
            "target_met_at": dt_to_json(self.target_met_at),
            "error_since": dt_to_json(self.error_since),
            "max_power_seen_kw": self.max_power_seen_kw,
            "pending": [_pending_to_json(p) for p in self.pending],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SessionState:
        """Build from ``to_json`` output."""
        hold_data = data.get("hold")
        last_added = data.get("last_added_kwh")
        user_max = data.get("user_max_current_a")
        return cls(
            session_id=str(data["session_id"]),
            plugged_in_at=dt_required(data["plugged_in_at"]),
            ready_by=dt_required(data["ready_by"]),
            target_kwh=float(data["target_kwh"]),
            delivered_kwh=float(data.get("delivered_kwh", 0.0)),
            last_added_kwh=None if last_added is None else float(last_added),
            last_energy_at=dt_from_json(data.get("last_energy_at")),
            slot_energy=[SlotEnergy.from_json(s) for s in data.get("slot_energy", [])],
            plan=None if data.get("plan") is None else PlanRecord.from_json(data["plan"]),
            plans_made=int(data.get("plans_made", 0)),
            commands=[SentCommand.from_json(c) for c in data.get("commands", [])],
            baseline=_baseline_from_json(data.get("baseline")),
            hold=None
            if not hold_data
            else Hold(
                charge=bool(hold_data["charge"]),
                since=dt_required(hold_data["since"]),
                plan_id=str(hold_data["plan_id"]),
            ),
            user_max_current_a=None if user_max is None else int(user_max),
            target_met_at=dt_from_json(data.get("target_met_at")),
            error_since=dt_from_json(data.get("error_since")),
            max_power_seen_kw=float(data.get("max_power_seen_kw", 0.0)),
            pending=[_pending_from_json(p) for p in data.get("pending", [])],
        )


@dataclass(slots=True)
class DaemonState:
    """Everything the daemon persists besides prices and the token.

    Attributes:
        session: the session in progress, if a car is plugged in.
        last_command: the daemon's last command (any session), if any.
        last_restart_at: the last restart of the charger for an error (at most one per 6 h).
        last_poll_at: the last successful read of the charger.
        last_price_fetch_at: the last successful price fetch.
        last_status: the last status seen (``charging``, ``paused``, ...) and its id.
        next_action: what the daemon will do next and when (for ``smartcharge status``).
        saved_at: when this was written.
        manual_seen_at: the time of the last command sent by hand (``smartcharge charger``)
            that the daemon has taken into account.
    """

    session: SessionState | None = None
    last_command: SentCommand | None = None
    last_restart_at: datetime | None = None
    last_poll_at: datetime | None = None
    last_price_fetch_at: datetime | None = None
    last_status: dict[str, Any] = field(default_factory=dict)
    next_action: dict[str, Any] = field(default_factory=dict)
    saved_at: datetime | None = None
    manual_seen_at: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-able dict."""
        return {
            "session": None if self.session is None else self.session.to_json(),
            "manual_seen_at": dt_to_json(self.manual_seen_at),
            "last_command": None if self.last_command is None else self.last_command.to_json(),
            "last_restart_at": dt_to_json(self.last_restart_at),
            "last_poll_at": dt_to_json(self.last_poll_at),
            "last_price_fetch_at": dt_to_json(self.last_price_fetch_at),
            "last_status": dict(self.last_status),
            "next_action": dict(self.next_action),
            "saved_at": dt_to_json(self.saved_at),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DaemonState:
        """Build from ``to_json`` output."""
        session = data.get("session")
        last_command = data.get("last_command")
        return cls(
            session=None if session is None else SessionState.from_json(session),
            last_command=None if last_command is None else SentCommand.from_json(last_command),
            last_restart_at=dt_from_json(data.get("last_restart_at")),
            last_poll_at=dt_from_json(data.get("last_poll_at")),
            last_price_fetch_at=dt_from_json(data.get("last_price_fetch_at")),
            last_status=dict(data.get("last_status") or {}),
            next_action=dict(data.get("next_action") or {}),
            saved_at=dt_from_json(data.get("saved_at")),
            manual_seen_at=dt_from_json(data.get("manual_seen_at")),
        )


def _migrate(version: int, data: Any) -> Any:
    """Bring an older document up to ``STATE_VERSION`` (none exist yet)."""
    if version > STATE_VERSION:
        raise StateError(
            f"the state file has version {version}, newer than this smartcharge understands"
            f" ({STATE_VERSION}); upgrade smartcharge or move the file away"
        )
    return data


class StateStore:
    """Loads and saves ``DaemonState`` in the state dir.

    Args:
        state_dir: ``SMARTCHARGE_STATE_DIR``.
        clock: for the ``saved_at`` stamp and the name of a corrupt file moved aside.
        disk: the state folder's file system (records failed saves for ``/healthz``).
    """

    def __init__(self, state_dir: Path, clock: Clock, disk: StateDisk | None = None) -> None:
        self.path = state_dir / STATE_FILE
        self._clock = clock
        self._disk = disk or StateDisk()

    def load(self) -> DaemonState:
        """Return the saved state, or a fresh one when there is none or it is unusable.

        Raises:
            StateError: the file comes from a newer smartcharge (refusing beats losing it).
            StateIOError: the file is there but cannot be read (nothing is moved or reset).
        """
        found = load_document(self.path, STATE_KIND, self._clock.now(), disk=self._disk)
        if found.problem is not None:
            log.error(
                "state_file_corrupt",
                path=str(self.path),
                problem=found.problem,
                moved_to=None if found.moved_to is None else str(found.moved_to),
                used_backup=found.used_backup,
            )
        if found.version is None:
            return DaemonState()
        data = _migrate(found.version, found.data)
        try:
            return DaemonState.from_json(data)
        except (KeyError, TypeError, ValueError) as exc:
            # Content that does not parse is corrupt: move it aside, never overwrite it.
            moved = None if found.used_backup else move_aside(self.path, self._clock.now())
            log.error(
                "state_file_corrupt",
                path=str(self.path),
                problem=f"{self.path}: content does not parse ({exc})",
                moved_to=None if moved is None else str(moved),
                used_backup=False,
            )
            return DaemonState()

    def save(self, state: DaemonState) -> None:
        """Write ``state`` atomically (temp file, fsync, rename; the old copy kept as .bak).

        Raises:
            StateError: the file cannot be written (the previous content stays).
        """
        state.saved_at = self._clock.now()
        save_document(
            self.path,
            STATE_KIND,
            STATE_VERSION,
            state.to_json(),
            disk=self._disk,
            now=state.saved_at,
        )

    def exists(self) -> bool:
        """Return whether a state file is there."""
        return self.path.exists()
