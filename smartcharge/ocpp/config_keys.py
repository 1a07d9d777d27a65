"""What a charge point's GetConfiguration says that smartcharge needs (secrets never kept)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from smartcharge.ocpp.redact import is_secret_key

# When a charger does not report a key, assume what OCPP 1.6 lets every charger do: one stack
# level, and a few periods (a Wallbox reports 100; 10 keeps a plan short and safe).
DEFAULT_MAX_PERIODS = 10


def _int(values: Mapping[str, str], key: str, default: int) -> int:
    try:
        return int(values[key])
    except (KeyError, ValueError):
        return default


@dataclass(frozen=True, slots=True)
class ChargerConfig:
    """The configuration keys smartcharge acts on."""

    max_stack_level: int = 0
    max_periods: int = DEFAULT_MAX_PERIODS
    rate_units: tuple[str, ...] = ("Current",)
    feature_profiles: tuple[str, ...] = ()
    sampled_data: tuple[str, ...] = ()
    sampled_data_max_length: int | None = None
    keys: tuple[str, ...] = ()

    @property
    def has_smart_charging(self) -> bool:
        """Return whether the charger says it takes charging profiles (or says nothing)."""
        return not self.feature_profiles or "SmartCharging" in self.feature_profiles

    @classmethod
    def from_keys(cls, configuration_key: Iterable[Mapping[str, Any]] | None) -> ChargerConfig:
        """Build from GetConfiguration's ``configuration_key`` list; secret values are dropped."""
        values: dict[str, str] = {}
        for item in configuration_key or ():
            key = str(item.get("key", ""))
            if key and not is_secret_key(key):
                values[key] = str(item.get("value") or "")

        def _list(key: str) -> tuple[str, ...]:
            return tuple(v.strip() for v in values.get(key, "").split(",") if v.strip())

        return cls(
            max_stack_level=_int(values, "ChargeProfileMaxStackLevel", 0),
            max_periods=max(1, _int(values, "ChargingScheduleMaxPeriods", DEFAULT_MAX_PERIODS)),
            rate_units=_list("ChargingScheduleAllowedChargingRateUnit") or ("Current",),
            feature_profiles=_list("SupportedFeatureProfiles"),
            sampled_data=_list("MeterValuesSampledData"),
            sampled_data_max_length=(_int(values, "MeterValuesSampledDataMaxLength", 0) or None),
            keys=tuple(sorted(values)),
        )
