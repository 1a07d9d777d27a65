"""The simulated Wallbox cloud, exercised over real HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from smartcharge.simulator.clock import SimulatedClock
from smartcharge.simulator.wallbox_cloud import (
    Fault,
    PayloadVariants,
    RemoteActionReply,
    WallboxCloudSimulator,
)

USER = "test.user@example.com"
PASSWORD = "correct-horse-battery-staple"  # noqa: S105 - the simulator's fake account
CID = 999001
# Long enough for the tests that charge for hours; the expiry test walks up to it.
TOKEN_LIFETIME_S = 86400.0
SHARED_FIXTURES = Path("/work/shared/fixtures/wallbox")
PACKAGED = resources.files("smartcharge.simulator") / "data" / "wallbox"


def _fixture(name: str) -> Any:
    return json.loads((PACKAGED / name).read_text(encoding="utf-8"))


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@dataclass
class Cloud:
    """A running simulator, its URL, an HTTP session and a signed-in token."""

    sim: WallboxCloudSimulator
    url: str
    http: aiohttp.ClientSession
    clock: SimulatedClock
    token: str = ""
    refresh_token: str = ""

    async def signin(
        self, password: str = PASSWORD, partner: bool = True
    ) -> aiohttp.ClientResponse:
        headers = {"Authorization": _basic(USER, password), "Accept": "application/json"}
        if partner:
            headers["Partner"] = "wallbox"
        resp = await self.http.get(f"{self.url}/users/signin", headers=headers)
        if resp.status == 200:
            attributes = (await resp.json())["data"]["attributes"]
            self.token = attributes["token"]
            self.refresh_token = attributes["refresh_token"]
        return resp

    async def call(
        self, method: str, path: str, body: Any = None, token: str | None = None
    ) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {self.token if token is None else token}"}
        data = None if body is None else json.dumps(body)
        if data is not None:
            headers["Content-Type"] = "application/json;charset=UTF-8"
        async with self.http.request(method, f"{self.url}{path}", headers=headers, data=data) as r:
            text = await r.text()
            return r.status, (json.loads(text) if text else None)

    async def status(self) -> dict[str, Any]:
        code, body = await self.call("GET", f"/chargers/status/{CID}")
        assert code == 200, body
        assert isinstance(body, dict)
        return body

    async def action(self, action: int) -> tuple[int, Any]:
        return await self.call("POST", f"/v3/chargers/{CID}/remote-action", {"action": action})


def _stall(seconds: float) -> None:
    """Freeze the whole process on the event loop's next turn, as a GC pause or a busy CPU does.

    The suite's full garbage collections take 0.2 to 1.7 s on a loaded CI machine; a hang test
    must give the same result through one.
    """
    if seconds:
        asyncio.get_running_loop().call_soon(time.sleep, seconds)


# 0.2 s: longer than the 50 ms client timeout the hang tests once raced the server with.
STALLS = [pytest.param(0.0, id="no_stall"), pytest.param(0.2, id="stalled")]


async def _until_served(sim: WallboxCloudSimulator) -> None:
    """Let the event loop run until the server has taken every injected fault.

    A hang is waited for this way, not with a tiny client timeout: a client that gives up
    before the server has read its request (a loaded machine, a GC pause) leaves the fault
    queued for the next request, which then hangs instead.
    """

    async def served() -> None:
        while sim.pending_faults:
            await asyncio.sleep(0)

    await asyncio.wait_for(served(), 5)


@pytest.fixture
async def cloud(clock: SimulatedClock) -> AsyncIterator[Cloud]:
    sim = WallboxCloudSimulator(clock, token_lifetime_s=TOKEN_LIFETIME_S)
    url = await sim.start()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http:
        c = Cloud(sim, url, http, clock)
        resp = await c.signin()
        assert resp.status == 200
        yield c
    await sim.stop()


# -- fixtures packaged with the simulator ---------------------------------------------------


def test_packaged_fixtures_are_byte_copies_of_the_shared_ones() -> None:
    """Every packaged JSON file equals its shared original byte for byte."""
    if not SHARED_FIXTURES.is_dir():
        pytest.skip("shared fixtures not present on this machine")
    names = sorted(p.name for p in PACKAGED.iterdir() if p.name.endswith(".json"))

    assert len(names) >= 10
    for name in names:
        assert (SHARED_FIXTURES / name).read_bytes() == (PACKAGED / name).read_bytes(), name


# -- authentication -------------------------------------------------------------------------


async def test_signin_returns_tokens_with_ttl_in_epoch_ms_from_the_clock(cloud: Cloud) -> None:
    """Sign-in answers the signin.json shape with absolute epoch-ms TTLs from the clock."""
    resp = await cloud.signin()
    body = await resp.json()
    attributes = body["data"]["attributes"]
    now_ms = int(cloud.clock.now().timestamp() * 1000)

    assert 200 == resp.status
    assert set(_fixture("signin.json")["data"]["attributes"]) == set(attributes)
    assert now_ms + int(TOKEN_LIFETIME_S) * 1000 == attributes["ttl"]
    assert now_ms + 7 * 86400 * 1000 == attributes["refresh_token_ttl"]
    assert 2 == cloud.sim.signins
    assert attributes["token"] != attributes["refresh_token"]


async def test_signin_with_wrong_password_is_403(cloud: Cloud) -> None:
    """Wrong credentials answer 403 with the error body and count no sign-in."""
    resp = await cloud.signin(password="wrong")

    assert 403 == resp.status
    assert _fixture("error_403.json") == await resp.json()
    assert 1 == cloud.sim.signins


async def test_signin_without_partner_header_is_400(cloud: Cloud) -> None:
    """A client that forgets ``Partner: wallbox`` gets a 400 that says so."""
    resp = await cloud.signin(partner=False)
    body = await resp.json()

    assert 400 == resp.status
    assert "Partner" in body["title"]


async def test_signin_without_basic_auth_is_401(cloud: Cloud) -> None:
    """Sign-in with no credentials at all answers 401."""
    resp = await cloud.http.get(f"{cloud.url}/users/signin", headers={"Partner": "wallbox"})

    assert 401 == resp.status


async def test_api_paths_need_a_valid_access_token(cloud: Cloud) -> None:
    """No token, a bogus token or the refresh token all answer 401 on the api host."""
    codes = [
        (await cloud.call("GET", f"/chargers/status/{CID}", token=t))[0]
        for t in ("", "bogus", cloud.refresh_token)
    ]

    assert [401, 401, 401] == codes
    assert (
        _fixture("error_401.json") == (await cloud.call("GET", "/v3/chargers/groups", token=""))[1]
    )


async def test_access_token_expires_on_the_clock(cloud: Cloud) -> None:
    """The token works until its ttl on the simulated clock, then answers 401."""
    await cloud.clock.advance(TOKEN_LIFETIME_S - 1)
    before = (await cloud.call("GET", f"/chargers/status/{CID}"))[0]
    await cloud.clock.advance(1)
    after = (await cloud.call("GET", f"/chargers/status/{CID}"))[0]

    assert 200 == before
    assert 401 == after


async def _refresh(cloud: Cloud, token: str, partner: bool = True) -> aiohttp.ClientResponse:
    headers = {"Authorization": f"Bearer {token}"}
    if partner:
        headers["Partner"] = "wallbox"
    return await cloud.http.get(f"{cloud.url}/users/refresh-token", headers=headers)


async def test_refresh_rotates_both_tokens_and_invalidates_the_used_refresh_token(
    cloud: Cloud,
) -> None:
    """Refresh issues new tokens; the used refresh token dies; the old access token lives on."""
    old_access, old_refresh = cloud.token, cloud.refresh_token
    await cloud.clock.advance(600)
    resp = await _refresh(cloud, old_refresh)
    attributes = (await resp.json())["data"]["attributes"]
    again = await _refresh(cloud, old_refresh)
    new_ok = (await cloud.call("GET", f"/chargers/status/{CID}", token=attributes["token"]))[0]
    old_ok = (await cloud.call("GET", f"/chargers/status/{CID}", token=old_access))[0]
    now_ms = int(cloud.clock.now().timestamp() * 1000)

    assert 200 == resp.status
    assert set(_fixture("refresh_token.json")["data"]["attributes"]) == set(attributes)
    assert attributes["token"] != old_access
    assert attributes["refresh_token"] != old_refresh
    assert now_ms + int(TOKEN_LIFETIME_S) * 1000 == attributes["ttl"]
    assert 401 == again.status
    assert (200, 200) == (new_ok, old_ok)
    assert 1 == cloud.sim.refreshes


async def test_refresh_needs_partner_and_a_known_unexpired_refresh_token(cloud: Cloud) -> None:
    """Refresh answers 400 without Partner, 401 for an unknown or expired refresh token."""
    no_partner = await _refresh(cloud, cloud.refresh_token, partner=False)
    unknown = await _refresh(cloud, "bogus")
    await cloud.clock.advance(7 * 86400)
    expired = await _refresh(cloud, cloud.refresh_token)

    assert 400 == no_partner.status
    assert 401 == unknown.status
    assert 401 == expired.status
    assert 0 == cloud.sim.refreshes


async def test_revoking_tokens(cloud: Cloud) -> None:
    """Revoked access tokens answer 401; revoked refresh tokens are refused; sign-in still works."""
    cloud.sim.revoke_access_tokens()
    access = (await cloud.call("GET", f"/chargers/status/{CID}"))[0]
    cloud.sim.revoke_refresh_tokens()
    refresh = await _refresh(cloud, cloud.refresh_token)
    resigned = await cloud.signin()
    fresh = (await cloud.call("GET", f"/chargers/status/{CID}"))[0]

    assert 401 == access
    assert 401 == refresh.status
    assert 200 == resigned.status
    assert 200 == fresh


# -- shapes ---------------------------------------------------------------------------------


async def test_status_has_the_fixture_shape_and_live_values(cloud: Cloud) -> None:
    """chargers/status has every key of each status fixture, and live values from the state."""
    cloud.sim.charger.plug_in(car_max_power_kw=11.0)
    await cloud.clock.advance(60)
    body = await cloud.status()

    for name in (
        "charger_status_charging.json",
        "charger_status_paused.json",
        "charger_status_ready.json",
        "charger_status_disconnected.json",
    ):
        fixture = _fixture(name)
        assert set(fixture) == set(body), name
        assert set(fixture["config_data"]) == set(body["config_data"]), name
    assert 194 == body["status_id"]
    assert 11.0 == body["charging_power"]
    assert 32 == body["max_available_power"]
    assert 16 == body["config_data"]["max_charging_current"]
    assert 0 == body["config_data"]["locked"]
    assert 0.25 == body["config_data"]["energy_price"]
    assert 0.25 == body["config_data"]["energyCost"]["value"]
    assert "2025-01-15 12:01:00" == body["last_sync"]


async def test_groups_lists_every_charger(clock: SimulatedClock) -> None:
    """v3/chargers/groups lists the first charger and the extra ones in the fixture's shape."""
    sim = WallboxCloudSimulator(clock, extra_charger_ids=(999002,))
    url = await sim.start()
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http:
            c = Cloud(sim, url, http, clock)
            await c.signin()
            code, body = await c.call("GET", "/v3/chargers/groups")
            extra = (await c.call("GET", "/chargers/status/999002"))[0]
    finally:
        await sim.stop()
    template = _fixture("chargers_groups.json")["result"]["groups"][0]["chargers"][0]
    chargers = body["result"]["groups"][0]["chargers"]

    assert 200 == code
    assert [999001, 999002] == [c["id"] for c in chargers]
    assert all(set(template) == set(c) for c in chargers)
    assert 200 == extra


