"""The .env file: where it is, which line names what, which lines cannot be read, typos."""

from __future__ import annotations

import difflib
import io
import os
import re
from collections.abc import Mapping
from pathlib import Path

from smartcharge.config.model import setting_names
from smartcharge.config.names import ENV_FILE_VAR, PREFIX


def read_env_file(path: Path) -> dict[str, int]:
    """Return ``NAME -> line number`` for the assignments in a .env file."""
    lines: dict[str, int] = {}
    try:
        # utf-8-sig: a BOM (Notepad) must not hide the first name; split lines as python-dotenv
        # does (splitlines() also breaks at \f, \x85, \u2028 ... and would shift the numbers).
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError):
        return lines
    for number, line in enumerate(re.split(r"\r\n|\r|\n", text), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#") or "=" not in stripped:
            continue
        name = stripped.split("=", 1)[0].strip()
        name = name.removeprefix("export ").strip()
        lines[name.upper()] = number
    return lines


def env_file_path(environ: Mapping[str, str] | None = None) -> Path:
    """Return the .env path in force (``SMARTCHARGE_ENV_FILE`` or ``./.env``)."""
    env = os.environ if environ is None else environ
    return Path(env.get(ENV_FILE_VAR) or ".env")


def unknown_names(environ: Mapping[str, str] | None = None) -> list[str]:
    """Return warnings for ``SMARTCHARGE_`` names that are not settings (probable typos)."""
    env = os.environ if environ is None else environ
    valid = setting_names()
    found = {k for k in env if k.startswith(PREFIX)}
    path = env_file_path(env)
    file_lines = read_env_file(path) if path.is_file() else {}
    found |= {k for k in file_lines if k.startswith(PREFIX)}
    warnings = []
    for name in sorted(found - set(valid)):
        near = difflib.get_close_matches(name, valid, n=1, cutoff=0.6)
        where = f" ({path}:{file_lines[name]})" if name in file_lines else ""
        hint = f"; did you mean {near[0]}?" if near else ""
        warnings.append(f"{name}{where}: not a smartcharge setting, ignored{hint}")
    return warnings


_LINE_NAME = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.]*)")


def env_file_problems(path: Path, text: str) -> list[str]:
    """Return one line per ``.env`` line that python-dotenv cannot read (it would drop it).

    The value is never quoted (it may be the password); the variable's name is, when the line
    starts with one. A ``SMARTCHARGE_`` name without ``=`` is reported, and so is a quoted value
    that runs over several lines: no setting takes one, so it is an unclosed quote that
    swallowed the lines after it.
    """
    from dotenv.parser import parse_stream  # noqa: PLC0415 - python-dotenv, pydantic-settings' own

    problems: list[str] = []
    for binding in parse_stream(io.StringIO(text)):
        original = binding.original
        head = _LINE_NAME.match(original.string)
        name = f" ({head.group(1)})" if head else ""
        where = f"{path}:{original.line}"
        first_line = original.string.split("\n", 1)[0]
        if binding.error:
            why = " (an unclosed quote?)" if re.search(r"""=\s*['"]""", first_line) else ""
            problems.append(
                f"{where}{name}: cannot read this line{why}; expected NAME=value, with a quoted "
                'value closed on the same line, e.g. NAME="two words"'
            )
        elif binding.key is None or not binding.key.upper().startswith(PREFIX):
            continue
        elif binding.value is None:
            problems.append(f"{where}{name}: no '=' on this line; expected NAME=value")
        elif "\n" in binding.value:
            lines = original.string.rstrip("\r\n").count("\n") + 1
            problems.append(
                f"{where}{name}: the quoted value runs over {lines} lines (an unclosed quote?); "
                "close the quote on the same line"
            )
    return problems


def raw_values(
    env: Mapping[str, str], path: Path, file_lines: Mapping[str, int]
) -> dict[str, tuple[str, str]]:
    """Return ``field -> (value as written, where from)`` for the settings given as text.

    As the settings are read: names in any case, the environment wins over the .env file, and
    an empty value in the environment counts as not set.
    """
    found: dict[str, tuple[str, str]] = {}
    if path.is_file():
        from dotenv import dotenv_values  # noqa: PLC0415 - pydantic-settings' own reader

        try:
            text = path.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError):
            text = ""
        for name, value in dotenv_values(stream=io.StringIO(text)).items():
            var = name.upper()
            if var.startswith(PREFIX) and value:
                found[var] = (value, f" ({path}:{file_lines[var]})" if var in file_lines else "")
    for name, value in env.items():
        var = name.upper()
        if var.startswith(PREFIX) and value:
            found[var] = (value, " (from the environment)")
    return {var.removeprefix(PREFIX).lower(): item for var, item in found.items()}
