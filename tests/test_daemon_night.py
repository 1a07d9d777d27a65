"""End to end, in process: the daemon's real code over real HTTP to the simulated cloud and the
simulated ENTSO-E (real recorded NL prices), through a simulated night: plugged in at 18:00,
20 kWh by 07:00. Also a restart in the middle of that night with only the state dir kept.

The job methods are driven by ``run_simulated`` (the scheduler's stand-in on simulated time).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest

from smartcharge.demo import DEMO_DAY, TZ, SimulatedWorld, local, simulated_world
from smartcharge.domain import PriceCurve, energy_cost_cents
from smartcharge.ledger import LedgerEntry
from smartcharge.runtime.jobs import run_simulated
from smartcharge.simulator.wallbox_cloud import RecordedRequest

START = local(DEMO_DAY, time(17, 45))
PLUG_IN = local(DEMO_DAY, time(18, 0))
READY_BY = local(DEMO_DAY + timedelta(days=1), time(7, 0))
UNPLUG = local(DEMO_DAY + timedelta(days=1), time(7, 30))
END = UNPLUG + timedelta(minutes=10)
Q = timedelta(minutes=15)


class Night:
    """Plugs the car in and out, and records the charger's true energy at every boundary."""

    def __init__(self, world: SimulatedWorld) -> None:
        self.world = world
        self.plugged = False
        self.energy_at: dict[datetime, float] = {}

    def __call__(self, at: datetime) -> None:
        charger = self.world.cloud.charger
        if at >= PLUG_IN and not self.plugged:
            self.plugged = True
            charger.plug_in(car_max_power_kw=11.0)
        if at >= UNPLUG and charger.is_car_connected:
            charger.unplug()
        if self.plugged and at <= UNPLUG and (at - PLUG_IN) % Q == timedelta(0):
            self.energy_at[at] = charger.added_energy_kwh

    def slot_energy(self) -> dict[datetime, float]:
        """Return the true energy per quarter hour, from the charger's own counter."""
        times = sorted(self.energy_at)
        return {
            a: self.energy_at[b] - self.energy_at[a] for a, b in zip(times, times[1:], strict=False)
        }


def commands(world: SimulatedWorld) -> list[RecordedRequest]:
    return [r for r in world.cloud.requests if r.method in ("POST", "PUT") and r.status == 200]


def describe(r: RecordedRequest) -> str:
    return f"{r.at.astimezone(TZ):%H:%M} {r.method} {r.path.rsplit('/', 1)[0]} {r.body}"


@dataclass
class NightResult:
    """What one simulated night left behind."""

    events: list[tuple[datetime, str, dict[str, Any]]]
    commands: list[RecordedRequest]
    entries: list[LedgerEntry]
    curve: PriceCurve
    energy_at: dict[datetime, float]
    slot_energy: dict[datetime, float]
    signins: int


async def _night(state_dir: Path) -> NightResult:
    async with simulated_world(state_dir, START) as world:
        driver = Night(world)
        await world.daemon.start()
        await run_simulated(world.daemon, world.clock, END, between=driver)
        await world.daemon.shutdown()
        return NightResult(
            events=world.events,
            commands=commands(world),
            entries=world.daemon.ledger.entries(),
            curve=world.daemon.feed.curve,
            energy_at=driver.energy_at,
            slot_energy=driver.slot_energy(),
            signins=world.cloud.signins,
        )


@pytest.fixture(scope="module")
def night(tmp_path_factory: pytest.TempPathFactory) -> NightResult:
    """One simulated night, shared by the tests that read it (about 15 s)."""
    return asyncio.run(_night(tmp_path_factory.mktemp("night")))


def test_the_target_is_met_by_the_deadline(night):
    """20 kWh are in the car by 07:00, and the ledger says so."""
    world = driver = night
    [entry] = world.entries
    energy_by_ready = max(e for t, e in driver.energy_at.items() if t <= READY_BY)

    assert energy_by_ready >= 20.0 - 0.01
    assert entry.target_met
    assert entry.target_met_at is not None
    assert entry.target_met_at <= READY_BY


def test_charging_happened_only_in_the_slots_the_plan_chose(night):
    """Every quarter hour with energy lies in a charging stretch of the plan then in force."""
    world = driver = night
    plans = [(at, data["slots"]) for at, event, data in world.events if event == "plan_made"]

    def planned(slot_start: datetime) -> bool:
        in_force = [slots for at, slots in plans if at <= slot_start][-1]
        return any(
            datetime.fromisoformat(s["start"]) < slot_start + Q
            and slot_start < datetime.fromisoformat(s["end"])
            for s in in_force
        )

    charged = [t for t, e in driver.slot_energy.items() if e > 0.01]

    assert charged
    assert [] == [t.isoformat() for t in charged if not planned(t)]
    assert 1 == len(plans)


