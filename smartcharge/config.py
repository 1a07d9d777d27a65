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
"""

from __future__ import annotations

import difflib
import enum
import io
import os
import re
from collections.abc import Mapping
from contextvars import ContextVar
from datetime import time
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BeforeValidator,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from pydantic_settings.sources.utils import parse_env_vars

from smartcharge.errors import ConfigError
from smartcharge.number_text import Slip, number_hint, read_slip

PREFIX = "SMARTCHARGE_"
ENV_FILE_VAR = "SMARTCHARGE_ENV_FILE"
# Settings whose value may come from a file instead (Docker secrets: /run/secrets/NAME).
SECRET_FILE_VARS = {
    "wallbox_password": "SMARTCHARGE_WALLBOX_PASSWORD_FILE",
    "entsoe_api_key": "SMARTCHARGE_ENTSOE_API_KEY_FILE",
}
# A URL's user:password@ part, masked wherever a URL is shown.
_URL_USERINFO = re.compile(r"(?<=//)[^/@\s]*@")

_HHMM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
_SOURCE_NAMES = ("entsoe", "energyzero")


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


class OnExit(enum.StrEnum):
    """What the daemon leaves behind when it stops during a session."""

    RESUME = "resume"
    LEAVE = "leave"


# The names of entsoe-py's ``entsoe.mappings.Area`` (entsoe-py 0.8), copied: importing
# ``entsoe.mappings`` runs ``entsoe/__init__.py``, which loads pandas (about 50 MB) into the
# daemon just to validate one setting. tests/test_prices_entsoe_worker.py checks the copy
# against the installed entsoe-py.
ENTSOE_ZONES = (
    "AL",
    "AT",
    "BA",
    "BE",
    "BG",
    "BY",
    "CH",
    "CWE",
    "CY",
    "CZ",
    "CZ_DE_SK",
    "DE",
    "DE_50HZ",
    "DE_AMPRION",
    "DE_AMP_LU",
    "DE_AT_LU",
    "DE_LU",
    "DE_TENNET",
    "DE_TRANSNET",
    "DK",
    "DK_1",
    "DK_1_NO_1",
    "DK_2",
    "DK_CA",
    "EE",
    "ES",
    "FI",
    "FR",
    "GB",
    "GB_ELECLINK",
    "GB_IFA",
    "GB_IFA2",
    "GE",
    "GR",
    "HR",
    "HU",
    "IE",
    "IE_SEM",
    "IS",
    "IT",
    "IT_BRNN",
    "IT_CALA",
    "IT_CNOR",
    "IT_CSUD",
    "IT_FOGN",
    "IT_GR",
    "IT_MACRO_NORTH",
    "IT_MACRO_SOUTH",
    "IT_MALTA",
    "IT_NORD",
    "IT_NORD_AT",
    "IT_NORD_CH",
    "IT_NORD_FR",
    "IT_NORD_SI",
    "IT_PRGP",
    "IT_ROSN",
    "IT_SACO_AC",
    "IT_SACO_DC",
    "IT_SARD",
    "IT_SICI",
    "IT_SUD",
    "LT",
    "LU",
    "LV",
    "MD",
    "ME",
    "MK",
    "MT",
    "NIE",
    "NL",
    "NO",
    "NO_1",
    "NO_1A",
    "NO_2",
    "NO_2A",
    "NO_2_NSL",
    "NO_3",
    "NO_4",
    "NO_5",
    "PL",
    "PL_CZ",
    "PT",
    "RO",
    "RS",
    "RU",
    "RU_KGD",
    "SE",
    "SE_1",
    "SE_2",
    "SE_3",
    "SE_4",
    "SI",
    "SK",
    "TR",
    "UA",
    "UA_BEI",
    "UA_DOBTPP",
    "UA_IPS",
    "UK",
    "XK",
)


def child_environment() -> dict[str, str]:
    """Return our environment without ``SMARTCHARGE_*`` and ``ENTSOE_*``, for a child process.

    A helper process (the ENTSO-E worker) needs PATH and the like, never our settings: above
    all not ``SMARTCHARGE_ENTSOE_API_KEY``, which it gets over stdin when it needs it.
    """
    return {k: v for k, v in os.environ.items() if not k.startswith((PREFIX, "ENTSOE_"))}


def known_zones() -> list[str]:
    """Return the bidding-zone codes entsoe-py knows (``NL``, ``BE``, ``DE_LU``, ...)."""
    return list(ENTSOE_ZONES)


def _check_zone(zone: str) -> str:
    zones = known_zones()
    if zone not in zones:
        near = difflib.get_close_matches(zone, zones, n=3) or ["NL", "BE", "DE_LU", "FR"]
        raise ValueError(
            f"unknown bidding zone; use a zone code entsoe-py knows, e.g. {', '.join(near)}"
            f" ({len(zones)} in all)"
        )
    return zone


# The environment load_settings(environ) was given, while it builds Settings (None: os.environ).
_ENVIRON: ContextVar[Mapping[str, str] | None] = ContextVar("smartcharge_environ", default=None)


class _EnvironSource(EnvSettingsSource):
    """The environment source: the mapping given to ``load_settings``, else ``os.environ``."""

    def _load_env_vars(self) -> Mapping[str, str | None]:
        environ = _ENVIRON.get()
        if environ is None:
            return super()._load_env_vars()
        return parse_env_vars(
            environ, self.case_sensitive, self.env_ignore_empty, self.env_parse_none_str
        )


class Settings(BaseSettings):
    """All of smartcharge's settings, with their defaults."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """The usual order; the environment read from ``load_settings``' mapping when given."""
        return init_settings, _EnvironSource(settings_cls), dotenv_settings, file_secret_settings

    model_config = SettingsConfigDict(
        env_prefix=PREFIX,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        validate_default=True,
        hide_input_in_errors=False,
        env_ignore_empty=True,
        allow_inf_nan=False,  # "nan"/"inf" are refused as "a finite number", not "at most 1"
    )

    # --- Wallbox cloud
    wallbox_username: str | None = None
    wallbox_password: SecretStr | None = None
    wallbox_charger_id: int | None = Field(default=None, gt=0, le=2**63 - 1)  # an int64 id
    wallbox_api_url: str = "https://api.wall-box.com"
    wallbox_auth_url: str = "https://user-api.wall-box.com"
    wallbox_reads_per_minute: float = Field(default=1.0, gt=0, le=3)
    wallbox_writes_per_minute: float = Field(default=3.0, gt=0, le=5)
    wallbox_timeout_s: float = Field(default=20.0, gt=0, le=120)
    wallbox_signins_per_hour: int = Field(default=3, ge=1, le=10)
    # Where the account's shared call budget lives (None: the state dir); see .env.example.
    wallbox_budget_dir: Path | None = None

    # --- General
    state_dir: Path = Path("./state")
    log_format: LogFormat = LogFormat.AUTO
    log_level: LogLevel = LogLevel.INFO
    timezone: str = "Europe/Amsterdam"

    # --- Prices
    bidding_zone: str = "NL"
    entsoe_api_key: SecretStr | None = None
    entsoe_api_url: str = "https://web-api.tp.entsoe.eu/api"
    energyzero_api_url: str = "https://public.api.energyzero.nl"
    price_sources: Annotated[tuple[str, ...], NoDecode] = ("entsoe", "energyzero")
    tariff_markup_eur_kwh: float = Field(default=0.0, ge=-1, le=1)
    # Dutch energy tax on electricity for 2026, first bracket, excl. VAT (see .env.example).
    tariff_tax_eur_kwh: float = Field(default=0.09161, ge=0, le=1)
    tariff_vat_percent: float = Field(default=21.0, ge=0, le=100)

    # --- Planning
    max_price: str | None = None
    # Where SMARTCHARGE_STRATEGY=module:Class looks first; None: the state dir's strategies/.
    strategy_path: Path | None = None
    strategy: str = "cheapest"
    max_interruptions: int = Field(default=3, ge=1, le=96)
    deadline_margin_min: int = Field(default=30, ge=0, le=720)
    target_kwh: float = Field(default=20.0, ge=0, le=200)
    ready_by: time = time(7, 0)
    max_current_a: int = Field(default=16, ge=6, le=80)
    min_current_a: int = Field(default=6, ge=6, le=80)
    # .env and the environment give text; Literal[1, 3] alone would refuse "1" and "3".
    phases: Annotated[
        Literal[1, 3], BeforeValidator(lambda v: int(v) if str(v).strip() in ("1", "3") else v)
    ] = 3
    voltage_v: float = Field(default=230.0, ge=100, le=260)

    # --- Daemon
    poll_interval_s: int = Field(default=90, ge=60, le=3600)
    poll_interval_idle_s: int = Field(default=300, ge=60, le=86400)
    replan_power_deviation: float = Field(default=0.2, gt=0, le=1)
    manual_override: ManualOverride = ManualOverride.RESPECT
    health_port: int = Field(default=8765, ge=0, le=65535)
    restart_on_error: bool = False
    on_exit: OnExit = OnExit.RESUME

    @field_validator("wallbox_api_url", "wallbox_auth_url", "entsoe_api_url", "energyzero_api_url")
    @classmethod
    def _url(cls, value: str, info: ValidationInfo) -> str:
        if not re.fullmatch(r"https?://[^\s/]+(/\S*)?", value):
            example = cls.model_fields[str(info.field_name)].default
            raise ValueError(f"expected an http(s) URL, e.g. {example}")
        try:
            port = urlsplit(value).port
        except ValueError:
            port = -1
        if port is not None and not 1 <= port <= 65535:
            raise ValueError("the port must be a whole number from 1 to 65535")
        return value.rstrip("/")

    @field_validator("log_level", mode="before")
    @classmethod
    def _level(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("state_dir", "strategy_path", "wallbox_budget_dir", mode="before")
    @classmethod
    def _folder(cls, value: Any) -> Any:
        if isinstance(value, str) and ("\x00" in value or not value.strip()):
            raise ValueError("expected a folder path, e.g. ./state or /data")
        return value

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                "unknown time zone; expected an IANA name, e.g. Europe/Amsterdam"
            ) from None
        return value

    @field_validator("bidding_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return _check_zone(value.strip().upper())

    @field_validator("price_sources", mode="before")
    @classmethod
    def _sources(cls, value: Any) -> tuple[str, ...]:
        items = value.split(",") if isinstance(value, str) else list(value)
        out: list[str] = []
        for raw in items:
            item = str(raw).strip()
            if not item:
                continue
            name, _, zone = item.partition(":")
            if name not in _SOURCE_NAMES:
                raise ValueError(
                    f"unknown price source {item!r}; expected a comma-separated list of "
                    f"{', '.join(_SOURCE_NAMES)} (entsoe may name a zone, e.g. entsoe:BE)"
                )
            if zone:
                if name != "entsoe":
                    raise ValueError(f"{name} takes no zone; only entsoe:ZONE does")
                zone = _check_zone(zone.upper())
                item = f"entsoe:{zone}"
            out.append(item)
        if not out:
            raise ValueError("empty; expected e.g. entsoe,energyzero")
        return tuple(out)

    @field_validator("ready_by", mode="before")
    @classmethod
    def _hhmm(cls, value: Any) -> Any:
        if isinstance(value, str):
            m = _HHMM.match(value.strip())
            if not m:
                raise ValueError("expected HH:MM (24h), e.g. 07:00")
            return time(int(m.group(1)), int(m.group(2)))
        return value

    @field_validator("max_price")
    @classmethod
    def _price_limit(cls, value: str | None) -> str | None:
        if value is None or value.strip() == "":
            return None
        from strategies.threshold import LIMIT_ACCEPTED, parse_limit  # noqa: PLC0415 - as below

        try:
            parse_limit(value)
        except ConfigError:
            raise ValueError(LIMIT_ACCEPTED) from None
        return value.strip().lower()

    @field_validator("strategy")
    @classmethod
    def _strategy(cls, value: str, info: ValidationInfo) -> str:
        """Resolve the strategy once, at start-up (a user's plug-in included)."""
        from strategies import get_strategy  # noqa: PLC0415 - plug-ins are imported only here

        folder = strategy_folder(
            info.data.get("strategy_path"), info.data.get("state_dir") or Path("./state")
        )
        try:
            get_strategy(value, max_price=info.data.get("max_price"), search_path=[folder])
        except ConfigError as exc:
            text = str(exc)
            # get_strategy names the variable itself; the caller adds name, value and place.
            if text.startswith("SMARTCHARGE_STRATEGY="):
                text = text.split(": ", 1)[-1]
            raise ValueError(text) from None
        return value.strip()

    @model_validator(mode="before")
    @classmethod
    def _number_slips(cls, data: Any) -> Any:
        """Read ``20kWh`` (the setting's own unit) and ``0,21`` as numbers; slip_warnings warns."""
        if not isinstance(data, dict):
            return data
        out = dict(data)
        for name, value in data.items():
            slip = _slip(name, value)
            if slip is not None:
                out[name] = slip.number
        return out

    @model_validator(mode="after")
    def _currents(self) -> Settings:
        if self.min_current_a > self.max_current_a:
            raise ValueError(
                f"SMARTCHARGE_MIN_CURRENT_A ({self.min_current_a}) is above "
                f"SMARTCHARGE_MAX_CURRENT_A ({self.max_current_a}); the minimum must not "
                "exceed the maximum"
            )
        return self

    @property
    def strategy_folder(self) -> Path:
        """Return where a ``module:Class`` strategy is looked up first."""
        return strategy_folder(self.strategy_path, self.state_dir)

    def masked(self) -> dict[str, str]:
        """Return every setting as ``variable name -> text``, secrets masked."""
        out: dict[str, str] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                text = "**********" if value.get_secret_value() else "(empty)"
            elif value is None:
                text = "(not set)"
            elif isinstance(value, tuple):
                text = ",".join(value)
            elif isinstance(value, enum.Enum):
                text = str(value.value)
            elif isinstance(value, time):
                text = value.strftime("%H:%M")
            else:
                text = mask_url(str(value))
            out[PREFIX + name.upper()] = text
        return out


def _slip(field: str, value: Any) -> Slip | None:
    """Return the accepted slip in a number setting's text value (None: none, or no number)."""
    info = Settings.model_fields.get(field)
    if info is None or info.annotation not in (int, float) or not isinstance(value, str):
        return None
    return read_slip(PREFIX + field.upper(), value, is_float=info.annotation is float)


def strategy_folder(strategy_path: Path | None, state_dir: Path) -> Path:
    """Return ``SMARTCHARGE_STRATEGY_PATH``, or by default the state dir's ``strategies/``."""
    return strategy_path if strategy_path is not None else state_dir / "strategies"


def setting_names() -> list[str]:
    """Return every valid variable name, ``SMARTCHARGE_...``."""
    names = [PREFIX + n.upper() for n in Settings.model_fields]
    return [*names, ENV_FILE_VAR, *SECRET_FILE_VARS.values()]


def mask_url(text: str) -> str:
    """Return ``text`` with a URL's ``user:password@`` replaced by ``***@``."""
    return _URL_USERINFO.sub("***@", text)


def _read_env_file(path: Path) -> dict[str, int]:
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


def _describe(value: Any, var: str) -> str:
    if "PASSWORD" in var or "API_KEY" in var:
        return "(secret hidden)"
    text = mask_url(str(value))
    if len(text) > 60:
        text = text[:57] + "..."
    return repr(text)


_MESSAGES = {
    "int_parsing": "expected a whole number",
    "float_parsing": "expected a number",
    "bool_parsing": "expected true or false",
    "literal_error": "expected one of",
    "enum": "expected one of",
    "greater_than": "must be greater than",
    "greater_than_equal": "must be at least",
    "less_than": "must be less than",
    "less_than_equal": "must be at most",
    "time_parsing": "expected HH:MM (24h), e.g. 07:00",
    "finite_number": "expected a finite number",
    "path_type": "expected a folder path",
}


def _explain(err: Mapping[str, Any], var: str = "") -> str:
    kind = str(err.get("type", ""))
    ctx = err.get("ctx") or {}
    if kind == "value_error":
        return str(ctx.get("error", err.get("msg", "")))
    base = _MESSAGES.get(kind)
    if base is None:
        return str(err.get("msg", "invalid value"))
    if kind in ("float_parsing", "int_parsing") and "SECRET" not in var:
        return base + number_hint(kind, err.get("input"), var)
    if kind in ("literal_error", "enum"):
        return f"{base} {ctx.get('expected', '')}".strip()
    for key in ("gt", "ge", "lt", "le"):
        if key in ctx:
            return f"{base} {ctx[key]}"
    return base


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
    file_lines = _read_env_file(path) if path.is_file() else {}
    found |= {k for k in file_lines if k.startswith(PREFIX)}
    warnings = []
    for name in sorted(found - set(valid)):
        near = difflib.get_close_matches(name, valid, n=1, cutoff=0.6)
        where = f" ({path}:{file_lines[name]})" if name in file_lines else ""
        hint = f"; did you mean {near[0]}?" if near else ""
        warnings.append(f"{name}{where}: not a smartcharge setting, ignored{hint}")
    return warnings


_LINE_NAME = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.]*)")


