"""The Wallbox cloud beside the OCPP link (issue 15 item 5), over real HTTP and websockets.

The simulated Wallbox cloud (``smartcharge.simulator.wallbox_cloud``, the demo's world) and the
simulated Wallbox on OCPP run side by side on 127.0.0.1; the charger is the one ``smartcharge
run`` builds (``runtime.adapters.build_ocpp_charger``). The simulated Wallbox's offered current
is capped by the limit its cloud twin holds (``app_limit_a``), as a real one is by the app's.

- A night with both links: the target is met, the energy cost in the app is written once per
  price change (and only then), the cloud is never asked to pause or resume and never polled.
- A charger that accepts a limit and ignores it gets the current through the cloud as well.
- Without the account the energy cost in the app is not kept, and ``status`` and
  ``check-config`` say so.

``pytest tests/test_ocpp_cloud.py -s`` prints a ``[figures]`` line: the cloud's calls in a night
beside OCPP (the OCPP night without the account makes none).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from structlog.testing import capture_logs

from smartcharge.cli import main
from smartcharge.cli.configcmd import check_online
from smartcharge.config import Settings, load_settings
from smartcharge.demo import (
    DEMO_DAY,
    PRICES_CSV,
    SimulatedWorld,
    demo_settings,
    local,
    simulated_world,
)
from smartcharge.domain import Command, CommandKind
from smartcharge.errors import UnsupportedCommandError
from smartcharge.ocpp import OcppCharger
from smartcharge.pricing import Tariff
from smartcharge.runtime.adapters import build_ocpp_charger, build_ocpp_link
from smartcharge.runtime.cloud_side import OcppWithCloud
from smartcharge.runtime.ocpp_link import OcppLink
from smartcharge.runtime.plan_profile import PlanKeeper
from smartcharge.session.decide import accepted_energy_cost
from smartcharge.simulator._car import Car
from smartcharge.simulator.clock import SimulatedClock
from smartcharge.simulator.energyzero_server import EnergyZeroFakeServer
from smartcharge.simulator.entsoe_server import read_price_csv
from smartcharge.simulator.ocpp_charge_point import OcppQuirks, SimulatedOcppWallbox
from smartcharge.simulator.ocpp_night import READY_BY, START, OcppNight, run_ocpp_night
from smartcharge.simulator.wallbox_cloud import RecordedRequest
from tests.ocpp.conftest import WAIT_S, Central, settle
from tests.test_check_config import EZ_RECORDING

# The module's night (a fixture) takes 6-7 s alone, and its first test pays for it: beside two
# busy loops under nice (the CI bar) it ran past the 60 s default once (worker killed).
pytestmark = pytest.mark.timeout(180)

PLUG_IN = local(DEMO_DAY, time(18, 0))
UNPLUG = local(DEMO_DAY + timedelta(days=1), time(7, 30))
CAR = Car(max_power_kw=11.0, capacity_kwh=40.0, start_soc=0.4, tapers=True)
CP_ID = "WB-CLOUD-0001"
QUARTER = timedelta(minutes=15)


def _energy_costs(requests: list[RecordedRequest]) -> list[RecordedRequest]:
    return [r for r in requests if r.method == "POST" and r.path.startswith("/chargers/config/")]


def _currents(requests: list[RecordedRequest]) -> list[RecordedRequest]:
    return [r for r in requests if r.method == "PUT" and "maxChargingCurrent" in str(r.body)]


def _remote_actions(requests: list[RecordedRequest]) -> list[RecordedRequest]:
    return [r for r in requests if "remote-action" in r.path]


def _status_reads(requests: list[RecordedRequest]) -> list[RecordedRequest]:
    return [r for r in requests if r.method == "GET" and r.path.startswith("/chargers/status/")]


def _slot_of(at: datetime) -> datetime:
    at = at.astimezone(UTC)
    return at.replace(minute=at.minute - at.minute % 15, second=0, microsecond=0)


def _price_changes(tariff: Tariff, start: datetime, end: datetime) -> list[tuple[datetime, float]]:
    """Return each quarter of ``[start, end)`` whose energy cost (in cents) differs from the
    quarter before, with that cost: the writes "once per price change" asks for."""
    changes: list[tuple[datetime, float]] = []
    for at, spot, minutes in read_price_csv(PRICES_CSV, start, end):
        assert 15 == minutes
        cost = accepted_energy_cost(tariff.all_in_eur_per_kwh(spot))
        if not changes or changes[-1][1] != cost:
            changes.append((at.astimezone(UTC), cost))
    return changes


@dataclass
class CloudNight:
    night: OcppNight
    tariff: Tariff


@pytest.fixture(scope="module")
def cloud_night(tmp_path_factory: pytest.TempPathFactory) -> CloudNight:
    """The demo's night on the OCPP link with the cloud beside it (the account configured)."""
    state_dir = tmp_path_factory.mktemp("ocpp-cloud")
    night = asyncio.run(run_ocpp_night(state_dir, CAR, cloud=True))
    log = night.cloud_log
    print(
        f"\n[figures] link=ocpp+cloud cloud_requests={len(log)} "
        f"energy_cost_writes={len(_energy_costs(log))} current_writes={len(_currents(log))} "
        f"remote_actions={len(_remote_actions(log))} status_reads={len(_status_reads(log))} "
        f"auth={sum(1 for r in log if r.path.startswith('/users/'))} "
        f"ocpp_commands={len(night.commands)} "
        f"energy_at_ready_by_kwh={night.energy_by(READY_BY):.2f} "
        f"cost_eur={sum(e.cost_eur for e in night.entries):.2f}"
    )
    settings = demo_settings(state_dir, "http://127.0.0.1", "http://127.0.0.1")
    settings_tariff = Tariff.from_settings(settings)
    return CloudNight(night, settings_tariff)


