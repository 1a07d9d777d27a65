"""``smartcharge charger ...``: read and control the charger by hand.

Every command first reads the status (the stored one when it was read moments ago, by this
or another process of the account, with its age shown) and sends nothing when the charger
already is as asked. When the account's shared budget has no free slot, the command says at
once what it waits for and until when; ``--no-wait`` answers from the stored status instead
and refuses a command that would have to wait. Bad input is refused before anything is sent,
with exit status 2; a cloud failure exits 1 with one line saying what failed and what to
check. A read is tried once: a person is waiting, and the next run tries again. Output goes
to stdout, messages and logs to stderr, so ``status --json`` can be piped.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import re
import sys
from collections.abc import Awaitable, Callable
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from smartcharge.cli._common import settings_and_logging
from smartcharge.clock import SystemClock
from smartcharge.config import ChargerLink, Settings
from smartcharge.domain import ChargerSnapshot, Command, CommandKind
from smartcharge.errors import StateError
from smartcharge.http import open_session
from smartcharge.manual import ManualCommand, record_manual_command
from smartcharge.runtime.adapters import build_charger
from smartcharge.wallbox import (
    MIN_CURRENT_A,
    WallboxClient,
    command_satisfied,
)
from smartcharge.wallbox.limiter import CallKind

# The cloud accepts -5..5 EUR/kWh (HA's range, wallbox-api.md §4.5), but a household price is
# never negative on the charger's display and never above a few euros: anything outside
# 0..2 EUR/kWh is a typo (cents for euros, a missing decimal point).
MAX_ENERGY_COST_EUR_KWH = 2.0
# The cloud's own session history, by default for the last 30 days.
HISTORY_DEFAULT_DAYS = 30

_WHOLE = re.compile(r"^\s*\d+\s*$")

_Body = Callable[[WallboxClient, Settings], Awaitable[int]]


def register(sub: Any) -> None:
    """Add the ``charger`` command group."""
    group: argparse.ArgumentParser = sub.add_parser(
        "charger", help="read and control the charger by hand (sends only what is needed)"
    )
    actions = group.add_subparsers(dest="charger_action", metavar="ACTION")
    group.set_defaults(handler=lambda _args: _usage(group))

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--no-wait",
        action="store_true",
        help="never wait for the account's shared call budget: answer from the stored status "
        "(with its age), and refuse a command that would have to wait",
    )

    status = actions.add_parser("status", help="show the charger's state", parents=[common])
    status.add_argument("--json", action="store_true", help="print JSON")
    status.set_defaults(handler=run_status)

    for name, kind, text in (
        ("pause", CommandKind.PAUSE, "pause charging"),
        ("resume", CommandKind.RESUME, "resume charging"),
        ("lock", CommandKind.LOCK, "lock the charger"),
        ("unlock", CommandKind.UNLOCK, "unlock the charger"),
        ("restart", CommandKind.RESTART, "reboot the charger (takes about 2 minutes)"),
    ):
        p = actions.add_parser(name, help=text, parents=[common])
        p.set_defaults(handler=run_simple, kind=kind)

    current = actions.add_parser(
        "current", help="set the maximum charging current", parents=[common]
    )
    current.add_argument("amps", metavar="AMPS", help=f"whole amps, {MIN_CURRENT_A} or more")
    current.set_defaults(handler=run_current)

    cost = actions.add_parser(
        "energy-cost", help="set the energy price the cloud uses", parents=[common]
    )
    cost.add_argument("price", metavar="EUR_PER_KWH", help="e.g. 0.25")
    cost.set_defaults(handler=run_energy_cost)

    history = actions.add_parser(
        "history", help="the cloud's own session history", parents=[common]
    )
    history.add_argument("--from", dest="date_from", metavar="DATE", help="YYYY-MM-DD")
    history.add_argument("--to", dest="date_to", metavar="DATE", help="YYYY-MM-DD (inclusive)")
    history.add_argument("--json", action="store_true", help="print JSON")
    history.set_defaults(handler=run_history)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def _bad_input(message: str) -> int:
    print(f"smartcharge: {message}; nothing was sent", file=sys.stderr)
    return 2


def _run(body: _Body, args: argparse.Namespace) -> int:
    """Load settings, open the one HTTP session, build the client and run ``body``."""
    settings = settings_and_logging()

    async def main() -> int:
        # The client also bounds each call with asyncio.timeout; this is the session default.
        async with open_session(settings.wallbox_timeout_s) as session:
            client = build_charger(settings, session, SystemClock(), read_tries=1)
            client.waits = not getattr(args, "no_wait", False)
            client.on_wait = lambda kind, until: _say_waiting(client, settings, kind, until)
            return await body(client, settings)

    return asyncio.run(main())


def _say_waiting(
    client: WallboxClient, settings: Settings, kind: CallKind, until: datetime
) -> None:
    """Say at once what the command waits for, until when, and why (on stderr)."""
    local = until.astimezone(ZoneInfo(settings.timezone))
    daemons = [d for d in client.limiter.drivers() if d.pid != os.getpid()]
    backoff = client.limiter.backoff_until()
    if backoff is not None and backoff >= until:
        why = "the cloud asked every client of this account to slow down"
    elif daemons:
        pids = ", ".join(str(d.pid) for d in daemons)
        why = f"shared with the running daemon{'s' if len(daemons) > 1 else ''}, pid {pids}"
    else:
        why = "shared by every smartcharge process of this account"
    hint = "; --no-wait answers from the stored status at once" if kind is CallKind.READ else ""
    print(
        f"smartcharge: waiting for the Wallbox {kind.value} budget until "
        f"{local:%H:%M:%S} ({why}){hint}",
        file=sys.stderr,
        flush=True,
    )


def _age_text(snapshot: ChargerSnapshot, asked_at: datetime) -> str:
    """Say whether the snapshot was read for this command or is the stored one, and its age."""
    if snapshot.fetched_at >= asked_at:
        return "just read"
    age_s = max(0.0, (SystemClock().now() - snapshot.fetched_at).total_seconds())
    return f"stored status, {age_s:.0f} s old"


def _describe(snapshot: ChargerSnapshot) -> str:
    status_id = "none" if snapshot.status_id is None else str(snapshot.status_id)
    return f"{snapshot.status.value.replace('_', ' ')} (status {status_id})"


def snapshot_json(snapshot: ChargerSnapshot, asked_at: datetime) -> dict[str, Any]:
    """Return what ``status --json`` prints."""
    now = SystemClock().now()
    return {
        "charger_id": snapshot.charger_id,
        "state": snapshot.status.value,
        "status_id": snapshot.status_id,
        "charging_power_kw": snapshot.charging_power_kw,
        "added_energy_kwh": snapshot.added_energy_kwh,
        "max_charging_current_a": snapshot.max_charging_current_a,
        "max_available_current_a": snapshot.max_available_current_a,
        "energy_cost_eur_kwh": snapshot.energy_cost_eur_per_kwh,
        "locked": snapshot.locked,
        "fetched_at": snapshot.fetched_at.isoformat(),
        "age_s": round(max(0.0, (now - snapshot.fetched_at).total_seconds()), 1),
        "from_cache": snapshot.fetched_at < asked_at,
    }


def run_status(args: argparse.Namespace) -> int:
    """Print the charger's state (stored when inside the read window, with its age)."""

    async def body(client: WallboxClient, settings: Settings) -> int:
        asked_at = SystemClock().now()
        snapshot = await client.status()
        if args.json:
            print(json.dumps(snapshot_json(snapshot, asked_at)))
            return 0
        cost = snapshot.energy_cost_eur_per_kwh
        print(
            f"Charger {snapshot.charger_id}: {_describe(snapshot)}, {_age_text(snapshot, asked_at)}"
        )
        print(f"  charging power  {snapshot.charging_power_kw:.2f} kW")
        print(f"  added energy    {snapshot.added_energy_kwh:.2f} kWh")
        print(
            f"  current limit   {snapshot.max_charging_current_a} A "
            f"(maximum {snapshot.max_available_current_a} A)"
        )
        print(f"  energy cost     {'unknown' if cost is None else f'{cost:g} EUR/kWh'}")
        print(f"  locked          {'yes' if snapshot.locked else 'no'}")
        return 0

    return _run(body, args)


