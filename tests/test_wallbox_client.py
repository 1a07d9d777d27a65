"""WallboxClient against the simulated cloud, over real HTTP on 127.0.0.1.

Time is a SimulatedClock shared by the client and the fake, so the request times the fake
records are the times the client's limiter saw.
"""

from __future__ import annotations

import asyncio
import base64
import random
import stat
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from pydantic import SecretStr
from structlog.testing import capture_logs

from smartcharge.domain import ChargerStatus, Command, CommandKind
from smartcharge.logsetup import register_secret
from smartcharge.ports import Charger, ChargerCapabilities
from smartcharge.simulator.clock import SimulatedClock
from smartcharge.simulator.wallbox_cloud import (
    Fault,
    PayloadVariants,
    RecordedRequest,
    RemoteActionReply,
    WallboxCloudSimulator,
)
from smartcharge.wallbox import (
    RemoteAction,
    WallboxAuthError,
    WallboxChargerNotFoundError,
    WallboxClient,
    WallboxForbiddenError,
    WallboxRateLimitedError,
    WallboxUnavailableError,
)
from smartcharge.wallbox.limiter import budget_file_name
from smartcharge.wallbox.tokens import TOKEN_FILE

USER = "test.user@example.com"
PASSWORD = "correct-horse-battery-staple"  # noqa: S105 - the simulator's fake account
CID = 999001
STATUS_PATH = f"/chargers/status/{CID}"


@dataclass
class Cloud:
    """A running fake cloud, its URL, one HTTP session and a state dir."""

    sim: WallboxCloudSimulator
    url: str
    http: aiohttp.ClientSession
    clock: SimulatedClock
    state_dir: Path
    clients: list[WallboxClient] = field(default_factory=list)

    def client(self, **overrides: Any) -> WallboxClient:
        kwargs: dict[str, Any] = {
            "api_url": self.url,
            "auth_url": self.url,
            "username": USER,
            "password": SecretStr(PASSWORD),
            "clock": self.clock,
            "state_dir": self.state_dir,
            "charger_id": CID,
            "rng": random.Random(7),
        }
        kwargs.update(overrides)
        client = WallboxClient(self.http, register_secret=register_secret, **kwargs)
        self.clients.append(client)
        return client

    def status_requests(self) -> list[RecordedRequest]:
        return self.sim.requests_to("GET", STATUS_PATH)


async def start_cloud(clock: SimulatedClock, state_dir: Path, **sim_kwargs: Any) -> Cloud:
    sim = WallboxCloudSimulator(clock, **sim_kwargs)
    url = await sim.start()
    return Cloud(
        sim, url, aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)), clock, state_dir
    )


async def stop_cloud(cloud: Cloud) -> None:
    await cloud.sim.stop()
    await cloud.http.close()


@pytest.fixture
async def cloud(auto_clock: SimulatedClock, tmp_path: Path) -> AsyncIterator[Cloud]:
    """The fake cloud on a self-advancing clock, a car plugged in and charging."""
    c = await start_cloud(auto_clock, tmp_path / "state")
    c.sim.charger.plug_in(car_max_power_kw=11.0)
    yield c
    await stop_cloud(c)


def _times(requests: list[RecordedRequest]) -> list[datetime]:
    return [r.at for r in requests]


def _max_in_window(times: list[datetime], window_s: float = 60.0) -> int:
    """Return the most calls found in any half-open window ``(t - window, t]``."""
    w = timedelta(seconds=window_s)
    return max(sum(1 for u in times if t - w < u <= t) for t in times)


# --- conformance ------------------------------------------------------------------------


async def test_client_is_a_charger(cloud: Cloud):
    """WallboxClient satisfies the Charger protocol (checked by mypy) and reads the fake."""
    charger: Charger = cloud.client()

    snapshot = await charger.status()

    assert CID == snapshot.charger_id
    assert ChargerStatus.CHARGING == snapshot.status
    assert 194 == snapshot.status_id
    assert 16 == snapshot.max_charging_current_a
    assert 32 == snapshot.max_available_current_a
    assert 0.25 == snapshot.energy_cost_eur_per_kwh
    assert snapshot.charging_power_kw == pytest.approx(11.0)
    assert cloud.clock.now() == snapshot.fetched_at


