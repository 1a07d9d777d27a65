"""Command group of the daemon: ``run``, ``status``, ``sessions``, ``demo``."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import urllib.error
import urllib.request
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from smartcharge.cli._common import settings_and_logging
from smartcharge.clock import SystemClock
from smartcharge.codec import to_data
from smartcharge.config import (
    Settings,
    energy_cost_in_app,
    load_settings,
    readiness_problems,
)
from smartcharge.errors import ConfigError, StateError
from smartcharge.ledger import Ledger, ledger_text, totals
from smartcharge.session.model import DaemonState
from smartcharge.session.steering import override_data, override_text
from smartcharge.state import StateStore
from smartcharge.statedir import DAEMON_LOCK_FILE


def register(sub: Any) -> None:
    """Add ``run``, ``status``, ``sessions`` and ``demo``."""
    run = sub.add_parser(
        "run",
        help="run the daemon: plan every plugged-in session and drive the charger",
        description="Run until SIGTERM or SIGINT. On stopping during a session whose need is "
        "not met yet, charging is resumed (SMARTCHARGE_ON_EXIT=leave keeps the charger as is).",
    )
    run.set_defaults(handler=_run)
    status = sub.add_parser(
        "status",
        help="show the session, the plan, the next action and the last contacts",
        description="Read the state dir (no request to the cloud).",
    )
    status.add_argument("--json", action="store_true", help="print JSON")
    status.set_defaults(handler=_status)
    sessions = sub.add_parser("sessions", help="list the finished sessions and the totals saved")
    sessions.add_argument("--json", action="store_true", help="print JSON")
    sessions.set_defaults(handler=_sessions)
    demo = sub.add_parser(
        "demo",
        help="a simulated night with the daemon's real code (no account, key or .env needed)",
    )
    demo.add_argument(
        "--realistic",
        action="store_true",
        help="a one-phase car that slows down when nearly full, and commands that take effect "
        "20-60 s late",
    )
    demo.add_argument(
        "--link",
        choices=("cloud", "ocpp"),
        default="cloud",
        help="how the simulated Wallbox is reached: its cloud (default) or OCPP 1.6J on the "
        "local network, smartcharge being its central system",
    )
    demo.set_defaults(handler=_demo)


def _run(_args: Any) -> int:
    from smartcharge.runtime.serve import run  # noqa: PLC0415 - pulls in aiohttp, APScheduler

    settings = settings_and_logging(one_shot=False)
    # The same check as check-config's, so that what it says run refuses, run refuses.
    problems = readiness_problems(settings)
    if problems:
        raise ConfigError(problems)
    try:
        return asyncio.run(run(settings, SystemClock()))
    except StateError as exc:
        # Another daemon on the state dir, or a state dir it cannot use: a set-up problem, so
        # exit 2 (a supervisor's restart loop cannot fix it) with one line, never a traceback.
        print(f"smartcharge: {exc}", file=sys.stderr)
        return 2


def _state(settings: Settings) -> DaemonState:
    return StateStore(settings.state_dir, SystemClock()).load()


# The health endpoint answers at once or not at all: a short bound keeps `status` quick.
_PROBE_TIMEOUT_S = 2.0


def _probe_health(port: int) -> dict[str, Any] | None:
    """Return the body of a daemon's ``/healthz`` on 127.0.0.1:``port``, or None if none answers.

    Plain urllib: ``status`` reads files and this one local answer, no event loop needed.
    """
    url = f"http://127.0.0.1:{port}/healthz"
    try:
        # S310: the scheme is fixed to http on the loopback address just above.
        with urllib.request.urlopen(url, timeout=_PROBE_TIMEOUT_S) as resp:  # noqa: S310
            raw = resp.read()
    except urllib.error.HTTPError as err:  # 503: a daemon that is running, but unhealthy
        raw = err.read()
    except (OSError, ValueError):
        return None
    try:
        body = json.loads(raw)
    except ValueError:
        return {"status": "unknown"}
    return body if isinstance(body, dict) else {"status": "unknown"}


def lock_holder(folder: Path) -> tuple[bool | None, str | None]:
    """Return whether a daemon holds ``folder``'s instance lock, and its pid, without taking it.

    Taking the lock, even shared and for an instant, could make a daemon starting at that
    moment refuse to start; so the kernel's table of locks (``/proc/locks``) is read instead.
    (None, None) where that cannot be told (no such table).
    """
    path = folder / DAEMON_LOCK_FILE
    try:
        st = path.lstat()
        owner = path.read_text(encoding="ascii", errors="replace").strip()
    except FileNotFoundError:
        return False, None
    except OSError:
        return None, None
    try:
        table = Path("/proc/locks").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None, None
    device = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    for line in table.splitlines():
        # "1: FLOCK  ADVISORY  WRITE 12345 fe:00:2147313 0 EOF"; "->" marks a waiter.
        parts = line.split()
        if len(parts) < 6 or parts[1] != "FLOCK" or "->" in parts:
            continue
        same_file = parts[5] == device or (parts[5].endswith(f":{st.st_ino}") and parts[4] == owner)
        if same_file:
            return True, parts[4]
    return False, None


def daemon_json(
    settings: Settings, health: dict[str, Any] | None, lock: tuple[bool | None, str | None]
) -> dict[str, Any]:
    """Return whether a daemon runs on the settings' state dir.

    The instance lock (``daemon.lock``, held by a running ``smartcharge run``) says it first;
    the health port's answer names the state dir of the daemon answering there, which may be
    another one.
    """
    held, pid = lock
    port = settings.health_port
    theirs = None if health is None else health.get("state_dir")
    same = None if theirs is None else theirs == str(settings.state_dir.resolve())
    running: bool | None
    if held or (health is not None and same):
        running = True
    elif held is None and port == 0:
        running = None
    else:
        running = False
    return {
        "running": running,
        "lock_held": held,
        "pid": pid,
        "health_port": port,
        "health": None if health is None else health.get("status"),
        "reasons": [] if health is None else list(health.get("reasons") or []),
        # A refused edit of .env: the daemon runs on the settings before it.
        "settings_problems": [] if health is None else list(health.get("settings_problems") or []),
        "health_state_dir": theirs,
        "health_same_state_dir": same,
    }


def _daemon_text(daemon: dict[str, Any]) -> list[str]:
    port = daemon["health_port"]
    health = daemon["health"]
    if daemon["reasons"]:
        health = f"{health}: {'; '.join(daemon['reasons'])}"
    same = daemon["health_same_state_dir"]
    if daemon["running"]:
        line = "daemon: running on this state dir"
        if daemon["pid"]:
            line += f" (pid {daemon['pid']})"
        if health is not None and same is not False:
            line += f", health {health} (127.0.0.1:{port})"
        lines = [line]
    elif daemon["running"] is None:
        lines = ["daemon: cannot tell (no lock table to read, and SMARTCHARGE_HEALTH_PORT=0)"]
    elif daemon["lock_held"] is False:
        lines = ["daemon: none running on this state dir (its daemon.lock is not held)"]
    else:
        lines = [f"daemon: none answers on 127.0.0.1:{port} (SMARTCHARGE_HEALTH_PORT)"]
    if daemon["running"] and same is not False and daemon["settings_problems"]:
        lines.append(
            "settings: the last edit of the .env file was refused; the daemon runs on the "
            "settings before it until the file is fixed:"
        )
        lines.extend(f"  {problem}" for problem in daemon["settings_problems"])
    if same is False:
        lines.append(
            f"note: the daemon answering on 127.0.0.1:{port} uses ANOTHER state dir, "
            f"{daemon['health_state_dir']} (health {health})"
            + ("" if daemon["running"] else "; what follows is not its state")
        )
    return lines


def _status(args: Any) -> int:
    settings = settings_and_logging(quiet=args.json, one_shot=False)
    state = _state(settings)
    data = _status_json(state)
    folder = settings.state_dir.resolve()
    data["state_dir"] = str(folder)
    data["daemon"] = daemon_json(
        settings,
        _probe_health(settings.health_port) if settings.health_port else None,
        lock_holder(folder),
    )
    data["car_profile"] = _car_profile_json(settings)
    data["charger_link"] = settings.charger_link.value
    data["energy_cost_in_app"] = energy_cost_in_app(settings).to_json()
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    tz = ZoneInfo(settings.timezone)
    lines = [
        f"state dir: {folder} (SMARTCHARGE_STATE_DIR)",
        *_daemon_text(data["daemon"]),
        f"charger link: {data['charger_link']} (SMARTCHARGE_CHARGER_LINK)",
        *_energy_cost_text(data["energy_cost_in_app"]),
    ]
    if not folder.is_dir():
        lines.append("nothing saved: this folder does not exist (no daemon has run on it)")
    elif state.saved_at is None:
        lines.append("nothing saved in this state dir yet (no daemon has run on it)")
    else:
        lines.append(_status_text(data, tz))
    lines.append(_car_profile_text(data["car_profile"], tz).lstrip("\n"))
    print("\n".join(lines))
    return 0


def _energy_cost_text(cost: dict[str, Any]) -> list[str]:
    """Return the line on the energy cost in the app; none on the cloud link (it keeps it)."""
    if cost["by"] == "cloud":
        return []
    if not cost["kept"]:
        return [
            f"energy cost in the Wallbox app: not kept ({cost['why']}; the account is optional "
            "on the OCPP link, and only the cloud can set the energy cost)"
        ]
    return [
        "energy cost in the Wallbox app: kept by the Wallbox cloud beside the OCPP link "
        "(one write per price change)"
    ]


def _car_profile_json(settings: Settings) -> dict[str, Any] | None:
    """Return what was learnt about the car (``car_profile.json``), with its full power."""
    from smartcharge.carstore import CarProfileStore  # noqa: PLC0415

    profile = CarProfileStore(settings.state_dir, SystemClock()).load()
    if profile is None:
        return None
    out = profile.to_json()
    kw_per_amp = settings.phases * settings.voltage_v / 1000.0
    out["full_power_kw"] = round(profile.full_power_kw(settings.max_current_a, kw_per_amp), 2)
    out["at_current_a"] = settings.max_current_a
    return out


def _car_profile_text(profile: dict[str, Any] | None, tz: ZoneInfo) -> str:
    if profile is None:
        return "\ncar: nothing learnt yet (planned at the nominal power until a session is seen)"
    taper = profile["taper_share"]
    return (
        f"\ncar (learnt from {profile['sessions']} session(s), {_local(profile['learnt_at'], tz)}):"
        f" draws {profile['full_power_kw']:.2f} kW at {profile['at_current_a']} A "
        f"({100 * profile['draw_share']:.0f} % of nominal)"
        + ("" if taper is None else f"; near full it fell to {100 * taper:.0f} % of that")
    )


def _status_json(state: DaemonState) -> dict[str, Any]:
    session = state.session
    out: dict[str, Any] = {
        "session": None,
        "plan": None,
        "next_action": None
        if state.next_action is None
        else {"at": state.next_action.at.isoformat(), "action": state.next_action.action.value},
        "charger": to_data(state.last_status),
        "last_contact": {
            "wallbox": None if state.last_poll_at is None else state.last_poll_at.isoformat(),
            "prices": None
            if state.last_price_fetch_at is None
            else state.last_price_fetch_at.isoformat(),
        },
        "last_command": None
        if state.last_command is None
        else {
            "at": state.last_command.at.isoformat(),
            "kind": state.last_command.command.kind.value,
            "value": state.last_command.command.value,
            "reason": state.last_command.reason.value,
        },
        "saved_at": None if state.saved_at is None else state.saved_at.isoformat(),
        "next_override": override_data(state.next_override),
    }
    if session is not None:
        out["session"] = {
            "session_id": session.session_id,
            "plugged_in_at": session.plugged_in_at.isoformat(),
            "ready_by": session.ready_by.isoformat(),
            "target_kwh": session.target_kwh,
            "delivered_kwh": round(session.delivered_kwh, 3),
            "remaining_kwh": round(session.remaining_kwh, 3),
            "commands": len(session.commands),
            "hold": None
            if session.hold is None
            else {"charge": session.hold.charge, "since": session.hold.since.isoformat()},
            "override": override_data(session.override),
        }
        if session.plan is not None:
            plan = to_data(session.plan)
            plan["slots"] = [s for s in plan["plan"]["slots"] if s["current_a"] > 0]
            out["plan"] = {
                "plan_id": plan["plan_id"],
                "made_at": plan["made_at"],
                "reason": plan["reason"],
                "cost_eur": plan["plan"]["cost_eur"],
                "energy_kwh": plan["plan"]["energy_kwh"],
                "is_reachable": plan["plan"]["is_reachable"],
                "immediate_cost_eur": plan["immediate_cost_eur"],
                "charging_slots": plan["slots"],
            }
    return out


def _local(text: str | None, tz: ZoneInfo) -> str:
    if text is None:
        return "never"
    return datetime.fromisoformat(text).astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")


def _status_text(data: dict[str, Any], tz: ZoneInfo) -> str:
    lines = []
    session = data["session"]
    if session is None:
        lines.append("session: none (no car plugged in)")
        waiting = data["next_override"]
        if waiting is not None:
            lines.append(
                f"  for the next session: {override_text(waiting, lambda t: _local(t, tz))}"
            )
    else:
        lines.append(
            f"session: plugged in {_local(session['plugged_in_at'], tz)}, "
            f"{session['delivered_kwh']:.2f} of {session['target_kwh']:.2f} kWh by "
            f"{_local(session['ready_by'], tz)}"
        )
        if session["hold"] is not None:
            what = "resumed" if session["hold"]["charge"] else "paused"
            lines.append(f"  you {what} by hand at {_local(session['hold']['since'], tz)}: kept")
        if session["override"] is not None:
            text = override_text(session["override"], lambda t: _local(t, tz))
            lines.append(f"  your override: {text}")
    plan = data["plan"]
    if plan is not None:
        lines.append(
            f"plan ({plan['reason']}, {_local(plan['made_at'], tz)}): "
            f"{plan['energy_kwh']:.2f} kWh for EUR {plan['cost_eur']:.2f}"
            + ("" if plan["is_reachable"] else " (target NOT reachable: charging at full power)")
        )
        for s in plan["charging_slots"]:
            lines.append(
                f"  {_local(s['start'], tz)} - {_local(s['end'], tz)[11:]}  "
                f"{s['current_a']:.1f} A  {s['energy_kwh']:.2f} kWh"
            )
    action = data["next_action"]
    if action:
        lines.append(f"next action: {action['action']} at {_local(action['at'], tz)}")
    charger = data["charger"]
    if charger:
        lines.append(f"charger: {charger.get('status')} (status id {charger.get('status_id')})")
    lines.append(
        f"last contact with the Wallbox cloud: {_local(data['last_contact']['wallbox'], tz)}"
    )
    lines.append(f"last price fetch: {_local(data['last_contact']['prices'], tz)}")
    return "\n".join(lines)


def _sessions(args: Any) -> int:
    settings = load_settings()
    entries = Ledger(settings.state_dir, SystemClock()).entries()
    if args.json:
        payload = {
            "sessions": [e.to_json() for e in entries],
            "totals": totals(entries).to_json(),
        }
        print(json.dumps(payload, indent=2))
        return 0
    if not entries:
        print("no finished sessions yet")
        return 0
    print(ledger_text(entries, ZoneInfo(settings.timezone)))
    return 0


def _demo(args: Any) -> int:
    if getattr(args, "link", "cloud") == "ocpp":
        if args.realistic:
            print("smartcharge demo: --realistic is for the cloud link only", file=sys.stderr)
            return 2
        from smartcharge.simulator import ocpp_night  # noqa: PLC0415

        return ocpp_night.main(sys.stdout)
    from smartcharge import demo  # noqa: PLC0415

    return demo.main(sys.stdout, realistic=bool(args.realistic))