async def test_unknown_charger_is_404(cloud: Cloud) -> None:
    """Every per-charger path answers 404 for an id the account does not have."""
    codes = [
        (await cloud.call("GET", "/chargers/status/123"))[0],
        (await cloud.call("GET", "/chargers/status/abc"))[0],
        (await cloud.call("PUT", "/v2/charger/123", {"maxChargingCurrent": 10}))[0],
        (await cloud.call("POST", "/v3/chargers/123/remote-action", {"action": 2}))[0],
        (await cloud.call("POST", "/chargers/config/123", {"energyCost": 0.3}))[0],
        (await cloud.call("GET", "/v4/sessions/stats?charger=123&start_date=0&end_date=1"))[0],
    ]

    assert [404] * 6 == codes


# -- commands -------------------------------------------------------------------------------


async def test_put_max_charging_current_is_reflected_and_changes_power(cloud: Cloud) -> None:
    """PUT v2/charger sets the current; the reply and the status show it; power follows."""
    cloud.sim.charger.plug_in(car_max_power_kw=22.0)
    code, body = await cloud.call("PUT", f"/v2/charger/{CID}", {"maxChargingCurrent": 10})
    status = await cloud.status()
    _, data = await cloud.call("GET", f"/v2/charger/{CID}")

    assert 200 == code
    assert set(_fixture("charger_update.json")["data"]["chargerData"]) == set(
        body["data"]["chargerData"]
    )
    assert 10 == body["data"]["chargerData"]["maxChargingCurrent"]
    assert 16 == body["data"]["chargerData"]["maxChgCurrent"]
    assert 10 == status["config_data"]["max_charging_current"]
    assert 6.9 == status["charging_power"]
    assert 10 == data["data"]["chargerData"]["maxChargingCurrent"]
    assert 10 == cloud.sim.charger.max_charging_current_a