async def _send(client: WallboxClient, command: Command, settings: Settings | None = None) -> int:
    """Read the status; send ``command`` unless the charger already is so.

    A pause, resume or current sent is recorded in the state dir, so a running daemon takes
    it for the user's choice at its next tick (``smartcharge.manual``).
    """
    asked_at = SystemClock().now()
    snapshot = await client.status()
    what = str(command)
    if command_satisfied(snapshot, command):
        print(
            f"Charger {snapshot.charger_id} is already {_done(command)} "
            f"({_describe(snapshot)}, {_age_text(snapshot, asked_at)}); nothing sent"
        )
        return 0
    if command.kind in (CommandKind.PAUSE, CommandKind.RESUME) and (
        not snapshot.status.can_pause_or_resume
    ):
        print(
            f"smartcharge: cannot {what} charger {snapshot.charger_id} while it is "
            f"{_describe(snapshot)}: a car must be connected and the charger unlocked; "
            "nothing was sent",
            file=sys.stderr,
        )
        return 1
    after = await client.apply(command)
    if command_satisfied(after, command):
        print(f"Charger {after.charger_id}: {what} sent; now {_describe(after)}")
    else:
        # The answer did not confirm it (wallbox-api.md §4.4); the charger may apply it later.
        print(
            f"Charger {after.charger_id}: {what} sent; the charger does not show it yet (still "
            f"{_describe(after)}); it can take a minute: check with 'smartcharge charger status'"
        )
    if settings is not None:
        try:
            record_manual_command(
                settings.state_dir, ManualCommand.of(command, SystemClock().now(), after.charger_id)
            )
        except StateError as exc:
            print(
                f"smartcharge: {exc}; a running daemon may take a while to notice this {what} "
                "as yours",
                file=sys.stderr,
            )
    return 0


