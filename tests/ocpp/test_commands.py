"""Pause, resume and current through a TxDefaultProfile; RemoteStart on Preparing; readings."""

from __future__ import annotations

import pytest

import smartcharge.errors
from smartcharge.domain import ChargerStatus, Command, CommandKind
from smartcharge.ocpp import ChargerNotConnectedError, UnsupportedCommandError
from smartcharge.ports import Charger, ChargerCapabilities
from smartcharge.simulator._car import Car
from tests.ocpp.conftest import charging, connected, settle

PAUSE = Command(CommandKind.PAUSE)
RESUME = Command(CommandKind.RESUME)


def _limits(wallbox) -> list[list[int]]:
    """The period limits of every SetChargingProfile the charger received."""
    return [
        [
            p["limit"]
            for p in c.payload["csChargingProfiles"]["chargingSchedule"]["chargingSchedulePeriod"]
        ]
        for c in wallbox.calls("SetChargingProfile")
    ]


async def test_the_adapter_is_a_charger(start_central):
    """mypy proves the adapter fits the Charger port."""
    central = await start_central()
    port: Charger = central.charger

    assert ChargerStatus.OFFLINE == (await port.status()).status


async def test_plugging_in_alone_starts_nothing(start_central, make_wallbox):
    """Without a wish to charge, a car waiting in Preparing gets no RemoteStart."""
    central = await start_central()
    wallbox = make_wallbox(central.url)
    await connected(central, wallbox)

    await wallbox.plug_in()
    await settle(central, wallbox)

    assert [] == wallbox.calls("RemoteStartTransaction")
    assert ChargerStatus.WAITING == (await central.charger.status()).status


async def test_a_car_held_off_by_our_pause_in_preparing_reads_as_paused(
    start_central, make_wallbox
):
    """Our 0 A limit on a car waiting in Preparing: PAUSED, not WAITING (which the session core
    takes as enabled: it would see its pause as not applied and never send the resume)."""
    central = await start_central()
    wallbox = make_wallbox(central.url)
    await connected(central, wallbox)
    await wallbox.plug_in()
    await settle(central, wallbox)

    snapshot = await central.charger.apply(PAUSE)
    await settle(central, wallbox)

    assert "Preparing" == wallbox.status
    assert ChargerStatus.PAUSED == snapshot.status
    assert ChargerStatus.PAUSED == (await central.charger.status()).status
    await central.charger.apply(RESUME)
    await settle(central, wallbox)
    assert 1 == len(wallbox.calls("RemoteStartTransaction"))
    assert ChargerStatus.CHARGING == (await central.charger.status()).status


async def test_resume_on_preparing_sends_a_profile_then_a_remote_start_without_one(
    start_central, make_wallbox
):
    """The limit goes first, then RemoteStartTransaction without a chargingProfile."""
    central = await start_central(max_current_a=16)

    wallbox = await charging(central, make_wallbox)

    actions = [c.action for c in wallbox.received][4:]
    assert ["SetChargingProfile", "RemoteStartTransaction"] == actions
    start = wallbox.calls("RemoteStartTransaction")[0].payload
    assert {"idTag": "smartcharge", "connectorId": 1} == start
    profile = wallbox.calls("SetChargingProfile")[0].payload["csChargingProfiles"]
    assert "TxDefaultProfile" == profile["chargingProfilePurpose"]
    assert [[16]] == _limits(wallbox)
    assert "Charging" == wallbox.status
    assert ChargerStatus.CHARGING == (await central.charger.status()).status


async def test_a_car_plugged_in_while_charging_is_wanted_is_started(start_central, make_wallbox):
    """A Preparing status with charging wanted sets off a RemoteStart from the charger's task."""
    central = await start_central()
    wallbox = make_wallbox(central.url)
    await connected(central, wallbox)
    await central.charger.apply(RESUME)

    await wallbox.plug_in()
    await settle(central, wallbox)

    assert 1 == len(wallbox.calls("RemoteStartTransaction"))
    assert "Charging" == wallbox.status


async def test_pause_is_a_zero_amp_profile_and_never_a_remote_stop(start_central, make_wallbox):
    """Pause keeps the transaction (SuspendedEVSE); resume brings the current back."""
    central = await start_central(max_current_a=16)
    wallbox = await charging(central, make_wallbox)
    transaction = wallbox.transaction

    paused = await central.charger.apply(PAUSE)
    await settle(central, wallbox)
    paused_status = (await central.charger.status()).status
    await central.charger.apply(RESUME)
    await settle(central, wallbox)

    assert [] == wallbox.calls("RemoteStopTransaction")
    assert [[16], [0], [16]] == _limits(wallbox)
    assert transaction is wallbox.transaction
    assert ChargerStatus.PAUSED == paused_status
    assert 16 == paused.max_charging_current_a
    assert "Charging" == wallbox.status
    assert 1 == len(wallbox.calls("RemoteStartTransaction"))


