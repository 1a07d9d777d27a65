"""The Wallbox cloud adapter: ``WallboxClient`` and its errors.

The client takes plain values (URLs, limits, a timeout, a way to register secrets with the log
redaction); ``runtime.adapters.build_charger`` builds it from the settings for the daemon and
the CLI.
"""

from __future__ import annotations

from smartcharge.wallbox.client import (
    MIN_CURRENT_A,
    READ_TRIES,
    WallboxClient,
    command_satisfied,
)
from smartcharge.wallbox.errors import (
    WallboxAuthError,
    WallboxChargerNotFoundError,
    WallboxError,
    WallboxForbiddenError,
    WallboxRateLimitedError,
    WallboxResponseError,
    WallboxUnavailableError,
)
from smartcharge.wallbox.models import RemoteAction, WallboxSession, WallboxStatusId

__all__ = [
    "MIN_CURRENT_A",
    "READ_TRIES",
    "RemoteAction",
    "WallboxAuthError",
    "WallboxChargerNotFoundError",
    "WallboxClient",
    "WallboxError",
    "WallboxForbiddenError",
    "WallboxRateLimitedError",
    "WallboxResponseError",
    "WallboxSession",
    "WallboxStatusId",
    "WallboxUnavailableError",
    "command_satisfied",
]
