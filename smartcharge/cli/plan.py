"""``smartcharge plan``: tonight's plan, and the user's say over it, through the running daemon.

Without options it shows the session and its plan (the demo's table with its price chart),
read from the daemon's ``GET /api/status`` and ``GET /api/plan``. With options it steers the
session (``POST /api/plan``, ``session.steering`` says what is accepted):

- ``--target-kwh X`` and/or ``--ready-by HH:MM`` (or an ISO-8601 time with its offset): this
  session's need and deadline (with no car plugged in: the next session's);
- ``--now``: charge at once at full current until the target (or unplug), with an optional
  ``--target-kwh``;
- ``--off``: do not charge this session;
- ``--clear``: back to the settings.

It talks to the daemon over HTTP on this machine (``SMARTCHARGE_HTTP_HOST`` and
``SMARTCHARGE_HEALTH_PORT``; a wildcard address is reached on loopback) with the standard
library, a timeout, the header ``X-Smartcharge-Client: cli`` (the daemon logs ``set_by=cli``)
and ``SMARTCHARGE_API_TOKEN`` as a Bearer token when it is set. Exit status: 0 done; 1 no
daemon answers (or it answered with something else than a result); 2 the daemon refused the
request (the field, the value and what is accepted are printed) or the options are wrong.

The options' syntax (what ``session.steering.check_request`` checks: the fields a mode takes,
the target's number, the ready-by's form) is checked here first, so a typo is named even with
no daemon running; what needs the daemon's state (its battery, the time now) it checks itself.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from smartcharge.cli._common import settings_and_logging
from smartcharge.config import Settings
from smartcharge.config.http import local_base_url
from smartcharge.demo import plan_table
from smartcharge.session.steering import (
    MAX_TARGET_KWH,
    SteerMode,
    SteerRefusal,
    SteerRequest,
    check_request,
    override_text,
)
from strategies.base import Plan, PlanSlot

CLIENT_HEADER = "X-Smartcharge-Client"
# A read answers at once; a change waits for the daemon's tick (one read of the charger), which
# the server bounds itself (it answers 202 when the daemon is busy for longer).
READ_TIMEOUT_S = 10.0
WRITE_TIMEOUT_S = 45.0


def register(sub: Any) -> None:
    """Add ``plan``."""
    plan = sub.add_parser(
        "plan",
        help="show tonight's plan, or set this session's target and ready-by, now, off or clear",
        description="Without options: the session and its plan with the prices. With options: "
        "this session only (with no car plugged in: the next one), until the car is unplugged. "
        "Talks to the running daemon (smartcharge run) on this machine.",
    )
    plan.add_argument(
        "--target-kwh",
        type=_target,
        metavar="KWH",
        help=f"the energy this session needs, kWh (above 0, at most {MAX_TARGET_KWH:g} and "
        "SMARTCHARGE_BATTERY_KWH)",
    )
    plan.add_argument(
        "--ready-by",
        metavar="HH:MM",
        help="when it must be ready: HH:MM (local, the next such time) or an ISO-8601 time "
        "with its offset; at most 72 h ahead",
    )
    mode = plan.add_mutually_exclusive_group()
    mode.add_argument(
        "--now",
        action="store_const",
        const="now",
        dest="mode",
        help="charge at once at full current until the target (or unplug)",
    )
    mode.add_argument(
        "--off",
        action="store_const",
        const="off",
        dest="mode",
        help="do not charge this session (not resumed when the daemon stops either)",
    )
    mode.add_argument(
        "--clear",
        action="store_const",
        const="clear",
        dest="mode",
        help="back to the settings (SMARTCHARGE_TARGET_KWH, SMARTCHARGE_READY_BY)",
    )
    plan.add_argument("--json", action="store_true", help="print the daemon's JSON")
    plan.set_defaults(handler=run, mode=None)


def _target(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a number; accepted: a number of kWh above 0 and at most "
            f"{MAX_TARGET_KWH:g}, e.g. 35"
        )
    return value


class DaemonUnreachableError(Exception):
    """No daemon answered (its message says where it was looked for)."""


@dataclass(frozen=True, slots=True)
class Answer:
    """The daemon's answer: its HTTP status and its JSON body (None when not JSON)."""

    status: int
    body: Any
    retry_after: str | None = None