@pytest.mark.parametrize("value", [5, 33, "10", 10.5, True, None])
async def test_put_invalid_current_is_400(cloud: Cloud, value: Any) -> None:
    """Currents below 6 A, above the available maximum, or not integers answer 400."""
    code, body = await cloud.call("PUT", f"/v2/charger/{CID}", {"maxChargingCurrent": value})

    assert 400 == code
    assert "maxChargingCurrent" in body["title"]
    assert 16 == cloud.sim.charger.max_charging_current_a


async def test_put_garbage_body_is_400(cloud: Cloud) -> None:
    """A PUT with an unexpected key or no body answers 400."""
    assert 400 == (await cloud.call("PUT", f"/v2/charger/{CID}", {"speed": 3}))[0]
    assert 400 == (await cloud.call("PUT", f"/v2/charger/{CID}"))[0]
    assert 400 == (await cloud.call("PUT", f"/v2/charger/{CID}", {"locked": 2}))[0]


async def test_energy_integrates_on_the_clock(cloud: Cloud) -> None:
    """11 kW for 30 simulated minutes adds 5.5 kWh; nothing accrues while paused."""
    cloud.sim.charger.plug_in(car_max_power_kw=11.0)
    await cloud.clock.advance(1800)
    charged = await cloud.status()
    await cloud.action(2)
    await cloud.clock.advance(1800)
    paused = await cloud.status()

    assert 5.5 == charged["added_energy"]
    assert 1800 == charged["charging_time"]
    assert 5.5 == paused["added_energy"]
    assert 0 == paused["charging_power"]


async def test_plug_pause_resume_unplug_transitions(cloud: Cloud) -> None:
    """161 -> plug in 194 -> pause 182 -> resume 194 -> unplug 161 with the energy kept."""
    ids = [(await cloud.status())["status_id"]]
    cloud.sim.charger.plug_in()
    ids.append((await cloud.status())["status_id"])
    pause = await cloud.action(2)
    ids.append((await cloud.status())["status_id"])
    await cloud.clock.advance(60)
    resume = await cloud.action(1)
    await cloud.clock.advance(360)
    cloud.sim.charger.unplug()
    unplugged = await cloud.status()
    cloud.sim.charger.plug_in()
    replugged = await cloud.status()

    assert [161, 194, 182] == ids
    assert (200, {"status_id": 182}) == pause
    assert (200, {"status_id": 194}) == resume
    assert 161 == unplugged["status_id"]
    assert 1.1 == unplugged["added_energy"]
    assert 0 == unplugged["charging_power"]
    assert 0 == replugged["added_energy"]


