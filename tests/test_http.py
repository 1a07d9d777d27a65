"""The shared HTTP session never re-sends a request on its own."""

from __future__ import annotations

import random
from pathlib import Path

from pydantic import SecretStr

from smartcharge.http import open_session
from smartcharge.logsetup import register_secret
from smartcharge.simulator.clock import SimulatedClock
from smartcharge.simulator.wallbox_cloud import Fault, WallboxCloudSimulator
from smartcharge.wallbox import WallboxClient


def _client(session, url: str, clock: SimulatedClock, state: Path) -> WallboxClient:
    return WallboxClient(
        session,
        register_secret=register_secret,
        api_url=url,
        auth_url=url,
        username="test.user@example.com",
        password=SecretStr("correct-horse-battery-staple"),
        clock=clock,
        state_dir=state,
        charger_id=999001,
        timeout_s=2.0,
        rng=random.Random(3),
    )


async def test_a_dropped_status_read_is_retried_only_inside_the_read_budget(
    auto_clock: SimulatedClock, tmp_path: Path
):
    """aiohttp would re-send a dropped GET at once; ours waits for the next read slot."""
    cloud = WallboxCloudSimulator(auto_clock)
    url = await cloud.start()
    try:
        async with open_session(5.0) as session:
            client = _client(session, url, auto_clock, tmp_path)
            cloud.inject(Fault.DROP, path_contains="chargers/status")

            snapshot = await client.status(fresh=True)
    finally:
        await cloud.stop()
    reads = cloud.requests_to(method="GET", path_contains="chargers/status")

    assert 999001 == snapshot.charger_id
    assert [0, 200] == [r.status for r in reads]
    assert (reads[1].at - reads[0].at).total_seconds() >= 60


async def test_a_dropped_put_reaches_the_cloud_once(auto_clock: SimulatedClock, tmp_path: Path):
    """A current change whose connection drops is sent once, then checked, never blindly again."""
    cloud = WallboxCloudSimulator(auto_clock)
    cloud.charger.plug_in()
    url = await cloud.start()
    try:
        async with open_session(5.0) as session:
            client = _client(session, url, auto_clock, tmp_path)
            await client.status(fresh=True)
            cloud.inject(Fault.DROP, path_contains="v2/charger", applied=True)

            await client.set_max_current(10)
    finally:
        await cloud.stop()
    puts = cloud.requests_to(method="PUT", path_contains="v2/charger")

    assert 1 == len(puts)
    assert 10 == cloud.charger.max_charging_current_a


async def test_a_refused_connection_is_still_known_as_never_sent():
    """Connecting to nothing raises aiohttp's connector error, so writes know nothing went out."""
    import aiohttp
    import pytest

    from tests.resilience.ports import refused_port

    with refused_port() as port:
        async with open_session(2.0) as session:
            with pytest.raises(aiohttp.ClientConnectorError):
                await session.get(f"http://127.0.0.1:{port}/")