def test_the_night_with_both_links_meets_the_target(cloud_night: CloudNight):
    """20 kWh by 07:00 by the charger's register; the plan still lives in the charger."""
    night = cloud_night.night
    [entry] = night.entries
    profiles = [c.payload for c in night.received if c.action == "SetChargingProfile"]
    periods = [
        p["csChargingProfiles"]["chargingSchedule"]["chargingSchedulePeriod"] for p in profiles
    ]

    assert night.energy_by(READY_BY) >= 20.0 - 0.05
    assert entry.target_met
    assert entry.target_met_at is not None
    assert entry.target_met_at <= READY_BY
    assert any(len(p) > 2 for p in periods), "the plan was not kept in the charger"
    assert "RemoteStopTransaction" not in [c.action for c in night.received]


def test_the_energy_cost_is_written_once_per_price_change(cloud_night: CloudNight):
    """Every change of the price (to the cent) while the car is plugged in is written in its
    own quarter, and nothing else: the same rule as on the cloud link, within the budget."""
    writes = _energy_costs(cloud_night.night.cloud_log)
    written = [(_slot_of(w.at), w.body["energyCost"]) for w in writes]
    expected = _price_changes(cloud_night.tariff, PLUG_IN, UNPLUG)

    assert [200] * len(writes) == [w.status for w in writes]
    assert expected == written
    assert all(b.at - a.at >= QUARTER for a, b in zip(writes, writes[1:], strict=False))


def test_the_cloud_is_never_asked_to_pause_or_resume_nor_polled(cloud_night: CloudNight):
    """Pause and resume went over OCPP only (Wallbox disables the cloud's while OCPP is
    connected); a charger that follows its limits gets no current through the cloud; the
    cloud is read at most once (before the first energy cost), never polled."""
    log = cloud_night.night.cloud_log
    profiles = [c for c in cloud_night.night.received if c.action == "SetChargingProfile"]

    assert [] == _remote_actions(log)
    assert [] == _currents(log)
    assert len(_status_reads(log)) <= 1
    assert len(profiles) > 2  # pauses, resumes and currents went over OCPP


# --- the charger alone, beside the cloud ---------------------------------------------------


@dataclass
class Beside:
    world: SimulatedWorld
    link: OcppLink
    charger: OcppWithCloud
    wallbox: SimulatedOcppWallbox
    central: Central