async def test_car_full_goes_to_181_and_resume_stays_there(cloud: Cloud) -> None:
    """Once the car has what it needs it stops drawing (181); resuming does not restart it."""
    cloud.sim.charger.plug_in(car_max_power_kw=11.0, car_needs_kwh=2.0)
    await cloud.clock.advance(3600)
    full = await cloud.status()
    await cloud.action(2)
    paused = (await cloud.status())["status_id"]
    resume = await cloud.action(1)

    assert 181 == full["status_id"]
    assert 2.0 == full["added_energy"]
    assert 0 == full["charging_power"]
    assert int(2.0 / 11.0 * 3600) == full["charging_time"]
    assert 182 == paused
    assert (200, {"status_id": 181}) == resume


async def test_app_pause_and_resume(cloud: Cloud) -> None:
    """Pausing and resuming in the Wallbox app shows in the status."""
    cloud.sim.charger.plug_in()
    cloud.sim.charger.user_pause()
    paused = (await cloud.status())["status_id"]
    cloud.sim.charger.user_resume()
    resumed = (await cloud.status())["status_id"]

    assert (182, 194) == (paused, resumed)


async def test_lock_and_unlock(cloud: Cloud) -> None:
    """Locked: 209 without a car, 210 with one (no charging); unlocking restores the state."""
    code, body = await cloud.call("PUT", f"/v2/charger/{CID}", {"locked": 1})
    no_car = await cloud.status()
    cloud.sim.charger.plug_in()
    with_car = await cloud.status()
    await cloud.clock.advance(600)
    no_energy = (await cloud.status())["added_energy"]
    await cloud.call("PUT", f"/v2/charger/{CID}", {"locked": 0})
    unlocked = await cloud.status()

    assert 200 == code
    assert 1 == body["data"]["chargerData"]["locked"]
    assert 209 == body["data"]["chargerData"]["status"]
    assert (209, 1) == (no_car["status_id"], no_car["config_data"]["locked"])
    assert 210 == with_car["status_id"]
    assert 0 == no_energy
    assert (194, 0) == (unlocked["status_id"], unlocked["config_data"]["locked"])


async def test_lock_while_paused_returns_to_paused(cloud: Cloud) -> None:
    """Unlocking returns to the state before the lock, here paused."""
    cloud.sim.charger.plug_in()
    await cloud.action(2)
    await cloud.call("PUT", f"/v2/charger/{CID}", {"locked": 1})
    locked = (await cloud.status())["status_id"]
    await cloud.call("PUT", f"/v2/charger/{CID}", {"locked": 0})
    unlocked = (await cloud.status())["status_id"]

    assert (210, 182) == (locked, unlocked)


async def test_error_and_updating(cloud: Cloud) -> None:
    """Error shows 14, updating 166; neither charges; pause/resume and restart are refused."""
    cloud.sim.charger.plug_in()
    cloud.sim.charger.set_error(True)
    error = await cloud.status()
    error_pause = await cloud.action(2)
    cloud.sim.charger.set_error(False)
    cloud.sim.charger.set_updating(True)
    updating = await cloud.status()
    restart = await cloud.action(3)
    resume = await cloud.action(1)
    cloud.sim.charger.set_updating(False)
    back = await cloud.status()

    assert (14, 0) == (error["status_id"], error["charging_power"])
    assert 403 == error_pause[0]
    assert (166, 0) == (updating["status_id"], updating["charging_power"])
    assert 403 == restart[0]
    assert "updating" in restart[1]["title"]
    assert 403 == resume[0]
    assert 194 == back["status_id"]
    assert [] == cloud.sim.forbidden_actions


async def test_pause_without_a_car_is_refused(cloud: Cloud) -> None:
    """Pause and resume answer 403 while no car is connected, and change nothing."""
    pause = await cloud.action(2)
    cloud.sim.charger.plug_in()
    status = (await cloud.status())["status_id"]

    assert 403 == pause[0]
    assert "161" in pause[1]["title"]
    assert 194 == status


async def test_restart_goes_ready_then_offline_then_back(cloud: Cloud) -> None:
    """Action 3: Ready for ~10 s, Disconnected (0) for ~90 s, then charging again."""
    cloud.sim.charger.plug_in(car_max_power_kw=11.0)
    reply = await cloud.action(3)
    seen = []
    offline_sync = ""
    for step_s in (5, 10, 80, 10):
        await cloud.clock.advance(step_s)
        body = await cloud.status()
        seen.append(body["status_id"])
        offline_sync = body["last_sync"] if body["status_id"] == 0 else offline_sync
    await cloud.clock.advance(360)
    energy = (await cloud.status())["added_energy"]

    assert (200, {"status_id": 161}) == reply
    assert [161, 0, 0, 194] == seen
    assert "2025-01-15 12:00:10" == offline_sync
    assert round(11.0 * 365 / 3600, 3) == energy


