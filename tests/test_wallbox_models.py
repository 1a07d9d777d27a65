"""Wire models, the status table, the limiter's arithmetic and small helpers (no network)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from smartcharge.domain import ChargerSnapshot, ChargerStatus, Command, CommandKind
from smartcharge.logsetup import register_secret
from smartcharge.simulator.clock import SimulatedClock
from smartcharge.wallbox import WallboxRateLimitedError, WallboxResponseError, command_satisfied
from smartcharge.wallbox.limiter import Budget, CallKind, RateLimiter, budget_file_name
from smartcharge.wallbox.models import (
    STATUS_TABLE,
    ChargerStatusResponse,
    ChargerUpdateResponse,
    ConfigResponse,
    GroupsResponse,
    SessionsResponse,
    SignInResponse,
    WallboxStatusId,
    parse,
    status_from_id,
)
from smartcharge.wallbox.tokens import Tokens, TokenStore
from smartcharge.wallbox.transport import retry_after_s

FIXTURES = resources.files("smartcharge.simulator") / "data" / "wallbox"
NOW = datetime(2025, 1, 15, 12, 0, tzinfo=UTC)
USER = "u@example.com"


def _fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    ("name", "status", "status_id"),
    [
        ("charger_status_charging.json", ChargerStatus.CHARGING, 194),
        ("charger_status_paused.json", ChargerStatus.PAUSED, 182),
        ("charger_status_scheduled.json", ChargerStatus.SCHEDULED, 179),
        ("charger_status_waiting_for_car_demand.json", ChargerStatus.WAITING_FOR_CAR_DEMAND, 181),
        ("charger_status_ready.json", ChargerStatus.READY, 161),
        ("charger_status_disconnected.json", ChargerStatus.OFFLINE, 0),
    ],
)
def test_recorded_status_bodies_map_to_the_domain(name: str, status: ChargerStatus, status_id: int):
    """Every recorded status body parses and maps to the expected state."""
    snapshot = parse(ChargerStatusResponse, _fixture(name), "GET chargers/status/999001").to_domain(
        NOW
    )

    assert status == snapshot.status
    assert status_id == snapshot.status_id
    assert 999001 == snapshot.charger_id
    assert 32 == snapshot.max_available_current_a
    assert NOW == snapshot.fetched_at
    assert snapshot.locked is False


def test_charging_body_values_and_units():
    """kW, kWh, amps and EUR/kWh come through unchanged from the charging sample."""
    s = ChargerStatusResponse.model_validate(_fixture("charger_status_charging.json")).to_domain(
        NOW
    )

    assert 10.9 == s.charging_power_kw
    assert 4.215 == s.added_energy_kwh
    assert 16 == s.max_charging_current_a
    assert 0.25 == s.energy_cost_eur_per_kwh


def test_the_status_table_covers_every_known_id():
    """Each id of the enum has a state, and the table cites nothing else."""
    assert set(WallboxStatusId) == set(STATUS_TABLE)
    assert ChargerStatus.LOCKED_CAR_CONNECTED == status_from_id(210)
    assert ChargerStatus.READY == status_from_id(163)
    assert ChargerStatus.DISCHARGING == status_from_id(196)


@pytest.mark.parametrize("raw", [999, 4, None])
def test_unknown_status_id_degrades_and_is_logged(raw: int | None):
    """An id not in the table (or none) gives UNKNOWN and logs wallbox_status_unknown."""
    with capture_logs() as logs:
        status = status_from_id(raw)

    assert ChargerStatus.UNKNOWN == status
    assert [{"event": "wallbox_status_unknown", "status_id": raw, "log_level": "warning"}] == logs


def test_locked_as_boolean_and_extra_fields_are_accepted():
    """HA-style booleans for locked and unknown new fields do not break parsing."""
    body = _fixture("charger_status_charging.json")
    body["config_data"]["locked"] = True
    body["brand_new_field"] = {"x": 1}
    body["status_id"] = 210

    s = ChargerStatusResponse.model_validate(body).to_domain(NOW)

    assert s.locked is True
    assert ChargerStatus.LOCKED_CAR_CONNECTED == s.status


def test_bad_body_names_endpoint_and_field_without_the_value():
    """A missing or mistyped field names the endpoint and the field, never the value."""
    body = _fixture("signin.json")
    body["data"]["attributes"]["ttl"] = "soon-test-token-not-a-real-jwt"

    with pytest.raises(WallboxResponseError) as info:
        parse(SignInResponse, body, "GET users/signin")

    assert "GET users/signin" == info.value.endpoint
    assert "data.attributes.ttl" == info.value.field
    assert "soon-test-token" not in str(info.value)


def test_sign_in_body_keeps_tokens_out_of_reprs():
    """The parsed tokens are SecretStr: repr and str do not show them."""
    answer = SignInResponse.model_validate(_fixture("signin.json"))

    assert "test-token-not-a-real-jwt" == answer.data.attributes.token.get_secret_value()
    assert "test-token-not-a-real-jwt" not in repr(answer)
    assert 1736932500000 == answer.data.attributes.ttl


def _snapshot(**changes: Any) -> ChargerSnapshot:
    base = ChargerStatusResponse.model_validate(_fixture("charger_status_charging.json")).to_domain(
        NOW
    )
    values = {f: getattr(base, f) for f in base.__slots__}
    values.update(changes)
    return ChargerSnapshot(**values)


def test_update_and_config_answers_update_the_snapshot():
    """The PUT answer carries the new current; the config answer the new price."""
    before = _snapshot()
    later = NOW + timedelta(seconds=5)

    after_put = ChargerUpdateResponse.model_validate(_fixture("charger_update.json")).to_domain(
        before, later
    )
    after_cfg = ConfigResponse.model_validate(_fixture("config_energy_cost.json")).to_domain(
        before, later
    )

    assert 10 == after_put.max_charging_current_a
    assert later == after_put.fetched_at
    assert 0.31 == after_cfg.energy_cost_eur_per_kwh
    assert 16 == after_cfg.max_charging_current_a


def test_groups_and_sessions():
    """The groups list yields the charger ids; sessions come back oldest first, in kWh."""
    groups = GroupsResponse.model_validate(_fixture("chargers_groups.json"))
    sessions = SessionsResponse.model_validate(_fixture("sessions_stats.json")).to_domain()
    empty = SessionsResponse.model_validate(_fixture("sessions_stats_empty.json")).to_domain()

    assert [999001] == [c.id for c in groups.chargers()]
    assert ["900000001", "900000002"] == [s.session_id for s in sessions]
    assert 16.139 == sessions[0].energy_kwh
    assert datetime.fromtimestamp(1736724600, UTC) == sessions[0].start
    assert "EUR" == sessions[0].currency_code
    assert () == empty


@pytest.mark.parametrize(
    ("command", "changes", "expected"),
    [
        (Command(CommandKind.PAUSE), {"status": ChargerStatus.PAUSED}, True),
        (Command(CommandKind.PAUSE), {}, False),
        (Command(CommandKind.RESUME), {}, True),
        (Command(CommandKind.RESUME), {"status": ChargerStatus.PAUSED}, False),
        (Command(CommandKind.RESUME), {"status": ChargerStatus.SCHEDULED}, False),
        (Command(CommandKind.LOCK), {"locked": True}, True),
        (Command(CommandKind.UNLOCK), {"locked": True}, False),
        (Command(CommandKind.SET_MAX_CURRENT, 16), {}, True),
        (Command(CommandKind.SET_MAX_CURRENT, 10), {}, False),
        (Command(CommandKind.SET_ENERGY_COST, 0.25), {}, True),
        (Command(CommandKind.SET_ENERGY_COST, 0.2501), {}, True),  # kept to the cent
        (Command(CommandKind.SET_ENERGY_COST, 0.26), {}, False),
        (Command(CommandKind.SET_ENERGY_COST, 0.2549), {"energy_cost_eur_per_kwh": 0.2451}, True),
        (Command(CommandKind.SET_ENERGY_COST, 0.25), {"energy_cost_eur_per_kwh": None}, False),
        (Command(CommandKind.RESTART), {}, False),
    ],
)
def test_command_satisfied(command: Command, changes: dict[str, Any], expected: bool):
    """Whether the charger already is as a command asks."""
    assert expected == command_satisfied(_snapshot(**changes), command)


def test_retry_after_parsing():
    """Seconds, an HTTP date, garbage and absurd values."""
    assert 120.0 == retry_after_s("120", NOW)
    assert 30.0 == retry_after_s("Wed, 15 Jan 2025 12:00:30 GMT", NOW)
    assert None is retry_after_s("soon", NOW)
    assert None is retry_after_s(None, NOW)
    assert 3600.0 == retry_after_s("999999", NOW)
    assert 0.0 == retry_after_s("-5", NOW)


def test_budget_arithmetic():
    """Fractional rates become one call per stretched window."""
    assert Budget(1, 60.0) == Budget.per_minute(1)
    assert Budget(3, 60.0) == Budget.per_minute(3)
    assert Budget(1, 40.0) == Budget.per_minute(1.5)
    assert Budget(1, 120.0) == Budget.per_minute(0.5)
    assert Budget(3, 3600.0) == Budget.per_hour(3)


async def test_limiter_slots_back_off_and_corrupt_file(clock: SimulatedClock, tmp_path: Path):
    """Slots free up after the window; a back-off holds every call; a torn file is survived."""
    limiter = RateLimiter(tmp_path, clock, username=USER, reads_per_minute=1, writes_per_minute=3)

    assert None is limiter.reserve(CallKind.READ)
    assert NOW + timedelta(seconds=60) == limiter.reserve(CallKind.READ)
    assert [None, None, None] == [limiter.reserve(CallKind.WRITE) for _ in range(3)]
    assert NOW + timedelta(seconds=60) == limiter.reserve(CallKind.WRITE)
    await clock.advance(60)
    assert None is limiter.reserve(CallKind.READ)

    limiter.back_off(clock.now() + timedelta(seconds=500))
    assert clock.now() + timedelta(seconds=500) == limiter.next_slot(CallKind.WRITE)
    with pytest.raises(WallboxRateLimitedError) as info:
        await limiter.acquire(CallKind.READ, max_wait_s=100)
    assert clock.now() + timedelta(seconds=500) == info.value.retry_at

    (tmp_path / budget_file_name(USER)).write_text("{torn")
    fresh = RateLimiter(tmp_path, clock, username=USER)
    assert fresh.next_slot(CallKind.READ) >= clock.now()


async def test_acquire_waits_on_the_clock(clock: SimulatedClock, tmp_path: Path):
    """A second read waits for the clock to reach the next slot, not for wall time."""
    limiter = RateLimiter(tmp_path, clock, username=USER, reads_per_minute=1)
    await limiter.acquire(CallKind.READ)
    waiter = asyncio.create_task(limiter.acquire(CallKind.READ))
    await clock.advance(59)
    assert not waiter.done()
    await clock.advance(1)
    await asyncio.wait_for(waiter, 10)  # loop turns only; generous for a stalled machine

    assert waiter.done()


def test_token_store_round_trip_and_privacy(tmp_path: Path):
    """Tokens survive a round trip, the file is 0600, and repr shows no token."""
    store = TokenStore(tmp_path, register_secret=register_secret)
    tokens = Tokens(
        access_token="access-abcdef",
        refresh_token="refresh-abcdef",
        access_expires_at=NOW + timedelta(hours=1),
        refresh_expires_at=NOW + timedelta(days=7),
        username="u@example.com",
    )

    store.save(tokens)
    store.save(tokens)
    loaded = store.load(NOW)

    assert tokens == loaded
    assert "access-abcdef" not in repr(tokens)
    assert 0o600 == (store.path.stat().st_mode & 0o777)
    assert ["wallbox-tokens.json"] == sorted(p.name for p in tmp_path.iterdir())


# -- payload variants (issue 16 §1; shapes in simulator/data/wallbox/variants/SOURCE.md) -----


@pytest.mark.parametrize(
    ("model", "name"),
    [
        (ChargerStatusResponse, "variants/charger_status_charging_group_energy_cost.json"),
        (ConfigResponse, "variants/config_energy_cost_group_inherited.json"),
    ],
)
def test_the_chargers_own_energy_price_wins_over_the_groups(model: Any, name: str):
    """energy_price 0.31 beside a group-inherited energyCost.value 0.25 reads as 0.31."""
    body = _fixture(name)
    if model is ChargerStatusResponse:
        price = parse(model, body, "GET chargers/status/999001").to_domain(NOW)
    else:
        price = parse(model, body, "POST chargers/config/999001").to_domain(_snapshot(), NOW)

    assert 0.25 == (body.get("config_data", body))["energyCost"]["value"]
    assert 0.31 == price.energy_cost_eur_per_kwh


def test_energy_cost_value_is_the_fallback_without_energy_price():
    """Without energy_price the energyCost value is read."""
    body = _fixture("variants/config_energy_cost_group_inherited.json")
    del body["energy_price"]

    after = ConfigResponse.model_validate(body).to_domain(_snapshot(), NOW)

    assert 0.25 == after.energy_cost_eur_per_kwh


def test_status_without_charger_id_uses_the_id_asked_for():
    """config_data without charger_id (null icp, no ecosmart) parses; the id asked for wins."""
    body = _fixture("variants/charger_status_charging_no_charger_id.json")

    snapshot = parse(ChargerStatusResponse, body, "GET chargers/status/999001").to_domain(
        NOW, 999001
    )

    assert "charger_id" not in body["config_data"]
    assert body["config_data"]["icp_max_current"] is None
    assert "ecosmart" not in body["config_data"]
    assert 999001 == snapshot.charger_id
    assert ChargerStatus.CHARGING == snapshot.status


def test_status_without_any_charger_id_is_a_named_error():
    """With no id from the body nor from the caller, the error names the field."""
    body = _fixture("variants/charger_status_charging_no_charger_id.json")

    with pytest.raises(WallboxResponseError) as info:
        ChargerStatusResponse.model_validate(body).to_domain(NOW)

    assert "config_data.charger_id" == info.value.field


def test_config_of_an_older_model_parses():
    """icp_max_current null and no ecosmart block: the config answer still updates the price."""
    body = _fixture("variants/config_older_model.json")

    after = parse(ConfigResponse, body, "POST chargers/config/999001").to_domain(_snapshot(), NOW)

    assert 0.31 == after.energy_cost_eur_per_kwh


def test_a_portal_session_item_is_skipped_with_one_debug_log():
    """A charger_charging_session item is skipped (logged once), the log sessions are kept."""
    body = _fixture("variants/sessions_stats_with_portal_item.json")
    body["data"].append(json.loads(json.dumps(body["data"][0])))

    with capture_logs() as logs:
        sessions = parse(SessionsResponse, body, "GET v4/sessions/stats").to_domain()

    skipped = [e for e in logs if e["event"] == "wallbox_session_items_skipped"]
    assert ["900000001", "900000002"] == [s.session_id for s in sessions]
    assert [("debug", 2, ["charger_charging_session"])] == [
        (e["log_level"], e["count"], e["types"]) for e in skipped
    ]
