"""Building the Settings from the environment and the .env file, every problem one line."""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import (
    SecretStr,
    ValidationError,
)

from smartcharge.config.envfile import env_file_path, env_file_problems, raw_values, read_env_file
from smartcharge.config.explain import describe, explain
from smartcharge.config.model import ENVIRON_GIVEN, Settings, slip_in
from smartcharge.config.names import ENV_FILE_VAR, PREFIX, SECRET_FILE_VARS
from smartcharge.errors import ConfigError


def _secret_files(
    env: Mapping[str, str], file_values: Mapping[str, str | None], path: Path
) -> tuple[dict[str, SecretStr], list[str]]:
    """Read the secrets named by ``*_FILE`` settings; return them and the problems found."""
    found: dict[str, SecretStr] = {}
    problems: list[str] = []
    for field, file_var in SECRET_FILE_VARS.items():
        var = PREFIX + field.upper()
        target = env.get(file_var) or file_values.get(file_var)
        if not target:
            continue
        origin = " (from the environment)" if env.get(file_var) else f" ({path})"
        if env.get(var) or file_values.get(var):
            problems.append(f"{var} and {file_var} are both set; set only one of them")
            continue
        try:
            text = Path(target).read_text(encoding="utf-8")
        except OSError as exc:
            problems.append(
                f"{file_var}={target!r}{origin}: cannot read the file ({exc.strerror}); it must "
                f"hold {var}'s value and be readable by this user (uid {os.getuid()})"
            )
            continue
        except UnicodeDecodeError:
            problems.append(f"{file_var}={target!r}{origin}: not UTF-8 text")
            continue
        # Docker secrets and `echo secret > file` end the value with one newline.
        value = text.removesuffix("\n").removesuffix("\r")
        if not value.strip():
            problems.append(f"{file_var}={target!r}{origin}: the file is empty")
            continue
        found[field] = SecretStr(value)
    return found, problems


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Build the settings from the environment and the .env file.

    Args:
        environ: the environment to read instead of ``os.environ`` (every ``SMARTCHARGE_``
            variable, the .env path and the ``*_FILE`` secrets come from it).

    Raises:
        ConfigError: with one line per problem.
    """
    env = os.environ if environ is None else environ
    path = env_file_path(env)
    if ENV_FILE_VAR in env and not path.is_file():
        raise ConfigError(f"{ENV_FILE_VAR}={str(path)!r}: no such file; point it at a .env file")
    file_values: dict[str, str | None] = {}
    secrets: dict[str, SecretStr] = {}
    try:
        if path.is_file():
            from dotenv import dotenv_values  # noqa: PLC0415 - pydantic-settings' own reader

            text = path.read_text(encoding="utf-8-sig")
            problems = env_file_problems(path, text)
            if problems:
                raise ConfigError(problems)
            file_values = dict(dotenv_values(stream=io.StringIO(text)))
        secrets, problems = _secret_files(env, file_values, path)
        if problems:
            raise ConfigError(problems)
        # Only the secrets read from files: an explicit None would hide the environment's value.
        kwargs: dict[str, Any] = {"_env_file": path if path.is_file() else None, **secrets}
        token = ENVIRON_GIVEN.set(environ)
        try:
            settings = Settings(**kwargs)
        finally:
            ENVIRON_GIVEN.reset(token)
    except PermissionError as exc:  # e.g. a .env mounted into the container, owned by you
        raise ConfigError(
            f"{path}: cannot read the .env file ({exc.strerror}); make it readable by this user "
            f"(uid {os.getuid()}), e.g. setfacl -m u:{os.getuid()}:r {path}"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:  # e.g. a .env saved as Latin-1, or unreadable
        why = "not UTF-8 text" if isinstance(exc, UnicodeDecodeError) else exc.strerror
        raise ConfigError(f"{path}: cannot read the .env file ({why}); save it as UTF-8") from None
    except ValidationError as exc:
        file_lines = read_env_file(path) if path.is_file() else {}
        written = raw_values(env, path, file_lines)
        problems = []
        for err in exc.errors():
            loc = err.get("loc") or ()
            field = str(loc[0]) if loc else ""
            var = PREFIX + field.upper() if field else "settings"
            where = ""
            if var in env:
                where = " (from the environment)"
            elif var in file_lines:
                where = f" ({path}:{file_lines[var]})"
            if field:
                value = err.get("input")
                text = written.get(field, ("", ""))[0]
                slip = slip_in(field, text)
                if slip is not None and slip.number == value:  # show it as it was written
                    value = text
                shown = describe(value, var)
                problems.append(f"{var}={shown}{where}: {explain(err, var)}")
            else:
                problems.append(f"{explain(err)}")
        raise ConfigError(problems) from None
    return settings