async def test_offline_charger_shows_0_and_a_stale_last_sync(cloud: Cloud) -> None:
    """Offline: status 0, no charging, last_sync frozen; back online it charges again."""
    cloud.sim.charger.plug_in(car_max_power_kw=11.0)
    await cloud.clock.advance(60)
    cloud.sim.charger.set_offline(True)
    await cloud.clock.advance(600)
    offline = await cloud.status()
    pause = await cloud.action(2)
    cloud.sim.charger.set_offline(False)
    await cloud.clock.advance(60)
    online = await cloud.status()

    assert (0, 0) == (offline["status_id"], offline["charging_power"])
    assert "2025-01-15 12:01:00" == offline["last_sync"]
    assert 403 == pause[0]
    assert 194 == online["status_id"]
    assert "2025-01-15 12:12:00" == online["last_sync"]
    assert round(11.0 * 120 / 3600, 3) == online["added_energy"]


async def test_schedule_hold_and_action_9(cloud: Cloud) -> None:
    """With a schedule holding, plug-in shows 179; resume charges; pause then 9 returns to 179."""
    cloud.sim.charger.set_schedule_hold(True)
    cloud.sim.charger.plug_in()
    held = (await cloud.status())["status_id"]
    resumed = await cloud.action(1)
    await cloud.action(2)
    back = await cloud.action(9)

    assert 179 == held
    assert (200, {"status_id": 194}) == resumed
    assert (200, {"status_id": 179}) == back


@pytest.mark.parametrize("action", [4, 5, 0, 99])
async def test_forbidden_actions_are_rejected_and_recorded(cloud: Cloud, action: int) -> None:
    """Factory reset (4) and every other unknown code answer 400 and are recorded."""
    cloud.sim.charger.plug_in()
    code, body = await cloud.action(action)

    assert 400 == code
    assert str(action) in body["title"]
    assert [action] == cloud.sim.forbidden_actions
    assert 194 == cloud.sim.charger.status_id


async def test_action_without_a_number_is_400_and_not_recorded(cloud: Cloud) -> None:
    """A remote-action body without an integer action is a plain 400."""
    code, _ = await cloud.call("POST", f"/v3/chargers/{CID}/remote-action", {"action": "2"})

    assert 400 == code
    assert [] == cloud.sim.forbidden_actions


async def test_energy_cost_config(cloud: Cloud) -> None:
    """POST chargers/config sets the price; GET and status show it; bad values answer 400."""
    code, body = await cloud.call("POST", f"/chargers/config/{CID}", {"energyCost": 0.31})
    _, got = await cloud.call("GET", f"/chargers/config/{CID}")
    status = await cloud.status()
    bad = await cloud.call("POST", f"/chargers/config/{CID}", {"energyCost": "cheap"})

    assert 200 == code
    assert set(_fixture("config_energy_cost.json")) == set(body)
    assert (0.31, 0.31) == (body["energy_price"], body["energyCost"]["value"])
    assert 0.31 == got["energy_price"]
    assert 0.31 == status["config_data"]["energyCost"]["value"]
    assert 400 == bad[0]
    assert 0.31 == cloud.sim.charger.energy_cost_eur_per_kwh


# -- session history ------------------------------------------------------------------------


async def test_sessions_are_recorded_with_cost_and_filtered_by_date(cloud: Cloud) -> None:
    """Each plug-in..unplug becomes a session with energy x price; the date filter applies."""
    charger = cloud.sim.charger
    t0 = int(cloud.clock.now().timestamp())
    charger.plug_in(car_max_power_kw=11.0)
    await cloud.clock.advance(1800)
    charger.unplug()
    await cloud.call("POST", f"/chargers/config/{CID}", {"energyCost": 0.4})
    await cloud.clock.advance(3600)
    t1 = int(cloud.clock.now().timestamp())
    charger.plug_in(car_max_power_kw=7.4)
    await cloud.clock.advance(3600)
    charger.unplug()
    end = int(cloud.clock.now().timestamp())

    def query(start: int, stop: int) -> str:
        return f"/v4/sessions/stats?charger={CID}&start_date={start}&end_date={stop}"

    _, both = await cloud.call("GET", query(t0, end))
    _, second = await cloud.call("GET", query(t0 + 1, end))
    _, none = await cloud.call("GET", query(end + 1, end + 100))

    assert 2 == both["meta"]["count"]
    newest, oldest = both["data"]
    template = _fixture("sessions_stats.json")["data"][0]
    assert set(template["attributes"]) == set(newest["attributes"])
    assert (t1, end, 7.4, 3600) == (
        newest["attributes"]["start"],
        newest["attributes"]["end"],
        newest["attributes"]["energy"],
        newest["attributes"]["time"],
    )
    assert round(7.4 * 0.4, 5) == newest["attributes"]["cost"]
    assert (t0, t0 + 1800, 5.5) == (
        oldest["attributes"]["start"],
        oldest["attributes"]["end"],
        oldest["attributes"]["energy"],
    )
    assert round(5.5 * 0.25, 5) == oldest["attributes"]["cost"]
    assert newest["id"] != oldest["id"]
    assert [newest["id"]] == [d["id"] for d in second["data"]]
    assert _fixture("sessions_stats_empty.json")["data"] == none["data"]
    assert 0 == none["meta"]["count"]
    assert f"end_date={end + 100}&start_date={end + 1}&limit=1000" in none["links"]["self"]


