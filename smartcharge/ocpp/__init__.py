"""The local OCPP 1.6J link: smartcharge as the Wallbox's own central system (issue 15)."""

from smartcharge.ocpp.charger import OcppCharger
from smartcharge.ocpp.errors import (
    ChargerNotConnectedError,
    CommandRejectedError,
    CommandTimeoutError,
    OcppError,
    UnsupportedCommandError,
)
from smartcharge.ocpp.profiles import PlannedLimit, ProfileKind
from smartcharge.ocpp.server import OcppServer

__all__ = [
    "ChargerNotConnectedError",
    "CommandRejectedError",
    "CommandTimeoutError",
    "OcppCharger",
    "OcppError",
    "OcppServer",
    "PlannedLimit",
    "ProfileKind",
    "UnsupportedCommandError",
]
