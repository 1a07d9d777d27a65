"""The simulated Wallbox cloud's realism switches, over real HTTP on 127.0.0.1.

Command lag, the write limit, separate auth and api hosts and the realistic car (battery, taper,
its own phases and current limit, a draw below the set current). Each
switch is off by default (``tests/test_simulator_wallbox.py`` covers the defaults).
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from smartcharge.simulator._car import TAPER_END_SHARE, Car
from smartcharge.simulator.clock import SimulatedClock
from smartcharge.simulator.wallbox_cloud import (
    ANNOUNCED_WRITES_PER_MINUTE,
    WallboxCloudSimulator,
    realistic_car,
)

USER = "test.user@example.com"
PASSWORD = "correct-horse-battery-staple"  # noqa: S105 - the simulator's fake account
CID = 999001
TIMEOUT = aiohttp.ClientTimeout(total=5.0)


@dataclass
class Api:
    """A signed-in HTTP client of a running simulator."""

    sim: WallboxCloudSimulator
    url: str
    auth_url: str
    http: aiohttp.ClientSession
    token: str = ""

    async def signin(self, on: str | None = None) -> int:
        credentials = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        headers = {"Authorization": f"Basic {credentials}", "Partner": "wallbox"}
        async with self.http.get(f"{on or self.auth_url}/users/signin", headers=headers) as r:
            if r.status == 200:
                self.token = (await r.json())["data"]["attributes"]["token"]
            return r.status

    async def call(
        self, method: str, path: str, body: Any = None, on: str | None = None
    ) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {self.token}"}
        data = None if body is None else json.dumps(body)
        async with self.http.request(
            method, f"{on or self.url}{path}", headers=headers, data=data
        ) as r:
            text = await r.text()
            return r.status, (json.loads(text) if text else None)

    async def status(self) -> dict[str, Any]:
        code, body = await self.call("GET", f"/chargers/status/{CID}")
        assert 200 == code, body
        assert isinstance(body, dict)
        return body

    async def action(self, action: int) -> tuple[int, Any]:
        return await self.call("POST", f"/v3/chargers/{CID}/remote-action", {"action": action})


@asynccontextmanager
async def running(clock: SimulatedClock, **switches: Any) -> AsyncIterator[Api]:
    sim = WallboxCloudSimulator(clock, token_lifetime_s=86400.0, **switches)
    url = await sim.start()
    try:
        async with aiohttp.ClientSession(timeout=TIMEOUT) as http:
            api = Api(sim, url, sim.auth_url or url, http)
            assert 200 == await api.signin()
            yield api
    finally:
        await sim.stop()


# -- command lag ---------------------------------------------------------------------------


async def test_a_pause_is_accepted_at_once_and_shows_only_after_the_lag(
    clock: SimulatedClock,
) -> None:
    """With a 20-60 s lag the pause answers 200, reads keep showing charging, then 182."""
    async with running(clock, command_lag_s=(20.0, 60.0), seed=3) as api:
        api.sim.charger.plug_in()
        code, _ = await api.action(2)
        seen = []
        for _ in range(14):
            seen.append((await api.status())["status_id"])
            await clock.advance(5)
        first_paused_s = 5 * seen.index(182)

    assert 200 == code
    assert 194 == seen[0]
    assert 20 <= first_paused_s <= 65
    assert all(s == 194 for s in seen[: seen.index(182)])
    assert all(s == 182 for s in seen[seen.index(182) :])


async def test_the_lag_is_seeded(clock: SimulatedClock) -> None:
    """The same seed gives the same lag; another seed another one."""
    lags = []
    for seed in (1, 1, 2):
        sim = WallboxCloudSimulator(clock, command_lag_s=(20.0, 60.0), seed=seed)
        sim.charger.plug_in()
        start = clock.now()
        sim.charger.remote_pause()
        while sim.charger.status_id != 182:
            await clock.advance(1)
        lags.append((clock.now() - start).total_seconds())
        await clock.advance(1)  # leave the next charger's clock where it is

    assert lags[0] == lags[1]
    assert lags[0] != lags[2]


async def test_a_current_change_shows_the_old_current_until_it_takes_effect(
    clock: SimulatedClock,
) -> None:
    """PUT maxChargingCurrent answers 200 at once; status keeps the old set point and power."""
    async with running(clock, command_lag_s=(30.0, 30.0)) as api:
        api.sim.charger.plug_in(car=Car(max_power_kw=22.0))
        code, _ = await api.call("PUT", f"/v2/charger/{CID}", {"maxChargingCurrent": 8})
        before = await api.status()
        await clock.advance(31)
        after = await api.status()

    assert 200 == code
    assert 16 == before["config_data"]["max_charging_current"]
    assert 11.04 == before["charging_power"]
    assert 8 == after["config_data"]["max_charging_current"]
    assert 5.52 == after["charging_power"]


async def test_without_lag_commands_take_effect_at_once(clock: SimulatedClock) -> None:
    """The default keeps today's behaviour: the very next read shows the pause."""
    async with running(clock) as api:
        api.sim.charger.plug_in()
        await api.action(2)

        assert 182 == (await api.status())["status_id"]


