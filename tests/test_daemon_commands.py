"""The daemon's own commands against the simulated cloud: what it reads back, what it sends.

In process, on a simulated clock, over real HTTP on 127.0.0.1 (``smartcharge.demo``'s world).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any

from smartcharge.controller import cents
from smartcharge.daemon import run_simulated
from smartcharge.demo import DEMO_DAY, SimulatedWorld, local, simulated_world
from smartcharge.simulator.wallbox_cloud import PayloadVariants, RecordedRequest

START = local(DEMO_DAY, time(17, 45))
PLUG_IN = local(DEMO_DAY, time(18, 0))


def events(world: SimulatedWorld, name: str) -> list[dict[str, Any]]:
    return [data for _, event, data in world.events if event == name]


def config_writes(world: SimulatedWorld) -> list[RecordedRequest]:
    return [r for r in world.cloud.requests if r.method == "POST" and "/chargers/config/" in r.path]


async def run_until(
    world: SimulatedWorld, until: datetime, at: dict[datetime, Callable[[], None]] | None = None
) -> None:
    """Run the daemon's jobs to ``until``, doing ``at[t]()`` once the clock reaches ``t``."""
    pending = dict(at or {})

    def between(now: datetime) -> None:
        for t in sorted(pending):
            if now >= t:
                pending.pop(t)()

    await run_simulated(world.daemon, world.clock, until, between=between)


async def test_a_group_price_beside_the_chargers_own_is_not_rewritten(tmp_path: Path):
    """The charger's energy_price is already the price; energyCost.value is the group's 0.99.

    The daemon reads energy_price, so it writes no energy cost at all (reading energyCost.value
    it rewrote the price on every tick).
    """
    async with simulated_world(tmp_path, START) as world:
        await world.daemon.start()
        price = world.daemon.feed.curve.price_at(PLUG_IN)
        assert price is not None
        slot = world.daemon.feed.curve.slot_at(PLUG_IN)
        assert slot is not None
        world.cloud.charger.energy_cost_eur_per_kwh = cents(price)
        world.cloud.variants = PayloadVariants(group_energy_cost_eur_per_kwh=0.99)
        await run_until(
            world,
            slot.end - timedelta(seconds=1),
            {PLUG_IN: lambda: world.cloud.charger.plug_in(car_max_power_kw=11.0)},
        )
        ticks = events(world, "tick_completed")

    assert [] == config_writes(world)
    assert len(ticks) >= 5
