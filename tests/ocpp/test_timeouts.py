"""A charge point that stops answering: every call is bounded, nothing waits forever."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest
from structlog.testing import capture_logs

from smartcharge.domain import Command, CommandKind
from smartcharge.ocpp import ChargerNotConnectedError, CommandTimeoutError
from tests.ocpp.conftest import CP_ID, WAIT_S

BOOT = {"chargePointVendor": "Wall Box Chargers", "chargePointModel": "PLP1-0-2-4"}


async def _booted_mute_charger(
    http: aiohttp.ClientSession, url: str
) -> aiohttp.ClientWebSocketResponse:
    """A charge point that boots and then never answers a call."""
    socket = await http.ws_connect(url + CP_ID, protocols=("ocpp1.6",))
    await socket.send_str(json.dumps([2, "boot-1", "BootNotification", BOOT]))
    answer = json.loads((await socket.receive(timeout=WAIT_S)).data)
    assert [3, "boot-1"] == answer[:2]
    return socket


async def test_an_unanswered_call_times_out_and_the_setup_says_so(start_central, http):
    """The setup's first call gives up after the call timeout; a command then does too."""
    central = await start_central(call_timeout_s=0.2)

    with capture_logs() as logs:
        socket = await _booted_mute_charger(http, central.url)
        await central.charger.settle()
        with pytest.raises(CommandTimeoutError, match="no answer"):
            await central.charger.apply(Command(CommandKind.PAUSE))
        await socket.close()

    failed = [e for e in logs if e["event"] == "ocpp_setup_failed"]
    assert 1 == len(failed)
    assert "ChangeAvailability" in failed[0]["error"]
    assert 0 == central.charger.setups_completed


async def test_a_call_waiting_on_a_connection_that_closes_fails_at_once(start_central, http):
    """The charger's websocket closes while we wait: ChargerNotConnectedError, not a timeout."""
    central = await start_central(call_timeout_s=WAIT_S * 10)
    socket = await _booted_mute_charger(http, central.url)
    frame = json.loads((await socket.receive(timeout=WAIT_S)).data)  # ChangeAvailability
    assert "ChangeAvailability" == frame[2]

    with capture_logs() as logs:
        await socket.close()
        async with asyncio.timeout(WAIT_S):  # far below the 30 s call timeout
            await central.charger.settle()

    failed = [e for e in logs if e["event"] == "ocpp_setup_failed"]
    assert 1 == len(failed)
    assert "disconnected" in failed[0]["error"]
    with pytest.raises(ChargerNotConnectedError):
        await central.charger.apply(Command(CommandKind.PAUSE))
