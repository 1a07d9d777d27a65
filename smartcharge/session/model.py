"""The charging session's state as frozen values, and the enums for what were strings.

Everything a decision of the daemon depends on from one tick to the next is a field here, so it
is saved with the state (``smartcharge.state``) and a restart forgets nothing: the session
(plug-in, need, plan, energy, commands, the manual-override baseline and hold, pending commands,
the draw readings the car profile learns from, a re-plan asked for by a current set by hand or
a measured draw) and, in ``DaemonState``, what outlives a session (the last command, the charger
unreachable, prices changed since the last plan, an energy cost the cloud refused, ...).

Every type is a ``dataclass(frozen=True, slots=True)``: a change is a new value
(``dataclasses.replace``). Pure: no I/O, no clock, no logging.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from smartcharge.domain import ChargerSnapshot, Command, CommandKind
from smartcharge.session.steering import SessionOverride, SteerMode
from strategies.base import Plan


class ReplanReason(enum.StrEnum):
    """Why a plan was made."""

    SESSION_STARTED = "session_started"
    USER_CHANGED_CURRENT = "user_changed_current"
    PRICES_CHANGED = "prices_changed"
    ENERGY_BEHIND = "energy_behind"
    POWER_DEVIATED = "power_deviated"
    ENERGY_SHORT = "energy_short"
    SETTINGS_CHANGED = "settings_changed"  # a live edit of a planning setting (.env)
    SESSION_OVERRIDE = "session_override"  # the user's target, ready-by, now or off (issue 14)


class TickTrigger(enum.StrEnum):
    """What started a tick (the scheduler job, the start-up, new prices, a charger's report)."""

    START = "start"
    POLL = "poll"
    SLOT_BOUNDARY = "slot_boundary"
    PLAN_EDGE = "plan_edge"
    PRICES = "prices"
    SETTINGS = "settings"
    STEER = "steer"  # the user steered the session (smartcharge plan, the API, the page)
    CHARGER_REPORT = "charger_report"  # the charger reported something that matters (OCPP)


class CommandReason(enum.StrEnum):
    """Why a command was sent."""

    PLAN = "plan"
    ON_EXIT = "on_exit"
    COMMAND_NOT_APPLIED = "command_not_applied"


class Aspect(enum.Enum):
    """What a command changes; only a command that changes a thing can explain a reading of it."""

    ENABLED = "enabled"  # pause / resume
    CURRENT = "current"  # the current limit


def aspect_of(command: Command) -> Aspect | None:
    """Return what ``command`` changes, or None when it is not tracked as pending."""
    if command.kind in (CommandKind.PAUSE, CommandKind.RESUME):
        return Aspect.ENABLED
    if command.kind is CommandKind.SET_MAX_CURRENT:
        return Aspect.CURRENT
    return None


@dataclass(frozen=True, slots=True)
class Limits:
    """The currents the daemon may set.

    Attributes:
        min_current_a: the lowest current while charging (6 A, wallbox-api.md §6).
        max_current_a: the highest current (the settings, a user's hand-set cap).
    """

    min_current_a: int
    max_current_a: int

    def capped(self, snapshot: ChargerSnapshot) -> Limits:
        """Return these limits, lowered to what the installation allows (if it says)."""
        ceiling = snapshot.max_available_current_a
        if ceiling <= 0:
            return self
        # Below 6 A nothing charges (wallbox-api.md §6), so the minimum wins over a lower ceiling.
        return Limits(self.min_current_a, max(min(self.max_current_a, ceiling), self.min_current_a))


@dataclass(frozen=True, slots=True)
class Hold:
    """The user's choice made by hand, kept until the plan changes.

    Attributes:
        charge: True when the user resumed, False when they paused.
        since: when it was seen (UTC).
        plan_id: the plan it was made against; a new plan ends the hold.
    """

    charge: bool
    since: datetime
    plan_id: str


@dataclass(frozen=True, slots=True)
class Baseline:
    """What the daemon last brought the charger to, or last saw it agree with.

    Attributes:
        enabled: charging enabled (True), paused (False) or unknown (None).
        current_a: the current limit, or None when unknown.
        command_at: when the daemon last sent a command (UTC), if ever.
    """

    enabled: bool | None = None
    current_a: int | None = None
    command_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class PendingCommand:
    """A command of the daemon's that no reading has shown yet (saved with the session).

    Attributes:
        command: what was sent.
        sent_at: when it was sent (UTC; before the call, so its answer is not older).
        deadline_at: when it counts as not applied if no reading shows it.
        sends: how many times it has been sent (at most ``decide.MAX_SENDS``).
        gave_up: sent ``MAX_SENDS`` times and never shown: not sent again while the plan asks
            for the same.
    """

    command: Command
    sent_at: datetime
    deadline_at: datetime
    sends: int = 1
    gave_up: bool = False

    @property
    def aspect(self) -> Aspect | None:
        """Return what the command changes."""
        return aspect_of(self.command)


@dataclass(frozen=True, slots=True)
class SentCommand:
    """A command the daemon sent and the cloud accepted.

    Attributes:
        at: when it was accepted (UTC).
        command: what was sent.
        reason: why.
    """

    at: datetime
    command: Command
    reason: CommandReason = CommandReason.PLAN


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


@dataclass(frozen=True, slots=True)
class PlanRecord:
    """A plan and what it was made from.

    Attributes:
        plan_id: a unique id (``<made_at>#<n>``); a new plan ends the user's hold.
        plan: the plan.
        made_at: when it was made (UTC).
        reason: why.
        delivered_kwh: the session's delivered energy when it was made.
        measured_power_kw: the car's measured power it assumed, if any.
        immediate_cost_eur: what charging at once would cost for the same energy.
    """

    plan_id: str
    plan: Plan
    made_at: datetime
    reason: ReplanReason
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


@dataclass(frozen=True, slots=True)
class DrawSample:
    """One reading while charging, kept for the car profile (``smartcharge.carprofile``).

    Attributes:
        current_a: the charger's current set point (A).
        power_kw: the power the cloud reported (kW).
    """

    current_a: int
    power_kw: float


@dataclass(frozen=True, slots=True)
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
        carried_hold: the hold of the run before a restart, honoured on exit until this run's
            first tick has brought the charger to the plan.
        user_max_current_a: a current the user set by hand, used as the session's upper limit.
        target_met_at: when the delivered energy first reached the need.
        error_since: since when the charger has been in error, if it is.
        max_power_seen_kw: the highest charging power seen this session.
        pending: the daemon's commands no reading has shown yet.
        replan_for_user_current: a current set by hand asks for a new plan at the next tick.
        measured_share: the car's draw share the next plan is to assume, if one was measured.
        draw_samples: the session's charging readings, for learning the car's profile.
        override: the user's override in force (``session.steer``): its target and ready-by
            are the session's, its mode says how to charge; it ends at unplug.
        replan_for_override: the override changed: the next tick plans again (saved, so a
            restart between the change and the tick still plans).
    """

    session_id: str
    plugged_in_at: datetime
    ready_by: datetime
    target_kwh: float
    delivered_kwh: float = 0.0
    last_added_kwh: float | None = None
    last_energy_at: datetime | None = None
    slot_energy: tuple[SlotEnergy, ...] = ()
    plan: PlanRecord | None = None
    plans_made: int = 0
    commands: tuple[SentCommand, ...] = ()
    baseline: Baseline = Baseline()
    hold: Hold | None = None
    carried_hold: Hold | None = None
    user_max_current_a: int | None = None
    target_met_at: datetime | None = None
    error_since: datetime | None = None
    max_power_seen_kw: float = 0.0
    pending: tuple[PendingCommand, ...] = ()
    replan_for_user_current: bool = False
    measured_share: float | None = None
    draw_samples: tuple[DrawSample, ...] = ()
    override: SessionOverride | None = None
    replan_for_override: bool = False

    @property
    def mode(self) -> SteerMode:
        """Return how the session charges: by the plan (also with no override), now, or off."""
        return SteerMode.PLAN if self.override is None else self.override.mode

    @property
    def remaining_kwh(self) -> float:
        """Return the energy still needed (never negative)."""
        return max(0.0, self.target_kwh - self.delivered_kwh)


@dataclass(frozen=True, slots=True)
class NextAction:
    """What the daemon will do next by its plan, and when (``smartcharge status``).

    Attributes:
        at: when (UTC).
        action: ``RESUME`` or ``PAUSE``.
    """

    at: datetime
    action: CommandKind


@dataclass(frozen=True, slots=True)
class DaemonState:
    """Everything the daemon persists besides prices, the ledger and the token.

    Attributes:
        session: the session in progress, if a car is plugged in.
        last_command: the daemon's last command (any session), if any.
        last_restart_at: the last restart of the charger for an error (at most one per 6 h).
        restarted_at: that restart, until the charger came back from its error (then the plan
            is made again, and the session does not end on the "no car" of a rebooting charger).
        last_poll_at: the last successful read of the charger.
        last_price_fetch_at: the last successful price fetch.
        last_status: the last reading of the charger.
        next_action: what the daemon will do next and when (for ``smartcharge status``).
        saved_at: when this was written.
        manual_seen_at: the time of the last command sent by hand (``smartcharge charger``)
            that the daemon has taken into account.
        charger_unreachable: the last read of the charger failed (``wallbox_unavailable`` was
            logged; ``wallbox_recovered`` is due at the next good read).
        prices_changed: the known prices changed since the last plan: the next tick re-plans.
        refused_energy_cost: an energy cost the cloud refused (HTTP 400/403): not sent again.
        energy_cost_clamped: the current price is outside what the cloud accepts
            (``energy_cost_clamped`` was logged for this stretch).
        next_override: an override set while no car was plugged in: the next session takes it
            at plug-in (``session.steer``).
    """

    session: SessionState | None = None
    last_command: SentCommand | None = None
    last_restart_at: datetime | None = None
    restarted_at: datetime | None = None
    last_poll_at: datetime | None = None
    last_price_fetch_at: datetime | None = None
    last_status: ChargerSnapshot | None = None
    next_action: NextAction | None = None
    saved_at: datetime | None = None
    manual_seen_at: datetime | None = None
    charger_unreachable: bool = False
    prices_changed: bool = False
    refused_energy_cost: float | None = None
    energy_cost_clamped: bool = False
    next_override: SessionOverride | None = None