async def test_sessions_query_needs_dates(cloud: Cloud) -> None:
    """A sessions query without dates answers 400."""
    assert 400 == (await cloud.call("GET", f"/v4/sessions/stats?charger={CID}"))[0]


# -- recording ------------------------------------------------------------------------------


async def test_every_request_is_recorded(cloud: Cloud) -> None:
    """Requests are recorded in order with method, path, query, headers, body, time and status."""
    await cloud.clock.advance(30)
    await cloud.call("PUT", f"/v2/charger/{CID}", {"maxChargingCurrent": 12})
    await cloud.call("GET", f"/v4/sessions/stats?charger={CID}&start_date=1&end_date=2")
    puts = cloud.sim.requests_to("PUT", "/v2/charger")
    stats = cloud.sim.requests_to(path_contains="sessions")

    assert ["GET", "PUT", "GET"] == [r.method for r in cloud.sim.requests]
    assert "/users/signin" == cloud.sim.requests[0].path
    assert 1 == len(puts)
    assert {"maxChargingCurrent": 12} == puts[0].body
    assert f"/v2/charger/{CID}" == puts[0].path
    assert 200 == puts[0].status
    assert datetime(2025, 1, 15, 12, 0, 30, tzinfo=UTC) == puts[0].at
    assert puts[0].headers["Authorization"].startswith("Bearer ")
    assert {"charger": str(CID), "start_date": "1", "end_date": "2"} == stats[0].query
    assert stats[0].body is None


# -- faults ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "status", "fixture"),
    [
        (Fault.UNAUTHORIZED, 401, "error_401.json"),
        (Fault.FORBIDDEN, 403, "error_403.json"),
        (Fault.RATE_LIMITED, 429, "error_429.json"),
    ],
)
async def test_error_faults(cloud: Cloud, fault: Fault, status: int, fixture: str) -> None:
    """An injected error fault answers once with its status and fixture body, then clears."""
    cloud.sim.inject(fault, path_contains="/chargers/status/")
    first = await cloud.call("GET", f"/chargers/status/{CID}")
    second = await cloud.call("GET", f"/chargers/status/{CID}")

    assert (status, _fixture(fixture)) == first
    assert 200 == second[0]
    assert [status, 200] == [r.status for r in cloud.sim.requests_to(path_contains="status")]


async def test_rate_limited_with_retry_after(cloud: Cloud) -> None:
    """RATE_LIMITED with retry_after_s sends a Retry-After header in whole seconds."""
    cloud.sim.inject(Fault.RATE_LIMITED, retry_after_s=59.2)
    async with cloud.http.get(
        f"{cloud.url}/chargers/status/{CID}", headers={"Authorization": f"Bearer {cloud.token}"}
    ) as resp:
        assert 429 == resp.status
        assert "60" == resp.headers["Retry-After"]


async def test_server_error_and_html_error(cloud: Cloud) -> None:
    """SERVER_ERROR answers 500; HTML_ERROR answers 502 with a text/html page."""
    cloud.sim.inject(Fault.SERVER_ERROR)
    cloud.sim.inject(Fault.HTML_ERROR)
    server_error = (await cloud.call("GET", "/v3/chargers/groups"))[0]
    async with cloud.http.get(
        f"{cloud.url}/v3/chargers/groups", headers={"Authorization": f"Bearer {cloud.token}"}
    ) as resp:
        html_status, html_type, html = resp.status, resp.content_type, await resp.text()

    assert 500 == server_error
    assert (502, "text/html") == (html_status, html_type)
    assert "<html>" in html


async def test_malformed_json(cloud: Cloud) -> None:
    """MALFORMED_JSON answers 200 application/json whose body does not parse."""
    cloud.sim.inject(Fault.MALFORMED_JSON, method="GET")
    async with cloud.http.get(
        f"{cloud.url}/chargers/status/{CID}", headers={"Authorization": f"Bearer {cloud.token}"}
    ) as resp:
        assert (200, "application/json") == (resp.status, resp.content_type)
        with pytest.raises(json.JSONDecodeError):
            await resp.json()


@pytest.mark.parametrize("stall_s", STALLS)
async def test_hang_never_answers_and_is_served_once(cloud: Cloud, stall_s: float) -> None:
    """HANG never answers until the client gives up; the request is recorded as 0, the next 200."""
    cloud.sim.inject(Fault.HANG)
    _stall(stall_s)
    hanging = asyncio.create_task(
        cloud.http.get(
            f"{cloud.url}/chargers/status/{CID}",
            headers={"Authorization": f"Bearer {cloud.token}"},
        )
    )
    await _until_served(cloud.sim)
    done, _ = await asyncio.wait({hanging}, timeout=0.05)
    hanging.cancel()  # the client gives up
    with contextlib.suppress(asyncio.CancelledError):
        await hanging
    after = (await cloud.call("GET", f"/chargers/status/{CID}"))[0]

    assert set() == done
    assert 0 == cloud.sim.requests_to(path_contains="status")[0].status
    assert 200 == after