@pytest.mark.parametrize(("reads_per_minute", "every_s"), [(1.0, 60.0), (0.5, 120.0), (2.0, 30.0)])
async def test_the_cloud_declares_every_command_and_its_read_budgets_interval(
    cloud: Cloud, reads_per_minute: float, every_s: float
):
    """Energy cost, restart and lock go over the cloud; a read is allowed once per interval
    of the account's read budget, and nothing is sent to learn that."""
    charger: Charger = cloud.client(reads_per_minute=reads_per_minute)

    capabilities = charger.capabilities

    assert (
        ChargerCapabilities(energy_cost=True, restart=True, lock=True, min_read_interval_s=every_s)
        == capabilities
    )
    assert set(CommandKind) == capabilities.commands
    assert [] == cloud.sim.requests


async def test_every_declared_command_reaches_the_cloud(cloud: Cloud):
    """Each command the capabilities declare is carried: one write each on the simulated cloud."""
    client = cloud.client(writes_per_minute=5)
    await client.status()
    # An order the charger accepts (a locked charger refuses a pause).
    commands = [
        Command(CommandKind.SET_MAX_CURRENT, 10.0),
        Command(CommandKind.SET_ENERGY_COST, 0.3),
        Command(CommandKind.PAUSE),
        Command(CommandKind.RESUME),
        Command(CommandKind.LOCK),
        Command(CommandKind.UNLOCK),
        Command(CommandKind.RESTART),
    ]

    for command in commands:
        await client.apply(command)
    writes = [r for r in cloud.sim.requests if r.method != "GET"]

    assert client.capabilities.commands == {c.kind for c in commands}
    assert len(commands) == len(writes)


# --- authentication ---------------------------------------------------------------------


async def test_sign_in_is_a_get_with_basic_auth_and_partner_header(cloud: Cloud):
    """The first call signs in once: GET users/signin, Basic credentials, Partner: wallbox."""
    client = cloud.client()

    await client.status()

    signins = cloud.sim.requests_to("GET", "/users/signin")
    assert 1 == len(signins)
    assert 1 == cloud.sim.signins
    expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    assert expected == signins[0].headers["Authorization"]
    assert "wallbox" == signins[0].headers["Partner"]
    assert None is signins[0].body
    status = cloud.status_requests()[0]
    assert status.headers["Authorization"].startswith("Bearer sim-access-")


async def test_stored_token_is_reused_after_a_restart(cloud: Cloud):
    """A new client on the same state dir uses the stored token: no sign-in at all."""
    await cloud.client().status()
    token_file = cloud.state_dir / TOKEN_FILE

    restarted = cloud.client()
    await restarted.status(fresh=True)

    assert 1 == len(cloud.sim.requests_to("GET", "/users/signin"))
    assert 0 == cloud.sim.refreshes
    assert 2 == len(cloud.status_requests())
    assert 0o600 == stat.S_IMODE(token_file.stat().st_mode)
    assert not token_file.with_name(TOKEN_FILE + ".bak").exists()


async def test_token_is_renewed_before_it_expires(cloud: Cloud):
    """With under five minutes left the token is refreshed first, so no request gets a 401."""
    client = cloud.client()
    await client.status()
    await cloud.clock.advance(3600 - 200)

    await client.status(fresh=True)

    assert 1 == cloud.sim.refreshes
    assert 1 == cloud.sim.signins
    assert [] == [r for r in cloud.sim.requests if r.status == 401]
    assert [200, 200] == [r.status for r in cloud.status_requests()]


async def test_401_renews_once_and_retries_once(cloud: Cloud):
    """A revoked access token: one refresh, the request retried once, and it succeeds."""
    client = cloud.client()
    await client.status()
    cloud.sim.revoke_access_tokens()

    snapshot = await client.status(fresh=True)

    assert ChargerStatus.CHARGING == snapshot.status
    assert 1 == cloud.sim.refreshes
    assert 1 == cloud.sim.signins
    assert [200, 401, 200] == [r.status for r in cloud.status_requests()]


