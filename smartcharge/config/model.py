"""The Settings model: every setting, its type, default and rule."""

from __future__ import annotations

import enum
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

from smartcharge.config.choices import ChargerLink, LogFormat, LogLevel, ManualOverride, OnExit
from smartcharge.config.http import check_api_token, token_problem
from smartcharge.config.link import (
    check_charge_point_id,
    check_host,
    check_pem_file,
    check_port,
    pair_problem,
)
from smartcharge.config.names import ENV_FILE_VAR, PREFIX, SECRET_FILE_VARS, mask_url
from smartcharge.config.zones import check_zone
from smartcharge.errors import ConfigError
from smartcharge.number_text import Slip, read_slip
from smartcharge.wallbox.defaults import DEFAULT_TIMEOUT_S as WALLBOX_TIMEOUT_S

_HHMM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
_SOURCE_NAMES = ("entsoe", "energyzero")


# The environment load_settings(environ) was given, while it builds Settings (None: os.environ).
ENVIRON_GIVEN: ContextVar[Mapping[str, str] | None] = ContextVar(
    "smartcharge_environ", default=None
)


class _EnvironSource(EnvSettingsSource):
    """The environment source: the mapping given to ``load_settings``, else ``os.environ``."""

    def _load_env_vars(self) -> Mapping[str, str | None]:
        environ = ENVIRON_GIVEN.get()
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
    wallbox_timeout_s: float = Field(default=WALLBOX_TIMEOUT_S, gt=0, le=120)
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
    # The car's usable battery (optional): a target above it is refused (issue 14).
    battery_kwh: float | None = Field(default=None, gt=0, le=200)
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
    # The HTTP server (/healthz, the API, the page) on loopback by default: no token needed
    # there; beyond loopback every path but /healthz asks for SMARTCHARGE_API_TOKEN (issue 14).
    # The token comes first: the address's check reads it (beyond loopback a token is needed).
    api_token: SecretStr | None = None
    http_host: str = "127.0.0.1"
    restart_on_error: bool = False
    on_exit: OnExit = OnExit.RESUME

    # --- Charger link (issue 15): the cloud, or the charger connecting to us over OCPP 1.6J.
    # The link comes after the OCPP settings: its check reads the charge point id.
    # Loopback by default: the endpoint has no authentication unless a password is set. The
    # container image sets 0.0.0.0 (a published port never reaches a loopback address).
    ocpp_host: str = "127.0.0.1"
    ocpp_port: int = 9000  # HA's OCPP integration's default (evcc uses 8887)
    ocpp_charge_point_id: str | None = None
    ocpp_password: SecretStr | None = None  # security profile 1 (HTTP Basic)
    ocpp_cert_file: Path | None = None  # wss: a PEM certificate and its key, both or neither
    ocpp_key_file: Path | None = None
    charger_link: ChargerLink = ChargerLink.CLOUD

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
        return check_zone(value.strip().upper())

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
                zone = check_zone(zone.upper())
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
            slip = slip_in(name, value)
            if slip is not None:
                out[name] = slip.number
        return out

    @field_validator("charger_link", mode="before")
    @classmethod
    def _link_name(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("charger_link")
    @classmethod
    def _link(cls, value: ChargerLink, info: ValidationInfo) -> ChargerLink:
        # A charge point id that failed its own check is not in info.data: said once, there.
        if value is ChargerLink.OCPP and info.data.get("ocpp_charge_point_id", "") is None:
            raise ValueError(
                "needs SMARTCHARGE_OCPP_CHARGE_POINT_ID: expected the Charge Point Identity "
                "entered in the Wallbox app, e.g. WB123456"
            )
        return value

    @field_validator("ocpp_host")
    @classmethod
    def _ocpp_host(cls, value: str) -> str:
        return check_host(value)

    @field_validator("http_host")
    @classmethod
    def _http_host(cls, value: str, info: ValidationInfo) -> str:
        host = check_host(value)
        # A port or token that failed its own check is not in info.data: said once, there.
        port = info.data.get("health_port")
        if port is not None and "api_token" in info.data:
            problem = token_problem(host, port, info.data["api_token"])
            if problem is not None:
                raise ValueError(problem)
        return host

    @field_validator("api_token")
    @classmethod
    def _api_token(cls, value: SecretStr | None) -> SecretStr | None:
        return check_api_token(value)

    @field_validator("ocpp_port")
    @classmethod
    def _ocpp_port(cls, value: int) -> int:
        return check_port(value)

    @field_validator("ocpp_charge_point_id")
    @classmethod
    def _charge_point_id(cls, value: str | None) -> str | None:
        return check_charge_point_id(value)

    @field_validator("ocpp_cert_file", "ocpp_key_file")
    @classmethod
    def _pem_file(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        return check_pem_file(
            value, "certificate" if info.field_name == "ocpp_cert_file" else "key"
        )

    @model_validator(mode="after")
    def _ocpp_tls(self) -> Settings:
        problem = pair_problem(self.ocpp_cert_file, self.ocpp_key_file)
        if problem is not None:
            raise ValueError(problem)
        return self

    @model_validator(mode="after")
    def _currents(self) -> Settings:
        if self.min_current_a > self.max_current_a:
            raise ValueError(
                f"SMARTCHARGE_MIN_CURRENT_A ({self.min_current_a}) is above "
                f"SMARTCHARGE_MAX_CURRENT_A ({self.max_current_a}); the minimum must not "
                "exceed the maximum"
            )
        return self

    @model_validator(mode="after")
    def _target_in_battery(self) -> Settings:
        if self.battery_kwh is not None and self.target_kwh > self.battery_kwh:
            raise ValueError(
                f"SMARTCHARGE_TARGET_KWH ({self.target_kwh:g}) is above "
                f"SMARTCHARGE_BATTERY_KWH ({self.battery_kwh:g}); a session cannot take more "
                "than the battery holds"
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


def slip_in(field: str, value: Any) -> Slip | None:
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
