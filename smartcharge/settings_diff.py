"""What changed between two Settings, and what each change asks of a running daemon.

A live edit of ``.env`` (issue 14 item 1) is applied according to the kind of each setting
that changed (``SETTING_KINDS``, one table, every setting in exactly one kind):

- ``PLANNING``: the plan depends on it (target, ready-by, strategy, limits, tariff, margin,
  interruptions, maximum price ...): applied at the next tick, and the session is planned again;
- ``NEEDS_RESTART``: read once, when the process builds its parts (state dir, health port,
  the charger link and its addresses, the price sources, the call budget ...): the change is
  only reported, the running daemon keeps the old value until it is restarted;
- ``CREDENTIALS``: the Wallbox password: applied by one new sign-in;
- ``OTHER``: applied at the next tick with nothing else to do (log level, what to do on exit,
  the manual-override rule ...).

Pure: compares two values, never reads a file or the environment. The values of secrets
(``SecretStr`` settings: passwords, API keys, tokens) never leave this module unmasked.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import SecretStr

from smartcharge.config import PREFIX, Settings


class SettingKind(enum.StrEnum):
    """What a running daemon does when a setting of this kind changes."""

    PLANNING = "planning"  # apply at the next tick and plan again
    NEEDS_RESTART = "needs_restart"  # keep the old value; the change needs a restart
    CREDENTIALS = "credentials"  # apply with one new sign-in
    OTHER = "other"  # apply at the next tick, nothing more


_P, _R, _C, _O = (
    SettingKind.PLANNING,
    SettingKind.NEEDS_RESTART,
    SettingKind.CREDENTIALS,
    SettingKind.OTHER,
)

# Settings field -> kind. tests/test_settings_diff.py fails on a field of Settings that is not
# here (and on a name here that is no field), so a new setting is classified on purpose.
SETTING_KINDS: Mapping[str, SettingKind] = {
    # --- Wallbox cloud: the account signs in again; the client, its addresses and its call
    # budget (limiter, budget file) are built once for the process.
    # A new username is another account: its call budget, token store and charger are other
    # files and another discovery, set up at start.
    "wallbox_username": _R,
    "wallbox_password": _C,
    "wallbox_charger_id": _R,  # the session and its state belong to one charger
    "wallbox_api_url": _R,
    "wallbox_auth_url": _R,
    "wallbox_reads_per_minute": _R,
    "wallbox_writes_per_minute": _R,
    "wallbox_timeout_s": _R,  # the one HTTP session's timeout
    "wallbox_signins_per_hour": _R,
    "wallbox_budget_dir": _R,
    # --- General
    "state_dir": _R,  # holds the lock, the state and the token store of this process
    "log_format": _O,
    "log_level": _O,
    "timezone": _P,  # ready-by and the price day are local times
    # --- Prices: the sources (and the ENTSO-E worker with its key) are built once.
    "bidding_zone": _R,
    "entsoe_api_key": _R,
    "entsoe_api_url": _R,
    "energyzero_api_url": _R,
    "price_sources": _R,
    "tariff_markup_eur_kwh": _P,
    "tariff_tax_eur_kwh": _P,
    "tariff_vat_percent": _P,
    # --- Planning
    "max_price": _P,
    "strategy_path": _P,
    "strategy": _P,
    "max_interruptions": _P,
    "deadline_margin_min": _P,
    "target_kwh": _P,
    "battery_kwh": _O,  # read when a user's target is checked (smartcharge plan, the API)
    "ready_by": _P,
    "max_current_a": _P,
    "min_current_a": _P,
    "phases": _P,
    "voltage_v": _P,
    # --- Daemon: the jobs' intervals and the health server are set up once.
    "poll_interval_s": _R,
    "poll_interval_idle_s": _R,
    "replan_power_deviation": _O,  # a rule read at each reading
    "manual_override": _O,  # a rule read at each tick
    "health_port": _R,
    "http_host": _R,  # the server listens once, at start
    "api_token": _R,  # the server's guard is built once (a token is asked only beyond loopback)
    "restart_on_error": _R,  # read by the process around the daemon
    "on_exit": _O,  # read when the daemon stops
    # --- Charger link: the charger adapter and the OCPP endpoint are built once.
    "charger_link": _R,
    "ocpp_host": _R,
    "ocpp_port": _R,
    "ocpp_charge_point_id": _R,
    "ocpp_password": _R,
    "ocpp_cert_file": _R,
    "ocpp_key_file": _R,
}


@dataclass(frozen=True)
class SettingChange:
    """One setting whose value changed; ``old`` and ``new`` are shown text, secrets masked."""

    name: str  # the variable, SMARTCHARGE_...
    kind: SettingKind
    old: str
    new: str


@dataclass(frozen=True)
class SettingsDiff:
    """The settings that changed, in the order of the Settings model."""

    changes: tuple[SettingChange, ...] = ()

    def __bool__(self) -> bool:
        """Return whether anything changed."""
        return bool(self.changes)

    @property
    def names(self) -> tuple[str, ...]:
        """Return the variables that changed."""
        return tuple(c.name for c in self.changes)

    def of_kind(self, kind: SettingKind) -> tuple[str, ...]:
        """Return the variables of one kind that changed."""
        return tuple(c.name for c in self.changes if c.kind is kind)

    @property
    def needs_replan(self) -> bool:
        """Return whether a planning setting changed (the session is planned again)."""
        return bool(self.of_kind(SettingKind.PLANNING))

    @property
    def needs_signin(self) -> bool:
        """Return whether the Wallbox password changed (one new sign-in)."""
        return bool(self.of_kind(SettingKind.CREDENTIALS))

    @property
    def needs_restart(self) -> tuple[str, ...]:
        """Return the variables whose change waits for a restart."""
        return self.of_kind(SettingKind.NEEDS_RESTART)

    def shown(self) -> dict[str, str]:
        """Return ``variable -> "old -> new"`` for a log line (secrets masked)."""
        return {c.name: f"{c.old} -> {c.new}" for c in self.changes}


def _comparable(value: Any) -> Any:
    return value.get_secret_value() if isinstance(value, SecretStr) else value


def diff_settings(old: Settings, new: Settings) -> SettingsDiff:
    """Return the settings whose value differs between ``old`` and ``new``.

    Secrets are compared by their value and shown masked (``**********``, ``(empty)`` or
    ``(not set)``), so a log line says that the password changed, never what it is.

    Raises:
        KeyError: a field of Settings is missing from ``SETTING_KINDS`` (a programming error
            that tests/test_settings_diff.py catches first).
    """
    old_text, new_text = old.masked(), new.masked()
    changes = []
    for field in type(new).model_fields:
        if _comparable(getattr(old, field)) == _comparable(getattr(new, field)):
            continue
        name = PREFIX + field.upper()
        changes.append(SettingChange(name, SETTING_KINDS[field], old_text[name], new_text[name]))
    return SettingsDiff(tuple(changes))


def keep_running(running: Settings, loaded: Settings) -> Settings:
    """Return ``loaded`` with every ``NEEDS_RESTART`` setting as in ``running``.

    What a running daemon can apply: the new values, except those it read once at start,
    which stay as they are until a restart (and are reported by name, not applied).
    """
    kept = {
        field: getattr(running, field)
        for field, kind in SETTING_KINDS.items()
        if kind is SettingKind.NEEDS_RESTART
    }
    return loaded.model_copy(update=kept)
