"""``smartcharge check-config [--online]``: validate, show, and say whether ``run`` can start.

Exit status: 2 for an invalid value (nothing else is checked then); 1 when the values are valid
but ``smartcharge run`` would refuse to start (no Wallbox account, no price source that can
deliver prices for the zone), or when ``--online`` finds the account or every usable price
source not working; 0 otherwise. Likely slips in valid values are warnings, never refusals.

``--online`` tries each thing once, within the same limits as the daemon: the Wallbox account
through the shared client (a stored sign-in token is reused, at most one sign-in, one status
read within the account's read budget) and each price source with one request for today.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from smartcharge.cli.prices import failure_sentence
from smartcharge.clock import Clock, SystemClock
from smartcharge.config import (
    ChargerLink,
    Settings,
    energy_cost_note,
    env_file_path,
    load_settings,
    readiness_problems,
    slip_warnings,
    unknown_names,
)
from smartcharge.http import open_session
from smartcharge.logsetup import configure_logging, redact_text, register_secret

# The account's try (discovery, sign-in or refresh, one status read): the client bounds each
# call with SMARTCHARGE_WALLBOX_TIMEOUT_S; this bounds them together, so that an unreachable
# cloud is reported well within a minute.
ACCOUNT_TIMEOUT_S = 30.0
# Each price request; ENTSO-E runs in a helper process that takes a few seconds to start and
# answers within seconds when it answers at all.
PRICE_TIMEOUT_S = 20.0

_Say = Callable[[str], None]


def register(sub: Any) -> None:
    """Add the ``check-config`` command."""
    p: argparse.ArgumentParser = sub.add_parser(
        "check-config",
        help="validate the settings, print them (secrets masked) and say whether run can start",
        description="Exit 2: an invalid value; 1: valid, but `smartcharge run` would refuse to "
        "start (or, with --online, the account or the prices do not work); 0: ready.",
    )
    p.add_argument(
        "--online",
        action="store_true",
        help="also try the Wallbox account (one status read, at most one sign-in) and each "
        "price source (one request) once",
    )
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Validate and print the settings; return 0, 1 (run would refuse) or raise ConfigError."""
    for line in unknown_names():
        print(f"smartcharge: warning: {line}", file=sys.stderr)
    settings = load_settings()
    configure_logging(settings, stream=sys.stderr, one_shot=True)
    for line in slip_warnings(settings):
        print(f"smartcharge: warning: {line}", file=sys.stderr)
    note = energy_cost_note(settings)
    if note is not None:
        print(f"smartcharge: note: {note}", file=sys.stderr)
    problems = readiness_problems(settings)
    path = env_file_path()
    source = f"{path if path.is_file() else 'no .env file'}; environment wins"
    if problems:
        print(
            f"# settings valid ({source}), but `smartcharge run` would refuse to start: "
            f"{len(problems)} problem(s), on stderr"
        )
    else:
        print(f"# settings OK ({source}): `smartcharge run` can start")
    width = max(len(k) for k in settings.masked())
    for name, text in settings.masked().items():
        print(f"{name:<{width}} = {text}")
    for line in problems:
        print(f"smartcharge: run would refuse: {line}", file=sys.stderr)
    ok = not problems
    if args.online:
        print("# online: one try each (a stored sign-in is reused; one status read)")
        ok = asyncio.run(check_online(settings, SystemClock(), print)) and ok
    elif not problems:
        print("# `smartcharge check-config --online` tries the account and the prices once")
    return 0 if ok else 1


async def check_online(settings: Settings, clock: Clock, say: _Say) -> bool:
    """Try the account and each price source once; ``say`` one line each; return all is well.

    Well means: the account answered with the charger's status, and at least one price
    source that can serve the zone answered (prices, or "not published yet").
    """
    try:
        async with asyncio.timeout(ACCOUNT_TIMEOUT_S):
            account = await _check_account(settings, clock, say)
    except TimeoutError:
        say(
            f"Wallbox account {settings.wallbox_username}: no answer within "
            f"{ACCOUNT_TIMEOUT_S:g} s; check the network and SMARTCHARGE_WALLBOX_API_URL"
        )
        account = False
    prices = await _check_prices(settings, clock, say)
    return account and prices


