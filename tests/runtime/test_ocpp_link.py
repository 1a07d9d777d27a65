"""The OCPP link built from settings: its endpoint, the on-exit rule on our profile, the plan.

Over real websockets on 127.0.0.1 against the simulated Wallbox (``SimulatedOcppWallbox``).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import aiohttp
import pytest

from smartcharge.config import OnExit, Settings
from smartcharge.domain import Command, CommandKind
from smartcharge.errors import ConfigError
from smartcharge.runtime.adapters import build_ocpp_link
from smartcharge.runtime.ocpp_link import OcppLink
from smartcharge.runtime.plan_profile import PROFILE_LAG, full_from, plan_limits
from smartcharge.simulator.clock import SimulatedClock
from smartcharge.simulator.ocpp_charge_point import SimulatedOcppWallbox
from strategies.base import Plan, PlanSlot
from tests.ocpp.conftest import WAIT_S, Central, settle

CP_ID = "WB-PLP1-777"
PASSWORD = "link-pa55word-0123"


def ocpp_settings(tmp_path: Path, **values: object) -> Settings:
    base: dict[str, object] = {
        "charger_link": "ocpp",
        "ocpp_charge_point_id": CP_ID,
        "ocpp_password": PASSWORD,
        "ocpp_port": 9000,
        "state_dir": tmp_path,
        "price_sources": ("energyzero",),
        "max_current_a": 16,
    }
    base.update(values)
    return Settings(_env_file=None, **base)  # type: ignore[arg-type]


async def started(link: OcppLink) -> str:
    link.port = 0  # a free port (the setting must be 1-65535)
    port = await link.start()
    return f"ws://127.0.0.1:{port}/"


async def settled(link: OcppLink, wallbox: SimulatedOcppWallbox) -> None:
    await settle(Central(link.charger, link.server, ""), wallbox)


@pytest.mark.parametrize(("on_exit", "cleared"), [(OnExit.RESUME, 1), (OnExit.LEAVE, 0)])
async def test_the_on_exit_rule_clears_or_leaves_our_profile(
    tmp_path: Path, clock: SimulatedClock, on_exit: OnExit, cleared: int
):
    """From the settings: the password is required, the charger is steered by a profile, and
    at the stop ``resume`` clears our profile while ``leave`` keeps it in the charger."""
    link = build_ocpp_link(ocpp_settings(tmp_path), clock)
    url = await started(link)
    timeout = aiohttp.ClientTimeout(total=WAIT_S)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        wallbox = SimulatedOcppWallbox(url, CP_ID, clock, http, password=PASSWORD)
        try:
            await wallbox.connect()
            await settled(link, wallbox)
            assert 1 == link.charger.setups_completed
            await wallbox.plug_in()
            await link.charger.apply(Command(CommandKind.PAUSE))
            await settled(link, wallbox)
            assert 1 == len(wallbox.calls("SetChargingProfile"))

            assert (cleared == 1) is await link.stop(on_exit)
            await wallbox.settle()

            assert cleared == len(wallbox.calls("ClearChargingProfile"))
            assert 0 == len(wallbox.calls("RemoteStopTransaction"))
        finally:
            await wallbox.close()
            await link.server.close()


async def test_a_wrong_password_is_refused(tmp_path: Path, clock: SimulatedClock):
    """The password from SMARTCHARGE_OCPP_PASSWORD is the one the endpoint asks for."""
    link = build_ocpp_link(ocpp_settings(tmp_path), clock)
    url = await started(link)
    timeout = aiohttp.ClientTimeout(total=WAIT_S)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        wallbox = SimulatedOcppWallbox(url, CP_ID, clock, http, password="not-the-password")
        try:
            with pytest.raises(aiohttp.WSServerHandshakeError):
                await wallbox.connect()
            assert 1 == link.server.refused
        finally:
            await wallbox.close()
            await link.stop(OnExit.LEAVE)


def test_the_link_needs_a_charge_point_id(tmp_path: Path, clock: SimulatedClock):
    """Built without a charge point id (check-config refuses that first): a ConfigError."""
    settings = ocpp_settings(tmp_path, charger_link="cloud", ocpp_charge_point_id=None)

    with pytest.raises(ConfigError, match="SMARTCHARGE_OCPP_CHARGE_POINT_ID"):
        build_ocpp_link(settings, clock)


def test_the_plan_as_limits_follows_the_plan_and_ends_in_full_current(clock: SimulatedClock):
    """Slots become merged whole-amp limits from now, each change PROFILE_LAG after the plan's
    (the daemon's own command comes first); full current PROFILE_LAG after the planned end, that
    end at the latest the deadline (ready-by minus the margin)."""
    now = clock.now()
    q = timedelta(minutes=15)
    lag = PROFILE_LAG

    def slot(i: int, amps: float) -> PlanSlot:
        return PlanSlot(now + i * q, now + (i + 1) * q, amps, amps / 4, 0.2)

    plan = Plan("cheapest", (slot(0, 0), slot(1, 8.2), slot(2, 9.0), slot(3, 0)), 1.0, 5.0, True)

    assert timedelta(minutes=2) == lag
    assert [(now, 0), (now + q + lag, 9), (now + 3 * q + lag, 0)] == [
        (p.start, p.current_a) for p in plan_limits(plan, now, 16)
    ]
    later = now + timedelta(minutes=20)
    assert [(later, 9), (now + 3 * q, 0)] == [
        (p.start, p.current_a) for p in plan_limits(plan, later, 16, lag=timedelta(0))
    ]
    assert now + 3 * q + lag == full_from(plan, now + 8 * q)
    assert now + 2 * q + lag == full_from(plan, now + 2 * q)
    empty = Plan("cheapest", (slot(0, 0),), 0.0, 0.0, True)
    assert now + 8 * q == full_from(empty, now + 8 * q, lag=timedelta(0))
