"""Each known Wallbox quirk, reproduced by the simulated charge point, and how the adapter copes."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from structlog.testing import capture_logs

from smartcharge.domain import ChargerStatus, Command, CommandKind
from smartcharge.ocpp import PlannedLimit, ProfileKind
from smartcharge.ocpp._lib import call
from smartcharge.simulator._car import Car
from smartcharge.simulator.ocpp_charge_point import OcppQuirks
from tests.ocpp.conftest import WAIT_S, charging, connected, settle

PAUSE = Command(CommandKind.PAUSE)
RESUME = Command(CommandKind.RESUME)


def _kinds(wallbox) -> list[str]:
    return [
        c.payload["csChargingProfiles"]["chargingProfileKind"]
        for c in wallbox.calls("SetChargingProfile")
    ]


async def test_calls_before_the_boot_answer_get_no_answer(clock, make_wallbox):
    """A central system that asks before answering the boot waits in vain (lbbrhzn/ocpp#1503).

    Frames are handled in order, so an answer to the early call would come before the
    StatusNotification that follows the boot answer; no timer is needed to see it never does.
    """
    frames: list[list[object]] = []

    async def early_central(request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse(protocols=("ocpp1.6",))
        await socket.prepare(request)
        boot = json.loads((await socket.receive(timeout=WAIT_S)).data)
        await socket.send_str(json.dumps([2, "early", "GetConfiguration", {}]))
        boot_answer = {"currentTime": "2025-01-15T12:00:00Z", "interval": 60, "status": "Accepted"}
        await socket.send_str(json.dumps([3, boot[1], boot_answer]))
        status = json.loads((await socket.receive(timeout=WAIT_S)).data)
        frames.append(status)
        await socket.send_str(json.dumps([3, status[1], {}]))
        await socket.send_str(json.dumps([2, "late", "GetConfiguration", {}]))
        frames.append(json.loads((await socket.receive(timeout=WAIT_S)).data))
        await socket.close()
        return socket

    app = web.Application()
    app.router.add_get("/{tail:.*}", early_central)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        wallbox = make_wallbox(str(server.make_url("/")))
        await wallbox.connect()
        await wallbox.wait_for(lambda: len(frames) == 2, WAIT_S)
    finally:
        await server.close()

    assert [2, "StatusNotification"] == [frames[0][0], frames[0][2]]
    assert [3, "late"] == frames[1][:2]
    assert [False, True] == [c.answered for c in wallbox.calls("GetConfiguration")]


async def test_fractional_amps_jump_to_16_so_only_whole_amps_are_sent(start_central, make_wallbox):
    """A fraction makes this firmware give 16 A; the adapter sends 9 A for 8.2 A."""
    central = await start_central(max_current_a=32)
    wallbox = await charging(central, make_wallbox, quirks=OcppQuirks(whole_amps_only=True))
    profile = {
        "chargingProfileId": 7,
        "stackLevel": 3,
        "chargingProfilePurpose": "TxDefaultProfile",
        "chargingProfileKind": "Relative",
        "chargingSchedule": {
            "chargingRateUnit": "A",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 8.8}],
        },
    }
    connection = central.charger._connection
    assert connection is not None
    await connection.request(call.SetChargingProfile(connector_id=1, cs_charging_profiles=profile))
    jumped = wallbox.offered_a()

    await central.charger.apply(Command(CommandKind.SET_MAX_CURRENT, 8.2))
    await settle(central, wallbox)

    assert 16 == jumped
    assert 9 == wallbox.offered_a()


@pytest.mark.parametrize(
    ("required", "kinds"),
    [("Relative", ["Absolute", "Relative", "Relative"]), ("Absolute", ["Absolute", "Absolute"])],
)
async def test_the_accepted_profile_kind_is_found_and_remembered(
    start_central, make_wallbox, required, kinds
):
    """A charger that needs one kind gets it, and after the first refusal only that kind."""
    central = await start_central()
    wallbox = await charging(
        central, make_wallbox, quirks=OcppQuirks(required_profile_kind=required)
    )

    await central.charger.apply(PAUSE)
    await settle(central, wallbox)

    assert kinds == _kinds(wallbox)
    assert ProfileKind(required) is central.charger.profile_kind
    assert "SuspendedEVSE" == wallbox.status


async def test_a_limit_accepted_and_ignored_is_logged_once_with_the_firmware(
    start_central, make_wallbox
):
    """The car keeps drawing 32 A against our 10 A: charger_ignores_limit, once."""
    central = await start_central(max_current_a=32)
    wallbox = await charging(
        central, make_wallbox, quirks=OcppQuirks(ignores_limits=True), car=Car(max_power_kw=22)
    )

    with capture_logs() as logs:
        await central.charger.apply(Command(CommandKind.SET_MAX_CURRENT, 10))
        await wallbox.pass_time(60)
        await settle(central, wallbox)

    ignored = [e for e in logs if e["event"] == "charger_ignores_limit"]
    assert 1 == len(ignored)
    assert ("6.7.33", 10) == (ignored[0]["firmware"], ignored[0]["limit_a"])
    assert central.charger.ignores_limit


async def test_a_limit_that_is_followed_is_not_reported_as_ignored(start_central, make_wallbox):
    """The same check stays quiet when the car draws what the limit allows."""
    central = await start_central(max_current_a=32)
    wallbox = await charging(central, make_wallbox, car=Car(max_power_kw=22))

    await central.charger.apply(Command(CommandKind.SET_MAX_CURRENT, 10))
    await wallbox.pass_time(60)
    await settle(central, wallbox)

    assert not central.charger.ignores_limit


async def test_a_remote_stop_ends_the_session_until_the_car_is_replugged(
    start_central, make_wallbox
):
    """Why the adapter never stops remotely: afterwards not even a RemoteStart charges."""
    central = await start_central()
    wallbox = await charging(central, make_wallbox)
    connection = central.charger._connection
    assert connection is not None
    assert wallbox.transaction is not None

    await connection.request(
        call.RemoteStopTransaction(transaction_id=wallbox.transaction.transaction_id)
    )
    await settle(central, wallbox)
    await central.charger.apply(RESUME)
    await settle(central, wallbox)
    stuck = (wallbox.status, wallbox.transaction is None)
    await wallbox.unplug()
    await wallbox.plug_in()
    await settle(central, wallbox)

    assert ("Finishing", True) == stuck
    assert "Charging" == wallbox.status


async def test_a_charger_reconnecting_every_25_s_is_set_up_each_time_and_keeps_reporting(
    start_central, make_wallbox
):
    """The reconnect loop of evcc#26060: no new boot, a setup per connection, readings go on."""
    central = await start_central()
    wallbox = await charging(central, make_wallbox, quirks=OcppQuirks(reconnect_every_s=25))

    for _ in range(6):  # the central system gets real time for its setup between the steps
        await wallbox.pass_time(10)
        await settle(central, wallbox)

    assert (1, 3) == (wallbox.boots, wallbox.connects)
    assert 3 == central.charger.setups_completed
    assert 6 == len([a for a, _ in wallbox.sent if a == "MeterValues"])
    assert ChargerStatus.CHARGING == (await central.charger.status()).status


@pytest.mark.parametrize(("full_power", "offered"), [(True, 32), (False, 0)])
async def test_a_charger_without_its_central_system(
    start_central, make_wallbox, full_power, offered
):
    """Some firmware charges at full power when it loses us; otherwise our profile holds."""
    central = await start_central(max_current_a=32)
    wallbox = await charging(
        central, make_wallbox, quirks=OcppQuirks(offline_full_power=full_power)
    )
    await central.charger.apply(PAUSE)
    await settle(central, wallbox)

    await wallbox.go_offline()
    await wallbox.pass_time(600)

    assert offered == wallbox.offered_a()
    assert (offered > 0) == (wallbox.session_wh > 0)


async def test_offline_full_power_starts_a_car_plugged_in_while_unreachable(
    start_central, make_wallbox
):
    """Plugged in while the central system is gone, it charges, and reports it when back."""
    central = await start_central()
    wallbox = make_wallbox(central.url, quirks=OcppQuirks(offline_full_power=True))
    await connected(central, wallbox)
    await wallbox.go_offline()

    await wallbox.plug_in()
    await wallbox.pass_time(60)
    await wallbox.go_online()
    await settle(central, wallbox)

    assert "Charging" == wallbox.status
    assert wallbox.transaction is not None
    assert wallbox.transaction.transaction_id is not None
    assert 1 == len([a for a, _ in wallbox.sent if a == "StartTransaction"])


async def test_a_plan_followed_by_the_charger_is_not_reported_as_ignored(
    start_central, make_wallbox, clock
):
    """The check compares with the plan's period in force, not the first one."""
    central = await start_central(max_current_a=32)
    wallbox = await charging(central, make_wallbox, car=Car(max_power_kw=22))
    now = clock.now()
    await central.charger.send_plan(
        [PlannedLimit(now, 0), PlannedLimit(now + timedelta(minutes=30), 16)],
        full_from=now + timedelta(hours=2),
    )

    await wallbox.pass_time(40 * 60)
    await settle(central, wallbox)

    assert 16 == wallbox.offered_a()
    assert not central.charger.ignores_limit


async def test_a_remote_start_carrying_a_profile_is_refused(start_central, make_wallbox):
    """Why the adapter's RemoteStart never carries a profile (evcc#6882)."""
    central = await start_central()
    wallbox = make_wallbox(central.url)
    await connected(central, wallbox)
    await wallbox.plug_in()
    connection = central.charger._connection
    assert connection is not None
    profile = {
        "chargingProfileId": 2,
        "stackLevel": 0,
        "chargingProfilePurpose": "TxProfile",
        "chargingProfileKind": "Relative",
        "chargingSchedule": {
            "chargingRateUnit": "A",
            "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 10}],
        },
    }

    answer = await connection.request(
        call.RemoteStartTransaction(id_tag="x", connector_id=1, charging_profile=profile)
    )

    assert "Rejected" == answer.status
    assert wallbox.transaction is None
