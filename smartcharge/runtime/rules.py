"""The session's rules from the settings: the one place that reads ``Settings`` for them."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

from smartcharge.config import Settings
from smartcharge.ports import ChargerCapabilities
from smartcharge.session.rules import OnExitRule, OverrideRule, Rules


def rules_from_settings(settings: Settings, capabilities: ChargerCapabilities) -> Rules:
    """Return the rules ``settings`` set, for a charger link that carries ``capabilities``."""
    return Rules(
        target_kwh=settings.target_kwh,
        ready_by=settings.ready_by,
        timezone=ZoneInfo(settings.timezone),
        min_current_a=settings.min_current_a,
        max_current_a=settings.max_current_a,
        phases=settings.phases,
        voltage_v=settings.voltage_v,
        manual_override=OverrideRule(settings.manual_override.value),
        on_exit=OnExitRule(settings.on_exit.value),
        restart_on_error=settings.restart_on_error,
        replan_power_deviation=settings.replan_power_deviation,
        max_interruptions=settings.max_interruptions,
        deadline_margin=timedelta(minutes=settings.deadline_margin_min),
        capabilities=capabilities,
        battery_kwh=settings.battery_kwh,
    )
