"""What a charge point's MeterValues and StatusNotifications say, as plain values.

Pure functions over the ``ocpp`` package's snake_case payloads. A Wallbox sends
``Energy.Active.Import.Register`` (lifetime Wh), ``Power.Active.Import`` (W),
``Current.Offered`` (A) and ``Current.Import`` per phase (evcc#15492 trace); any of them may
be missing (evcc's template caveat), so each is optional.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from smartcharge.domain import ChargerStatus

ENERGY = "Energy.Active.Import.Register"
POWER = "Power.Active.Import"
CURRENT_OFFERED = "Current.Offered"
CURRENT_IMPORT = "Current.Import"
# The measurands asked for, in order of need (the first is the session's energy).
WANTED_MEASURANDS = (ENERGY, POWER, CURRENT_OFFERED, CURRENT_IMPORT)

_SCALE = {"Wh": 1.0, "kWh": 1000.0, "W": 1.0, "kW": 1000.0, "A": 1.0}

# OCPP 1.6 ChargePointStatus -> the domain's grouped status (evcc: SuspendedEVSE is "off",
# Charging and SuspendedEV are "on"; issue 15 item 3).
STATUS_MAP: Mapping[str, ChargerStatus] = {
    "Available": ChargerStatus.READY,
    "Preparing": ChargerStatus.WAITING,
    "Charging": ChargerStatus.CHARGING,
    "SuspendedEVSE": ChargerStatus.PAUSED,
    "SuspendedEV": ChargerStatus.WAITING_FOR_CAR_DEMAND,
    "Finishing": ChargerStatus.WAITING,
    "Reserved": ChargerStatus.READY,
    "Unavailable": ChargerStatus.UNKNOWN,
    "Faulted": ChargerStatus.ERROR,
}


@dataclass(frozen=True, slots=True)
class MeterReading:
    """One MeterValues message, reduced to what smartcharge uses (None: not sent)."""

    energy_register_wh: float | None = None
    power_w: float | None = None
    current_offered_a: float | None = None
    current_import_a: float | None = None
    taken_at: datetime | None = None


def parse_timestamp(text: str | None) -> datetime | None:
    """Return an OCPP timestamp as UTC, or None when missing or unreadable."""
    if not text:
        return None
    try:
        stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return stamp.astimezone(UTC)


def _number(sample: Mapping[str, Any]) -> float | None:
    try:
        value = float(sample.get("value", ""))
    except (TypeError, ValueError):
        return None
    return value * _SCALE.get(str(sample.get("unit") or ""), 1.0)


def parse_meter_values(meter_value: Iterable[Mapping[str, Any]]) -> MeterReading:
    """Reduce a MeterValues ``meter_value`` list to one reading (the latest sample wins).

    A sample without a phase is the total; without one, phases are summed (energy, power) or
    their largest is taken (current).
    """
    totals: dict[str, float] = {}
    phases: dict[str, list[float]] = {}
    taken_at: datetime | None = None
    for entry in meter_value:
        stamp = parse_timestamp(entry.get("timestamp"))
        if stamp is not None and (taken_at is None or stamp >= taken_at):
            taken_at = stamp
        for sample in entry.get("sampled_value") or ():
            measurand = str(sample.get("measurand") or ENERGY)
            value = _number(sample)
            if value is None:
                continue
            phase = sample.get("phase")
            if phase and not str(phase).endswith("-N") and phase != "N":
                phases.setdefault(measurand, []).append(value)
            elif not phase:
                totals[measurand] = value

    def _total(name: str, combine: str) -> float | None:
        if name in totals:
            return totals[name]
        values = phases.get(name)
        if not values:
            return None
        return sum(values) if combine == "sum" else max(values)

    return MeterReading(
        energy_register_wh=_total(ENERGY, "sum"),
        power_w=_total(POWER, "sum"),
        current_offered_a=_total(CURRENT_OFFERED, "max"),
        current_import_a=_total(CURRENT_IMPORT, "max"),
        taken_at=taken_at,
    )


def domain_status(ocpp_status: str | None, *, connected: bool) -> ChargerStatus:
    """Return the domain status for an OCPP connector status."""
    if not connected:
        return ChargerStatus.OFFLINE
    if ocpp_status is None:
        return ChargerStatus.UNKNOWN
    return STATUS_MAP.get(ocpp_status, ChargerStatus.UNKNOWN)
