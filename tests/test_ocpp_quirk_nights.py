"""A night per Wallbox quirk at daemon level (issue 15, "Done when": each quirk of point 6).

The daemon is built through ``runtime.compose`` on the OCPP link and driven on a simulated
clock against ``SimulatedOcppWallbox`` over a real websocket on 127.0.0.1
(``smartcharge.simulator.ocpp_night``), one firmware quirk switched on per night. A short
night keeps each run to seconds: an 11 kW car plugged in at 05:00 needs 8 kWh by 07:00
(Europe/Amsterdam, the demo's real NL prices). Each night must still put the need into the car
by the ready-by time, by the charger's own register (a reboot's second transaction included),
or the daemon must log why it could not hold to its plan (the event is asserted).

Also here: the daemon restarted mid-session (killed, and a new one started on the same state
dir): it finds the profile kind, the transaction and its start register again. And the daemon
killed (no on-exit rule, no profile cleared) once it has sent the plan
profile; the Wallbox then charges alone on the TxDefaultProfile it keeps and still delivers the
need by the ready-by time (issue 15 item 4: "a dead daemon must never strand a car").
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from smartcharge.demo import DEMO_DAY, local
from smartcharge.simulator._car import Car
from smartcharge.simulator.ocpp_charge_point import OcppQuirks, SimulatedOcppWallbox
from smartcharge.simulator.ocpp_night import READY_BY, NightControl, OcppNight, run_ocpp_night

# Each night takes about 3 s alone; beside two busy loops under nice (the CI bar) one ran past the
# 60 s default (worker killed), as the other simulated nights did before they got 180 s.
pytestmark = pytest.mark.timeout(180)

MORNING = DEMO_DAY + timedelta(days=1)
START = local(MORNING, time(4, 50))
PLUG_IN = local(MORNING, time(5, 0))
UNPLUG = local(MORNING, time(7, 5))
END = local(MORNING, time(7, 10))
TARGET_KWH = 8.0
CAR = Car(max_power_kw=11.0)
OUTAGE = timedelta(minutes=20)


@dataclass
class Seen:
    """What a night's hook saw and did."""

    wallbox: SimulatedOcppWallbox | None = None
    control: NightControl | None = None
    at: dict[str, datetime] = field(default_factory=dict)


Hook = Callable[[datetime, NightControl, Seen], Any]


@dataclass
class QuirkNight:
    """One night's run: the night, the Wallbox, the structlog lines, what the hook did."""

    night: OcppNight
    wallbox: SimulatedOcppWallbox
    logs: list[MutableMapping[str, Any]]
    seen: Seen

    def logged(self, name: str) -> list[MutableMapping[str, Any]]:
        return [line for line in self.logs if line["event"] == name]

    def sent(self, action: str) -> int:
        return sum(1 for a, _ in self.wallbox.sent if a == action)


async def _night(state_dir: Path, quirks: OcppQuirks, hook: Hook | None = None) -> QuirkNight:
    seen = Seen()

    async def during(now: datetime, control: NightControl) -> None:
        seen.wallbox, seen.control = control.wallbox, control
        if hook is not None:
            await hook(now, control, seen)

    with capture_logs() as logs:
        night = await run_ocpp_night(
            state_dir,
            CAR,
            start=START,
            plug_in=PLUG_IN,
            unplug=UNPLUG,
            end=END,
            quirks=quirks,
            during=during,
            target_kwh=TARGET_KWH,
        )
    assert seen.wallbox is not None
    return QuirkNight(night, seen.wallbox, logs, seen)


def _car_kwh(control: NightControl) -> float:
    return max(control.night.energy_at.values(), default=0.0)


async def _reboot_while_charging(now: datetime, control: NightControl, seen: Seen) -> None:
    wallbox = control.wallbox
    if "reboot" not in seen.at and wallbox.status == "Charging" and _car_kwh(control) >= 2.0:
        seen.at["reboot"] = now
        await wallbox.reboot()


async def _offline_during_a_pause(now: datetime, control: NightControl, seen: Seen) -> None:
    wallbox = control.wallbox
    if "offline" not in seen.at and wallbox.status == "SuspendedEVSE":
        seen.at["offline"] = now
        await wallbox.go_offline()
    elif "offline" in seen.at and "online" not in seen.at and now >= seen.at["offline"] + OUTAGE:
        seen.at["online"] = now
        await wallbox.go_online()


def _limits(run: QuirkNight) -> list[float]:
    return [
        float(period["limit"])
        for call in run.wallbox.calls("SetChargingProfile")
        for period in call.payload["csChargingProfiles"]["chargingSchedule"][
            "chargingSchedulePeriod"
        ]
    ]


