"""The energy cost sent to the charger: clamped to what the cloud accepts, never re-sent after a
refusal (issue 11, item 10). The daemon's real code runs against the simulated cloud and
ENTSO-E on 127.0.0.1 on a simulated clock; the simulated cloud refuses an energy cost above
5 EUR/kWh with HTTP 400 as the real one does (wallbox-api.md §4.5).
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any

from smartcharge.demo import DEMO_DAY, PRICES_CSV, SimulatedWorld, local, simulated_world
from smartcharge.runtime.jobs import run_simulated
from smartcharge.session.decide import accepted_energy_cost
from smartcharge.simulator.entsoe_server import read_price_csv
from smartcharge.simulator.wallbox_cloud import Fault, RecordedRequest

START = local(DEMO_DAY, time(17, 45))
PLUG_IN = local(DEMO_DAY, time(18, 0))
# 4500 EUR/MWh: (4.5 + 0.09161 tax) * 1.21 VAT = 5.556 EUR/kWh all-in, above the cloud's 5.
SPIKE_EUR_PER_MWH = 4500.0


def cost_writes(world: SimulatedWorld) -> list[RecordedRequest]:
    return [
        r
        for r in world.cloud.requests
        if r.method == "POST" and r.path.startswith("/chargers/config/")
    ]


def events(world: SimulatedWorld, name: str) -> list[dict[str, Any]]:
    return [data for _, event, data in world.events if event == name]


async def run_with_plug_in(world: SimulatedWorld, until: datetime) -> None:
    plugged = False

    def between(now: datetime) -> None:
        nonlocal plugged
        if not plugged and now >= PLUG_IN:
            plugged = True
            world.cloud.charger.plug_in(car_max_power_kw=11.0)

    await world.daemon.start()
    await run_simulated(world.daemon, world.clock, until, between=between)


def test_accepted_energy_cost_is_clamped_to_the_cloud_range():
    """-5...5 EUR/kWh in cents (HA's number entity, wallbox-api.md §4.5)."""
    assert 5.0 == accepted_energy_cost(5.556)
    assert -5.0 == accepted_energy_cost(-7.2)
    assert 0.25 == accepted_energy_cost(0.2549)


async def test_an_all_in_price_above_5_eur_is_sent_clamped_once_and_logged_once(tmp_path: Path):
    """Item 10: two hours at 5.56 EUR/kWh all-in: 5.00 is sent once, never a refused value.

    The old code sent 5.56 on every poll (90 s), and the cloud refused each with a 400.
    """
    async with simulated_world(tmp_path, START) as world:
        spike_from, spike_to = PLUG_IN, local(DEMO_DAY, time(20))
        rows = read_price_csv(PRICES_CSV, START - timedelta(days=1), START + timedelta(days=2))
        for minutes in (15, 60):
            world.entsoe.serve_points(
                "NL",
                [
                    (at, SPIKE_EUR_PER_MWH if spike_from <= at < spike_to else price)
                    for at, price, m in rows
                    if m == minutes
                ],
                minutes,
            )
        await run_with_plug_in(world, spike_to - timedelta(minutes=1))
        writes = cost_writes(world)
        clamped = events(world, "energy_cost_clamped")

    assert [] == [w for w in writes if w.status != 200]
    assert [5.0] == [w.body["energyCost"] for w in writes]
    assert 1 == len(clamped)
    assert 5.0 == clamped[0]["energy_cost_eur_per_kwh"]
    assert clamped[0]["price_eur_per_kwh"] > 5.5


async def test_a_refused_energy_cost_is_not_sent_again_for_the_same_value(tmp_path: Path):
    """Item 10: the cloud refuses every energy-cost write (403): a refused value is not sent again.

    A new price (the next slot's) is tried once; the old code re-sent the refused value on
    every poll (90 s), 40-60 times an hour.
    """
    async with simulated_world(tmp_path, START) as world:
        world.cloud.inject(
            Fault.FORBIDDEN, count=10_000, path_contains="/chargers/config/", method="POST"
        )
        await run_with_plug_in(world, local(DEMO_DAY, time(20)))
        writes = cost_writes(world)
        failed = events(world, "command_failed")

    values = [w.body["energyCost"] for w in writes]
    quarters = [
        w.at.replace(minute=w.at.minute // 15 * 15, second=0, microsecond=0) for w in writes
    ]
    assert len(writes) >= 2
    assert [] == [(a, b) for a, b in zip(values, values[1:], strict=False) if a == b]
    assert len(set(quarters)) == len(quarters)
    assert len(writes) == len(failed)