async def _check_account(settings: Settings, clock: Clock, say: _Say) -> bool:
    from smartcharge.runtime.adapters import build_charger  # noqa: PLC0415
    from smartcharge.wallbox import WallboxError  # noqa: PLC0415
    from smartcharge.wallbox.tokens import TokenStore  # noqa: PLC0415

    user = settings.wallbox_username
    if not user or settings.wallbox_password is None:
        if settings.charger_link is ChargerLink.OCPP:
            say(
                "Wallbox account: not configured (optional with SMARTCHARGE_CHARGER_LINK=ocpp; "
                "the energy cost in the Wallbox app is then not kept)"
            )
            return True
        say("Wallbox account: not tried (SMARTCHARGE_WALLBOX_USERNAME/PASSWORD not set)")
        return False
    tokens = TokenStore(settings.state_dir, register_secret=register_secret).load(clock.now())
    stored = tokens is not None
    async with open_session(settings.wallbox_timeout_s) as http:
        client = build_charger(settings, http, clock)
        asked_at = clock.now()
        try:
            snapshot = await client.status()
        except WallboxError as err:
            say(f"Wallbox account {user}: failed: {redact_text(str(err))}")
            return False
    if snapshot.fetched_at < asked_at:
        age_s = max(0.0, (clock.now() - snapshot.fetched_at).total_seconds())
        how = f"not asked now: the read budget has no free slot, stored status {age_s:.0f} s old"
    elif stored:
        how = "the stored sign-in was reused"
    else:
        how = "signed in; the token is kept in the state dir"
    status = snapshot.status.value.replace("_", " ")
    say(f"Wallbox account {user}: works ({how}); charger {snapshot.charger_id}: {status}")
    return True


def _day_bounds(day: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(0), tz)
    end = datetime.combine(day + timedelta(days=1), time(0), tz)
    return start.astimezone(ZoneInfo("UTC")), end.astimezone(ZoneInfo("UTC"))


async def _check_prices(settings: Settings, clock: Clock, say: _Say) -> bool:
    from smartcharge.prices import (  # noqa: PLC0415
        PricesNotPublishedError,
        PriceSourceError,
    )
    from smartcharge.prices.chain import source_zone  # noqa: PLC0415
    from smartcharge.runtime.adapters import build_sources  # noqa: PLC0415

    zone = settings.bidding_zone
    tz = ZoneInfo(settings.timezone)
    day = clock.now().astimezone(tz).date()
    start, end = _day_bounds(day, tz)
    has_key = settings.entsoe_api_key is not None
    works = False
    async with open_session(PRICE_TIMEOUT_S + 5.0) as http:
        for source in build_sources(settings, http, clock, timeout_s=PRICE_TIMEOUT_S):
            name = source.name
            if name.startswith("entsoe") and not has_key:
                say(f"price source {name}: not tried (SMARTCHARGE_ENTSOE_API_KEY is not set)")
                continue
            own = source_zone(name, zone)
            usable = own == zone or name.startswith("entsoe:")
            note = "" if own == zone else f" ({own} prices, a stand-in for {zone})"
            if not usable:
                note = f" ({own} prices only; not used for {zone})"
            try:
                async with asyncio.timeout(PRICE_TIMEOUT_S + 5.0):
                    slots = await source.fetch(start, end)
            except TimeoutError:
                say(f"price source {name} failed: no answer within {PRICE_TIMEOUT_S + 5.0:g} s")
                continue
            except PricesNotPublishedError:
                say(f"price source {name}: works, no prices for {day} published yet{note}")
            except PriceSourceError as err:
                say(failure_sentence(str(err)))
                continue
            else:
                say(f"price source {name}: works, {len(slots)} prices for {day}{note}")
            works = works or usable
    return works
