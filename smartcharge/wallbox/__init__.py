"""The Wallbox cloud adapter: ``WallboxClient`` and its errors.

``build_wallbox_client()`` is what the daemon and the CLI call: it turns the settings into a
client on the process's one aiohttp session and clock.
"""

from __future__ import annotations

import aiohttp

from smartcharge.clock import Clock
from smartcharge.config import Settings, account_problems
from smartcharge.errors import ConfigError
from smartcharge.storage import StateDisk
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
    "build_wallbox_client",
    "command_satisfied",
]


def build_wallbox_client(
    settings: Settings,
    session: aiohttp.ClientSession,
    clock: Clock,
    disk: StateDisk | None = None,
    *,
    read_tries: int = READ_TRIES,
) -> WallboxClient:
    """Return a client for the account and charger ``settings`` name.

    ``read_tries``: how often a failed read is tried (the CLI tries once: a person waits).

    Raises:
        ConfigError: the username or the password is not set.
    """
    problems = account_problems(settings)
    if problems:
        raise ConfigError(problems)
    assert settings.wallbox_username is not None
    assert settings.wallbox_password is not None
    return WallboxClient(
        session,
        api_url=settings.wallbox_api_url,
        auth_url=settings.wallbox_auth_url,
        username=settings.wallbox_username,
        password=settings.wallbox_password,
        clock=clock,
        state_dir=settings.state_dir,
        budget_dir=settings.wallbox_budget_dir,
        charger_id=settings.wallbox_charger_id,
        timeout_s=settings.wallbox_timeout_s,
        reads_per_minute=settings.wallbox_reads_per_minute,
        writes_per_minute=settings.wallbox_writes_per_minute,
        signins_per_hour=settings.wallbox_signins_per_hour,
        disk=disk,
        read_tries=read_tries,
    )