async def test_current_is_sent_in_whole_amps_and_held_back_while_paused(
    start_central, make_wallbox
):
    """10.2 A goes out as 11 A; a current set while paused waits for the resume."""
    central = await start_central(max_current_a=16)
    wallbox = await charging(central, make_wallbox)

    await central.charger.apply(Command(CommandKind.SET_MAX_CURRENT, 10.2))
    await central.charger.apply(PAUSE)
    await central.charger.apply(Command(CommandKind.SET_MAX_CURRENT, 7))
    sent_while_paused = len(wallbox.calls("SetChargingProfile"))
    await central.charger.apply(RESUME)
    await settle(central, wallbox)

    assert [[16], [11], [0], [7]] == _limits(wallbox)
    assert 3 == sent_while_paused
    assert all(isinstance(lim, int) for lims in _limits(wallbox) for lim in lims)
    assert 7 == wallbox.offered_a()


async def test_readings_come_from_the_meter_values(start_central, make_wallbox, clock):
    """Session energy is the register minus its start; power is Power.Active.Import."""
    central = await start_central(max_current_a=16)
    wallbox = await charging(central, make_wallbox, car=Car(max_power_kw=11.0))

    await wallbox.pass_time(3600)
    await settle(central, wallbox)
    snapshot = await central.charger.status()

    assert 360 == len([a for a, _ in wallbox.sent if a == "MeterValues"])
    assert 11.0 == pytest.approx(snapshot.charging_power_kw, abs=0.01)
    assert 11.0 == pytest.approx(snapshot.added_energy_kwh, abs=0.01)
    assert clock.now() == snapshot.fetched_at
    assert ChargerStatus.CHARGING == snapshot.status


@pytest.mark.parametrize(
    "command",
    [
        Command(CommandKind.SET_ENERGY_COST, 0.25),
        Command(CommandKind.LOCK),
        Command(CommandKind.UNLOCK),
    ],
    ids=str,
)
async def test_a_command_the_link_does_not_carry_raises_before_anything_is_sent(
    start_central, make_wallbox, command: Command
):
    """The energy cost and the lock have no OCPP message; the adapter says so instead of
    pretending, with the error every link raises, and nothing reaches the charger."""
    central = await start_central()
    wallbox = make_wallbox(central.url)
    await connected(central, wallbox)

    with pytest.raises(UnsupportedCommandError, match=rf"{command.kind.value}.*OCPP") as caught:
        await central.charger.apply(command)
    await settle(central, wallbox)

    assert isinstance(caught.value, smartcharge.errors.UnsupportedCommandError)
    assert 4 == len(wallbox.received)  # the setup's four calls, nothing after


async def test_the_link_declares_what_it_carries_and_its_sample_interval(start_central):
    """OCPP: enable, disable, current and restart; no energy cost, no lock; a read is worth
    making once per meter sample interval (10 s unless set)."""
    central = await start_central()
    slow = await start_central(sample_interval_s=30)
    port: Charger = central.charger

    assert (
        ChargerCapabilities(
            energy_cost=False,
            restart=True,
            lock=False,
            min_read_interval_s=10.0,
            plan_profile=True,
        )
        == port.capabilities
    )
    assert {
        CommandKind.RESUME,
        CommandKind.PAUSE,
        CommandKind.SET_MAX_CURRENT,
        CommandKind.RESTART,
    } == port.capabilities.commands
    assert 30.0 == slow.charger.capabilities.min_read_interval_s


async def test_restart_is_a_soft_reset_and_the_charger_is_set_up_again(start_central, make_wallbox):
    """A restart sends one Reset (Soft); the charge point reboots, boots and is set up again,
    and gets our limit back."""
    central = await start_central(max_current_a=16)
    wallbox = await charging(central, make_wallbox)
    await central.charger.apply(Command(CommandKind.SET_MAX_CURRENT, 10))
    await settle(central, wallbox)

    await central.charger.apply(Command(CommandKind.RESTART))
    await settle(central, wallbox)

    assert [{"type": "Soft"}] == [c.payload for c in wallbox.calls("Reset")]
    assert 2 == wallbox.boots
    assert 2 == central.charger.setups_completed
    assert 10 == wallbox.offered_a()


async def test_a_command_without_a_charger_is_kept_for_its_setup(start_central, make_wallbox):
    """Before the charger connects a pause raises, and is sent right after the setup."""
    central = await start_central()
    wallbox = make_wallbox(central.url)

    with pytest.raises(ChargerNotConnectedError, match="not connected"):
        await central.charger.apply(PAUSE)
    await connected(central, wallbox)

    assert [[0]] == _limits(wallbox)


async def test_a_remote_start_is_not_repeated_while_its_transaction_is_on_its_way(
    start_central, make_wallbox
):
    """Another Preparing before the StartTransaction does not send a second RemoteStart."""
    central = await start_central()
    wallbox = make_wallbox(central.url)
    await connected(central, wallbox)
    await wallbox.plug_in()
    wallbox.start_gate.clear()

    await central.charger.apply(RESUME)
    await wallbox.report_status()
    await central.charger.settle()
    starts_while_waiting = len(wallbox.calls("RemoteStartTransaction"))
    wallbox.start_gate.set()
    await settle(central, wallbox)

    assert 1 == starts_while_waiting
    assert 1 == len([a for a, _ in wallbox.sent if a == "StartTransaction"])
    assert "Charging" == wallbox.status
