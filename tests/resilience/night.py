"""One simulated night in the soak world, with hooks for clock jumps and kills."""

from __future__ import annotations

import shutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from smartcharge.ledger import LedgerEntry
from smartcharge.runtime.jobs import run_simulated
from tests.resilience.secrets import scan_for_secrets
from tests.resilience.soak import SoakWorld, private_tmp, soak_world


@dataclass
class NightResult:
    """What one night left behind."""

    entries: list[LedgerEntry]
    duplicates: list[tuple[datetime, str, object]]
    applied_writes: int
    log: str
    ready_by: datetime | None
    secrets_found: list[str]


class Car:
    """Plugs the car in at ``plug`` (or at once if earlier than the start) and out at ``unplug``."""

    def __init__(self, world: SoakWorld, plug: datetime, unplug: datetime) -> None:
        self.world = world
        self.plug = plug
        self.unplug = unplug
        self.plugged = False

    def __call__(self, at: datetime) -> None:
        charger = self.world.cloud.charger
        if not self.plugged and at >= self.plug:
            charger.plug_in(car_max_power_kw=11.0)
            self.plugged = True
        if at >= self.unplug and charger.is_car_connected:
            charger.unplug()


async def one_night(
    start: datetime,
    plug: datetime,
    unplug: datetime,
    end: datetime,
    *,
    hook: Callable[[SoakWorld, datetime], Awaitable[None] | None] | None = None,
    daemon_start: datetime | None = None,
) -> NightResult:
    """Run the daemon from ``start`` (or ``daemon_start``) to ``end`` with one car session.

    Args:
        start: the simulated clock's start.
        plug: when the car is plugged in.
        unplug: when it leaves.
        end: when the run stops.
        hook: called at every job due time after the car driver (clock jumps, kills).
        daemon_start: start the daemon later than the clock (the car may already be in).
    """
    folder = private_tmp()
    try:
        async with soak_world(folder / "state", start, end) as world:
            car = Car(world, plug, unplug)
            ready_by: list[datetime] = []

            async def between(at: datetime) -> None:
                car(at)
                session = world.daemon.state.session
                if session is not None and not ready_by:
                    ready_by.append(session.ready_by)
                if hook is not None:
                    result = hook(world, at)
                    if result is not None:
                        await result

            if daemon_start is not None:
                car(daemon_start)
                world.clock.set(daemon_start)
            await world.daemon.start()
            await run_simulated(world.daemon, world.clock, end, between=between)
            await world.daemon.shutdown()
            return NightResult(
                entries=world.daemon.ledger.entries(),
                duplicates=list(world.duplicates),
                applied_writes=len(world.applied_writes),
                log=world.log.getvalue(),
                ready_by=ready_by[0] if ready_by else None,
                secrets_found=scan_for_secrets(
                    world.secrets(), logs=world.log.getvalue(), folder=world.settings.state_dir
                ),
            )
    finally:
        shutil.rmtree(folder, ignore_errors=True)
