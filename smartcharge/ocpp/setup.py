"""The setup after each boot or reconnect: what the charge point can do, and readings wanted.

The charger (``OcppCharger``) runs this once the BootNotification has been answered, holding
its one-call-sequence lock; then it sends its profile again (a rebooted charger may have lost
it). Split from the charger so that reading configuration keys and choosing measurands (one job)
is apart from steering (another).
"""

from __future__ import annotations

from dataclasses import dataclass

import structlog

from smartcharge.ocpp._lib import call
from smartcharge.ocpp.config_keys import ChargerConfig
from smartcharge.ocpp.connection import CentralChargePoint
from smartcharge.ocpp.readings import WANTED_MEASURANDS

log = structlog.get_logger(__name__)

_SAMPLED_DATA = "MeterValuesSampledData"


@dataclass(frozen=True, slots=True)
class SetupResult:
    """What the setup learnt: the configuration keys and the measurands the charger sends."""

    config: ChargerConfig
    measurands: tuple[str, ...]


async def set_up(
    connection: CentralChargePoint, charge_point_id: str, sample_interval_s: int
) -> SetupResult:
    """Make the charge point operative, read its keys, and ask for the readings we use.

    Args:
        connection: the registered connection (its boot answered).
        charge_point_id: for the log lines.
        sample_interval_s: the MeterValueSampleInterval to set.

    Raises:
        OcppError: a call failed (the caller logs it; the next boot or reconnect tries again).
    """
    await connection.request(call.ChangeAvailability(connector_id=0, type="Operative"))
    answer = await connection.request(call.GetConfiguration())
    config = ChargerConfig.from_keys(answer.configuration_key)
    if not config.has_smart_charging:
        log.warning(
            "ocpp_smart_charging_missing",
            charge_point_id=charge_point_id,
            feature_profiles=",".join(config.feature_profiles),
        )
    await _configure(connection, "MeterValueSampleInterval", str(sample_interval_s))
    return SetupResult(config, await _choose_measurands(connection, config))


async def _configure(connection: CentralChargePoint, key: str, value: str) -> bool:
    answer = await connection.request(call.ChangeConfiguration(key=key, value=value))
    return str(answer.status) in ("Accepted", "RebootRequired")


async def _choose_measurands(
    connection: CentralChargePoint, config: ChargerConfig
) -> tuple[str, ...]:
    """Ask for all wanted measurands; when refused, keep those accepted one by one."""
    limit = config.sampled_data_max_length or len(WANTED_MEASURANDS)
    wanted = WANTED_MEASURANDS[:limit]
    if await _configure(connection, _SAMPLED_DATA, ",".join(wanted)):
        return wanted
    accepted = [m for m in wanted if await _configure(connection, _SAMPLED_DATA, m)]
    if len(accepted) > 1:
        await _configure(connection, _SAMPLED_DATA, ",".join(accepted))
    return tuple(accepted)
