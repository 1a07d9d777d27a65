"""The plain values the session policy reads: the user's need, limits and choices.

Built once from the settings by ``smartcharge.runtime.rules.rules_from_settings`` (the session
core never reads ``Settings``); tests build them directly.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import time, timedelta
from zoneinfo import ZoneInfo

from smartcharge.ports import ChargerCapabilities
from smartcharge.session.model import Limits


class OverrideRule(enum.StrEnum):
    """Who wins when the user pauses, resumes or sets a current by hand against the plan."""

    RESPECT = "respect"  # the user's choice holds until the next plan change
    IGNORE = "ignore"  # the daemon brings the charger back to the plan


class OnExitRule(enum.StrEnum):
    """What the daemon leaves behind when it stops during a session."""

    RESUME = "resume"
    LEAVE = "leave"


@dataclass(frozen=True, slots=True)
class Rules:
    """What the policy decides by, besides the session, the reading, the prices and the time.

    Attributes:
        target_kwh: the need of a new session.
        ready_by: the local wall time a new session's need is due.
        timezone: the user's zone (of ``ready_by``).
        min_current_a: the lowest current while charging.
        max_current_a: the highest current.
        phases: the installation's phases.
        voltage_v: its voltage.
        capabilities: what the link to the charger carries (``ports.ChargerCapabilities``): no
            energy cost and no restart is sent over a link without them.
        manual_override: who wins against the plan.
        on_exit: what a stop leaves behind.
        restart_on_error: restart a charger that stays in error during a session.
        replan_power_deviation: the share by which a measured draw may differ from the plan's.
        max_interruptions: the plan's most pauses between charging blocks.
        deadline_margin: how long before ``ready_by`` the plan is to be done.
        battery_kwh: the car's battery, when configured: a user's target above it is refused.
    """

    target_kwh: float
    ready_by: time
    timezone: ZoneInfo
    min_current_a: int
    max_current_a: int
    phases: int
    voltage_v: float
    capabilities: ChargerCapabilities
    manual_override: OverrideRule = OverrideRule.RESPECT
    on_exit: OnExitRule = OnExitRule.RESUME
    restart_on_error: bool = False
    replan_power_deviation: float = 0.2
    max_interruptions: int = 3
    deadline_margin: timedelta = timedelta(minutes=30)
    battery_kwh: float | None = None

    def power_kw(self, current_a: float) -> float:
        """Return the nominal power at ``current_a`` for these phases and voltage."""
        return current_a * self.phases * self.voltage_v / 1000.0

    def limits(self, user_max_current_a: int | None) -> Limits:
        """Return the currents allowed, lowered to a current the user set by hand."""
        top = self.max_current_a
        if user_max_current_a is not None:
            top = max(self.min_current_a, min(top, user_max_current_a))
        return Limits(self.min_current_a, top)
