"""``smartcharge charger ...`` in-process against the simulated cloud.

The CLI runs its own event loop (``asyncio.run``) on the real clock, so the fake cloud runs in
a background thread with its own loop, on a simulated clock set to the real time (tokens then
expire when the CLI expects them to). Each test has its own state dir, so its budget starts
empty; a second read inside the minute is answered from the stored status.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from smartcharge.cli import main
from smartcharge.clock import SystemClock
from smartcharge.domain import CommandKind
from smartcharge.manual import manual_commands_after
from smartcharge.simulator.clock import SimulatedClock
from smartcharge.simulator.wallbox_cloud import (
    PayloadVariants,
    RemoteActionReply,
    WallboxCloudSimulator,
)

USER = "test.user@example.com"
PASSWORD = "correct-horse-battery-staple"  # noqa: S105 - the simulator's fake account
CID = 999001

_T = TypeVar("_T")


class ThreadedCloud:
    """The fake cloud served from a background thread's event loop."""

    def __init__(self, **sim_kwargs: Any) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.clock = SimulatedClock(SystemClock().now())
        self.sim = WallboxCloudSimulator(self.clock, **sim_kwargs)
        self.url = self.run(self.sim.start())

    def run(self, coro: Coroutine[Any, Any, _T]) -> _T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=10)

    def close(self) -> None:
        self.run(self.sim.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()

    def writes(self) -> list[tuple[str, str, Any]]:
        return [(r.method, r.path, r.body) for r in self.sim.requests if r.method != "GET"]


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """The CLI configures the root logger; put it back afterwards.

    The fake's access log is silenced: it is written from the server thread after the answer
    is sent, which can race with pytest closing the captured stderr the CLI logs to.
    """
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    access = logging.getLogger("aiohttp.access")
    access.disabled = True
    yield
    access.disabled = False
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def cloud(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, restore_logging: None
) -> Iterator[ThreadedCloud]:
    """A running fake with a charging car, and the environment pointing the CLI at it."""
    c = ThreadedCloud()
    c.sim.charger.plug_in(car_max_power_kw=11.0)
    env = {
        "SMARTCHARGE_WALLBOX_USERNAME": USER,
        "SMARTCHARGE_WALLBOX_PASSWORD": PASSWORD,
        "SMARTCHARGE_WALLBOX_CHARGER_ID": str(CID),
        "SMARTCHARGE_WALLBOX_API_URL": c.url,
        "SMARTCHARGE_WALLBOX_AUTH_URL": c.url,
        "SMARTCHARGE_WALLBOX_TIMEOUT_S": "5",
        "SMARTCHARGE_STATE_DIR": str(tmp_path / "state"),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    yield c
    c.close()


def _status_json(capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    assert 0 == main(["charger", "status", "--json"])
    data: dict[str, Any] = json.loads(capsys.readouterr().out)
    return data


def test_status_json_has_the_promised_fields(cloud: ThreadedCloud, capsys):
    """status --json prints the documented keys with the fake's values; stdout is pure JSON."""
    data = _status_json(capsys)

    assert {
        "charger_id": CID,
        "state": "charging",
        "status_id": 194,
        "max_charging_current_a": 16,
        "energy_cost_eur_kwh": 0.25,
    }.items() <= data.items()
    assert data["charging_power_kw"] == pytest.approx(11.0)
    assert "added_energy_kwh" in data
    assert data["from_cache"] is False
    assert 1 == len(cloud.sim.requests_to("GET", f"/chargers/status/{CID}"))


def test_status_json_shows_the_chargers_own_price_not_the_groups(cloud: ThreadedCloud, capsys):
    """energy_price 0.31 beside a group-inherited energyCost.value 0.25: status says 0.31."""
    cloud.sim.charger.energy_cost_eur_per_kwh = 0.31
    cloud.sim.variants = PayloadVariants(group_energy_cost_eur_per_kwh=0.25)

    data = _status_json(capsys)

    assert 0.31 == data["energy_cost_eur_kwh"]


def test_status_inside_the_window_is_answered_from_the_stored_status(cloud: ThreadedCloud, capsys):
    """A second status within the minute sends no request and shows the stored data's age."""
    assert 0 == main(["charger", "status"])
    first = capsys.readouterr().out

    assert 0 == main(["charger", "status"])
    second = capsys.readouterr().out

    assert "charging (status 194)" in first
    assert "16 A (maximum 32 A)" in first
    assert "just read" in first
    assert "stored status" in second
    assert 1 == len(cloud.sim.requests_to("GET", f"/chargers/status/{CID}"))
    assert 1 == cloud.sim.signins


@pytest.mark.parametrize(
    ("argv", "expected_write", "check"),
    [
        (["pause"], ("POST", f"/v3/chargers/{CID}/remote-action", {"action": 2}), "paused"),
        (["lock"], ("PUT", f"/v2/charger/{CID}", {"locked": 1}), "locked"),
        (["current", "10"], ("PUT", f"/v2/charger/{CID}", {"maxChargingCurrent": 10}), "10"),
        (
            ["energy-cost", "0.31"],
            ("POST", f"/chargers/config/{CID}", {"energyCost": 0.31}),
            "0.31",
        ),
        (["restart"], ("POST", f"/v3/chargers/{CID}/remote-action", {"action": 3}), "restart"),
    ],
)
def test_each_command_sends_one_write_and_changes_the_charger(
    cloud: ThreadedCloud, capsys, argv: list[str], expected_write: tuple[str, str, Any], check: str
):
    """Each command reads once, sends its one call, and the fake's charger changes."""
    assert 0 == main(["charger", *argv])

    out = capsys.readouterr().out
    assert [expected_write] == cloud.writes()
    assert "sent" in out
    charger = cloud.sim.charger
    effects = {
        "paused": lambda: charger.status_id == 182,
        "locked": lambda: charger.locked,
        "10": lambda: charger.max_charging_current_a == 10,
        "0.31": lambda: charger.energy_cost_eur_per_kwh == 0.31,
        "restart": lambda: charger.is_restarting,
    }
    assert effects[check]()


def test_a_pause_by_hand_is_recorded_for_the_daemon(cloud: ThreadedCloud, capsys, tmp_path: Path):
    """charger pause records the pause in the shared state dir, so a daemon takes it as yours."""
    assert 0 == main(["charger", "pause"])

    recorded = manual_commands_after(tmp_path / "state", CID, None, SystemClock().now())
    assert [CommandKind.PAUSE] == [m.command.kind for m in recorded]


def test_a_pause_the_answer_does_not_confirm_is_reported_as_not_shown_yet(
    cloud: ThreadedCloud, capsys
):
    """The remote-action answer carries the state from before: the CLI does not claim success."""
    cloud.sim.variants = PayloadVariants(remote_action_reply=RemoteActionReply.BEFORE)

    assert 0 == main(["charger", "pause"])

    out = capsys.readouterr().out
    assert "pause sent; the charger does not show it yet" in out
    assert 1 == len([w for w in cloud.writes() if "remote-action" in w[1]])


def test_resume_from_paused_sends_action_1(cloud: ThreadedCloud, capsys):
    """Paused by the user: resume sends action 1 and the charger charges again."""
    cloud.sim.charger.user_pause()

    assert 0 == main(["charger", "resume"])

    assert 194 == cloud.sim.charger.status_id
    assert [("POST", f"/v3/chargers/{CID}/remote-action", {"action": 1})] == cloud.writes()


def test_unlock_from_locked_sends_locked_0(cloud: ThreadedCloud, capsys):
    """Locked: unlock sends {"locked": 0} and the charger is unlocked."""
    cloud.sim.charger.locked = True

    assert 0 == main(["charger", "unlock"])

    assert not cloud.sim.charger.locked
    assert [("PUT", f"/v2/charger/{CID}", {"locked": 0})] == cloud.writes()


def test_asking_twice_for_the_same_state_sends_one_command(cloud: ThreadedCloud, capsys):
    """pause, pause: one remote action; the second run says it is already paused."""
    assert 0 == main(["charger", "pause"])
    assert 0 == main(["charger", "pause"])

    out = capsys.readouterr().out
    assert 1 == len(cloud.sim.requests_to("POST", "remote-action"))
    assert "already paused" in out
    assert "nothing sent" in out


def test_already_so_sends_nothing(cloud: ThreadedCloud, capsys):
    """current 16 when the limit is 16 A: nothing is sent, and the output says so."""
    assert 0 == main(["charger", "current", "16"])

    assert [] == cloud.writes()
    assert "already limited to 16 A" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "named", "accepted"),
    [
        (["current", "abc"], "AMPS='abc'", "whole amps"),
        (["current", "10.5"], "AMPS='10.5'", "whole amps"),
        (["current", "5"], "AMPS=5", "from 6"),
        (["current", "40"], "AMPS=40", "from 6 to 32"),
        (["energy-cost", "cheap"], "EUR_PER_KWH='cheap'", "from 0 to 2"),
        (["energy-cost", "-0.1"], "EUR_PER_KWH='-0.1'", "from 0 to 2"),
        (["energy-cost", "25"], "EUR_PER_KWH='25'", "from 0 to 2"),
        (["energy-cost", "nan"], "EUR_PER_KWH='nan'", "from 0 to 2"),
        (["history", "--from", "2025-13-01"], "--from='2025-13-01'", "YYYY-MM-DD"),
        (["history", "--from", "2025-02-01", "--to", "2025-01-01"], "--from", "on or before"),
    ],
)
def test_bad_input_is_refused_with_exit_2_and_nothing_sent(
    cloud: ThreadedCloud, capsys, argv: list[str], named: str, accepted: str
):
    """Bad input: exit 2, a message naming the argument and what is accepted, no write."""
    assert 2 == main(["charger", *argv])

    err = capsys.readouterr().err
    assert named in err
    assert accepted in err
    assert "nothing was sent" in err
    assert [] == cloud.writes()


def test_pause_without_a_car_is_refused_without_sending(cloud: ThreadedCloud, capsys):
    """No car: pause is meaningless; exit 1 and nothing sent."""
    cloud.sim.charger.unplug()

    assert 1 == main(["charger", "pause"])

    assert "a car must be connected" in capsys.readouterr().err
    assert [] == cloud.writes()


def test_history_lists_the_clouds_sessions(cloud: ThreadedCloud, capsys):
    """A finished session shows up with its energy and cost, as text and as JSON."""
    cloud.run(cloud.clock.advance(3600))
    cloud.sim.charger.unplug()

    assert 0 == main(["charger", "history", "--json"])
    sessions = json.loads(capsys.readouterr().out)

    assert 1 == len(sessions)
    assert sessions[0]["energy_kwh"] == pytest.approx(11.0, abs=0.01)
    assert sessions[0]["cost"] == pytest.approx(2.75, abs=0.01)
    assert "EUR" == sessions[0]["currency"]


def test_history_as_text(cloud: ThreadedCloud, capsys):
    """The text form lists each session and a total."""
    cloud.run(cloud.clock.advance(1800))
    cloud.sim.charger.unplug()

    assert 0 == main(["charger", "history"])

    out = capsys.readouterr().out
    assert "5.50 kWh" in out
    assert "1 sessions, 5.50 kWh" in out


def test_wrong_password_exits_1_naming_the_settings(cloud: ThreadedCloud, capsys, monkeypatch):
    """Wrong credentials: exit 1, a message naming both settings, never the password."""
    monkeypatch.setenv("SMARTCHARGE_WALLBOX_PASSWORD", "wrong-password-123")

    assert 1 == main(["charger", "status"])

    captured = capsys.readouterr()
    assert "SMARTCHARGE_WALLBOX_USERNAME" in captured.err
    assert "SMARTCHARGE_WALLBOX_PASSWORD" in captured.err
    assert "wrong-password-123" not in captured.err + captured.out


def test_missing_credentials_exit_2(cloud: ThreadedCloud, capsys, monkeypatch):
    """No username: a configuration error, exit 2, nothing sent."""
    monkeypatch.delenv("SMARTCHARGE_WALLBOX_USERNAME")

    assert 2 == main(["charger", "status"])

    assert "SMARTCHARGE_WALLBOX_USERNAME is not set" in capsys.readouterr().err
    assert [] == cloud.sim.requests


def test_discovers_the_only_charger(cloud: ThreadedCloud, capsys, monkeypatch):
    """Without SMARTCHARGE_WALLBOX_CHARGER_ID the account's only charger is used."""
    monkeypatch.delenv("SMARTCHARGE_WALLBOX_CHARGER_ID")
    monkeypatch.setenv("SMARTCHARGE_WALLBOX_READS_PER_MINUTE", "3")

    data = _status_json(capsys)

    assert CID == data["charger_id"]
    assert 1 == len(cloud.sim.requests_to("GET", "/v3/chargers/groups"))


def test_group_without_action_prints_help_and_exits_2(cloud: ThreadedCloud, capsys):
    """`smartcharge charger` alone shows the actions."""
    assert 2 == main(["charger"])

    assert "status" in capsys.readouterr().err


@pytest.mark.parametrize("action", ["pause", "resume"])
def test_pause_and_resume_are_refused_on_the_ocpp_link(
    cloud: ThreadedCloud, monkeypatch: pytest.MonkeyPatch, capsys, action: str
):
    """Wallbox disables the cloud's pause/resume while OCPP is connected: nothing is sent."""
    monkeypatch.setenv("SMARTCHARGE_CHARGER_LINK", "ocpp")
    monkeypatch.setenv("SMARTCHARGE_OCPP_CHARGE_POINT_ID", "WB123456")

    status = main(["charger", action])
    err = capsys.readouterr().err

    assert 1 == status
    assert f"charger {action}: not through the Wallbox cloud" in err
    assert "nothing was sent" in err
    assert [] == cloud.sim.requests


def test_history_is_served_by_the_cloud_on_the_ocpp_link(
    cloud: ThreadedCloud, monkeypatch: pytest.MonkeyPatch, capsys
):
    """With the account configured beside OCPP, the cloud's session history still answers."""
    monkeypatch.setenv("SMARTCHARGE_CHARGER_LINK", "ocpp")
    monkeypatch.setenv("SMARTCHARGE_OCPP_CHARGE_POINT_ID", "WB123456")
    cloud.run(cloud.clock.advance(3600))
    cloud.sim.charger.unplug()

    assert 0 == main(["charger", "history", "--json"])
    sessions = json.loads(capsys.readouterr().out)

    assert 1 == len(sessions)
    assert sessions[0]["energy_kwh"] == pytest.approx(11.0, abs=0.01)