def _done(command: Command) -> str:
    kind = command.kind
    if kind is CommandKind.SET_MAX_CURRENT:
        return f"limited to {command.value:g} A"
    if kind is CommandKind.SET_ENERGY_COST:
        return f"at {command.value:g} EUR/kWh"
    words: dict[CommandKind, str] = {
        CommandKind.PAUSE: "paused",
        CommandKind.RESUME: "charging (or ready to)",
        CommandKind.LOCK: "locked",
        CommandKind.UNLOCK: "unlocked",
    }
    return words.get(kind, str(kind.value))


def run_simple(args: argparse.Namespace) -> int:
    """Pause, resume, lock, unlock or restart.

    On the OCPP link pause and resume are refused before anything is sent: Wallbox disables
    the cloud's while OCPP is connected (the daemon pauses and resumes over OCPP).
    """
    command = Command(args.kind)

    async def body(client: WallboxClient, settings: Settings) -> int:
        if settings.charger_link is ChargerLink.OCPP and command.kind in (
            CommandKind.PAUSE,
            CommandKind.RESUME,
        ):
            print(
                f"smartcharge: charger {command.kind.value}: not through the Wallbox cloud "
                "with SMARTCHARGE_CHARGER_LINK=ocpp (Wallbox disables the cloud's pause and "
                "resume while OCPP is connected; the daemon pauses and resumes over OCPP); "
                "nothing was sent",
                file=sys.stderr,
            )
            return 1
        return await _send(client, command, settings)

    return _run(body, args)