async def test_drop_closes_the_connection(cloud: Cloud) -> None:
    """DROP closes the connection without an answer: the client sees a disconnect."""
    cloud.sim.inject(Fault.DROP, path_contains="remote-action")
    cloud.sim.charger.plug_in()
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await cloud.action(2)
    after = await cloud.status()

    assert 0 == cloud.sim.requests_to("POST")[0].status
    assert 194 == after["status_id"]


async def test_applied_drop_takes_effect_but_loses_the_answer(cloud: Cloud) -> None:
    """With applied=True the command reaches the charger and only the reply is lost."""
    cloud.sim.inject(Fault.DROP, path_contains="remote-action", applied=True)
    cloud.sim.charger.plug_in()
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await cloud.action(2)

    assert 182 == (await cloud.status())["status_id"]


async def test_faults_match_in_fifo_order_with_count_and_filters(cloud: Cloud) -> None:
    """Rules apply first-in first-out; count and method/path filters are honoured."""
    cloud.sim.inject(Fault.SERVER_ERROR, count=2, method="PUT")
    cloud.sim.inject(Fault.FORBIDDEN, path_contains="/chargers/status/")
    cloud.sim.inject(Fault.RATE_LIMITED, path_contains="/chargers/status/")
    codes = [(await cloud.call("GET", f"/chargers/status/{CID}"))[0] for _ in range(3)]
    puts = [
        (await cloud.call("PUT", f"/v2/charger/{CID}", {"maxChargingCurrent": 8}))[0]
        for _ in range(3)
    ]

    assert [403, 429, 200] == codes
    assert [500, 500, 200] == puts
    assert 0 == cloud.sim.pending_faults


async def test_read_limit(cloud: Cloud) -> None:
    """With a read limit, extra GETs in a rolling minute answer 429; writes are not limited."""
    cloud.sim.set_read_limit(2)
    codes = [(await cloud.call("GET", f"/chargers/status/{CID}"))[0] for _ in range(3)]
    write = (await cloud.call("PUT", f"/v2/charger/{CID}", {"maxChargingCurrent": 8}))[0]
    await cloud.clock.advance(59)
    still = (await cloud.call("GET", f"/chargers/status/{CID}"))[0]
    await cloud.clock.advance(1)
    later = (await cloud.call("GET", f"/chargers/status/{CID}"))[0]
    signin = await cloud.signin()

    assert [200, 200, 429] == codes
    assert 200 == write
    assert 429 == still
    assert 200 == later
    assert 200 == signin.status


async def test_read_limit_can_answer_403(cloud: Cloud) -> None:
    """The read limit can answer 403 instead of 429, as the cloud did in 2026."""
    cloud.sim.set_read_limit(1, status=403)
    codes = [(await cloud.call("GET", "/v3/chargers/groups"))[0] for _ in range(2)]

    assert [200, 403] == codes


async def test_wrong_method_is_recorded_405(cloud: Cloud) -> None:
    """A method a path does not accept answers 405 and is recorded with that status."""
    code, _ = await cloud.call("DELETE", f"/v2/charger/{CID}")

    assert 405 == code
    assert 405 == cloud.sim.requests_to("DELETE")[0].status


async def test_unknown_path_is_recorded_404(cloud: Cloud) -> None:
    """A path the cloud does not serve answers 404 and is still recorded."""
    code, _ = await cloud.call("GET", "/v9/nothing")

    assert 404 == code
    assert 404 == cloud.sim.requests_to(path_contains="nothing")[0].status


async def test_charger_advance_is_callable_directly(clock: SimulatedClock) -> None:
    """Tests can integrate a charger to a given instant without any request."""
    sim = WallboxCloudSimulator(clock)
    sim.charger.plug_in(car_max_power_kw=7.0)
    sim.charger.advance(clock.now() + timedelta(hours=2))

    assert 14.0 == pytest.approx(sim.charger.added_energy_kwh)


@pytest.mark.parametrize("stall_s", STALLS)
async def test_app_runs_under_test_server_and_releases_hangs_on_close(
    clock: SimulatedClock, stall_s: float
) -> None:
    """The bare app works under aiohttp's TestServer; closing it releases a hanging request."""
    sim = WallboxCloudSimulator(clock)
    server = TestServer(sim.app)
    await server.start_server()
    sim.inject(Fault.HANG)
    url = str(server.make_url("/users/signin"))
    headers = {"Authorization": _basic(USER, PASSWORD), "Partner": "wallbox"}
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http:
            _stall(stall_s)
            hanging = asyncio.create_task(http.get(url, headers=headers))
            await _until_served(sim)
            async with http.get(url, headers=headers) as resp:
                status = resp.status
            # Far below the runner's shutdown timeout (60 s), which an unreleased hang would
            # hold the close for.
            await asyncio.wait_for(server.close(), 5)
            # The hang is dropped (aiohttp then retries the idempotent GET and is refused).
            with pytest.raises(aiohttp.ClientConnectionError):
                await hanging
    finally:
        await server.close()

    assert 200 == status
    assert [0, 200] == [r.status for r in sim.requests]