@dataclass(frozen=True, slots=True)
class DaemonApi:
    """The running daemon's local API, over plain urllib.

    Attributes:
        base_url: e.g. ``http://127.0.0.1:8765``.
        token: ``SMARTCHARGE_API_TOKEN``, or None.
    """

    base_url: str
    token: str | None

    def call(self, method: str, path: str, body: Any = None) -> Answer:
        """Send one request and return the answer; raise ``DaemonUnreachableError``."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(  # noqa: S310 - http to our own daemon, built above
            self.base_url + path, data=data, method=method
        )
        request.add_header(CLIENT_HEADER, "cli")
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        timeout = READ_TIMEOUT_S if method == "GET" else WRITE_TIMEOUT_S
        try:
            with urllib.request.urlopen(request, timeout=timeout) as resp:  # noqa: S310
                return Answer(resp.status, _json(resp.read()))
        except urllib.error.HTTPError as err:
            return Answer(err.code, _json(err.read()), err.headers.get("Retry-After"))
        except (OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            raise DaemonUnreachableError(
                f"no smartcharge daemon answers at {self.base_url} ({reason}); is "
                "`smartcharge run` running with this .env (SMARTCHARGE_HEALTH_PORT, "
                "SMARTCHARGE_HTTP_HOST)?"
            ) from exc


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return None


def api_for(settings: Settings) -> DaemonApi | None:
    """Return the daemon's API as these settings place it, or None (no server: port 0)."""
    if settings.health_port == 0:
        return None
    token = settings.api_token
    return DaemonApi(
        local_base_url(settings.http_host, settings.health_port),
        None if token is None else token.get_secret_value(),
    )


def run(args: argparse.Namespace) -> int:
    """Run ``smartcharge plan``; return the exit status."""
    settings = settings_and_logging(quiet=args.json, one_shot=True)
    tz = ZoneInfo(settings.timezone)
    steering = args.mode is not None or args.target_kwh is not None or args.ready_by is not None
    if steering:
        request = SteerRequest(SteerMode(args.mode or "plan"), args.target_kwh, args.ready_by)
        refusal = check_request(request, tz)
        if refusal is not None:
            _refused(refusal)
            return 2
    api = api_for(settings)
    if api is None:
        _say("SMARTCHARGE_HEALTH_PORT=0: the daemon serves no API, so it cannot be reached")
        return 1
    try:
        if steering:
            return _steer(api, args, tz)
        return _show(api, as_json=args.json, tz=tz)
    except DaemonUnreachableError as exc:
        _say(str(exc))
        return 1


def _steer(api: DaemonApi, args: argparse.Namespace, tz: ZoneInfo) -> int:
    body: dict[str, Any] = {"mode": args.mode or "plan"}
    if args.target_kwh is not None:
        body["target_kwh"] = args.target_kwh
    if args.ready_by is not None:
        body["ready_by"] = args.ready_by
    answer = api.call("POST", "/api/plan", body)
    if answer.status != 200:
        return _failed(answer)
    if args.json:
        print(json.dumps(answer.body, indent=2))
        return 0
    doc = answer.body
    where = "this session" if doc["applies_to"] == "session" else "the next session"
    override = doc["override"]
    if override is None:
        print(f"{where}: back to the settings")
    else:
        print(f"{where}: {override_text(override, lambda t: _local(t, tz))}")
    if doc.get("plan") is not None:
        print(_plan_text(doc["plan"], tz))
    return 0