async def test_second_401_after_renewal_gives_up(cloud: Cloud):
    """If the renewed token is refused too, the client stops: one renewal, one retry."""
    client = cloud.client()
    await client.status()
    cloud.sim.inject(Fault.UNAUTHORIZED, count=2, path_contains=STATUS_PATH)

    with pytest.raises(WallboxAuthError, match="freshly renewed token"):
        await client.status(fresh=True)

    assert 1 == cloud.sim.refreshes
    assert [200, 401, 401] == [r.status for r in cloud.status_requests()]


async def test_rejected_refresh_token_falls_back_to_one_fresh_sign_in(cloud: Cloud):
    """The cloud invalidated the refresh token: one refresh attempt (401), then one sign-in."""
    client = cloud.client()
    await client.status()
    cloud.sim.revoke_access_tokens()
    cloud.sim.revoke_refresh_tokens()

    snapshot = await client.status(fresh=True)

    assert ChargerStatus.CHARGING == snapshot.status
    assert [401] == [r.status for r in cloud.sim.requests_to("GET", "/users/refresh-token")]
    assert [200, 200] == [r.status for r in cloud.sim.requests_to("GET", "/users/signin")]


async def test_concurrent_callers_share_one_sign_in_and_one_renewal(cloud: Cloud):
    """Ten callers wanting a token at once cause one sign-in; ten 401s cause one refresh."""
    client = cloud.client()

    tokens = await asyncio.gather(*(client.auth.token() for _ in range(10)))
    renewed = await asyncio.gather(
        *(client.auth.renew_after_rejection(tokens[0]) for _ in range(10))
    )

    assert 1 == len(set(tokens))
    assert 1 == cloud.sim.signins
    assert 1 == len(set(renewed))
    assert tokens[0] != renewed[0]
    assert 1 == cloud.sim.refreshes


async def test_wrong_password_is_a_clear_error_with_bounded_attempts(cloud: Cloud):
    """Wrong credentials: a clear error naming both settings; 3 sign-ins an hour, restarts too."""
    wrong = "not-the-password"
    errors = []
    for _ in range(4):  # four "processes", each trying twice
        client = cloud.client(password=SecretStr(wrong))
        for _ in range(2):
            with pytest.raises(WallboxAuthError) as info:
                await client.status()
            errors.append(str(info.value))

    assert 3 == len(cloud.sim.requests_to("GET", "/users/signin"))
    assert all("SMARTCHARGE_WALLBOX_USERNAME" in e for e in errors)
    assert all("SMARTCHARGE_WALLBOX_PASSWORD" in e for e in errors)
    assert not any(wrong in e for e in errors)
    assert [] == cloud.status_requests()

    await cloud.clock.advance(3601)
    with pytest.raises(WallboxAuthError):
        await cloud.client(password=SecretStr(wrong)).status()
    assert 4 == len(cloud.sim.requests_to("GET", "/users/signin"))


# --- the limiter ------------------------------------------------------------------------


@pytest.mark.parametrize("reads_per_minute", [1.0, 3.0])
async def test_burst_of_20_reads_reaches_the_fake_at_the_configured_rate(
    cloud: Cloud, reads_per_minute: float
):
    """Twenty concurrent fresh reads: all answered, never more than the budget in any 60 s."""
    client = cloud.client(reads_per_minute=reads_per_minute)

    snapshots = await asyncio.gather(*(client.status(fresh=True) for _ in range(20)))

    times = _times(cloud.status_requests())
    assert 20 == len(snapshots)
    assert 20 == len(times)
    assert int(reads_per_minute) == _max_in_window(times)
    elapsed_s = (times[-1] - times[0]).total_seconds()
    assert elapsed_s >= (20 / reads_per_minute - 1) * 60 - 1e-6


async def test_reads_inside_the_window_are_answered_from_the_stored_status(cloud: Cloud):
    """Twenty concurrent ordinary reads cause one request; the rest get that snapshot."""
    client = cloud.client()

    snapshots = await asyncio.gather(*(client.status() for _ in range(20)))

    assert 1 == len(cloud.status_requests())
    assert 1 == len({s.fetched_at for s in snapshots})