async def test_single_phase_installation(clock: SimulatedClock) -> None:
    """Power follows current x phases x voltage; the available maximum bounds the current."""
    sim = WallboxCloudSimulator(
        clock,
        charger_id=12345,
        username="someone@example.com",
        password="pw",  # noqa: S106 - fake account
        token_lifetime_s=900.0,
        refresh_lifetime_s=86400.0,
        max_available_current_a=16,
        phases=1,
        voltage_v=230.0,
        read_limit_per_minute=10,
    )
    url = await sim.start()
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http:
            resp = await http.get(
                f"{url}/users/signin",
                headers={
                    "Authorization": _basic("someone@example.com", "pw"),
                    "Partner": "wallbox",
                },
            )
            attributes = (await resp.json())["data"]["attributes"]
            c = Cloud(sim, url, http, clock, token=attributes["token"])
            sim.charger.plug_in(car_max_power_kw=11.0)
            _, status = await c.call("GET", "/chargers/status/12345")
            too_high = (await c.call("PUT", "/v2/charger/12345", {"maxChargingCurrent": 20}))[0]
    finally:
        await sim.stop()

    assert int(clock.now().timestamp() * 1000) + 900_000 == attributes["ttl"]
    assert 12345 == sim.charger.charger_id
    assert 3.68 == status["charging_power"]
    assert 16 == status["max_available_power"]
    assert 400 == too_high


async def test_clock_set_backwards_adds_no_energy(cloud: Cloud) -> None:
    """A step back neither removes energy nor counts the repeated minutes twice."""
    cloud.sim.charger.plug_in(car_max_power_kw=11.0)
    await cloud.clock.advance(1800)
    await cloud.status()
    cloud.clock.set(cloud.clock.now() - timedelta(minutes=10))
    back = await cloud.status()
    await cloud.clock.advance(1800)
    forward = await cloud.status()

    assert 5.5 == back["added_energy"]
    assert round(11.0 * 3000 / 3600, 3) == forward["added_energy"]  # 12:00-12:50, once


# -- payload variants (variants/SOURCE.md) --------------------------------------------------


def _shape(value: Any) -> Any:
    """Return the keys (nested) and JSON types of ``value``, without the values."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shape(v) for v in value[:1]]
    return type(value).__name__ if value is not None else None


async def test_group_inherited_energy_cost_has_the_variant_fixtures_shape(cloud: Cloud) -> None:
    """The group variant: energyCost inherited at the group's price, energy_price the charger's."""
    cloud.sim.charger.plug_in(car_max_power_kw=11.0)
    cloud.sim.charger.energy_cost_eur_per_kwh = 0.31
    cloud.sim.variants = PayloadVariants(group_energy_cost_eur_per_kwh=0.25)

    body = await cloud.status()
    _, config = await cloud.call("GET", f"/chargers/config/{CID}")

    fixture = _fixture("variants/charger_status_charging_group_energy_cost.json")
    assert set(fixture["config_data"]) == set(body["config_data"])
    assert fixture["config_data"]["energyCost"] == body["config_data"]["energyCost"]
    assert 0.31 == body["config_data"]["energy_price"]
    assert (
        _fixture("variants/config_energy_cost_group_inherited.json")["energyCost"]
        == (config["energyCost"])
    )
    assert 0.31 == config["energy_price"]


async def test_older_model_variants_have_the_variant_fixtures_shape(cloud: Cloud) -> None:
    """No charger_id, null icp_max_current, no ecosmart, in the status and in the config."""
    cloud.sim.variants = PayloadVariants(
        without_charger_id=True, icp_max_current_null=True, without_ecosmart=True
    )

    body = await cloud.status()
    _, config = await cloud.call("GET", f"/chargers/config/{CID}")

    fixture = _fixture("variants/charger_status_charging_no_charger_id.json")
    assert set(fixture["config_data"]) == set(body["config_data"])
    assert body["config_data"]["icp_max_current"] is None
    older = _fixture("variants/config_older_model.json")
    assert set(older) - {"charger_id"} == set(config)
    assert config["icp_max_current"] is None


async def test_portal_session_item_variant(cloud: Cloud) -> None:
    """The history lists a portal charger_charging_session item before the log sessions."""
    t0 = int(cloud.clock.now().timestamp())
    cloud.sim.charger.plug_in(car_max_power_kw=11.0)
    await cloud.clock.advance(1800)
    cloud.sim.charger.unplug()
    cloud.sim.variants = PayloadVariants(portal_session_item=True)
    end = int(cloud.clock.now().timestamp())

    _, body = await cloud.call(
        "GET", f"/v4/sessions/stats?charger={CID}&start_date={t0}&end_date={end}"
    )

    fixture = _fixture("variants/sessions_stats_with_portal_item.json")
    assert ["charger_charging_session", "charger_log_session"] == [d["type"] for d in body["data"]]
    assert _shape(fixture["data"][0]) == _shape(body["data"][0])
    assert 2 == body["meta"]["count"]


@pytest.mark.parametrize(
    ("reply", "expected"), [(RemoteActionReply.AFTER, 182), (RemoteActionReply.BEFORE, 194)]
)
async def test_remote_action_reply_variant(
    cloud: Cloud, reply: RemoteActionReply, expected: int
) -> None:
    """The pause's answer carries the status after the command, or from before it."""
    cloud.sim.charger.plug_in(car_max_power_kw=11.0)
    cloud.sim.variants = PayloadVariants(remote_action_reply=reply)

    code, body = await cloud.action(2)

    assert (200, {"status_id": expected}) == (code, body)
    assert 182 == cloud.sim.charger.status_id
