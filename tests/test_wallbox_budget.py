"""The account's call budget: shared by state dirs, sized to the poll, refunded when unreached.

In-process tests against the simulated cloud over real HTTP on 127.0.0.1, on a simulated
clock. The CLI's real-process tests are in ``test_cli_budget.py``.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from pydantic import SecretStr

from smartcharge.config import Settings
from smartcharge.logsetup import register_secret
from smartcharge.runtime.adapters import build_charger
from smartcharge.runtime.jobs import poll_interval_s
from smartcharge.simulator.clock import SimulatedClock
from smartcharge.wallbox import WallboxRateLimitedError, WallboxUnavailableError
from smartcharge.wallbox.client import FRESH_STATUS_S, WallboxClient
from smartcharge.wallbox.limiter import CallKind, RateLimiter, budget_file_name
from tests.resilience.ports import refused_port
from tests.test_wallbox_client import CID, PASSWORD, USER, Cloud, start_cloud, stop_cloud


@pytest.fixture
async def cloud(auto_clock: SimulatedClock, tmp_path: Path) -> AsyncIterator[Cloud]:
    """The fake cloud on a self-advancing clock, a car plugged in and charging."""
    c = await start_cloud(auto_clock, tmp_path / "state")
    c.sim.charger.plug_in(car_max_power_kw=11.0)
    yield c
    await stop_cloud(c)


# --- one budget per account -------------------------------------------------------------


async def test_two_state_dirs_of_one_account_share_one_budget(cloud: Cloud, tmp_path: Path):
    """Clients on two state dirs with one budget dir: the second read waits for the first's slot."""
    budget = tmp_path / "budget"
    first = cloud.client(state_dir=tmp_path / "a", budget_dir=budget)
    second = cloud.client(state_dir=tmp_path / "b", budget_dir=budget)

    await first.status(fresh=True)
    await second.status(fresh=True)

    times = [r.at for r in cloud.status_requests()]
    assert 2 == len(times)
    assert (times[1] - times[0]).total_seconds() >= 60
    assert [budget / budget_file_name(USER)] == sorted(budget.glob("*.json"))
    assert USER not in budget_file_name(USER)
    assert budget_file_name(USER) == budget_file_name(USER.upper())


async def test_another_account_in_the_same_budget_dir_has_its_own_budget(
    clock: SimulatedClock, tmp_path: Path
):
    """The file is keyed by the username: another account's reads are not held back."""
    mine = RateLimiter(tmp_path, clock, username=USER, reads_per_minute=1)
    other = RateLimiter(tmp_path, clock, username="someone.else@example.com", reads_per_minute=1)

    assert None is mine.reserve(CallKind.READ)

    assert None is other.reserve(CallKind.READ)
    assert None is not mine.reserve(CallKind.READ)


async def test_fractional_read_rate_is_accepted_and_stretches_the_poll(
    monkeypatch: pytest.MonkeyPatch, clock: SimulatedClock, tmp_path: Path
):
    """READS_PER_MINUTE=0.5 (Home Assistant also polls) is valid and gives a 120 s poll: the
    client built from the settings declares it, and the poll keeps to it."""
    monkeypatch.setenv("SMARTCHARGE_WALLBOX_READS_PER_MINUTE", "0.5")
    settings = Settings(
        wallbox_username=USER, wallbox_password=SecretStr(PASSWORD), state_dir=tmp_path
    )

    async with aiohttp.ClientSession() as http:
        charger = build_charger(settings, http, clock)
    read_s = charger.capabilities.min_read_interval_s

    assert 0.5 == settings.wallbox_reads_per_minute
    assert 120.0 == poll_interval_s(settings, read_s)


def test_poll_interval_grows_with_the_chargers_the_account_drives():
    """One read a minute shared by three driven chargers: each daemon polls every 180 s."""
    settings = Settings(wallbox_reads_per_minute=1.0, poll_interval_s=90)

    assert [90.0, 120.0, 180.0] == [poll_interval_s(settings, 60.0, n) for n in (1, 2, 3)]


def test_the_poll_keeps_to_the_links_own_read_interval():
    """Never more often than the charger link allows; a faster link leaves the setting alone."""
    settings = Settings(poll_interval_s=90)

    assert [90.0, 90.0, 300.0] == [poll_interval_s(settings, s) for s in (10.0, 90.0, 300.0)]


async def test_drive_counts_the_chargers_of_the_accounts_running_daemons(
    clock: SimulatedClock, tmp_path: Path
):
    """Daemons of two chargers count 2; a daemon that is gone no longer counts."""
    async with aiohttp.ClientSession() as http:

        def client(charger_id: int, state: str) -> WallboxClient:
            return WallboxClient(
                http,
                register_secret=register_secret,
                api_url="http://127.0.0.1:9",
                auth_url="http://127.0.0.1:9",
                username=USER,
                password=SecretStr(PASSWORD),
                clock=clock,
                state_dir=tmp_path / state,
                budget_dir=tmp_path / "budget",
                charger_id=charger_id,
            )

        limiter = RateLimiter(tmp_path / "budget", clock, username=USER)
        gone = subprocess.run(
            [sys.executable, "-c", "import os; print(os.getpid())"],  # noqa: S603
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
        )
        data: dict[str, Any]
        counts = [client(CID, "a").drive(tmp_path / "a")]
        counts.append(client(CID + 1, "b").drive(tmp_path / "b"))
        with limiter._locked() as data:
            data["drivers"].append(
                {
                    "pid": int(gone.stdout),
                    "state_dir": str(tmp_path / "c"),
                    "charger_id": CID + 2,
                    "seen_at": clock.now().isoformat(),
                }
            )
        counts.append(client(CID, "a").drive(tmp_path / "a"))

    assert [1, 2, 2] == counts
    assert {CID, CID + 1} == {d.charger_id for d in limiter.drivers()}