async def test_budget_is_shared_by_clients_on_the_same_state_dir(cloud: Cloud):
    """Two 'processes' (clients on one state dir) share the budget and the stored status."""
    daemon, cli = cloud.client(), cloud.client()
    first = await daemon.status()

    from_cli = await cli.status()
    await cli.status(fresh=True)

    assert first == from_cli
    times = _times(cloud.status_requests())
    assert 2 == len(times)
    assert (times[1] - times[0]).total_seconds() >= 60
    assert (cloud.state_dir / budget_file_name(USER)).exists()


# --- failures and retries ---------------------------------------------------------------


async def test_429_with_retry_after_is_honoured(cloud: Cloud):
    """A 429 with Retry-After: 150 holds the next try back for at least 150 s."""
    client = cloud.client()
    cloud.sim.inject(Fault.RATE_LIMITED, path_contains=STATUS_PATH, retry_after_s=150)

    with capture_logs() as logs:
        snapshot = await client.status()

    statuses = cloud.status_requests()
    assert [429, 200] == [r.status for r in statuses]
    assert (statuses[1].at - statuses[0].at).total_seconds() >= 150
    assert ChargerStatus.CHARGING == snapshot.status
    assert 1 == sum(1 for e in logs if e["event"] == "wallbox_rate_limited")


async def test_rate_limit_backs_off_the_whole_client(cloud: Cloud):
    """Reads give up after 3 tries; a command right after still waits out the back-off."""
    client = cloud.client()
    await client.status()
    cloud.sim.inject(Fault.RATE_LIMITED, count=3, path_contains=STATUS_PATH, retry_after_s=100)

    with pytest.raises(WallboxRateLimitedError):
        await client.status(fresh=True)
    last_429 = cloud.status_requests()[-1].at
    await client.pause()

    assert [200, 429, 429, 429] == [r.status for r in cloud.status_requests()]
    post = cloud.sim.requests_to("POST", "remote-action")[0]
    assert (post.at - last_429).total_seconds() >= 100


async def test_403_on_polling_backs_off_like_a_rate_limit(cloud: Cloud):
    """A 403 on GET chargers/status is treated as a rate limit: wait 180 s, then retry."""
    client = cloud.client()
    cloud.sim.inject(Fault.FORBIDDEN, path_contains=STATUS_PATH)

    await client.status()

    statuses = cloud.status_requests()
    assert [403, 200] == [r.status for r in statuses]
    assert (statuses[1].at - statuses[0].at).total_seconds() >= 180
    assert 1 == cloud.sim.signins


@pytest.mark.parametrize("fault", [Fault.SERVER_ERROR, Fault.HTML_ERROR])
async def test_transient_failure_then_success(cloud: Cloud, fault: Fault):
    """A 500 or an HTML 502 on a read is retried after a jittered back-off."""
    client = cloud.client()
    cloud.sim.inject(fault, path_contains=STATUS_PATH)

    with capture_logs() as logs:
        snapshot = await client.status()

    assert 2 == len(cloud.status_requests())
    assert ChargerStatus.CHARGING == snapshot.status
    backoffs = [s for s in cloud.clock.slept_s if 5.0 <= s <= 7.5]
    assert 1 == len(backoffs)
    events = [e["event"] for e in logs]
    # The outage's start and end are the daemon's to log (tests/test_daemon_outage.py); the
    # client logs each failed try as wire detail only.
    assert 0 == events.count("wallbox_unavailable")
    assert 0 == events.count("wallbox_recovered")
    assert ["debug"] == [e["log_level"] for e in logs if e["event"] == "wallbox_request_failed"]
    assert client.last_success_at == cloud.clock.now()


async def test_dropped_connection_then_success(cloud: Cloud):
    """A dropped connection on a read: answered by the second request.

    aiohttp itself re-sends an idempotent request (GET, PUT) once at once when the connection
    drops (RFC 9112 §9.3.1; ``ClientSession`` has no public switch for it), so the retry
    reaches the fake at the same instant; our own retry is not needed.
    """
    client = cloud.client()
    cloud.sim.inject(Fault.DROP, path_contains=STATUS_PATH)

    snapshot = await client.status()

    statuses = cloud.status_requests()
    assert [0, 200] == [r.status for r in statuses]
    assert statuses[0].at == statuses[1].at
    assert ChargerStatus.CHARGING == snapshot.status


