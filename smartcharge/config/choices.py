"""The enumerated settings' values."""

from __future__ import annotations

import enum


class LogFormat(enum.StrEnum):
    """How log lines are rendered."""

    AUTO = "auto"  # console on a terminal, JSON otherwise (a container, CI, a pipe)
    JSON = "json"
    CONSOLE = "console"


class LogLevel(enum.StrEnum):
    """The lowest level that is written."""

    DEBUG = "DEBUG"
    INFO = "INFO"
    WARNING = "WARNING"
    ERROR = "ERROR"


class ManualOverride(enum.StrEnum):
    """Who wins when the user pauses or resumes by hand against the plan."""

    RESPECT = "respect"  # the user's choice holds until the next plan change
    IGNORE = "ignore"  # the daemon brings the charger back to the plan


class ChargerLink(enum.StrEnum):
    """How smartcharge talks to the charger."""

    CLOUD = "cloud"  # the Wallbox cloud, with the account
    OCPP = "ocpp"  # the charger connects to our OCPP 1.6J endpoint on the local network


class OnExit(enum.StrEnum):
    """What the daemon leaves behind when it stops during a session."""

    RESUME = "resume"
    LEAVE = "leave"