def run_current(args: argparse.Namespace) -> int:
    """Set the maximum charging current (6 A up to the charger's maximum)."""
    text = str(args.amps)
    accepted = f"expected whole amps from {MIN_CURRENT_A} up to the charger's maximum, e.g. 16"
    if not _WHOLE.match(text) or len(text) > 6:
        shown = text if len(text) <= 20 else text[:17] + "..."
        return _bad_input(f"charger current AMPS={shown!r}: not a whole number; {accepted}")
    amps = int(text)
    if amps < MIN_CURRENT_A:
        return _bad_input(
            f"charger current AMPS={amps}: below {MIN_CURRENT_A} A, the least a charger "
            f"can offer; {accepted}"
        )

    async def body(client: WallboxClient, settings: Settings) -> int:
        snapshot = await client.status()
        if amps > snapshot.max_available_current_a:
            return _bad_input(
                f"charger current AMPS={amps}: above this charger's maximum of "
                f"{snapshot.max_available_current_a} A; expected whole amps from "
                f"{MIN_CURRENT_A} to {snapshot.max_available_current_a}"
            )
        return await _send(client, Command(CommandKind.SET_MAX_CURRENT, float(amps)), settings)

    return _run(body, args)


def run_energy_cost(args: argparse.Namespace) -> int:
    """Set the per-kWh energy price the cloud uses for session costs."""
    text = str(args.price)
    accepted = f"expected a price in EUR/kWh from 0 to {MAX_ENERGY_COST_EUR_KWH:g}, e.g. 0.25"
    try:
        price = float(text)
    except ValueError:
        return _bad_input(f"charger energy-cost EUR_PER_KWH={text!r}: not a number; {accepted}")
    if not math.isfinite(price) or not 0.0 <= price <= MAX_ENERGY_COST_EUR_KWH:
        return _bad_input(f"charger energy-cost EUR_PER_KWH={text!r}: out of range; {accepted}")

    async def body(client: WallboxClient, settings: Settings) -> int:
        return await _send(client, Command(CommandKind.SET_ENERGY_COST, price))

    return _run(body, args)


def _parse_date(text: str | None, option: str) -> date | None | str:
    if text is None:
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        return f"charger history {option}={text!r}: expected a date YYYY-MM-DD, e.g. 2025-01-31"


def run_history(args: argparse.Namespace) -> int:
    """Print the sessions the cloud recorded (start, end, energy, cost)."""
    parsed_from = _parse_date(args.date_from, "--from")
    parsed_to = _parse_date(args.date_to, "--to")
    for parsed in (parsed_from, parsed_to):
        if isinstance(parsed, str):
            return _bad_input(parsed)
    assert not isinstance(parsed_from, str)
    assert not isinstance(parsed_to, str)
    if parsed_from is not None and parsed_to is not None and parsed_from > parsed_to:
        return _bad_input(
            f"charger history --from={parsed_from} is after --to={parsed_to}; "
            "expected --from on or before --to"
        )

    async def body(client: WallboxClient, settings: Settings) -> int:
        zone = ZoneInfo(settings.timezone)
        today = SystemClock().now().astimezone(zone).date()
        last = parsed_to or today
        first = parsed_from or (last - timedelta(days=HISTORY_DEFAULT_DAYS))
        if first > last:
            return _bad_input(
                f"charger history --from={first} is after --to={last} (today, when --to is "
                "not given); expected --from on or before --to"
            )
        start = datetime.combine(first, time(0), zone)
        end = datetime.combine(last + timedelta(days=1), time(0), zone) - timedelta(seconds=1)
        sessions = await client.session_history(start, end)
        if args.json:
            print(
                json.dumps(
                    [
                        {
                            "session_id": s.session_id,
                            "start": s.start.isoformat(),
                            "end": s.end.isoformat(),
                            "energy_kwh": s.energy_kwh,
                            "cost": s.cost,
                            "currency": s.currency_code,
                        }
                        for s in sessions
                    ]
                )
            )
            return 0
        print(f"Sessions from {first} to {last} ({settings.timezone}), as the cloud recorded them:")
        if not sessions:
            print("  none")
        total_kwh = 0.0
        for s in sessions:
            total_kwh += s.energy_kwh
            cost = "cost unknown" if s.cost is None else f"{s.cost:.2f} {s.currency_code or ''}"
            print(
                f"  {s.start.astimezone(zone):%Y-%m-%d %H:%M} - {s.end.astimezone(zone):%H:%M}"
                f"  {s.energy_kwh:7.2f} kWh  {cost.strip()}"
            )
        print(f"  {len(sessions)} sessions, {total_kwh:.2f} kWh")
        return 0

    return _run(body, args)