async def test_timeout_then_success(cloud: Cloud):
    """A hanging answer times out (tiny timeout) and the read is retried."""
    client = cloud.client(timeout_s=0.1)
    cloud.sim.inject(Fault.HANG, path_contains=STATUS_PATH)

    snapshot = await client.status()

    assert [0, 200] == [r.status for r in cloud.status_requests()]
    assert ChargerStatus.CHARGING == snapshot.status


async def test_outage_is_logged_once_and_tries_are_bounded(cloud: Cloud):
    """Every try failing: 3 tries, each a debug line, then WallboxUnavailableError.

    The outage itself is the daemon's to log, once (tests/test_daemon_outage.py).
    """
    client = cloud.client(timeout_s=0.1)
    cloud.sim.inject(Fault.SERVER_ERROR, count=5, path_contains=STATUS_PATH)

    with capture_logs() as logs, pytest.raises(WallboxUnavailableError, match="500"):
        await client.status()

    assert 3 == len(cloud.status_requests())
    assert 0 == [e["event"] for e in logs].count("wallbox_unavailable")
    assert 3 == [e["event"] for e in logs].count("wallbox_request_failed")
    assert None is client.last_success_at


# --- commands ---------------------------------------------------------------------------


async def test_every_command_and_its_effect_on_the_charger(cloud: Cloud):
    """Each command reaches the fake as the documented call and changes the charger."""
    client = cloud.client()
    charger = cloud.sim.charger
    await client.status()

    paused = await client.pause()
    assert 182 == charger.status_id
    assert ChargerStatus.PAUSED == paused.status
    resumed = await client.resume()
    assert 194 == charger.status_id
    assert ChargerStatus.CHARGING == resumed.status
    limited = await client.set_max_current(10)
    assert 10 == charger.max_charging_current_a
    assert 10 == limited.max_charging_current_a
    priced = await client.set_energy_cost(0.31)
    assert 0.31 == charger.energy_cost_eur_per_kwh
    assert 0.31 == priced.energy_cost_eur_per_kwh
    locked = await client.lock()
    assert charger.locked
    assert locked.locked
    assert ChargerStatus.LOCKED_CAR_CONNECTED == locked.status
    unlocked = await client.unlock()
    assert not charger.locked
    assert not unlocked.locked
    await client.restart()
    assert charger.is_restarting

    writes = [(r.method, r.path, r.body) for r in cloud.sim.requests if r.method != "GET"]
    assert [
        ("POST", f"/v3/chargers/{CID}/remote-action", {"action": 2}),
        ("POST", f"/v3/chargers/{CID}/remote-action", {"action": 1}),
        ("PUT", f"/v2/charger/{CID}", {"maxChargingCurrent": 10}),
        ("POST", f"/chargers/config/{CID}", {"energyCost": 0.31}),
        ("PUT", f"/v2/charger/{CID}", {"locked": 1}),
        ("PUT", f"/v2/charger/{CID}", {"locked": 0}),
        ("POST", f"/v3/chargers/{CID}/remote-action", {"action": 3}),
    ] == writes
    assert 1 == len(cloud.status_requests())  # no read follows a write
    assert 3 >= _max_in_window(_times([r for r in cloud.sim.requests if r.method != "GET"]))


async def test_apply_dispatches_every_command_kind(cloud: Cloud):
    """apply() maps each CommandKind onto its call."""
    client = cloud.client()
    await client.status()

    await client.apply(Command(CommandKind.SET_MAX_CURRENT, 12))
    await client.apply(Command(CommandKind.SET_ENERGY_COST, 0.2))
    await client.apply(Command(CommandKind.PAUSE))

    assert 12 == cloud.sim.charger.max_charging_current_a
    assert 0.2 == cloud.sim.charger.energy_cost_eur_per_kwh
    assert 182 == cloud.sim.charger.status_id


async def test_a_write_answer_updates_the_stored_status(cloud: Cloud):
    """After a command, status() answers from the write's reply: no read follows a write."""
    client = cloud.client()
    await client.status()

    await client.set_max_current(8)
    snapshot = await client.status(max_age_s=30)

    assert 8 == snapshot.max_charging_current_a
    assert 1 == len(cloud.status_requests())


