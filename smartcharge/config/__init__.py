"""Settings: the only code that reads the environment or the ``.env`` file.

Every setting is an environment variable ``SMARTCHARGE_<NAME>`` or a line of ``.env`` (its path
can be changed with ``SMARTCHARGE_ENV_FILE``); the environment wins over the file. Every setting
is documented, with unit, default and an example, in ``.env.example``.

``load_settings()`` turns every validation problem into one readable line that names the
variable, the bad value, what is accepted and where the value came from (the ``.env`` file and
line), and raises ``ConfigError`` with all of them; the CLI prints them and exits 2. A line of
the ``.env`` file that cannot be read at all (an unclosed quote) is such a problem too, with
its line number; it is never dropped silently.

Secrets can also come from files (the Docker secrets convention):
``SMARTCHARGE_WALLBOX_PASSWORD_FILE`` and ``SMARTCHARGE_ENTSOE_API_KEY_FILE`` name a file that
holds the value (one trailing newline is dropped), so the secret is never an environment
variable (``docker inspect`` shows those).

One job per module; callers import from ``smartcharge.config`` (the names below):

- ``names``: the prefix, the ``.env`` variable, the secret-file variables, URL masking;
- ``choices``: the enumerated values (log format and level, manual override, on exit, link);
- ``link``: the checks of the OCPP link's address, port, charge point id and certificate;
- ``zones``: the bidding zones entsoe-py knows;
- ``model``: ``Settings``, every setting with its type, default and rule;
- ``envfile``: the ``.env`` file (its path, line numbers, unreadable lines, unknown names);
- ``explain``: one readable line for a validation error;
- ``loading``: ``load_settings``, the secret files, the problems gathered;
- ``slips``: warnings for valid values that are probably not what was meant;
- ``readiness``: what ``run`` refuses with valid values;
- ``childenv``: the environment a child process gets.
"""

from __future__ import annotations

from smartcharge.config.childenv import child_environment
from smartcharge.config.choices import ChargerLink, LogFormat, LogLevel, ManualOverride, OnExit
from smartcharge.config.envfile import env_file_path, unknown_names
from smartcharge.config.loading import load_settings
from smartcharge.config.model import Settings, setting_names, strategy_folder
from smartcharge.config.names import ENV_FILE_VAR, PREFIX, SECRET_FILE_VARS, mask_url
from smartcharge.config.readiness import (
    EnergyCostInApp,
    account_gap,
    account_problems,
    energy_cost_in_app,
    energy_cost_note,
    readiness_problems,
)
from smartcharge.config.slips import slip_warnings
from smartcharge.config.zones import known_zones
from smartcharge.prices.zones import ENTSOE_ZONES

__all__ = [
    "ENTSOE_ZONES",
    "ENV_FILE_VAR",
    "PREFIX",
    "SECRET_FILE_VARS",
    "ChargerLink",
    "EnergyCostInApp",
    "LogFormat",
    "LogLevel",
    "ManualOverride",
    "OnExit",
    "Settings",
    "account_gap",
    "account_problems",
    "child_environment",
    "energy_cost_in_app",
    "energy_cost_note",
    "env_file_path",
    "known_zones",
    "load_settings",
    "mask_url",
    "readiness_problems",
    "setting_names",
    "slip_warnings",
    "strategy_folder",
    "unknown_names",
]