def _failed(answer: Answer) -> int:
    """Say why the daemon did not do it; return 2 for a refusal, 1 for anything else."""
    body = answer.body if isinstance(answer.body, dict) else {}
    error = body.get("error") if isinstance(body.get("error"), dict) else None
    if answer.status == 202:
        _say(f"not confirmed: {body.get('message', 'the daemon is busy')}")
        return 1
    if answer.status == 401:
        _say("the daemon wants SMARTCHARGE_API_TOKEN (missing or not the daemon's)")
        return 2
    if answer.status == 429:
        _say(f"too many changes at once; try again in {answer.retry_after or 'a few'} s")
        return 1
    if error is not None and answer.status == 400:
        _refused(
            SteerRefusal(
                str(error.get("field")),
                str(error.get("value")),
                str(error.get("message")),
                str(error.get("accepted")),
            )
        )
        return 2
    message = error.get("message") if error is not None else f"HTTP {answer.status}"
    _say(f"the daemon did not do it: {message}")
    return 1


def _show(api: DaemonApi, *, as_json: bool, tz: ZoneInfo) -> int:
    status = api.call("GET", "/api/status")
    plan = api.call("GET", "/api/plan")
    for answer in (status, plan):
        if answer.status != 200:
            return _failed(answer)
    if as_json:
        print(json.dumps({"status": status.body, "plan": plan.body}, indent=2))
        return 0
    print(status_text(status.body, plan.body, tz))
    return 0


def _local(text: str | None, tz: ZoneInfo) -> str:
    if text is None:
        return "-"
    return datetime.fromisoformat(text).astimezone(tz).strftime("%a %H:%M")


def status_text(status: dict[str, Any], plan: dict[str, Any], tz: ZoneInfo) -> str:
    """Return the session, the override, the next action and the plan table, for people."""
    lines = []

    def local(text: str | None) -> str:
        return _local(text, tz)

    session = status.get("session")
    if session is None:
        lines.append("no car plugged in")
        waiting = status.get("next_override")
        if waiting is not None:
            lines.append(f"for the next session: {override_text(waiting, local)}")
    else:
        lines.append(
            f"session since {_local(session['plugged_in_at'], tz)}: "
            f"{session['delivered_kwh']:.2f} of {session['target_kwh']:.2f} kWh by "
            f"{_local(session['ready_by'], tz)}"
            + ("" if session.get("target_met_at") is None else " (target met)")
        )
        if session.get("override") is not None:
            lines.append(f"  your override: {override_text(session['override'], local)}")
        else:
            lines.append(
                "  by the settings (smartcharge plan --target-kwh, --ready-by, --now, --off)"
            )
    action = status.get("next_action")
    if action is not None:
        lines.append(f"next: {action['action']} at {_local(action['at'], tz)}")
    if plan.get("plan") is not None:
        lines.append(_plan_text(plan["plan"], tz))
    elif session is not None:
        lines.append("no plan yet")
    return "\n".join(lines)


def _plan_text(doc: dict[str, Any], tz: ZoneInfo) -> str:
    plan = plan_from_document(doc)
    head = (
        f"plan ({doc['reason']}, {doc['strategy']}, made {_local(doc['made_at'], tz)}): "
        f"{doc['energy_kwh']:.2f} kWh for EUR {doc['cost_eur']:.2f}"
    )
    if doc.get("immediate_cost_eur") is not None:
        head += f" (charging at once: EUR {doc['immediate_cost_eur']:.2f})"
    if not doc["reachable"]:
        head += "; the target is NOT reachable in time: charging at full power"
    return head + "\n" + plan_table(plan, tz)


def plan_from_document(doc: dict[str, Any]) -> Plan:
    """Return the API's PLAN document as a ``Plan`` (for the demo's table)."""
    slots = tuple(
        PlanSlot(
            datetime.fromisoformat(s["start"]),
            datetime.fromisoformat(s["end"]),
            float(s["current_a"]),
            float(s["energy_kwh"]),
            s["price_eur_per_kwh"],
        )
        for s in doc["slots"]
    )
    return Plan(doc["strategy"], slots, doc["cost_eur"], doc["energy_kwh"], doc["reachable"])


def _refused(refusal: SteerRefusal) -> None:
    _say(
        f"refused, nothing changed: {refusal.field}={refusal.value}: {refusal.message}"
        f"\n  accepted: {refusal.accepted}"
    )


def _say(text: str) -> None:
    print(f"smartcharge: {text}", file=sys.stderr)
