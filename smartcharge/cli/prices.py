"""``smartcharge prices [--date YYYY-MM-DD] [--json]``: one day's prices, spot and all-in.

Prices come through the cache in the state dir; what is missing is fetched from the configured
sources (``SMARTCHARGE_PRICE_SOURCES``) with a session created here. Problems are said once each,
as sentences on stderr (log lines only at ``SMARTCHARGE_LOG_LEVEL=DEBUG``), so that ``--json``
output on stdout stays clean.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from smartcharge.cli._common import settings_and_logging
from smartcharge.clock import Clock, SystemClock
from smartcharge.config import Settings
from smartcharge.domain import PriceSlot
from smartcharge.http import open_session
from smartcharge.logsetup import redact_text
from smartcharge.prices.chain import source_zone
from smartcharge.prices.feed import RefreshResult
from smartcharge.runtime.adapters import build_price_feed

# The whole command, fetching included, gives up after this long.
_SESSION_TIMEOUT_S = 60.0
_BAR_WIDTH = 30
# The cheapest quarter of the day's slots is marked.
_CHEAP_SHARE = 0.25


def register(sub: Any) -> None:
    """Add the ``prices`` command."""
    p: argparse.ArgumentParser = sub.add_parser(
        "prices",
        help="show a day's day-ahead and all-in prices (local time)",
        description=(
            "Show one day's prices in local time (SMARTCHARGE_TIMEZONE): the spot price as "
            "published and the all-in price after markup, energy tax and VAT. The cheapest "
            "quarter of the slots is marked with *."
        ),
    )
    p.add_argument("--date", type=_parse_date, default=None, help="local day (default: today)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(handler=run)


def _parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected YYYY-MM-DD") from None


def run(args: argparse.Namespace) -> int:
    """Print the prices of the asked day; return 0, or 1 when none are known."""
    settings = settings_and_logging()
    settings, skipped = usable_sources(settings)
    for line in skipped:
        print(f"smartcharge: note: {line}", file=sys.stderr)
    return show_prices(settings, args.date, as_json=args.json, clock=SystemClock())


def usable_sources(settings: Settings) -> tuple[Settings, list[str]]:
    """Return ``settings`` without the ENTSO-E sources when no key is set, and why.

    The key is optional (EnergyZero needs none), so its absence is a note, not a failure; when
    no other source is configured, ENTSO-E stays and its failure says what is missing.
    """
    if settings.entsoe_api_key is not None:
        return settings, []
    rest = tuple(s for s in settings.price_sources if not s.startswith("entsoe"))
    dropped = [s for s in settings.price_sources if s.startswith("entsoe")]
    if not dropped or not rest:
        return settings, []
    note = (
        f"{', '.join(dropped)} skipped: SMARTCHARGE_ENTSOE_API_KEY is not set (optional; "
        f"asking {', '.join(rest)})"
    )
    return settings.model_copy(update={"price_sources": rest}), [note]


def failure_sentence(failure: str) -> str:
    """Return a source's failure as one sentence for a one-shot command.

    The sources word their errors for the daemon, which tries again later; a command that
    exits does not, so that promise is left out.
    """
    text = redact_text(failure).removesuffix("; will retry later")
    source, _, what = text.partition(": ")
    return f"price source {source} failed: {what}" if what else text


def show_prices(settings: Settings, day: date | None, *, as_json: bool, clock: Clock) -> int:
    """Fetch (through the cache) and print one day's prices."""
    slots, day, result = asyncio.run(_collect(settings, day, clock))
    for failure in result.failures:
        print(f"smartcharge: {failure_sentence(failure)}", file=sys.stderr)
    if as_json:
        print(json.dumps(to_json(settings.bidding_zone, slots), indent=1))
    else:
        print(render_table(slots, day, settings))
    if not slots:
        print(f"smartcharge: no prices known for {day.isoformat()}", file=sys.stderr)
        return 1
    return 0


