"""Command group of the daemon: ``run``, ``status``, ``sessions``, ``demo``."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from smartcharge.cli._common import settings_and_logging
from smartcharge.clock import SystemClock
from smartcharge.config import Settings, load_settings
from smartcharge.errors import StateError
from smartcharge.ledger import Ledger, ledger_text, totals
from smartcharge.state import DaemonState, StateStore


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
    demo.set_defaults(handler=_demo)


def _run(_args: Any) -> int:
    from smartcharge.daemon import run  # noqa: PLC0415 - pulls in aiohttp, APScheduler

    settings = settings_and_logging(one_shot=False)
    try:
        return asyncio.run(run(settings, SystemClock()))
    except StateError as exc:
        # Another daemon on the state dir, or a state dir it cannot use: a set-up problem, so
        # exit 2 (a supervisor's restart loop cannot fix it) with one line, never a traceback.
        print(f"smartcharge: {exc}", file=sys.stderr)
        return 2


def _state(settings: Settings) -> DaemonState:
    return StateStore(settings.state_dir, SystemClock()).load()


def _status(args: Any) -> int:
    settings = load_settings()
    state = _state(settings)
    data = _status_json(state)
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    tz = ZoneInfo(settings.timezone)
    print(_status_text(data, tz))
    return 0


def _status_json(state: DaemonState) -> dict[str, Any]:
    session = state.session
    out: dict[str, Any] = {
        "session": None,
        "plan": None,
        "next_action": state.next_action or None,
        "charger": state.last_status or None,
        "last_contact": {
            "wallbox": None if state.last_poll_at is None else state.last_poll_at.isoformat(),
            "prices": None
            if state.last_price_fetch_at is None
            else state.last_price_fetch_at.isoformat(),
        },
        "last_command": None if state.last_command is None else state.last_command.to_json(),
        "saved_at": None if state.saved_at is None else state.saved_at.isoformat(),
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
        }
        if session.plan is not None:
            plan = session.plan.to_json()
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
    else:
        lines.append(
            f"session: plugged in {_local(session['plugged_in_at'], tz)}, "
            f"{session['delivered_kwh']:.2f} of {session['target_kwh']:.2f} kWh by "
            f"{_local(session['ready_by'], tz)}"
        )
        if session["hold"] is not None:
            what = "resumed" if session["hold"]["charge"] else "paused"
            lines.append(f"  you {what} by hand at {_local(session['hold']['since'], tz)}: kept")
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
    from smartcharge import demo  # noqa: PLC0415

    return demo.main(sys.stdout, realistic=bool(args.realistic))