def test_remote_actions_cannot_express_a_factory_reset():
    """The action enum is closed: 1, 2 and 3 only; 4 (factory reset) cannot be built."""
    assert [1, 2, 3] == sorted(int(a) for a in RemoteAction)
    with pytest.raises(ValueError):
        RemoteAction(4)


async def test_no_command_sends_an_unknown_action(cloud: Cloud):
    """Every command kind goes out; none is an action outside 1-3 and the fake refused none."""
    client = cloud.client()
    await client.status()

    for kind in CommandKind:
        value = {CommandKind.SET_MAX_CURRENT: 10.0, CommandKind.SET_ENERGY_COST: 0.3}.get(kind)
        cloud.sim.charger.user_resume()
        await client.apply(Command(kind, value))

    actions = {r.body["action"] for r in cloud.sim.requests_to("POST", "remote-action")}
    assert actions <= {1, 2, 3}
    assert [] == cloud.sim.forbidden_actions


async def test_refused_command_names_the_action(cloud: Cloud):
    """Pause with no car: the fake answers 403; the error names the action; no retry."""
    client = cloud.client()
    cloud.sim.charger.unplug()
    await client.status()

    with pytest.raises(WallboxForbiddenError) as info:
        await client.pause()

    assert "pause" == info.value.action
    assert 1 == len(cloud.sim.requests_to("POST", "remote-action"))


async def test_lost_answer_of_an_applied_command_is_not_sent_again(cloud: Cloud):
    """The pause arrived but its answer was lost: re-read, see it paused, send nothing more."""
    client = cloud.client()
    await client.status()
    cloud.sim.inject(Fault.DROP, path_contains="remote-action", applied=True)

    snapshot = await client.pause()

    assert 1 == len(cloud.sim.requests_to("POST", "remote-action"))
    assert 2 == len(cloud.status_requests())
    assert ChargerStatus.PAUSED == snapshot.status


async def test_lost_command_is_not_sent_again_when_a_reading_does_not_show_it(cloud: Cloud):
    """A pause whose answer never came and that a reading does not show is not sent again.

    The charger may apply it 20-60 s later (issue 16 §4): its outcome is unknown and the
    caller is told so; the daemon keeps it pending instead of sending it twice.
    """
    client = cloud.client(timeout_s=0.1)
    await client.status()
    cloud.sim.inject(Fault.HANG, path_contains="remote-action")

    with pytest.raises(WallboxUnavailableError) as info:
        await client.pause()

    assert info.value.outcome_unknown
    assert [0] == [r.status for r in cloud.sim.requests_to("POST", "remote-action")]
    assert 2 == len(cloud.status_requests())
    assert "not sent again" in str(info.value)


async def test_restart_with_unknown_outcome_is_never_resent(cloud: Cloud):
    """A restart whose answer was lost raises and is not repeated."""
    client = cloud.client()
    await client.status()
    cloud.sim.inject(Fault.DROP, path_contains="remote-action", applied=True)

    with pytest.raises(WallboxUnavailableError) as info:
        await client.restart()

    assert info.value.outcome_unknown
    assert 1 == len(cloud.sim.requests_to("POST", "remote-action"))


async def test_writes_respect_their_budget(cloud: Cloud):
    """Five commands with 3 writes a minute: the fourth waits for the window."""
    client = cloud.client()
    await client.status()

    for amps in (7, 8, 9, 10, 11):
        await client.set_max_current(amps)

    times = _times(cloud.sim.requests_to("PUT"))
    assert 5 == len(times)
    assert 3 == _max_in_window(times)


# --- discovery and history --------------------------------------------------------------


async def test_the_only_charger_is_discovered(cloud: Cloud):
    """No charger id set and one charger on the account: it is used (and remembered)."""
    client = cloud.client(charger_id=None)

    snapshot = await client.status()
    again = await cloud.client(charger_id=None).discover_charger_id()

    assert CID == snapshot.charger_id
    assert CID == again
    assert 1 == len(cloud.sim.requests_to("GET", "/v3/chargers/groups"))


async def test_several_chargers_need_a_choice(auto_clock: SimulatedClock, tmp_path: Path):
    """Two chargers and no id set: the error lists both and names the setting."""
    c = await start_cloud(auto_clock, tmp_path, extra_charger_ids=(999002,))
    try:
        with pytest.raises(WallboxChargerNotFoundError) as info:
            await c.client(charger_id=None).status()
    finally:
        await stop_cloud(c)

    assert "999001" in str(info.value)
    assert "999002" in str(info.value)
    assert "SMARTCHARGE_WALLBOX_CHARGER_ID" in str(info.value)


