"""The root of smartcharge's exceptions.

::

    SmartchargeError
      ConfigError        bad .env value: names the variable, the value and what is accepted
      StateError         unreadable state file: names the file
      UnsupportedCommandError  the charger link does not carry this command (ports)
      WallboxError       (smartcharge.wallbox.errors)
      PriceSourceError   (smartcharge.prices.errors)

A ``SmartchargeError`` is a problem the user can act on; the CLI prints its message and exits
with a non-zero status, never a traceback.
"""

from __future__ import annotations


class SmartchargeError(Exception):
    """Base class of every error smartcharge raises on purpose."""


class ConfigError(SmartchargeError):
    """A setting is wrong.

    Args:
        problems: one readable line per problem, each naming the variable.
    """

    def __init__(self, problems: list[str] | str) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


class StateError(SmartchargeError):
    """A state file cannot be read or written."""


class UnsupportedCommandError(SmartchargeError):
    """The way the charger is reached cannot carry this command (``ports.ChargerCapabilities``).

    Raised before anything is sent. The OCPP link's own ``UnsupportedCommandError`` is one.
    """
