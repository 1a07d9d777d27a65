"""The night's plan kept in the charger as one multi-period TxDefaultProfile."""

from __future__ import annotations

from datetime import timedelta

import pytest

from smartcharge.domain import Command, CommandKind, utc
from smartcharge.ocpp import PlannedLimit, ProfileKind
from smartcharge.ocpp.profiles import plan_periods, plan_profile, whole_amps
from smartcharge.simulator._car import Car
from smartcharge.simulator.ocpp_charge_point import OcppQuirks
from tests.ocpp.conftest import connected, settle

NOW = utc(2025, 1, 15, 12)
H = timedelta(hours=1)


def _periods(wallbox) -> list[tuple[int, int]]:
    schedule = wallbox.calls("SetChargingProfile")[-1].payload["csChargingProfiles"][
        "chargingSchedule"
    ]
    return [(p["startPeriod"], p["limit"]) for p in schedule["chargingSchedulePeriod"]]


@pytest.mark.parametrize(
    ("amps", "sent"), [(0, 0), (-1, 0), (0.4, 6), (6, 6), (8.2, 9), (10.0, 10), (40, 16)]
)
def test_whole_amps(amps, sent):
    """0 pauses; anything else is rounded up and kept within 6 A and the maximum."""
    assert sent == whole_amps(amps, 16)


def test_plan_periods_start_now_merge_neighbours_and_end_at_full_current():
    """A plan 0-0-16-16-8 from an hour ago becomes 0 now, 16, 8, then full from its end."""
    limits = [PlannedLimit(NOW + k * H, a) for k, a in enumerate([0, 0, 16, 16, 8], start=-1)]

    kept = plan_periods(limits, now=NOW, full_from=NOW + 4 * H, full_current_a=32, max_periods=10)

    assert [
        PlannedLimit(NOW, 0),
        PlannedLimit(NOW + H, 16),
        PlannedLimit(NOW + 3 * H, 8),
        PlannedLimit(NOW + 4 * H, 32),
    ] == kept


def test_a_plan_longer_than_the_charger_keeps_gives_full_current_where_it_is_cut():
    """Cut short, the plan charges earlier rather than leaving the car without energy."""
    limits = [PlannedLimit(NOW + k * H, 6 if k % 2 else 0) for k in range(8)]

    kept = plan_periods(limits, now=NOW, full_from=NOW + 8 * H, full_current_a=16, max_periods=3)

    assert [PlannedLimit(NOW, 0), PlannedLimit(NOW + H, 6), PlannedLimit(NOW + 2 * H, 16)] == kept


def test_relative_periods_count_from_the_transaction_start():
    """Relative schedules have no startSchedule; offsets are from the transaction start."""
    profile = plan_profile(
        [PlannedLimit(NOW, 0), PlannedLimit(NOW + H, 10)],
        kind=ProfileKind.RELATIVE,
        stack_level=3,
        now=NOW,
        max_periods=10,
        full_current_a=16,
        full_from=NOW + 2 * H,
        anchor=NOW - timedelta(minutes=30),
    )

    schedule = profile["chargingSchedule"]
    assert "startSchedule" not in schedule
    assert [0, 5400, 9000] == [p["startPeriod"] for p in schedule["chargingSchedulePeriod"]]


async def test_the_plan_goes_out_as_one_profile_whose_periods_equal_the_plan(
    start_central, make_wallbox, clock
):
    """Absolute periods from a minute before now; the last one allows full current."""
    central = await start_central(max_current_a=32)
    wallbox = make_wallbox(central.url)
    await connected(central, wallbox)
    await wallbox.plug_in()
    now = clock.now()
    plan = [PlannedLimit(now, 0), PlannedLimit(now + H, 16), PlannedLimit(now + 2 * H, 0)]

    await central.charger.send_plan(plan, full_from=now + 3 * H)
    await settle(central, wallbox)

    profile = wallbox.calls("SetChargingProfile")[-1].payload["csChargingProfiles"]
    assert "2025-01-15T11:59:00Z" == profile["chargingSchedule"]["startSchedule"]
    assert [(0, 0), (3660, 16), (7260, 0), (10860, 32)] == _periods(wallbox)
    assert 1 == len(wallbox.calls("SetChargingProfile"))
    # The first period is 0 A: the car waits in Preparing, no RemoteStart yet.
    assert [] == wallbox.calls("RemoteStartTransaction")


async def test_a_limit_at_a_slot_boundary_keeps_the_rest_of_the_plan(
    start_central, make_wallbox, clock
):
    """A current set after the plan replaces only the period in force."""
    central = await start_central(max_current_a=32)
    wallbox = make_wallbox(central.url)
    await connected(central, wallbox)
    await wallbox.plug_in()
    now = clock.now()
    await central.charger.send_plan(
        [PlannedLimit(now, 10), PlannedLimit(now + H, 0)], full_from=now + 2 * H
    )

    await central.charger.apply(Command(CommandKind.SET_MAX_CURRENT, 13))
    await settle(central, wallbox)

    assert [(0, 13), (3660, 0), (7260, 32)] == _periods(wallbox)


@pytest.mark.parametrize("required", [None, "Relative"])
async def test_after_smartcharge_is_gone_the_charger_still_delivers_by_the_deadline(
    start_central, make_wallbox, clock, required
):
    """Kill the central system after sending the plan: the charger follows it, then full power.

    Plan: nothing for 2 h, 8 A for an hour, nothing, then full current from 4 h (the planned
    end) so a car that needs 20 kWh by 6 h gets it.
    """
    central = await start_central(max_current_a=32)
    wallbox = make_wallbox(
        central.url,
        car=Car(max_power_kw=11.0),
        quirks=OcppQuirks(required_profile_kind=required),
    )
    await connected(central, wallbox)
    await wallbox.plug_in()
    await central.charger.apply(Command(CommandKind.RESUME))
    await settle(central, wallbox)
    now = clock.now()
    plan = [
        PlannedLimit(now, 0),
        PlannedLimit(now + 2 * H, 8),
        PlannedLimit(now + 3 * H, 0),
    ]
    await central.charger.send_plan(plan, full_from=now + 4 * H)
    await settle(central, wallbox)

    await central.server.close()
    await wallbox.pass_time(2 * 3600)
    idle_wh = wallbox.session_wh
    await wallbox.pass_time(3600)
    slot_wh = wallbox.session_wh - idle_wh
    await wallbox.pass_time(3 * 3600)

    assert not wallbox.connected
    assert 0 == pytest.approx(idle_wh, abs=1)
    assert 8 * 3 * 230 == pytest.approx(slot_wh, rel=0.01)
    assert wallbox.session_wh / 1000 >= 20