async def test_session_history_reads_the_clouds_sessions(cloud: Cloud):
    """A finished session comes back with its times, energy and cost."""
    client = cloud.client()
    start = cloud.clock.now()
    await cloud.clock.advance(3600)
    cloud.sim.charger.unplug()

    sessions = await client.session_history(start - timedelta(days=1), cloud.clock.now())

    assert 1 == len(sessions)
    only = sessions[0]
    assert start == only.start
    assert cloud.clock.now() == only.end
    assert only.energy_kwh == pytest.approx(11.0, abs=0.01)
    assert only.cost == pytest.approx(11.0 * 0.25, abs=0.01)
    query = cloud.sim.requests_to("GET", "/v4/sessions/stats")[0].query
    assert str(CID) == query["charger"]


def test_limit_helper_counts_half_open_windows():
    """The window helper used above counts (t - 60 s, t]."""
    t0 = datetime(2025, 1, 1, tzinfo=UTC)
    times = [t0, t0 + timedelta(seconds=60), t0 + timedelta(seconds=119)]

    assert 2 == _max_in_window(times)


# --- payload variants (issue 16 §1) -------------------------------------------------------


async def test_status_reads_the_chargers_own_price_beside_a_group_price(cloud: Cloud):
    """energy_price 0.31 and a group-inherited energyCost.value 0.25: the snapshot says 0.31."""
    cloud.sim.charger.energy_cost_eur_per_kwh = 0.31
    cloud.sim.variants = PayloadVariants(group_energy_cost_eur_per_kwh=0.25)

    snapshot = await cloud.client().status()

    assert 0.31 == snapshot.energy_cost_eur_per_kwh


async def test_status_of_an_older_model_without_charger_id(cloud: Cloud):
    """No charger_id, null icp_max_current, no ecosmart: read, with the id that was asked for."""
    cloud.sim.variants = PayloadVariants(
        without_charger_id=True, icp_max_current_null=True, without_ecosmart=True
    )

    snapshot = await cloud.client().status()

    assert CID == snapshot.charger_id
    assert ChargerStatus.CHARGING == snapshot.status


async def test_session_history_skips_a_portal_item(cloud: Cloud):
    """A charger_charging_session item in the history is skipped; the session is still read."""
    client = cloud.client()
    start = cloud.clock.now()
    await cloud.clock.advance(3600)
    cloud.sim.charger.unplug()
    cloud.sim.variants = PayloadVariants(portal_session_item=True)

    sessions = await client.session_history(start - timedelta(days=1), cloud.clock.now())

    assert 1 == len(sessions)
    assert start == sessions[0].start


async def test_a_remote_action_answer_that_confirms_is_used(cloud: Cloud):
    """Pause answered with 182: the snapshot is paused and stored; no read follows."""
    client = cloud.client()
    await client.status()

    paused = await client.pause()
    again = await client.status(max_age_s=30)

    assert ChargerStatus.PAUSED == paused.status
    assert ChargerStatus.PAUSED == again.status
    assert 1 == len(cloud.status_requests())


async def test_a_remote_action_answer_with_the_old_state_leaves_the_outcome_unknown(cloud: Cloud):
    """Pause answered with 194 (the state before it): not taken as paused, not sent again.

    The client returns the reading from before the command, stores nothing, and the next
    status call reads the charger.
    """
    client = cloud.client()
    before = await client.status()
    cloud.sim.variants = PayloadVariants(remote_action_reply=RemoteActionReply.BEFORE)

    with capture_logs() as logs:
        answer = await client.pause()
    after = await client.status(max_age_s=30)

    assert before == answer
    assert ["wallbox_command_unconfirmed"] == [
        e["event"] for e in logs if e["event"] == "wallbox_command_unconfirmed"
    ]
    assert 1 == len(cloud.sim.requests_to("POST", "remote-action"))
    assert 2 == len(cloud.status_requests())
    assert ChargerStatus.PAUSED == after.status