def _env_file_problems(path: Path, text: str) -> list[str]:
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


def _raw_values(
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
    file_lines = _read_env_file(path) if path.is_file() else {}
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
    for field, (text, place) in _raw_values(env, path, file_lines).items():
        slip = _slip(field, text)
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


def account_problems(settings: Settings) -> list[str]:
    """Return what is missing for signing in to the Wallbox account (empty when nothing is)."""
    problems = []
    if not settings.wallbox_username:
        problems.append(
            "SMARTCHARGE_WALLBOX_USERNAME is not set: expected the e-mail address of your "
            "Wallbox account"
        )
    if settings.wallbox_password is None or not settings.wallbox_password.get_secret_value():
        problems.append(
            "SMARTCHARGE_WALLBOX_PASSWORD is not set: expected the password of your Wallbox account"
        )
    return problems


def readiness_problems(settings: Settings) -> list[str]:
    """Return what makes ``smartcharge run`` refuse to start with these (valid) settings.

    ``run`` needs a Wallbox account, and at least one price source that can deliver prices
    for ``SMARTCHARGE_BIDDING_ZONE`` (or a stand-in zone named on purpose, ``entsoe:BE``).
    """
    problems = account_problems(settings)
    zone = settings.bidding_zone
    has_key = bool(settings.entsoe_api_key and settings.entsoe_api_key.get_secret_value())
    usable = [
        item
        for item in settings.price_sources
        if (item.startswith("entsoe") and has_key) or (item == "energyzero" and zone == "NL")
    ]
    if not usable:
        why = []
        if any(item.startswith("entsoe") for item in settings.price_sources):
            why.append(
                "entsoe needs SMARTCHARGE_ENTSOE_API_KEY (free from the ENTSO-E Transparency "
                "Platform, see .env.example)"
            )
        if "energyzero" in settings.price_sources:
            why.append("energyzero has NL prices only")
        problems.append(
            f"no price source can deliver {zone} prices "
            f"(SMARTCHARGE_PRICE_SOURCES={','.join(settings.price_sources)}): {'; '.join(why)}"
        )
    return problems


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
            problems = _env_file_problems(path, text)
            if problems:
                raise ConfigError(problems)
            file_values = dict(dotenv_values(stream=io.StringIO(text)))
        secrets, problems = _secret_files(env, file_values, path)
        if problems:
            raise ConfigError(problems)
        # Only the secrets read from files: an explicit None would hide the environment's value.
        kwargs: dict[str, Any] = {"_env_file": path if path.is_file() else None, **secrets}
        token = _ENVIRON.set(environ)
        try:
            settings = Settings(**kwargs)
        finally:
            _ENVIRON.reset(token)
    except PermissionError as exc:  # e.g. a .env mounted into the container, owned by you
        raise ConfigError(
            f"{path}: cannot read the .env file ({exc.strerror}); make it readable by this user "
            f"(uid {os.getuid()}), e.g. setfacl -m u:{os.getuid()}:r {path}"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:  # e.g. a .env saved as Latin-1, or unreadable
        why = "not UTF-8 text" if isinstance(exc, UnicodeDecodeError) else exc.strerror
        raise ConfigError(f"{path}: cannot read the .env file ({why}); save it as UTF-8") from None
    except ValidationError as exc:
        file_lines = _read_env_file(path) if path.is_file() else {}
        written = _raw_values(env, path, file_lines)
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
                slip = _slip(field, text)
                if slip is not None and slip.number == value:  # show it as it was written
                    value = text
                shown = _describe(value, var)
                problems.append(f"{var}={shown}{where}: {_explain(err, var)}")
            else:
                problems.append(f"{_explain(err)}")
        raise ConfigError(problems) from None
    return settings
