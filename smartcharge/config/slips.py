"""Warnings for valid settings that are probably not what was meant."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from smartcharge.config.envfile import env_file_path, raw_values, read_env_file
from smartcharge.config.model import Settings, slip_in
from smartcharge.config.names import PREFIX

# Names other software uses too: in the environment (not in .env) they are not taken for a
# smartcharge setting that lost its prefix.
_COMMON_NAMES = frozenset(
    {"TIMEZONE", "LOG_LEVEL", "LOG_FORMAT", "STATE_DIR", "STRATEGY", "PHASES", "ON_EXIT"}
)


def _place(var: str, env: Mapping[str, str], path: Path, file_lines: Mapping[str, int]) -> str:
    if var in env:
        return " (from the environment)"
    if var in file_lines:
        return f" ({path}:{file_lines[var]})"
    return ""


def slip_warnings(settings: Settings, environ: Mapping[str, str] | None = None) -> list[str]:
    """Return warnings for valid settings that are probably not what was meant.

    A setting name without the ``SMARTCHARGE_`` prefix is ignored (entsoe-py even reads
    ``ENTSOE_API_KEY`` behind our back); a number written with its own unit (``20kWh``) or a
    decimal comma (``0,21``) is read as the plain number, which may not be what was meant;
    and a VAT between 0 and 1 is a fraction written where a percentage belongs. None of
    these stops smartcharge; check-config and every command say so.
    """
    env = os.environ if environ is None else environ
    path = env_file_path(env)
    file_lines = read_env_file(path) if path.is_file() else {}
    out = []
    for field in Settings.model_fields:
        name = field.upper()
        if name in file_lines:
            where = f"{path}:{file_lines[name]}"
        elif name in env and name not in _COMMON_NAMES:
            where = "the environment"
        else:
            continue
        out.append(f"{name} ({where}): not read without the prefix; did you mean {PREFIX}{name}?")
    for field, (text, place) in raw_values(env, path, file_lines).items():
        slip = slip_in(field, text)
        if slip is not None:
            out.append(f"{PREFIX}{field.upper()}={text.strip()}{place}: {slip.advice()}")
    vat = settings.tariff_vat_percent
    if 0 < vat < 1:
        var = "SMARTCHARGE_TARIFF_VAT_PERCENT"
        out.append(
            f"{var}={vat:g}{_place(var, env, path, file_lines)}: a percentage, not a fraction; "
            f"did you mean {vat * 100:g}?"
        )
    return out