@asynccontextmanager
async def beside_the_cloud(
    tmp_path: Path, quirks: OcppQuirks | None = None
) -> AsyncIterator[Beside]:
    """The OCPP link and the cloud of one charger, as ``smartcharge run`` builds them."""
    async with simulated_world(
        tmp_path, START, charger_link="ocpp", ocpp_charge_point_id=CP_ID
    ) as world:
        link = build_ocpp_link(world.settings, world.clock)
        link.host, link.port = "127.0.0.1", 0
        port = await link.start()
        charger = build_ocpp_charger(world.settings, link, world.http, world.clock)
        assert isinstance(charger, OcppWithCloud)
        url = f"ws://127.0.0.1:{port}/"
        timeout = aiohttp.ClientTimeout(total=WAIT_S)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            wallbox = SimulatedOcppWallbox(
                url,
                CP_ID,
                world.clock,
                http,
                car=Car(max_power_kw=22.0),
                quirks=quirks,
                max_current_a=32.0,
                timeout_s=WAIT_S,
            )
            app = world.cloud.charger
            wallbox.app_limit_a = lambda: float(app.max_charging_current_a)
            central = Central(link.charger, link.server, url)
            try:
                await wallbox.connect()
                await settle(central, wallbox)
                yield Beside(world, link, charger, wallbox, central)
            finally:
                await wallbox.close()
                await link.server.close()


async def test_a_charger_that_ignores_its_limit_gets_the_current_through_the_cloud(
    tmp_path: Path,
):
    """Found ignoring 10 A, the charger is capped at 10 A through the cloud at the next poll,
    once; a new current is written once more; a pause stays on OCPP; the stop puts the app's
    limit back."""
    async with beside_the_cloud(tmp_path, OcppQuirks(ignores_limits=True)) as b:
        cloud = b.world.cloud
        app_limit_before = cloud.charger.max_charging_current_a
        await b.wallbox.plug_in()
        await b.charger.apply(Command(CommandKind.RESUME))
        await b.charger.apply(Command(CommandKind.SET_MAX_CURRENT, 10.0))
        await settle(b.central, b.wallbox)
        before_found = len(_currents(cloud.requests))
        await b.wallbox.pass_time(60)
        await settle(b.central, b.wallbox)
        with capture_logs() as logs:
            await b.charger.status()
        await b.wallbox.pass_time(30)
        offered_after = b.wallbox.offered_a()
        await b.charger.status()  # the same current: nothing more
        after_one = [r.body for r in _currents(cloud.requests)]
        await b.charger.apply(Command(CommandKind.PAUSE))
        await b.charger.apply(Command(CommandKind.RESUME))
        await b.charger.apply(Command(CommandKind.SET_MAX_CURRENT, 12.0))
        after_two = [r.body for r in _currents(cloud.requests)]
        released = await b.charger.release()
        app_limit_after = cloud.charger.max_charging_current_a
        remote = _remote_actions(cloud.requests)

    assert b.link.charger.ignores_limit
    assert 0 == before_found
    events = [e["event"] for e in logs]
    assert "ocpp_current_through_cloud" in events
    assert "ocpp_cloud_current_set" in events
    assert [{"maxChargingCurrent": 10}] == after_one
    assert 10.0 == offered_after  # the app's limit caps what the charger ignores
    assert [{"maxChargingCurrent": 10}, {"maxChargingCurrent": 12}] == after_two
    assert [] == remote
    assert released
    assert app_limit_before == app_limit_after


async def test_a_charger_that_follows_its_limit_gets_nothing_through_the_cloud(tmp_path: Path):
    """No quirk: currents and pauses over OCPP only; the cloud is not asked anything."""
    async with beside_the_cloud(tmp_path) as b:
        await b.wallbox.plug_in()
        await b.charger.apply(Command(CommandKind.RESUME))
        await b.charger.apply(Command(CommandKind.SET_MAX_CURRENT, 10.0))
        await b.wallbox.pass_time(60)
        await settle(b.central, b.wallbox)
        await b.charger.status()
        await b.charger.apply(Command(CommandKind.PAUSE))
        requests = list(b.world.cloud.requests)
        released = await b.charger.release()

    assert not b.link.charger.ignores_limit
    assert [] == requests
    assert not released


