"""``GET /api/status`` says what ``smartcharge status`` says of the energy cost per kWh in the
Wallbox app (``energy_cost_in_app``), over real HTTP: a real daemon on the simulated cloud, and
a view of the OCPP link without a Wallbox account."""

from __future__ import annotations

import json
from datetime import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from smartcharge.config import Settings, energy_cost_in_app
from smartcharge.demo import DEMO_DAY, local, simulated_world
from smartcharge.runtime.compose import daemon_view
from smartcharge.simulator.clock import SimulatedClock
from smartcharge.web.server import HttpServer
from smartcharge.web.view import DaemonView
from tests.web.doubles import NOW, ViewDouble, facts

TIMEOUT = aiohttp.ClientTimeout(total=5)
CP_ID = "WB-PLP1-777"


async def status_of(view: DaemonView, clock: SimulatedClock) -> dict[str, Any]:
    server = HttpServer(view, "127.0.0.1", 0, clock)
    await server.start()
    try:
        async with (
            aiohttp.ClientSession(timeout=TIMEOUT) as http,
            http.get(f"http://127.0.0.1:{server.port}/api/status") as resp,
        ):
            assert 200 == resp.status
            body: dict[str, Any] = await resp.json()
            return body
    finally:
        await server.stop()


async def test_the_cloud_link_keeps_it(tmp_path: Path):
    async with simulated_world(tmp_path, local(DEMO_DAY, time(17, 45))) as world:
        await world.daemon.start()
        status = await status_of(daemon_view(world.daemon), world.clock)

    assert {"kept": True, "by": "cloud", "missing": [], "why": None, "note": None} == (
        status["energy_cost_in_app"]
    )


async def test_the_ocpp_link_without_an_account_does_not_and_says_as_status_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    """The same settings through ``smartcharge status --json`` and the API: the same value."""
    from smartcharge.cli import main  # noqa: PLC0415

    env = {
        "SMARTCHARGE_STATE_DIR": str(tmp_path),
        "SMARTCHARGE_HEALTH_PORT": "0",
        "SMARTCHARGE_CHARGER_LINK": "ocpp",
        "SMARTCHARGE_OCPP_CHARGE_POINT_ID": CP_ID,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("SMARTCHARGE_WALLBOX_USERNAME", raising=False)
    monkeypatch.delenv("SMARTCHARGE_WALLBOX_PASSWORD", raising=False)
    settings = Settings(_env_file=None)
    view = ViewDouble(current=facts(link="ocpp", energy_cost_in_app=energy_cost_in_app(settings)))

    status = await status_of(view, SimulatedClock(NOW))
    capsys.readouterr()  # the server's log lines
    assert 0 == main(["status", "--json"])
    cli = json.loads(capsys.readouterr().out)["energy_cost_in_app"]

    cost = status["energy_cost_in_app"]
    assert cli == cost
    assert (False, None) == (cost["kept"], cost["by"])
    assert ["SMARTCHARGE_WALLBOX_USERNAME", "SMARTCHARGE_WALLBOX_PASSWORD"] == cost["missing"]
    assert "no Wallbox account is configured" == cost["why"]
    assert cost["note"].startswith("the energy cost per kWh in the Wallbox app is not kept")
