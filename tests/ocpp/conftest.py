"""An OCPP central system on 127.0.0.1 and a simulated Wallbox that connects to it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from smartcharge.domain import Command, CommandKind
from smartcharge.ocpp import OcppCharger, OcppServer
from smartcharge.simulator.clock import SimulatedClock
from smartcharge.simulator.ocpp_charge_point import SimulatedOcppWallbox

CP_ID = "WB-PLP1-123456"
# Every wait on the other side of a real socket is bounded by this (real seconds).
WAIT_S = 3.0


@dataclass
class Central:
    """A running central system."""

    charger: OcppCharger
    server: OcppServer
    url: str


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """The simulated charger's HTTP session (short timeouts)."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=WAIT_S)) as session:
        yield session


@pytest.fixture
async def start_central(
    clock: SimulatedClock,
) -> AsyncIterator[Callable[..., Awaitable[Central]]]:
    """Start central systems on free ports; all are closed after the test."""
    started: list[OcppServer] = []

    async def _start(*, password: str | None = None, **charger_args: Any) -> Central:
        charger_args.setdefault("call_timeout_s", WAIT_S)
        charger = OcppCharger(CP_ID, clock, **charger_args)
        server = OcppServer(charger, password=password)
        port = await server.start("127.0.0.1", 0)
        started.append(server)
        return Central(charger, server, f"ws://127.0.0.1:{port}/ocpp/")

    yield _start
    for server in started:
        await server.close()


@pytest.fixture
async def make_wallbox(
    clock: SimulatedClock, http: aiohttp.ClientSession
) -> AsyncIterator[Callable[..., SimulatedOcppWallbox]]:
    """Build simulated Wallboxes; all are closed after the test."""
    made: list[SimulatedOcppWallbox] = []

    def _make(url: str, **args: Any) -> SimulatedOcppWallbox:
        args.setdefault("timeout_s", WAIT_S)
        wallbox = SimulatedOcppWallbox(url, args.pop("charge_point_id", CP_ID), clock, http, **args)
        made.append(wallbox)
        return wallbox

    yield _make
    for wallbox in made:
        await wallbox.close()


async def settle(central: Central, wallbox: SimulatedOcppWallbox) -> None:
    """Let both sides finish what the last messages set off.

    A frame may still be on its way when neither side has a task left, so both must be idle
    for a few loop turns in a row (each turn reads what the sockets hold).
    """
    idle_turns = 0
    async with asyncio.timeout(WAIT_S):
        while idle_turns < 5:
            busy = central.charger.is_busy or wallbox.is_busy
            await central.charger.settle()
            await wallbox.settle()
            await asyncio.sleep(0)
            idle_turns = 0 if busy else idle_turns + 1


async def connected(central: Central, wallbox: SimulatedOcppWallbox) -> None:
    """Connect the Wallbox and wait for the central system's setup to finish."""
    await wallbox.connect()
    await settle(central, wallbox)


async def charging(
    central: Central, make_wallbox: Callable[..., SimulatedOcppWallbox], **wallbox_args: Any
) -> SimulatedOcppWallbox:
    """Return a connected Wallbox with a car plugged in, charging after our resume."""
    wallbox = make_wallbox(central.url, **wallbox_args)
    await connected(central, wallbox)
    await wallbox.plug_in()
    await central.charger.apply(Command(CommandKind.RESUME))
    await settle(central, wallbox)
    return wallbox
