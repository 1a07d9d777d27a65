"""JSON bodies of the simulated Wallbox cloud, built from the recorded fixtures.

Each builder deep-copies a fixture from ``simulator/data/wallbox`` (see its SOURCE.md) and
overwrites only the live fields, so names, nesting and types stay those of the real cloud.
"""

from __future__ import annotations

import copy
import enum
import functools
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from typing import Any

from smartcharge.simulator._wallbox_charger import KM_PER_KWH, FinishedSession, SimulatedCharger

GROUP_ID = 990001
USER_ID = 990101
# The host the real server names in session links (wallbox-api.md §1).
SESSIONS_LINK_BASE = "http://wallbox-api.prod.wall-box.com/v4/sessions/stats"


class RemoteActionReply(enum.Enum):
    """What the simulated remote-action answer carries (the real body is unpublished, §4.4)."""

    AFTER = "after"  # the status once the command is applied (the shape of HA's test mock)
    BEFORE = "before"  # the status from before the command


@dataclass(frozen=True, slots=True)
class PayloadVariants:
    """Shapes real accounts send that the default payloads do not (``data/wallbox/variants``).

    The defaults give today's payloads. See ``data/wallbox/variants/SOURCE.md`` for where
    each shape comes from.

    Attributes:
        group_energy_cost_eur_per_kwh: ``energyCost`` is inherited from the group at this price
            (``inheritedGroupId`` set) while ``energy_price`` stays the charger's own.
        icp_max_current_null: ``icp_max_current`` is null.
        without_ecosmart: no ``ecosmart`` block (older models).
        without_charger_id: ``config_data`` has no ``charger_id``.
        portal_session_item: the session history also lists a portal
            ``charger_charging_session`` item.
        remote_action_reply: the status a remote-action answer reports.
        status_id: the status poll reports this id whatever the charger does (e.g. 4, the
            "Complete" only homebridge-my-wallbox names, wallbox-api.md §5).
    """

    group_energy_cost_eur_per_kwh: float | None = None
    icp_max_current_null: bool = False
    without_ecosmart: bool = False
    without_charger_id: bool = False
    portal_session_item: bool = False
    remote_action_reply: RemoteActionReply = RemoteActionReply.AFTER
    status_id: int | None = None


@functools.cache
def _fixture_text(name: str) -> str:
    return (resources.files("smartcharge.simulator") / "data" / "wallbox" / name).read_text(
        encoding="utf-8"
    )


def fixture(name: str) -> Any:
    """Return a fresh, mutable copy of the fixture ``name`` (e.g. ``"signin.json"``)."""
    return copy.deepcopy(json.loads(_fixture_text(name)))


def epoch_ms(instant: datetime) -> int:
    """Return ``instant`` as integer epoch milliseconds (the cloud's ``ttl`` format)."""
    return int(round(instant.timestamp() * 1000))