# -- write limit ---------------------------------------------------------------------------


async def test_the_sixth_write_in_a_minute_is_429_and_the_budget_comes_back(
    clock: SimulatedClock,
) -> None:
    """5 writes a minute per account: the 6th is refused, a minute later writes pass again."""
    async with running(clock, write_limit_per_minute=ANNOUNCED_WRITES_PER_MINUTE) as api:
        api.sim.charger.plug_in()
        codes = []
        for n in range(6):
            code, _ = await api.call("POST", f"/chargers/config/{CID}", {"energyCost": n / 10})
            codes.append(code)
            await clock.advance(5)
        read_code, _ = await api.call("GET", f"/chargers/status/{CID}")
        await clock.advance(60)
        later, _ = await api.call("POST", f"/chargers/config/{CID}", {"energyCost": 0.9})
        price = api.sim.charger.energy_cost_eur_per_kwh

    assert [200, 200, 200, 200, 200, 429] == codes
    assert 200 == read_code
    assert 200 == later
    assert 0.9 == price


async def test_two_clients_of_one_account_share_the_write_budget(clock: SimulatedClock) -> None:
    """Writes are counted per account: a second sign-in (another state dir) gets no new budget."""
    async with running(clock, write_limit_per_minute=2) as api:
        api.sim.charger.plug_in()
        other = Api(api.sim, api.url, api.auth_url, api.http)
        assert 200 == await other.signin()
        first, _ = await api.call("POST", f"/chargers/config/{CID}", {"energyCost": 0.1})
        second, _ = await other.call("POST", f"/chargers/config/{CID}", {"energyCost": 0.2})
        third, _ = await other.call("POST", f"/chargers/config/{CID}", {"energyCost": 0.3})

    assert (200, 200, 429) == (first, second, third)


# -- separate hosts ------------------------------------------------------------------------


async def test_auth_and_api_answer_on_their_own_port_only(clock: SimulatedClock) -> None:
    """With separate hosts, sign-in on the api port and status on the auth port are 404."""
    async with running(clock, separate_hosts=True) as api:
        wrong_signin = await api.signin(on=api.url)
        wrong_status, _ = await api.call("GET", f"/chargers/status/{CID}", on=api.auth_url)
        right_status, _ = await api.call("GET", f"/chargers/status/{CID}")
        statuses = [r.status for r in api.sim.requests]

    assert api.url != api.auth_url
    assert 404 == wrong_signin
    assert 404 == wrong_status
    assert 200 == right_status
    assert [200, 404, 404, 200] == statuses


async def test_one_host_by_default(clock: SimulatedClock) -> None:
    """Without the switch both hosts' paths answer on one URL (today's tests rely on it)."""
    async with running(clock) as api:
        assert api.url == api.auth_url
        assert 200 == await api.signin(on=api.url)


# -- the car -------------------------------------------------------------------------------