def test_ledger_cost_is_delivered_energy_times_all_in_price(night):
    """The ledger's cost equals the sum over slots of the charger's energy x all-in price."""
    world = driver = night
    [entry] = world.entries
    curve = world.curve
    truth = 0.0
    for slot_start, energy in driver.slot_energy.items():
        price = curve.price_at(slot_start)
        assert price is not None
        truth += energy * price

    assert pytest.approx(truth, abs=1e-6) == entry.cost_eur
    assert pytest.approx(sum(driver.slot_energy.values()), abs=1e-6) == entry.energy_kwh
    assert entry.immediate_cost_eur is not None
    assert entry.saving_eur is not None
    assert entry.saving_eur > 0


def test_every_command_changes_something(night):
    """Pause and resume alternate; no current or price is set to the value it already had."""
    world = night
    sent = world.commands
    actions = [r.body["action"] for r in sent if "remote-action" in r.path]
    prices = [r.body["energyCost"] for r in sent if "chargers/config" in r.path]
    currents = [r.body["maxChargingCurrent"] for r in sent if r.path.startswith("/v2/charger")]

    assert actions
    assert actions[0] == 2  # the car starts charging at plug-in; the plan says wait
    assert all(a != b for a, b in zip(actions, actions[1:], strict=False))
    assert all(a != b for a, b in zip(prices, prices[1:], strict=False))
    assert prices[0] != 0.25  # the charger's energy cost before the night
    assert all(a != b for a, b in zip(currents, currents[1:], strict=False))
    assert all(6 <= c <= 16 for c in currents)


def test_one_energy_cost_update_per_price_change(night):
    """The energy cost follows the all-in price to the cent: one update per change, none else."""
    world = night
    curve = world.curve
    expected = []
    at, last = PLUG_IN, 0.25
    while at < UNPLUG:
        price = energy_cost_cents(curve.price_at(at) or 0.0)
        if price != last:
            expected.append((at, price))
            last = price
        at += Q
    sent = [(r.at, r.body["energyCost"]) for r in world.commands if "chargers/config" in r.path]

    assert expected == sent


def test_the_nights_command_sequence(night, capsys):
    """The whole sequence: pause at plug-in, the plan's blocks, the price updates, nothing else."""
    world = night
    sent = world.commands
    listing = [describe(r) for r in sent]
    with capsys.disabled():
        print("\ncommands sent in the simulated night:\n  " + "\n  ".join(listing))
    kinds = {r.path.split("/")[1] for r in sent}

    assert {"v3", "chargers"} >= kinds or {"v3", "chargers", "v2"} >= kinds
    assert 1 == world.signins
    assert sum(1 for r in sent if "remote-action" in r.path) <= 2 * 3 + 2


async def test_a_restart_in_the_night_repeats_no_command_and_keeps_one_session(tmp_path):
    """The daemon dies at 01:00 (no shutdown); a new one on the same state dir carries on."""
    async with simulated_world(tmp_path, START) as world:
        driver = Night(world)
        await world.daemon.start()
        await run_simulated(
            world.daemon, world.clock, local(DEMO_DAY + timedelta(days=1), time(1)), between=driver
        )
        before = len(commands(world))
        last_before = commands(world)[-1]

        daemon = world.new_daemon()
        await daemon.start()
        at_restart = commands(world)[before:]
        await run_simulated(daemon, world.clock, END, between=driver)
        await daemon.shutdown()
        entries = daemon.ledger.entries()
        after = commands(world)[before:]

    every = commands(world)
    actions = [r.body["action"] for r in every if "remote-action" in r.path]
    prices = [r.body["energyCost"] for r in every if "chargers/config" in r.path]

    assert [] == [describe(r) for r in at_restart]
    assert after
    assert after[0].at > last_before.at
    assert all(a != b for a, b in zip(actions, actions[1:], strict=False))
    assert all(a != b for a, b in zip(prices, prices[1:], strict=False))
    assert 1 == len(entries)
    assert entries[0].target_met
    assert pytest.approx(20.0, abs=0.2) == entries[0].energy_kwh
    assert 1 == world.cloud.signins
