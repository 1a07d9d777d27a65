"""A 404 names the setting of the URL that answered it, over real HTTP against the simulated
cloud: the sign-in's (``SMARTCHARGE_WALLBOX_AUTH_URL``) or a charger path's
(``SMARTCHARGE_WALLBOX_CHARGER_ID``)."""

from __future__ import annotations

import random
from pathlib import Path

import aiohttp
import pytest
from pydantic import SecretStr

from smartcharge.logsetup import register_secret
from smartcharge.simulator.clock import SimulatedClock
from smartcharge.simulator.wallbox_cloud import WallboxCloudSimulator
from smartcharge.wallbox import WallboxChargerNotFoundError, WallboxClient, WallboxResponseError

USER = "test.user@example.com"
PASSWORD = "correct-horse-battery-staple"  # noqa: S105 - the simulator's fake account
CID = 999001
TIMEOUT = aiohttp.ClientTimeout(total=5)


async def status_error(
    clock: SimulatedClock, state_dir: Path, *, wrong_auth: bool, charger_id: int
) -> tuple[Exception, list[str]]:
    """Ask a status with the cloud on two hosts; return the error and the paths asked."""
    sim = WallboxCloudSimulator(clock, username=USER, password=PASSWORD, separate_hosts=True)
    api_url = await sim.start()
    assert sim.auth_url is not None
    assert api_url != sim.auth_url
    try:
        async with aiohttp.ClientSession(timeout=TIMEOUT) as http:
            client = WallboxClient(
                http,
                api_url=api_url,
                auth_url=api_url if wrong_auth else sim.auth_url,
                username=USER,
                password=SecretStr(PASSWORD),
                clock=clock,
                state_dir=state_dir,
                charger_id=charger_id,
                rng=random.Random(7),
                register_secret=register_secret,
            )
            with pytest.raises(Exception) as info:  # noqa: PT011 - the type is asserted below
                await client.status()
    finally:
        await sim.stop()
    return info.value, [f"{r.status} {r.path}" for r in sim.requests]


async def test_a_sign_in_answered_with_404_names_the_auth_url(
    auto_clock: SimulatedClock, tmp_path: Path
):
    """The sign-in sent to the api host (a wrong SMARTCHARGE_WALLBOX_AUTH_URL) answers 404."""
    error, asked = await status_error(auto_clock, tmp_path, wrong_auth=True, charger_id=CID)

    assert ["404 /users/signin"] == asked
    assert isinstance(error, WallboxResponseError)
    assert "users/signin (sign-in) returned 404" in str(error)
    assert "check SMARTCHARGE_WALLBOX_AUTH_URL" in str(error)
    assert "CHARGER_ID" not in str(error)
    assert PASSWORD not in str(error)


async def test_a_charger_path_answered_with_404_names_the_charger_id(
    auto_clock: SimulatedClock, tmp_path: Path
):
    """Signed in on the right host, a charger the account does not have answers 404."""
    error, asked = await status_error(auto_clock, tmp_path, wrong_auth=False, charger_id=123)

    assert ["200 /users/signin", "404 /chargers/status/123"] == asked
    assert isinstance(error, WallboxChargerNotFoundError)
    assert "no such charger on this account" in str(error)
    assert "check SMARTCHARGE_WALLBOX_CHARGER_ID" in str(error)
    assert "AUTH_URL" not in str(error)