def _kinds(run: QuirkNight) -> list[str]:
    return [
        c.payload["csChargingProfiles"]["chargingProfileKind"]
        for c in run.wallbox.calls("SetChargingProfile")
    ]


def _silent_until_boot(run: QuirkNight) -> None:
    """Nothing was sent before the boot was answered, so every call got its answer."""
    assert "BootNotification" == run.wallbox.sent[0][0]
    assert run.wallbox.received
    assert all(c.answered for c in run.wallbox.received)


def _whole_amps(run: QuirkNight) -> None:
    """Only whole amps were sent, so the firmware never jumped to 16 A on a fraction."""
    limits = _limits(run)
    assert limits
    assert all(limit.is_integer() for limit in limits)


def _relative_only(run: QuirkNight) -> None:
    """Absolute was refused once, then Relative only: the kind found is remembered."""
    kinds = _kinds(run)
    assert ["Absolute", "Relative"] == kinds[:2]
    assert all(kind == "Relative" for kind in kinds[1:])
    assert 1 == len(run.logged("ocpp_profile_rejected"))
    assert ["Relative"] == [line["kind"] for line in run.logged("ocpp_profile_kind_chosen")]


def _absolute_only(run: QuirkNight) -> None:
    """Absolute is tried first and taken: no refusal, never a Relative profile."""
    assert set(_kinds(run)) == {"Absolute"}
    assert [] == run.logged("ocpp_profile_rejected")


def _ignores_limits(run: QuirkNight) -> None:
    """The charger gives full power against our pauses: the daemon says so, once, with the
    firmware (why the car got more than planned), and its re-sends stay few."""
    [ignored] = run.logged("charger_ignores_limit")
    assert "6.7.33" == ignored["firmware"]
    assert run.night.energy_by(READY_BY) > TARGET_KWH + 5  # the limits were not followed
    assert len(run.night.commands) <= 12


def _remote_stop_ends_session(run: QuirkNight) -> None:
    """Pauses are 0 A profiles, never a RemoteStop: one transaction carries the whole night."""
    assert 0.0 in _limits(run)
    assert any(name == "charger_paused" for _, name, _ in run.night.events)
    assert 1 == run.sent("StartTransaction")
    assert 0 == run.sent("StopTransaction") - 1  # only the unplug's
    assert not run.wallbox.needs_replug


def _reconnects(run: QuirkNight) -> None:
    """Every reconnect is set up again (its own GetConfiguration); still one transaction."""
    assert run.wallbox.connects >= 10
    assert run.wallbox.connects == len(run.logged("ocpp_setup_completed"))
    assert 1 == run.sent("StartTransaction")


def _reboot(run: QuirkNight) -> None:
    """A reboot while charging ends the transaction; the daemon starts the car again and
    counts the energy of both transactions (the ledger's equals the car's)."""
    assert "reboot" in run.seen.at
    assert 2 == run.wallbox.boots
    assert 2 == run.sent("StartTransaction")
    assert 2 == len(run.wallbox.calls("RemoteStartTransaction"))
    [entry] = run.night.entries
    assert entry.energy_kwh == pytest.approx(run.night.energy_by(UNPLUG), abs=0.1)


def _offline_full_power(run: QuirkNight) -> None:
    """Unreachable during our pause, the charger charges at full power; the daemon reads it
    as offline meanwhile, takes over when it is back, and counts what it charged."""
    assert {"offline", "online"} <= set(run.seen.at)
    offline, online = run.seen.at["offline"], run.seen.at["online"]
    assert run.night.energy_by(online) > run.night.energy_by(offline) + 2.0
    assert run.logged("ocpp_charge_point_disconnected")
    assert any(
        name == "tick_completed" and data.get("status") == "offline" and offline <= at < online
        for at, name, data in run.night.events
    )
    [entry] = run.night.entries
    assert entry.energy_kwh == pytest.approx(run.night.energy_by(UNPLUG), abs=0.1)