async def test_the_energy_cost_goes_through_the_cloud_only_when_it_differs(tmp_path: Path):
    """With nothing stored, the cloud is read once first: the price it already holds is not
    written again; a new one is, once; the snapshot shows it without another request. Lock
    has no path (nothing is sent)."""
    async with beside_the_cloud(tmp_path) as b:
        cloud = b.world.cloud
        cloud.charger.energy_cost_eur_per_kwh = 0.25
        await b.wallbox.plug_in()
        await b.charger.apply(Command(CommandKind.SET_ENERGY_COST, 0.25))
        first = [(r.method, r.path) for r in cloud.requests if not r.path.startswith("/users")]
        snapshot = await b.charger.apply(Command(CommandKind.SET_ENERGY_COST, 0.31))
        polled = await b.charger.status()
        writes = [r.body for r in _energy_costs(cloud.requests)]
        with pytest.raises(UnsupportedCommandError):
            await b.charger.apply(Command(CommandKind.LOCK))
        count = len(cloud.requests)

    assert [("GET", "/chargers/status/999001")] == first
    assert [{"energyCost": 0.31}] == writes
    assert 0.31 == snapshot.energy_cost_eur_per_kwh == polled.energy_cost_eur_per_kwh
    assert 0.31 == cloud.charger.energy_cost_eur_per_kwh
    assert count == len(b.world.cloud.requests)
    assert b.charger.capabilities.energy_cost
    assert isinstance(b.charger, PlanKeeper)


# --- without the account ---------------------------------------------------------------------


async def test_without_the_account_the_charger_is_the_ocpp_link_alone(
    tmp_path: Path, clock: SimulatedClock
):
    """No username or password: ``run`` gets the OCPP charger itself (no energy cost)."""
    settings = Settings(
        _env_file=None,
        charger_link="ocpp",
        ocpp_charge_point_id=CP_ID,
        state_dir=tmp_path,
    )
    link = build_ocpp_link(settings, clock)
    async with aiohttp.ClientSession() as http:
        with capture_logs() as logs:
            charger = build_ocpp_charger(settings, link, http, clock)

    assert isinstance(charger, OcppCharger)
    assert not charger.capabilities.energy_cost
    [logged] = [e for e in logs if e["event"] == "ocpp_cloud_side"]
    assert (False, "not kept") == (logged["used"], logged["energy_cost_in_app"])


def _ocpp_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SMARTCHARGE_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("SMARTCHARGE_HEALTH_PORT", "0")
    monkeypatch.setenv("SMARTCHARGE_CHARGER_LINK", "ocpp")
    monkeypatch.setenv("SMARTCHARGE_OCPP_CHARGE_POINT_ID", CP_ID)


