"""Boot order and the setup after every boot, reboot and reconnect, over real websockets."""

from __future__ import annotations

import pytest

from smartcharge.domain import Command, CommandKind
from smartcharge.simulator.ocpp_charge_point import SUPPORTED_MEASURANDS
from tests.ocpp.conftest import connected, settle

SETUP = [
    "ChangeAvailability",
    "GetConfiguration",
    "ChangeConfiguration",
    "ChangeConfiguration",
]


async def test_nothing_is_sent_before_the_boot_is_answered_then_the_setup_runs(
    start_central, make_wallbox
):
    """The boot comes first; every call of ours reaches the charger after its answer."""
    central = await start_central()
    wallbox = make_wallbox(central.url)

    await connected(central, wallbox)

    assert "BootNotification" == wallbox.sent[0][0]
    assert SETUP == [c.action for c in wallbox.received]
    assert all(c.answered for c in wallbox.received)
    assert {"connectorId": 0, "type": "Operative"} == wallbox.received[0].payload
    assert {"key": "MeterValueSampleInterval", "value": "10"} == wallbox.received[2].payload
    assert {
        "key": "MeterValuesSampledData",
        "value": "Energy.Active.Import.Register,Power.Active.Import,Current.Offered,Current.Import",
    } == wallbox.received[3].payload
    assert 1 == central.charger.setups_completed
    assert (100, 3) == (central.charger.config.max_periods, central.charger.config.max_stack_level)
    assert "SmartCharging" in central.charger.config.feature_profiles
    assert central.charger.identity is not None
    assert "6.7.33" == central.charger.identity.firmware


async def test_rejected_measurands_are_asked_for_one_by_one(start_central, make_wallbox):
    """A charger that refuses one measurand keeps the ones it accepts."""
    central = await start_central()
    wallbox = make_wallbox(central.url, measurands=SUPPORTED_MEASURANDS - {"Current.Offered"})

    await connected(central, wallbox)

    assert (
        "Energy.Active.Import.Register",
        "Power.Active.Import",
        "Current.Import",
    ) == central.charger.measurands
    assert (
        "Energy.Active.Import.Register,Power.Active.Import,Current.Import"
        == wallbox.config["MeterValuesSampledData"].value
    )


async def test_a_reboot_runs_the_setup_again_and_restores_the_limit(start_central, make_wallbox):
    """After a reboot the charger boots again, is set up again and gets our profile back."""
    central = await start_central()
    wallbox = make_wallbox(central.url)
    await connected(central, wallbox)
    await wallbox.plug_in()
    await central.charger.apply(Command(CommandKind.SET_MAX_CURRENT, 10))
    await settle(central, wallbox)
    assert wallbox.profiles

    await wallbox.reboot()
    await settle(central, wallbox)

    assert 2 == wallbox.boots
    assert 2 == central.charger.setups_completed
    assert 2 == len(wallbox.calls("ChangeAvailability"))
    assert 10 == wallbox.offered_a()
    # The reboot ended the transaction; the plan wants charging, so it is started again.
    assert 2 == len(wallbox.calls("RemoteStartTransaction"))
    assert ("StopTransaction", "Reboot") in [(a, p.get("reason")) for a, p in wallbox.sent]
    assert "Charging" == wallbox.status


async def test_a_reconnect_without_a_boot_runs_the_setup_again(start_central, make_wallbox):
    """A charger back after a network drop sends no boot; the setup runs on its first message."""
    central = await start_central()
    wallbox = make_wallbox(central.url)
    await connected(central, wallbox)

    await wallbox.disconnect()
    before = len(wallbox.sent)
    await connected(central, wallbox)

    assert 1 == wallbox.boots
    assert 2 == wallbox.connects
    assert 2 == central.charger.setups_completed
    assert "StatusNotification" == wallbox.sent[before][0]
    assert all(c.answered for c in wallbox.received)


@pytest.mark.parametrize("wrong", ["OTHER-ID", "wb-plp1-123456"])
async def test_a_wrong_charge_point_id_is_refused_and_logged(start_central, make_wallbox, wrong):
    """Only the configured charge point id gets a websocket."""
    import aiohttp
    from structlog.testing import capture_logs

    central = await start_central()
    wallbox = make_wallbox(central.url, charge_point_id=wrong)

    with capture_logs() as logs, pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await wallbox.connect()

    assert 404 == refused.value.status
    assert [wrong] == [
        e["charge_point_id"] for e in logs if e["event"] == "ocpp_charge_point_refused"
    ]
    assert not central.charger.is_connected