CASES: dict[str, tuple[OcppQuirks, Hook | None, Callable[[QuirkNight], None]]] = {
    "silent_until_boot_answered": (
        OcppQuirks(silent_until_boot_answered=True),
        None,
        _silent_until_boot,
    ),
    "whole_amps_only": (OcppQuirks(whole_amps_only=True), None, _whole_amps),
    "needs_relative": (OcppQuirks(required_profile_kind="Relative"), None, _relative_only),
    "needs_absolute": (OcppQuirks(required_profile_kind="Absolute"), None, _absolute_only),
    "ignores_limits": (OcppQuirks(ignores_limits=True), None, _ignores_limits),
    "remote_stop_ends_session": (
        OcppQuirks(remote_stop_ends_session=True),
        None,
        _remote_stop_ends_session,
    ),
    "reconnects_every_600_s": (OcppQuirks(reconnect_every_s=600), None, _reconnects),
    "reboots_mid_night": (OcppQuirks(), _reboot_while_charging, _reboot),
    "full_power_when_unreachable": (
        OcppQuirks(offline_full_power=True),
        _offline_during_a_pause,
        _offline_full_power,
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_the_daemon_meets_the_target_whatever_the_quirk(name: str, tmp_path: Path):
    """The need is in the car by the ready-by time, the ledger says it was met, no RemoteStop
    was ever sent; and what is particular to the quirk holds (``CASES``)."""
    quirks, hook, check = CASES[name]

    run = asyncio.run(_night(tmp_path, quirks, hook))

    [entry] = run.night.entries
    assert run.night.energy_by(READY_BY) >= TARGET_KWH - 0.05
    assert entry.target_met
    assert entry.target_met_at is not None
    assert entry.target_met_at <= READY_BY
    assert [] == run.wallbox.calls("RemoteStopTransaction")
    check(run)


async def _kill_after_the_plan_profile(now: datetime, control: NightControl, seen: Seen) -> None:
    if "killed" in seen.at:
        return
    plans = [
        c
        for c in control.wallbox.calls("SetChargingProfile")
        if len(c.payload["csChargingProfiles"]["chargingSchedule"]["chargingSchedulePeriod"]) > 1
    ]
    if plans and control.wallbox.transaction is not None:
        seen.at["killed"] = now
        seen.at["plan_sent"] = plans[-1].at
        await control.kill()


def test_a_killed_daemon_leaves_a_charger_that_still_delivers_the_target(tmp_path: Path):
    """SIGKILL-like: once the plan profile is in the charger the daemon dies (no on-exit rule,
    nothing cleared, nothing sent after); alone, the charger follows its TxDefaultProfile (the
    plan, then full current from the planned end) and the car has the need by the ready-by
    time."""
    run = asyncio.run(_night(tmp_path, OcppQuirks(), _kill_after_the_plan_profile))

    killed = run.seen.at["killed"]
    assert run.night.energy_by(killed) < TARGET_KWH - 1.0  # most of the need still to come
    assert [] == [c for c in run.wallbox.received if c.at > killed]
    assert [] == run.wallbox.calls("ClearChargingProfile")
    assert not run.wallbox.connected
    assert run.wallbox.profiles  # the plan profile stayed in the charger
    assert run.night.energy_by(READY_BY) >= TARGET_KWH - 0.05
    assert [] == run.night.entries  # no ledger entry: the daemon never saw the session end


async def _restart_while_charging(now: datetime, control: NightControl, seen: Seen) -> None:
    charging = control.wallbox.status == "Charging"
    if "restart" not in seen.at and charging and _car_kwh(control) >= 2.0:
        seen.at["restart"] = now
        await control.restart()


def test_a_daemon_restarted_mid_session_counts_on_from_the_transactions_start(tmp_path: Path):
    """Killed while charging and started again on the same state dir (``ocpp_link.json``):
    the new run knows the transaction and the register at its start (the session's energy is
    the car's, not what came after the restart), sends no second RemoteStart and no profile
    of the kind the charger refused before the restart."""
    run = asyncio.run(
        _night(tmp_path, OcppQuirks(required_profile_kind="Relative"), _restart_while_charging)
    )
    control = run.seen.control
    assert control is not None
    snapshot = asyncio.run(control.central.link.charger.status())

    restart = run.seen.at["restart"]
    assert 1 == control.restarts
    assert 2 == run.wallbox.connects
    assert 1 == run.wallbox.boots  # reconnected, not rebooted: the transaction ran on
    assert run.night.energy_by(restart) >= 2.0
    assert 1 == run.sent("StartTransaction")
    assert 1 == len(run.wallbox.calls("RemoteStartTransaction"))
    assert ["Absolute"] == [line["kind"] for line in run.logged("ocpp_profile_rejected")]
    assert all(kind == "Relative" for kind in _kinds(run)[1:])
    assert snapshot.added_energy_kwh == pytest.approx(run.night.energy_by(UNPLUG), abs=0.05)
    [entry] = run.night.entries
    assert entry.energy_kwh == pytest.approx(run.night.energy_by(UNPLUG), abs=0.1)
    assert entry.target_met
    assert run.night.energy_by(READY_BY) >= TARGET_KWH - 0.05