async def test_a_one_phase_car_behind_a_three_phase_charger_draws_a_third(
    clock: SimulatedClock,
) -> None:
    """At 16 A a one-phase car draws 3.68 kW, not 11.04, and added_energy integrates that."""
    async with running(clock) as api:
        api.sim.charger.plug_in(car=realistic_car(phases=1, max_current_a=32, shortfall=False))
        body = await api.status()
        await clock.advance(3600)
        later = await api.status()

    assert 3.68 == body["charging_power"]
    assert pytest.approx(3.68, abs=0.001) == later["added_energy"]


async def test_the_car_draws_five_to_ten_percent_below_the_set_current(
    clock: SimulatedClock,
) -> None:
    """A realistic car's draw is 90-95 % of what the set current offers, seeded per car."""
    draws = []
    async with running(clock) as api:
        for seed in range(5):
            api.sim.charger.plug_in(car=realistic_car(seed=seed))
            draws.append((await api.status())["charging_power"] / 11.04)
            api.sim.charger.unplug()

    assert all(0.895 <= d <= 0.955 for d in draws), draws
    assert len(set(draws)) > 1


async def test_the_car_current_limit_caps_the_draw(clock: SimulatedClock) -> None:
    """A car that takes at most 10 A per phase draws 6.9 kW behind a 16 A set point."""
    async with running(clock) as api:
        api.sim.charger.plug_in(car=Car(max_power_kw=22.0, max_current_a=10.0))

        assert 6.9 == (await api.status())["charging_power"]


async def test_a_tapering_car_slows_above_80_percent_and_stops_when_full(
    clock: SimulatedClock,
) -> None:
    """From 60 % of 60 kWh at 11.04 kW: full power to 80 %, 65 % of it at 90 %, 181 at 100 %."""
    car = realistic_car(capacity_kwh=60.0, start_soc=0.6, shortfall=False)
    async with running(clock) as api:
        api.sim.charger.plug_in(car=car)
        samples: list[tuple[float, float, int]] = []
        for _ in range(5 * 60):
            body = await api.status()
            samples.append((body["added_energy"], body["charging_power"], body["status_id"]))
            if body["status_id"] == 181:
                break
            await clock.advance(60)

    at_80 = [p for e, p, _ in samples if e < 11.9]
    at_90 = [p for e, p, _ in samples if 17.9 <= e <= 18.1]
    minutes_to_full = len(samples) - 1
    energy, power, status = samples[-1]

    assert all(p == 11.04 for p in at_80)
    assert at_90
    assert pytest.approx(0.65 * 11.04, rel=0.01) == at_90[0]
    assert (24.0, 0.0, 181) == (energy, power, status)
    # 12 kWh at full power take 65 min; the taper's 12 kWh take far longer than 65 min more.
    assert 150 < minutes_to_full < 240
    assert TAPER_END_SHARE * 11.04 <= min(p for _, p, s in samples if s == 194)


async def test_the_battery_stops_a_car_without_a_taper_exactly_when_full(
    clock: SimulatedClock,
) -> None:
    """No taper: 20 kWh of room at 11.04 kW fill in 108.7 minutes, then status 181."""
    car = realistic_car(capacity_kwh=50.0, start_soc=0.6, tapers=False, shortfall=False)
    async with running(clock) as api:
        api.sim.charger.plug_in(car=car)
        await clock.advance(108 * 60)
        charging = await api.status()
        await clock.advance(60)
        full = await api.status()

    assert 194 == charging["status_id"]
    assert (181, 20.0) == (full["status_id"], full["added_energy"])


# -- the remote-action reply under lag (the payload variants are in test_simulator_wallbox) --


async def test_under_lag_the_reply_is_the_state_from_before(clock: SimulatedClock) -> None:
    """A lagging charger's reply to a pause still says charging (194)."""
    async with running(clock, command_lag_s=(20.0, 60.0)) as api:
        api.sim.charger.plug_in()
        _, reply = await api.action(2)

    assert {"status_id": 194} == reply
