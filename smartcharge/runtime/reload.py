"""A live edit of ``.env`` applied to the running daemon (issue 14 item 1).

The ``settings`` job (every ``WATCH_INTERVAL_S``) and SIGHUP check the file the daemon was
started with (``runtime.envwatch``); an edit that loads is applied here, by the kind of each
setting that changed (``settings_diff``):

- planning settings: the rules, the strategy (a new one when its name, its folder or the
  maximum price changed) and the price feed (a new one, its cache priced again, when the
  tariff changed) are replaced, the session in progress takes the new need and ready-by, and
  a tick follows at once that plans again;
- the Wallbox password: the client signs in once with it (``WallboxClient.use_password``);
- the log level and format: logging is configured again (new secrets registered first);
- settings that need a restart are only reported (``settings_need_restart``).

A refused edit changes nothing; its problems stay in ``problems`` for ``/healthz`` and
``smartcharge status`` until the file is fixed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol, runtime_checkable

import structlog
from pydantic import SecretStr

from smartcharge.config import Settings
from smartcharge.runtime.daemon import Daemon
from smartcharge.runtime.envwatch import LiveSettings
from smartcharge.runtime.feed import PriceFeed
from smartcharge.settings_diff import SettingKind, SettingsDiff
from strategies.base import Strategy

log = structlog.get_logger(__name__)

# The settings each part is built from (a change rebuilds it).
_STRATEGY_FIELDS = ("strategy", "strategy_path", "max_price", "state_dir")
_TARIFF_FIELDS = ("tariff_markup_eur_kwh", "tariff_tax_eur_kwh", "tariff_vat_percent", "timezone")
_LOG_FIELDS = ("log_level", "log_format")


@runtime_checkable
class SignsIn(Protocol):
    """A charger link that signs in with a password (the Wallbox client)."""

    def use_password(self, password: SecretStr) -> None:
        """Sign in with ``password`` from the next call on (once)."""
        ...


def _changed(diff: SettingsDiff, fields: tuple[str, ...]) -> bool:
    names = {f"SMARTCHARGE_{f.upper()}" for f in fields}
    return any(name in names for name in diff.names)


class SettingsReloader:
    """Check the ``.env`` and apply an edit to ``daemon``.

    Args:
        daemon: the running daemon.
        live: the watcher's results (``runtime.envwatch.LiveSettings``).
        strategy_for: builds the strategy the settings name.
        feed_for: builds the price feed for the settings (on the process's session).
        relog: configures logging for the settings (None: left as it is).
    """

    def __init__(
        self,
        daemon: Daemon,
        live: LiveSettings,
        *,
        strategy_for: Callable[[Settings], Strategy],
        feed_for: Callable[[Settings], PriceFeed],
        relog: Callable[[Settings], None] | None = None,
    ) -> None:
        self.daemon = daemon
        self.live = live
        self._strategy_for = strategy_for
        self._feed_for = feed_for
        self._relog = relog

    @property
    def problems(self) -> tuple[str, ...]:
        """Return the problems of a refused edit still in the file (empty: none)."""
        return self.live.problems

    async def job(self) -> None:
        """The ``settings`` job: check the file when due and apply an edit."""
        self.live.check()
        await self.apply()

    def hangup(self) -> asyncio.Task[None]:
        """What SIGHUP does: check the file at once, then apply an edit as a job of its own."""
        self.live.hangup()
        return self.daemon.spawn(self.apply)

    async def apply(self) -> None:
        """Apply the edit waiting in ``live``, if any."""
        reloaded = self.live.take()
        if reloaded is None:
            return
        settings, diff = reloaded.settings, reloaded.diff
        if self._relog is not None and _changed(diff, _LOG_FIELDS):
            self._relog(settings)
        charger = self.daemon.charger
        password = settings.wallbox_password
        if diff.of_kind(SettingKind.CREDENTIALS) and isinstance(charger, SignsIn) and password:
            charger.use_password(password)
        strategy = self._strategy_for(settings) if _changed(diff, _STRATEGY_FIELDS) else None
        feed = self._feed_for(settings) if _changed(diff, _TARIFF_FIELDS) else None
        await self.daemon.apply_settings(
            settings, strategy=strategy, feed=feed, replan=diff.needs_replan
        )