async def _collect(
    settings: Settings, day: date | None, clock: Clock
) -> tuple[list[PriceSlot], date, RefreshResult]:
    async with open_session(_SESSION_TIMEOUT_S) as session:
        feed = build_price_feed(settings, session, clock)
        now = clock.now()
        wanted = day or feed.local_day(now)
        result = await feed.ensure_day(wanted, now)
    start = feed.day_start(wanted)
    end = feed.day_start(wanted + timedelta(days=1))
    slots = [s for s in feed.curve.between(start, end) if start <= s.start < end]
    return slots, wanted, result


def _utc(instant: datetime) -> str:
    return instant.strftime("%Y-%m-%dT%H:%M:%SZ")


def to_json(zone: str, slots: list[PriceSlot]) -> dict[str, Any]:
    """Return the ``--json`` document: one entry per market time unit as published."""
    return {
        "zone": zone,
        "slots": [
            {
                "start": _utc(s.start),
                "end": _utc(s.end),
                "spot_eur_mwh": s.spot_eur_per_mwh,
                "price_eur_kwh": s.price_eur_per_kwh,
                "source": s.source,
            }
            for s in slots
        ],
    }


def cheapest(slots: list[PriceSlot]) -> set[datetime]:
    """Return the starts of the cheapest quarter of ``slots`` (by all-in price, time-weighted)."""
    if not slots:
        return set()
    total = sum((s.duration for s in slots), timedelta())
    budget = total * _CHEAP_SHARE
    chosen: set[datetime] = set()
    used = timedelta()
    for s in sorted(slots, key=lambda s: (s.price_eur_per_kwh, s.start)):
        if used >= budget:
            break
        chosen.add(s.start)
        used += s.duration
    return chosen


def render_table(slots: list[PriceSlot], day: date, settings: Settings) -> str:
    """Return a readable table of the day with a bar chart of the all-in price."""
    tz = ZoneInfo(settings.timezone)
    head = f"Prices for {day.isoformat()} ({settings.bidding_zone}, times in {settings.timezone})"
    if not slots:
        return f"{head}\n  no prices known"
    marked = cheapest(slots)
    prices = [s.price_eur_per_kwh for s in slots]
    lo, hi = min(prices), max(prices)
    span = hi - lo or 1.0
    lines = [
        head,
        f"{'time':<13} {'spot EUR/MWh':>12} {'all-in EUR/kWh':>14}  {'source':<10}",
    ]
    for s in slots:
        a = s.start.astimezone(tz)
        b = s.end.astimezone(tz)
        bar = "#" * max(1, round((s.price_eur_per_kwh - lo) / span * _BAR_WIDTH))
        mark = "*" if s.start in marked else " "
        lines.append(
            f"{a:%H:%M}-{b:%H:%M}   {s.spot_eur_per_mwh:>12.2f} {s.price_eur_per_kwh:>14.4f}"
            f" {mark}{s.source:<10} {bar}"
        )
    avg = sum(p * s.duration.total_seconds() for p, s in zip(prices, slots, strict=True)) / sum(
        s.duration.total_seconds() for s in slots
    )
    best = min(slots, key=lambda s: (s.price_eur_per_kwh, s.start))
    lines.append(
        f"all-in: min {lo:.4f}, average {avg:.4f}, max {hi:.4f} EUR/kWh; cheapest from "
        f"{best.start.astimezone(tz):%H:%M}; * = cheapest quarter of the day"
    )
    stand_ins = sorted(
        {
            s.source
            for s in slots
            if source_zone(s.source, settings.bidding_zone) != settings.bidding_zone
        }
    )
    if stand_ins:
        lines.append(f"approximate: prices from {', '.join(stand_ins)} stand in for missing ones")
    day_start = datetime.combine(day, datetime.min.time(), tz).astimezone(UTC)
    day_end = datetime.combine(day + timedelta(days=1), datetime.min.time(), tz).astimezone(UTC)
    covered = sum((s.duration for s in slots), timedelta())
    length = day_end - day_start
    if covered < length:
        lines.append(f"incomplete: {covered} of {length} known")
    return "\n".join(lines)