def test_status_says_the_energy_cost_is_not_kept_without_the_account(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    """Text and --json: not kept, naming what is missing; with the account: kept."""
    _ocpp_env(monkeypatch, tmp_path)
    assert 0 == main(["status"])
    text = capsys.readouterr().out
    assert 0 == main(["status", "--json"])
    data = json.loads(capsys.readouterr().out)
    monkeypatch.setenv("SMARTCHARGE_WALLBOX_USERNAME", "someone@example.com")
    monkeypatch.setenv("SMARTCHARGE_WALLBOX_PASSWORD", "not-a-real-password")
    assert 0 == main(["status", "--json"])
    kept = json.loads(capsys.readouterr().out)
    assert 0 == main(["status"])
    kept_text = capsys.readouterr().out

    assert (
        "energy cost in the Wallbox app: not kept (no Wallbox account is configured; the "
        "account is optional on the OCPP link, and only the cloud can set the energy cost)"
    ) in text.splitlines()
    cost = data["energy_cost_in_app"]
    assert (False, None) == (cost["kept"], cost["by"])
    assert ["SMARTCHARGE_WALLBOX_USERNAME", "SMARTCHARGE_WALLBOX_PASSWORD"] == cost["missing"]
    assert "not kept" in cost["note"]
    assert (True, "cloud beside ocpp") == (
        kept["energy_cost_in_app"]["kept"],
        kept["energy_cost_in_app"]["by"],
    )
    assert "energy cost in the Wallbox app: kept by the Wallbox cloud" in kept_text


def test_check_config_notes_it_without_refusing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    """A note on stderr, exit status 0 (``run`` can start: the account is optional); an
    account without its password is named."""
    _ocpp_env(monkeypatch, tmp_path)
    assert 0 == main(["check-config"])
    none_err = capsys.readouterr().err
    monkeypatch.setenv("SMARTCHARGE_WALLBOX_USERNAME", "someone@example.com")

    status = main(["check-config"])
    err = capsys.readouterr().err

    assert 0 == status
    assert (
        "smartcharge: note: the energy cost per kWh in the Wallbox app is not kept: on the OCPP "
        "link only the Wallbox cloud can set it, and the Wallbox account is incomplete: "
        "SMARTCHARGE_WALLBOX_PASSWORD is not set"
    ) in err
    assert "run would refuse" not in err
    assert (
        "smartcharge: note: the energy cost per kWh in the Wallbox app is not kept: on the OCPP "
        "link only the Wallbox cloud can set it, and no Wallbox account is configured"
    ) in none_err


async def test_check_config_online_does_not_fail_for_the_missing_account_on_ocpp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """``--online`` on the OCPP link: the account is "not configured", not a failure; the
    prices still decide."""
    energyzero = EnergyZeroFakeServer()
    energyzero.add_recording_file(EZ_RECORDING)
    runner = web.AppRunner(energyzero.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    _ocpp_env(monkeypatch, tmp_path)
    monkeypatch.setenv("SMARTCHARGE_ENERGYZERO_API_URL", f"http://127.0.0.1:{port}")
    lines: list[str] = []
    try:
        ok = await check_online(
            load_settings(), SimulatedClock(datetime(2025, 12, 17, 12, tzinfo=UTC)), lines.append
        )
    finally:
        await runner.cleanup()

    assert ok
    assert (
        "Wallbox account: not configured (optional with SMARTCHARGE_CHARGER_LINK=ocpp; the "
        "energy cost in the Wallbox app is then not kept)"
    ) == lines[0]
    assert "price source energyzero: works, 96 prices for 2025-12-17" in lines


def test_a_night_on_a_charger_that_ignores_its_limits_sets_the_current_through_the_cloud(
    tmp_path: Path,
):
    """The demo's night on a charger that ignores OCPP limits, with the cloud beside: once the
    charger is found ignoring, every current the daemon sets afterwards is also written to the
    cloud, from the first poll after it was found, once per change (the app's limit then caps
    the car); pauses stay on OCPP (the cloud's are never used); the target is met."""
    with capture_logs() as logs:
        night = asyncio.run(
            run_ocpp_night(tmp_path, CAR, quirks=OcppQuirks(ignores_limits=True), cloud=True)
        )
    [found] = [e for e in logs if e["event"] == "charger_ignores_limit"]
    sets = [
        (at, int(data["current_a"]))
        for at, name, data in night.events
        if name == "charger_current_set"
    ]
    writes = _currents(night.cloud_log)
    written = [w.body["maxChargingCurrent"] for w in writes]
    [entry] = night.entries
    print(
        f"\n[figures] link=ocpp+cloud quirk=ignores_limits cloud_current_writes={len(writes)} "
        f"{written} energy_cost_writes={len(_energy_costs(night.cloud_log))} "
        f"ocpp_commands={len(night.commands)} energy_kwh={entry.energy_kwh:.2f} "
        f"cost_eur={entry.cost_eur:.2f}"
    )
    assert writes, "no current went through the cloud"
    first = writes[0].at
    set_at, in_force = max((s for s in sets if s[0] <= first), key=lambda s: s[0])
    wanted = [in_force] + [a for at, a in sets if at > first]
    changes = [a for i, a in enumerate(wanted) if i == 0 or a != wanted[i - 1]]

    assert entry.target_met
    assert night.energy_by(READY_BY) >= 20.0 - 0.05
    assert found["limit_a"] == in_force  # found ignoring the limit the daemon had just set
    assert first - set_at <= timedelta(minutes=2)  # at the first poll after it was found
    assert changes == written
    assert [200] * len(writes) == [w.status for w in writes]
    assert [] == _remote_actions(night.cloud_log)
    assert 16 == written[-1]  # the app's limit it began with (16 A) is where it ends
