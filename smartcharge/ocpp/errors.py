"""The errors of the OCPP link.

::

    OcppError                 (a SmartchargeError)
      ChargerNotConnectedError  no charge point is connected and set up
      CommandRejectedError      the charge point answered Rejected / NotSupported / a CallError
      CommandTimeoutError       no answer within the call timeout (outcome unknown)
      UnsupportedCommandError   the command has no OCPP equivalent (energy cost, lock, ...)
"""

from __future__ import annotations

import smartcharge.errors
from smartcharge.errors import SmartchargeError


class OcppError(SmartchargeError):
    """Base class of the OCPP link's errors."""


class ChargerNotConnectedError(OcppError):
    """No charge point is connected, or its BootNotification has not been answered yet."""


class CommandRejectedError(OcppError):
    """The charge point refused a call."""


class CommandTimeoutError(OcppError):
    """The charge point did not answer in time; whether it applied the call is unknown."""


class UnsupportedCommandError(OcppError, smartcharge.errors.UnsupportedCommandError):
    """The command cannot be sent over OCPP (nothing was sent)."""