# --- the poll acts on its own read (issue 11, item 19) ----------------------------------


async def test_poll_at_the_budget_interval_acts_on_its_own_read(cloud: Cloud):
    """A poll 59.9 s after the last read waits the 0.1 s for its slot: no 60 s old status.

    Before, status() answered from the stored status whenever the read slot was not free at
    that very instant, so a poll at the budget's own interval acted on a minute-old status
    every time it came a little early.
    """
    client = cloud.client(reads_per_minute=1)
    first = await client.status()
    await cloud.clock.advance(59.9)
    asked_at = cloud.clock.now()

    second = await client.status()

    assert 2 == len(cloud.status_requests())
    assert second.fetched_at >= asked_at
    assert second.fetched_at > first.fetched_at


async def test_a_status_read_moments_ago_is_used_as_it_is(cloud: Cloud):
    """Within FRESH_STATUS_S of a read (by any process of the account) no new read is made."""
    client = cloud.client()
    first = await client.status()
    await cloud.clock.advance(FRESH_STATUS_S - 1)

    again = await client.status()

    assert first == again
    assert 1 == len(cloud.status_requests())


async def test_without_waiting_a_stale_stored_status_is_answered_at_once(cloud: Cloud):
    """With waits off, a status 30 s old is answered as stored; a write with no slot refuses."""
    client = cloud.client(writes_per_minute=1)
    first = await client.status()
    await cloud.clock.advance(30)
    client.waits = False
    asked_at = cloud.clock.now()

    again = await client.status()
    await client.pause()
    with pytest.raises(WallboxRateLimitedError) as info:
        await client.resume()

    assert first == again
    assert 1 == len(cloud.status_requests())
    assert 1 == len(cloud.sim.requests_to("POST", "remote-action"))
    assert info.value.retry_at is not None
    assert info.value.retry_at > asked_at


async def test_a_wait_is_announced_with_its_end(cloud: Cloud):
    """A read that must wait calls on_wait at once with the kind and the instant waited for."""
    client = cloud.client()
    await client.status()
    seen: list[tuple[CallKind, Any]] = []
    client.on_wait = lambda kind, until: seen.append((kind, until))

    await client.status(fresh=True)

    first_read, second_read = (r.at for r in cloud.status_requests())
    assert [(CallKind.READ, first_read + timedelta(seconds=60))] == seen
    assert second_read == first_read + timedelta(seconds=60)


# --- calls that never reached the cloud cost nothing (issue 12, item 5) -------------------


async def test_unreached_sign_ins_and_reads_do_not_use_the_allowance(
    clock: SimulatedClock, tmp_path: Path
):
    """Five tries against a closed port: each is a real attempt, none is counted."""
    errors: list[WallboxUnavailableError] = []
    with refused_port() as port:
        url = f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession() as http:
            for _ in range(5):
                client = WallboxClient(
                    http,
                    register_secret=register_secret,
                    api_url=url,
                    auth_url=url,
                    username=USER,
                    password=SecretStr(PASSWORD),
                    clock=clock,
                    state_dir=tmp_path / "state",
                    charger_id=CID,
                    timeout_s=5,
                    read_tries=1,
                    signins_per_hour=1,
                )
                with pytest.raises(WallboxUnavailableError) as info:
                    await client.status()
                errors.append(info.value)
    limiter = RateLimiter(tmp_path / "state", clock, username=USER, signins_per_hour=1)

    assert 5 == len(errors)
    assert all(not e.reached for e in errors)
    assert all("sign-in" in str(e) and f"127.0.0.1:{port}" in str(e) for e in errors)
    assert all("SMARTCHARGE_WALLBOX_AUTH_URL" in str(e) for e in errors)
    assert None is limiter.reserve(CallKind.SIGNIN)
    assert None is limiter.reserve(CallKind.READ)


async def test_answered_sign_ins_count_and_the_refusal_says_why_and_when(
    cloud: Cloud, tmp_path: Path
):
    """Answered sign-ins use the allowance; the next one says the last outcome and the time."""
    for _ in range(2):
        client = cloud.client(state_dir=tmp_path / "fresh", signins_per_hour=2)
        (tmp_path / "fresh" / "wallbox-tokens.json").unlink(missing_ok=True)
        await client.status(fresh=True)
    client = cloud.client(state_dir=tmp_path / "fresh", signins_per_hour=2)
    (tmp_path / "fresh" / "wallbox-tokens.json").unlink()

    with pytest.raises(WallboxRateLimitedError) as info:
        await client.status(fresh=True)

    message = str(info.value)
    assert 2 == cloud.sim.signins
    assert "SMARTCHARGE_WALLBOX_SIGNINS_PER_HOUR" in message
    assert "accepted the credentials" in message
    assert info.value.retry_at is not None
    assert info.value.retry_at.isoformat(timespec="seconds") in message
