"""Wire models that mirror the Wallbox cloud's JSON, and the mappers to domain types.

The models keep the cloud's names and nesting (snake_case on ``chargers/status``, camelCase on
``v2/charger`` and the groups list; wallbox-api.md §10.4), ignore unknown fields so a new field
cannot break us, and are turned into domain values once, by the ``to_domain()`` mappers below.
Units are settled here: ``charging_power`` is kW, ``added_energy`` kWh, currents amps
(``max_available_power`` is amps despite its name, wallbox-api.md §4.2).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import structlog
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from smartcharge.domain import ChargerSnapshot, ChargerStatus
from smartcharge.wallbox.errors import WallboxResponseError

log = structlog.get_logger(__name__)

__all__ = [
    "STATUS_TABLE",
    "ChargerData",
    "ChargerStatusResponse",
    "ChargerUpdateResponse",
    "ConfigData",
    "ConfigResponse",
    "GroupsResponse",
    "RemoteAction",
    "RemoteActionResponse",
    "SessionsResponse",
    "SignInResponse",
    "WallboxSession",
    "WallboxStatusId",
    "parse",
    "status_from_id",
]


class WallboxStatusId(enum.IntEnum):
    """Every ``status_id`` the cloud is known to send (wallbox-api.md §5)."""

    DISCONNECTED = 0  # charger offline from the cloud
    ERROR_14 = 14
    ERROR_15 = 15
    READY_WAITING_FOR_CAR = 161
    READY = 162
    CAR_DISCONNECTED = 163
    WAITING = 164
    LOCKED = 165
    UPDATING = 166
    SCHEDULED = 177
    PAUSING = 178
    WAITING_FOR_NEXT_SCHEDULE = 179
    WAITING_FOR_CAR_DEMAND_180 = 180
    WAITING_FOR_CAR_DEMAND = 181  # car full or held by its own timer
    PAUSED_BY_USER = 182
    QUEUE_POWER_SHARING_183 = 183
    QUEUE_POWER_SHARING_184 = 184
    QUEUE_POWER_BOOST_185 = 185
    QUEUE_POWER_BOOST_186 = 186
    WAITING_MID_FAILED = 187
    WAITING_MID_SAFETY_MARGIN = 188
    QUEUE_ECO_SMART = 189
    CHARGING_193 = 193
    CHARGING = 194
    CHARGING_195 = 195
    DISCHARGING = 196
    LOCKED_NO_CAR = 209
    LOCKED_CAR_CONNECTED = 210


# The one table from status id to state. Source: wallbox-api.md §5, which follows the Wallbox
# portal's own table as copied by Home Assistant (homeassistant/components/wallbox/const.py,
# CHARGER_STATUS, "based on Wallbox portal code"), with 163 read as "car unplugged" (HB).
_S = WallboxStatusId
STATUS_TABLE: dict[WallboxStatusId, ChargerStatus] = {
    _S.DISCONNECTED: ChargerStatus.OFFLINE,
    _S.ERROR_14: ChargerStatus.ERROR,
    _S.ERROR_15: ChargerStatus.ERROR,
    _S.READY_WAITING_FOR_CAR: ChargerStatus.READY,
    _S.READY: ChargerStatus.READY,
    _S.CAR_DISCONNECTED: ChargerStatus.READY,
    _S.WAITING: ChargerStatus.WAITING,
    _S.LOCKED: ChargerStatus.LOCKED,
    _S.UPDATING: ChargerStatus.UPDATING,
    _S.SCHEDULED: ChargerStatus.SCHEDULED,
    _S.PAUSING: ChargerStatus.PAUSED,
    _S.WAITING_FOR_NEXT_SCHEDULE: ChargerStatus.SCHEDULED,
    _S.WAITING_FOR_CAR_DEMAND_180: ChargerStatus.WAITING_FOR_CAR_DEMAND,
    _S.WAITING_FOR_CAR_DEMAND: ChargerStatus.WAITING_FOR_CAR_DEMAND,
    _S.PAUSED_BY_USER: ChargerStatus.PAUSED,
    _S.QUEUE_POWER_SHARING_183: ChargerStatus.WAITING,
    _S.QUEUE_POWER_SHARING_184: ChargerStatus.WAITING,
    _S.QUEUE_POWER_BOOST_185: ChargerStatus.WAITING,
    _S.QUEUE_POWER_BOOST_186: ChargerStatus.WAITING,
    _S.WAITING_MID_FAILED: ChargerStatus.WAITING,
    _S.WAITING_MID_SAFETY_MARGIN: ChargerStatus.WAITING,
    _S.QUEUE_ECO_SMART: ChargerStatus.WAITING,
    _S.CHARGING_193: ChargerStatus.CHARGING,
    _S.CHARGING: ChargerStatus.CHARGING,
    _S.CHARGING_195: ChargerStatus.CHARGING,
    _S.DISCHARGING: ChargerStatus.DISCHARGING,
    _S.LOCKED_NO_CAR: ChargerStatus.LOCKED,
    _S.LOCKED_CAR_CONNECTED: ChargerStatus.LOCKED_CAR_CONNECTED,
}


def status_from_id(status_id: int | None) -> ChargerStatus:
    """Return the state for a raw status id; unknown or missing ids give ``UNKNOWN`` (logged)."""
    try:
        return STATUS_TABLE[WallboxStatusId(status_id)]  # type: ignore[arg-type] # None -> except
    except (ValueError, TypeError):
        log.warning("wallbox_status_unknown", status_id=status_id)
        return ChargerStatus.UNKNOWN


class RemoteAction(enum.IntEnum):
    """The remote actions smartcharge sends, and no others (wallbox-api.md §4.4).

    The set is closed on purpose: 4 is a factory reset and 5 installs firmware; neither can be
    expressed, so neither can be sent. 9 (resume schedule) is left out by choice: handing the
    charger back to the app's schedule could leave a stopped daemon's car paused (README,
    "Stopping").
    """

    RESUME = 1
    PAUSE = 2
    RESTART = 3


class _Wire(BaseModel):
    model_config = ConfigDict(
        extra="ignore", populate_by_name=True, frozen=True, allow_inf_nan=False
    )


class EnergyCost(_Wire):
    """``energyCost``: the per-kWh price, possibly inherited from the group."""

    value: float | None = None
    inherited_group_id: int | None = Field(default=None, alias="inheritedGroupId")


class ConfigData(_Wire):
    """``config_data`` of ``chargers/status/{id}`` (snake_case; ``locked`` is 0/1).

    Only what the daemon acts on is required. ``charger_id`` may be missing (the caller knows
    which charger it asked for); ``icp_max_current`` (null when Power Boost is not set up) and
    ``ecosmart`` (absent on older models, home-assistant/core#146839) are not read at all.
    """

    charger_id: int | None = None
    serial_number: str | None = None
    name: str | None = None
    locked: bool = False
    max_charging_current: int = Field(ge=0, le=1000)
    max_available_current: int | None = None
    energy_price: float | None = None
    energy_cost: EnergyCost | None = Field(default=None, alias="energyCost")


def _energy_cost(energy_cost: EnergyCost | None, energy_price: float | None) -> float | None:
    """Return the charger's energy price: ``energy_price`` first, ``energyCost.value`` second.

    ``energy_price`` is what Home Assistant reads back (from the status and from the reply to
    its ``{"energyCost": x}`` write) and what the app shows; ``energyCost.value`` may be the
    group's price inherited (``inheritedGroupId``) and differ from it (wallbox-api.md §4.2, §7).
    Reading the group's would make the daemon rewrite the price on every tick.
    """
    if energy_price is not None:
        return energy_price
    if energy_cost is not None:
        return energy_cost.value
    return None


class ChargerStatusResponse(_Wire):
    """``GET chargers/status/{id}``: the poll (wallbox-api.md §4.2)."""

    status_id: int | None = None
    charging_power: float | None = None  # kW
    added_energy: float | None = None  # kWh
    max_available_power: float | None = None  # amps, despite the name
    last_sync: str | None = None  # "YYYY-MM-DD HH:MM:SS", probably UTC
    config_data: ConfigData

    def to_domain(self, fetched_at: datetime, charger_id: int | None = None) -> ChargerSnapshot:
        """Return the domain snapshot, read at ``fetched_at``.

        Args:
            fetched_at: when it was read.
            charger_id: the charger that was asked for; it wins over ``config_data.charger_id``,
                which may be missing.

        Raises:
            WallboxResponseError: neither names the charger.
        """
        cfg = self.config_data
        if charger_id is None:
            charger_id = cfg.charger_id
        if charger_id is None:
            raise WallboxResponseError(
                "Wallbox cloud: a status answer has no config_data.charger_id and no charger "
                "was named",
                endpoint="GET chargers/status",
                field="config_data.charger_id",
            )
        max_available = cfg.max_available_current
        if max_available is None and self.max_available_power is not None:
            max_available = int(self.max_available_power)
        return ChargerSnapshot(
            charger_id=charger_id,
            status=status_from_id(self.status_id),
            status_id=self.status_id,
            charging_power_kw=float(self.charging_power or 0.0),
            added_energy_kwh=float(self.added_energy or 0.0),
            max_charging_current_a=cfg.max_charging_current,
            max_available_current_a=max_available or cfg.max_charging_current,
            energy_cost_eur_per_kwh=_energy_cost(cfg.energy_cost, cfg.energy_price),
            locked=cfg.locked,
            fetched_at=fetched_at,
        )


class ChargerData(_Wire):
    """``data.chargerData`` of ``GET|PUT v2/charger/{id}`` (camelCase)."""

    id: int
    status: int | None = None
    max_charging_current: int | None = Field(default=None, alias="maxChargingCurrent")
    max_available_current: int | None = Field(default=None, alias="maxAvailableCurrent")
    locked: bool | None = None


class _ChargerDataEnvelope(_Wire):
    charger_data: ChargerData = Field(alias="chargerData")


class ChargerUpdateResponse(_Wire):
    """The answer to ``PUT v2/charger/{id}``; HA reads the new values from it (§4.3)."""

    data: _ChargerDataEnvelope

    def to_domain(self, before: ChargerSnapshot, fetched_at: datetime) -> ChargerSnapshot:
        """Return ``before`` updated with what the answer says, as of ``fetched_at``."""
        cd = self.data.charger_data
        status_id = cd.status if cd.status is not None else before.status_id
        return ChargerSnapshot(
            charger_id=before.charger_id,
            status=status_from_id(status_id) if cd.status is not None else before.status,
            status_id=status_id,
            charging_power_kw=before.charging_power_kw,
            added_energy_kwh=before.added_energy_kwh,
            max_charging_current_a=(
                cd.max_charging_current
                if cd.max_charging_current is not None
                else before.max_charging_current_a
            ),
            max_available_current_a=cd.max_available_current or before.max_available_current_a,
            energy_cost_eur_per_kwh=before.energy_cost_eur_per_kwh,
            locked=cd.locked if cd.locked is not None else before.locked,
            fetched_at=fetched_at,
        )


class ConfigResponse(_Wire):
    """The flat config object of ``GET|POST chargers/config/{id}`` (§4.5)."""

    energy_price: float | None = None
    energy_cost: EnergyCost | None = Field(default=None, alias="energyCost")
    max_charging_current: int | None = None
    locked: bool | None = None

    def to_domain(self, before: ChargerSnapshot, fetched_at: datetime) -> ChargerSnapshot:
        """Return ``before`` with the energy cost (and what else the answer says) updated."""
        cost = _energy_cost(self.energy_cost, self.energy_price)
        return ChargerSnapshot(
            charger_id=before.charger_id,
            status=before.status,
            status_id=before.status_id,
            charging_power_kw=before.charging_power_kw,
            added_energy_kwh=before.added_energy_kwh,
            max_charging_current_a=(
                self.max_charging_current
                if self.max_charging_current is not None
                else before.max_charging_current_a
            ),
            max_available_current_a=before.max_available_current_a,
            energy_cost_eur_per_kwh=cost if cost is not None else before.energy_cost_eur_per_kwh,
            locked=self.locked if self.locked is not None else before.locked,
            fetched_at=fetched_at,
        )


class RemoteActionResponse(_Wire):
    """The answer to ``POST v3/chargers/{id}/remote-action``.

    Its real shape is unpublished (wallbox-api.md §4.4); HA's tests mock ``{"status_id": 193}``.
    When a ``status_id`` is there we take it, otherwise the caller infers the new state.
    """

    status_id: int | None = None


class GroupCharger(_Wire):
    """One charger in the groups list."""

    id: int
    name: str | None = None


class Group(_Wire):
    """One group of chargers."""

    id: int | None = None
    name: str | None = None
    chargers: list[GroupCharger] = Field(default_factory=list)


class _GroupsResult(_Wire):
    groups: list[Group] = Field(default_factory=list)


class GroupsResponse(_Wire):
    """``GET v3/chargers/groups`` (§4.1)."""

    result: _GroupsResult

    def chargers(self) -> list[GroupCharger]:
        """Return every charger of every group, each once, in order."""
        seen: dict[int, GroupCharger] = {}
        for group in self.result.groups:
            for charger in group.chargers:
                seen.setdefault(charger.id, charger)
        return list(seen.values())


@dataclass(frozen=True, slots=True)
class WallboxSession:
    """One charging session as the cloud recorded it.

    Attributes:
        session_id: the cloud's id (a string).
        start: when it started (UTC).
        end: when it ended (UTC).
        energy_kwh: energy delivered (``mid_energy`` when the MID meter reported one).
        cost: the cost the cloud computed, in ``currency_code``.
        currency_code: e.g. ``EUR``.
    """

    session_id: str
    start: datetime
    end: datetime
    energy_kwh: float
    cost: float | None
    currency_code: str | None = field(default=None)


class _Currency(_Wire):
    code: str | None = None


_YEAR_3000_S = 32_503_680_000  # an epoch-seconds bound that datetime can always represent


class _SessionAttributes(_Wire):
    start: float = Field(ge=0, le=_YEAR_3000_S)  # epoch s
    end: float = Field(ge=0, le=_YEAR_3000_S)  # epoch s
    energy: float = 0.0  # kWh
    mid_energy: float | None = None
    cost: float | None = None
    currency: _Currency | None = None


class _SessionItem(_Wire):
    id: str
    attributes: _SessionAttributes

    def to_domain(self) -> WallboxSession:
        a = self.attributes
        energy = a.mid_energy if a.mid_energy else a.energy  # HA's draft preferred MID (§4.6)
        return WallboxSession(
            session_id=self.id,
            start=datetime.fromtimestamp(a.start, UTC),
            end=datetime.fromtimestamp(a.end, UTC),
            energy_kwh=float(energy),
            cost=a.cost,
            currency_code=a.currency.code if a.currency else None,
        )


# The item type of ``v4/sessions/stats`` (HA-T PR #127958 fixture, wallbox-api.md §4.6). The
# portal's ``charger_charging_session`` items have other fields (``start_time``, energy in Wh)
# and are not read here.
SESSION_ITEM_TYPE = "charger_log_session"


class SessionsResponse(_Wire):
    """``GET v4/sessions/stats`` (§4.6).

    An item of another ``type`` is skipped (one debug log per answer), not a failure of the
    whole history; an item without a ``type`` is read as a session.
    """

    data: list[_SessionItem] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _only_log_sessions(cls, value: Any) -> Any:
        if not isinstance(value, dict) or not isinstance(value.get("data"), list):
            return value
        kept: list[Any] = []
        skipped: list[str] = []
        for item in value["data"]:
            kind = item.get("type", SESSION_ITEM_TYPE) if isinstance(item, dict) else None
            if kind is None or kind == SESSION_ITEM_TYPE:
                kept.append(item)
            else:
                skipped.append(str(kind)[:40])
        if skipped:
            log.debug(
                "wallbox_session_items_skipped", count=len(skipped), types=sorted(set(skipped))
            )
        return {**value, "data": kept}

    def to_domain(self) -> tuple[WallboxSession, ...]:
        """Return the sessions, oldest first."""
        return tuple(sorted((s.to_domain() for s in self.data), key=lambda s: s.start))


class _TokenAttributes(_Wire):
    token: SecretStr
    refresh_token: SecretStr
    ttl: int  # absolute expiry, epoch milliseconds (wallbox-api.md §2.1, §10.1)
    refresh_token_ttl: int | None = None  # the same, for the refresh token


class _TokenData(_Wire):
    attributes: _TokenAttributes


class SignInResponse(_Wire):
    """``users/signin`` and ``users/refresh-token`` answer with this shape (§2.1, §2.3)."""

    data: _TokenData


_M = TypeVar("_M", bound=BaseModel)


def parse(model: type[_M], data: Any, endpoint: str) -> _M:
    """Validate ``data`` as ``model``; name the endpoint and the field when it does not fit.

    The message never quotes the offending value: it could be a token.

    Raises:
        WallboxResponseError: the data does not fit the model.
    """
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_input=False, include_url=False)[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "(body)"
        raise WallboxResponseError(
            f"Wallbox cloud: {endpoint} answered with unexpected JSON: field {where!r}: "
            f"{first.get('msg', 'invalid')}",
            endpoint=endpoint,
            field=where,
        ) from None
