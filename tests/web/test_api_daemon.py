"""The API over real HTTP against a real daemon (``runtime.compose.daemon_view``) on the
simulated cloud and ENTSO-E: the documents say what the daemon's state says."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

import aiohttp

from smartcharge.demo import DEMO_DAY, SimulatedWorld, local, simulated_world
from smartcharge.runtime.compose import daemon_view
from smartcharge.runtime.jobs import run_simulated
from smartcharge.web.documents import utc_text
from smartcharge.web.server import HttpServer

START = local(DEMO_DAY, time(17, 45))
PLUG_IN = local(DEMO_DAY, time(18, 0))
TIMEOUT = aiohttp.ClientTimeout(total=5)


async def run_until(
    world: SimulatedWorld, until: datetime, at: dict[datetime, Callable[[], None]]
) -> None:
    pending = dict(at)

    def between(now: datetime) -> None:
        for t in sorted(pending):
            if now >= t:
                pending.pop(t)()

    await run_simulated(world.daemon, world.clock, until, between=between)


async def get_all(world: SimulatedWorld, *paths: str) -> list[Any]:
    server = HttpServer(daemon_view(world.daemon), "127.0.0.1", 0, world.clock)
    await server.start()
    try:
        async with aiohttp.ClientSession(timeout=TIMEOUT) as http:
            out = []
            for path in paths:
                async with http.get(f"http://127.0.0.1:{server.port}{path}") as resp:
                    assert 200 == resp.status, path
                    out.append(await resp.json())
            return out
    finally:
        await server.stop()


async def test_status_plan_and_prices_follow_the_daemon(tmp_path: Path):
    async with simulated_world(tmp_path, START) as world:
        await world.daemon.start()
        plug = {PLUG_IN: lambda: world.cloud.charger.plug_in(car_max_power_kw=11.0)}
        await run_until(world, local(DEMO_DAY, time(18, 30)), plug)
        status, plan, prices = await get_all(world, "/api/status", "/api/plan", "/api/prices")
        state = world.daemon.state
        curve = world.daemon.feed.curve

    session = state.session
    assert session is not None
    assert session.plan is not None
    assert "cloud" == status["link"]
    assert utc_text(world.clock.now()) == status["now"]
    assert session.session_id == status["session"]["session_id"] == plan["session_id"]
    assert utc_text(session.plugged_in_at) == status["session"]["plugged_in_at"]
    assert round(session.target_kwh, 3) == status["session"]["target_kwh"]
    assert status["plan"] == plan["plan"]
    assert [utc_text(s.start) for s in session.plan.plan.slots] == [
        s["start"] for s in plan["plan"]["slots"]
    ]
    assert session.plan.plan.strategy == plan["plan"]["strategy"]
    assert state.next_action is not None
    assert {"action": state.next_action.action.value, "at": utc_text(state.next_action.at)} == (
        status["next_action"]
    )
    assert utc_text(curve.known_until) == status["prices_known_until"]
    assert {
        "charger_at": utc_text(state.last_poll_at),
        "charger_reachable": True,
        "prices_at": utc_text(state.last_price_fetch_at),
        "price_source": "entsoe",
    } == status["last_contact"]
    assert {"status": "ok", "reasons": []} == status["health"]
    # Today's prices: local DEMO_DAY; every slot planned is one the plan charges in.
    assert DEMO_DAY.isoformat() == prices["date"]
    day_start = local(DEMO_DAY, time(0)).astimezone(UTC)
    assert utc_text(day_start) == prices["slots"][0]["start"]
    charging = [s for s in session.plan.plan.slots if s.is_charging]
    for slot in prices["slots"]:
        start = datetime.fromisoformat(slot["start"])
        end = datetime.fromisoformat(slot["end"])
        assert slot["planned"] == any(c.start < end and start < c.end for c in charging)


async def test_sessions_show_the_ledger_after_unplug(tmp_path: Path):
    async with simulated_world(tmp_path, START) as world:
        await world.daemon.start()
        morning = local(DEMO_DAY + timedelta(days=1), time(7, 30))
        await run_until(
            world,
            morning + timedelta(minutes=10),
            {
                PLUG_IN: lambda: world.cloud.charger.plug_in(car_max_power_kw=11.0),
                morning: world.cloud.charger.unplug,
            },
        )
        (sessions, status) = await get_all(world, "/api/sessions", "/api/status")
        entries = world.daemon.ledger.entries()

    assert 1 == len(entries) == len(sessions["sessions"])
    row = sessions["sessions"][0]
    assert entries[0].session_id == row["session_id"]
    assert round(entries[0].energy_kwh, 3) == row["energy_kwh"] == sessions["totals"]["energy_kwh"]
    assert round(entries[0].cost_eur, 4) == row["cost_eur"]
    assert row["target_met"] is True
    assert status["session"] is None
    assert status["plan"] is None


async def post(
    server: HttpServer, body: dict[str, Any], headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    async with (
        aiohttp.ClientSession(timeout=TIMEOUT) as http,
        http.post(
            f"http://127.0.0.1:{server.port}/api/plan", json=body, headers=headers or {}
        ) as resp,
    ):
        return resp.status, await resp.json()


async def get(server: HttpServer, path: str) -> Any:
    async with (
        aiohttp.ClientSession(timeout=TIMEOUT) as http,
        http.get(f"http://127.0.0.1:{server.port}{path}") as resp,
    ):
        assert 200 == resp.status
        return await resp.json()


def writes(world: SimulatedWorld, after: datetime) -> list[str]:
    return [r.path for r in world.cloud.requests if r.method in ("POST", "PUT") and r.at >= after]


async def test_post_sets_tonights_target_and_get_agrees(tmp_path: Path):
    async with simulated_world(tmp_path, START) as world:
        await world.daemon.start()
        plug = {PLUG_IN: lambda: world.cloud.charger.plug_in(car_max_power_kw=11.0)}
        await run_until(world, local(DEMO_DAY, time(18, 10)), plug)
        server = HttpServer(daemon_view(world.daemon), "127.0.0.1", 0, world.clock)
        await server.start()
        try:
            status, answer = await post(
                server,
                {"mode": "plan", "target_kwh": 35, "ready_by": "06:30"},
                {"X-Smartcharge-Client": "cli"},
            )
            plan = await get(server, "/api/plan")
            doc = await get(server, "/api/status")
        finally:
            await server.stop()
        session = world.daemon.state.session

    ready_by = local(DEMO_DAY + timedelta(days=1), time(6, 30))
    assert 200 == status
    assert "session" == answer["applies_to"]
    assert {
        "mode": "plan",
        "target_kwh": 35.0,
        "ready_by": utc_text(ready_by),
        "set_by": "cli",
        "set_at": answer["override"]["set_at"],
    } == answer["override"]
    assert answer["plan"] == plan["plan"]
    assert 35.0 == plan["plan"]["target_kwh"]
    assert utc_text(ready_by) == plan["plan"]["ready_by"]
    assert "session_override" == plan["plan"]["reason"]
    assert answer["override"] == doc["session"]["override"]
    assert session is not None
    assert session.override is not None
    assert 35.0 == session.target_kwh


async def test_post_without_a_car_is_for_the_next_session(tmp_path: Path):
    async with simulated_world(tmp_path, START) as world:
        await world.daemon.start()
        server = HttpServer(daemon_view(world.daemon), "127.0.0.1", 0, world.clock)
        await server.start()
        try:
            status, answer = await post(server, {"mode": "off"})
            doc = await get(server, "/api/status")
        finally:
            await server.stop()

    assert (200, "next_session", None) == (status, answer["applies_to"], answer["plan"])
    assert "api" == answer["override"]["set_by"]
    assert answer["override"] == doc["next_override"]
    assert doc["session"] is None


async def test_a_refused_value_is_a_400_and_changes_nothing(tmp_path: Path):
    async with simulated_world(tmp_path, START) as world:
        await world.daemon.start()
        plug = {PLUG_IN: lambda: world.cloud.charger.plug_in(car_max_power_kw=11.0)}
        await run_until(world, local(DEMO_DAY, time(18, 10)), plug)
        before = world.daemon.state
        at = world.clock.now()
        server = HttpServer(daemon_view(world.daemon), "127.0.0.1", 0, world.clock)
        await server.start()
        try:
            too_much = await post(server, {"mode": "plan", "target_kwh": 500})
            past = await post(server, {"mode": "plan", "ready_by": "2020-01-01T06:00:00+00:00"})
        finally:
            await server.stop()
        after = world.daemon.state
        requests = [r for r in world.cloud.requests if r.at > at]

    assert 400 == too_much[0]
    assert "target_kwh" == too_much[1]["error"]["field"]
    assert too_much[1]["error"]["accepted"]
    assert 400 == past[0]
    assert "ready_by" == past[1]["error"]["field"]
    assert before == after
    assert [] == requests  # not even a read of the charger


async def test_repeated_posts_send_the_charger_nothing_more(tmp_path: Path):
    """ "now" three times: the first resumes the charger; the same request again sends nothing."""
    async with simulated_world(tmp_path, START) as world:
        await world.daemon.start()
        plug = {PLUG_IN: lambda: world.cloud.charger.plug_in(car_max_power_kw=11.0)}
        await run_until(world, local(DEMO_DAY, time(18, 10)), plug)
        at = world.clock.now()
        server = HttpServer(daemon_view(world.daemon), "127.0.0.1", 0, world.clock)
        await server.start()
        try:
            first = await post(server, {"mode": "now"})
            after_first = writes(world, at)
            again = [await post(server, {"mode": "now"}) for _ in range(2)]
        finally:
            await server.stop()
        after_all = writes(world, at)

    assert 200 == first[0]
    assert [200, 200] == [status for status, _ in again]
    assert 1 <= len(after_first)  # the resume
    assert after_first == after_all


async def test_a_post_to_a_stopped_daemon_changes_nothing(tmp_path: Path):
    async with simulated_world(tmp_path, START) as world:
        await world.daemon.start()
        plug = {PLUG_IN: lambda: world.cloud.charger.plug_in(car_max_power_kw=11.0)}
        await run_until(world, local(DEMO_DAY, time(18, 10)), plug)
        server = HttpServer(daemon_view(world.daemon), "127.0.0.1", 0, world.clock)
        await server.start()
        try:
            await world.daemon.shutdown()
            at = world.clock.now()
            before = world.daemon.state
            status, body = await post(server, {"mode": "now"})
        finally:
            await server.stop()

    assert 400 == status
    assert "stopping" in body["error"]["message"]
    assert before == world.daemon.state
    assert [] == [r for r in world.cloud.requests if r.at > at]


async def test_a_post_in_flight_at_a_stop_ends_before_the_stop_and_says_what_it_did(
    tmp_path: Path,
):
    """A request waiting for the tick lock when the stop begins: it gets the lock first (it
    queued first), applies and saves the override; the stop then takes the lock for good and
    cuts short the tick that would plan it. The answer says it was applied, nothing is logged
    after ``daemon_stopped``, and the server's stop does not hang on it."""
    async with simulated_world(tmp_path, START) as world:
        await world.daemon.start()
        plug = {PLUG_IN: lambda: world.cloud.charger.plug_in(car_max_power_kw=11.0)}
        await run_until(world, local(DEMO_DAY, time(18, 10)), plug)
        server = HttpServer(daemon_view(world.daemon), "127.0.0.1", 0, world.clock)
        await server.start()
        try:
            async with world.daemon.work.lock:  # a tick in progress
                posting = asyncio.create_task(post(server, {"mode": "off"}))
                while not world.daemon.work.lock._waiters:  # the request waits for the lock
                    await asyncio.sleep(0)
                stopping = asyncio.create_task(world.daemon.shutdown())
                await asyncio.sleep(0)
            await stopping
            status, body = await posting
        finally:
            await asyncio.wait_for(server.stop(), 5)
        names = [name for _, name, _ in world.events]
        session = world.daemon.state.session

    assert 200 == status, body
    assert ("session", "off") == (body["applies_to"], body["override"]["mode"])
    assert names.index("session_override_set") < names.index("daemon_stopped")
    assert "daemon_stopped" == names[-1]
    assert session is not None
    assert session.override is not None
    assert "off" == session.override.mode.value