def _sql_time(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def charger_uid(charger_id: int) -> str:
    """Return a fake 26-character ULID-like uid for the charger."""
    return f"01FAKECHARGERUID{charger_id:010d}"


def charger_name(charger_id: int) -> str:
    """Return the charger's display name as the cloud builds it."""
    return f"PulsarPlus SN {charger_id}"


def error_body(status: int, title: str | None = None) -> dict[str, Any]:
    """Return an error body ``{"title": ..., "status": ...}`` (fixture shape where one exists)."""
    if status in (401, 403, 429):
        body: dict[str, Any] = fixture(f"error_{status}.json")
    else:
        body = {"title": "Error", "status": status}
    if title is not None:
        body["title"] = title
    return body


def token_body(
    template: str,
    *,
    token: str,
    refresh_token: str,
    ttl_at: datetime,
    refresh_ttl_at: datetime,
) -> dict[str, Any]:
    """Return a sign-in / refresh body with fresh tokens and absolute epoch-ms TTLs."""
    body: dict[str, Any] = fixture(template)
    attributes = body["data"]["attributes"]
    attributes["token"] = token
    attributes["refresh_token"] = refresh_token
    attributes["user_id"] = USER_ID
    attributes["ttl"] = epoch_ms(ttl_at)
    attributes["refresh_token_ttl"] = epoch_ms(refresh_ttl_at)
    return body


def config_data(
    charger: SimulatedCharger, now: datetime, variants: PayloadVariants | None = None
) -> dict[str, Any]:
    """Return the flat config object (``config_data`` / ``chargers/config/{id}``)."""
    config: dict[str, Any] = fixture("config_energy_cost.json")
    config["charger_id"] = charger.charger_id
    config["uid"] = charger_uid(charger.charger_id)
    config["serial_number"] = str(charger.charger_id)
    config["name"] = charger_name(charger.charger_id)
    config["locked"] = int(charger.locked)
    config["max_charging_current"] = charger.max_charging_current_a
    config["max_available_current"] = charger.max_available_current_a
    config["icp_max_current"] = charger.icp_max_current_a
    config["energy_price"] = charger.energy_cost_eur_per_kwh
    config["energyCost"]["value"] = charger.energy_cost_eur_per_kwh
    config["sync_timestamp"] = int(min(now, charger.last_connection_at).timestamp())
    config["group_id"] = GROUP_ID
    if variants is not None:
        _vary_config(config, variants)
    return config


def _vary_config(config: dict[str, Any], variants: PayloadVariants) -> None:
    if variants.group_energy_cost_eur_per_kwh is not None:
        config["energyCost"] = {
            "value": variants.group_energy_cost_eur_per_kwh,
            "inheritedGroupId": GROUP_ID,
        }
    if variants.icp_max_current_null:
        config["icp_max_current"] = None
    if variants.without_ecosmart:
        config.pop("ecosmart", None)
    if variants.without_charger_id:
        config.pop("charger_id", None)


def charger_status(
    charger: SimulatedCharger, now: datetime, variants: PayloadVariants | None = None
) -> dict[str, Any]:
    """Return the ``chargers/status/{id}`` body with the charger's live values."""
    body: dict[str, Any] = fixture("charger_status_charging.json")
    energy_kwh = round(charger.added_energy_kwh, 3)
    body["status_id"] = charger.status_id
    body["name"] = charger_name(charger.charger_id)
    body["last_sync"] = _sql_time(min(now, charger.last_connection_at))
    body["charging_power"] = round(charger.charging_power_kw, 2)
    body["max_available_power"] = charger.max_available_current_a
    body["added_energy"] = energy_kwh
    body["added_grid_energy"] = energy_kwh
    body["added_green_energy"] = 0
    body["added_discharged_energy"] = 0
    body["added_range"] = int(round(energy_kwh * KM_PER_KWH))
    body["charging_time"] = charger.charging_time_s
    body["finished"] = not charger.is_car_connected
    body["cost"] = 0  # the real cloud reports 0 here (wallbox-api.md §4.2)
    body["config_data"] = config_data(charger, now, variants)
    if variants is not None and variants.status_id is not None:
        body["status_id"] = variants.status_id
    return body


def _charger_data(template: str, charger: SimulatedCharger, *, max_chg_current_a: int) -> Any:
    body: Any = fixture(template)
    data = body["data"]["chargerData"]
    data["id"] = charger.charger_id
    data["uid"] = charger_uid(charger.charger_id)
    data["serialNumber"] = str(charger.charger_id)
    data["name"] = charger_name(charger.charger_id)
    data["status"] = charger.status_id
    data["maxChgCurrent"] = max_chg_current_a
    data["maxAvailableCurrent"] = charger.max_available_current_a
    data["maxChargingCurrent"] = charger.max_charging_current_a
    data["locked"] = int(charger.locked)
    data["lastConnection"] = int(charger.last_connection_at.timestamp())
    data["lastSync"]["date"] = charger.last_connection_at.astimezone(UTC).strftime(
        "%Y-%m-%d %H:%M:%S.000000"
    )
    data["resume"]["totalSessions"] = len(charger.sessions)
    return body


def charger_data(charger: SimulatedCharger) -> Any:
    """Return the ``GET v2/charger/{id}`` body."""
    return _charger_data(
        "charger_data.json", charger, max_chg_current_a=charger.max_charging_current_a
    )


def charger_update(charger: SimulatedCharger, *, previous_current_a: int) -> Any:
    """Return the ``PUT v2/charger/{id}`` reply.

    ``maxChgCurrent`` keeps the value from before the update, as in the logged real reply
    (fixtures README, ``charger_update.json``).
    """
    return _charger_data("charger_update.json", charger, max_chg_current_a=previous_current_a)


def groups(chargers: list[SimulatedCharger], now: datetime) -> Any:
    """Return the ``v3/chargers/groups`` body listing every charger in one group."""
    body: Any = fixture("chargers_groups.json")
    group = body["result"]["groups"][0]
    template = group["chargers"][0]
    entries = []
    for charger in chargers:
        entry = copy.deepcopy(template)
        entry["id"] = charger.charger_id
        entry["uid"] = charger_uid(charger.charger_id)
        entry["name"] = charger_name(charger.charger_id)
        entry["status"] = charger.status_id
        entry["locked"] = int(charger.locked)
        entry["maxChargingCurrent"] = charger.max_charging_current_a
        entry["addedEnergy"] = round(charger.added_energy_kwh, 3)
        entry["chargingPower"] = round(charger.charging_power_kw, 2)
        entry["chargingTime"] = charger.charging_time_s
        entry["lastConnection"] = int(charger.last_connection_at.timestamp())
        entry["lastSync"] = int(min(now, charger.last_connection_at).timestamp())
        entry["energyPrice"] = charger.energy_cost_eur_per_kwh
        entry["energyCost"]["value"] = charger.energy_cost_eur_per_kwh
        entries.append(entry)
    group["chargers"] = entries
    return body


def _session_item(session: FinishedSession) -> Any:
    item: Any = copy.deepcopy(fixture("sessions_stats.json")["data"][0])
    attributes = item["attributes"]
    item["id"] = session.session_id
    attributes["group"] = GROUP_ID
    attributes["charger"] = session.charger_id
    attributes["user"] = USER_ID
    attributes["start"] = int(session.started_at.timestamp())
    attributes["end"] = int(session.ended_at.timestamp())
    attributes["energy"] = round(session.energy_kwh, 3)
    attributes["mid_energy"] = 0
    attributes["green_energy"] = 0
    attributes["discharged_energy"] = 0
    attributes["time"] = session.charging_time_s
    attributes["cost"] = round(session.cost_eur, 5)
    attributes["range"] = int(round(session.energy_kwh * KM_PER_KWH))
    attributes["charger_name"] = charger_name(session.charger_id)
    return item


def sessions(
    found: list[FinishedSession],
    *,
    charger_id: int,
    start_date: str,
    end_date: str,
    portal_item: bool = False,
) -> Any:
    """Return the ``v4/sessions/stats`` body, newest session first (as in the fixture).

    With ``portal_item``, a portal ``charger_charging_session`` item comes first (the shape of
    ``variants/sessions_stats_with_portal_item.json``).
    """
    template = "sessions_stats.json" if found else "sessions_stats_empty.json"
    body: Any = fixture(template)
    body["meta"]["count"] = len(found)
    body["links"]["self"] = (
        f"{SESSIONS_LINK_BASE}?charger={charger_id}&end_date={end_date}"
        f"&start_date={start_date}&limit=1000&offset=0"
    )
    ordered = sorted(found, key=lambda s: s.started_at, reverse=True)
    body["data"] = [_session_item(s) for s in ordered]
    if portal_item:
        item = fixture("variants/sessions_stats_with_portal_item.json")["data"][0]
        item["attributes"]["charger_id"] = charger_id
        body["data"].insert(0, item)
        body["meta"]["count"] = len(body["data"])
    return body
