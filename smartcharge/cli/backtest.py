"""``smartcharge backtest``: every strategy over historical prices, against the exact optimum."""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from datetime import time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from smartcharge.cli._common import settings_and_logging
from smartcharge.errors import ConfigError
from smartcharge.prices.feed import PUBLICATION_TIME
from smartcharge.pricing import Tariff
from smartcharge.tools.backtest import (
    BacktestConfig,
    BacktestReport,
    PriceFileError,
    StrategyResult,
    read_price_csv,
    run_backtest,
)
from strategies import available_strategies, get_strategy
from strategies.base import Strategy

_HHMM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
_ALL = "all"


def _hhmm(text: str) -> time:
    match = _HHMM.match(text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"expected HH:MM (24h), e.g. 07:00; got {text!r}")
    return time(int(match.group(1)), int(match.group(2)))


def _bounded(low: float, high: float, what: str) -> Any:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}; got {text!r}") from None
        if not (math.isfinite(value) and low < value <= high):
            raise argparse.ArgumentTypeError(
                f"expected {what} above {low:g} and at most {high:g}; got {text!r}"
            )
        return value

    return parse


def _zone(text: str) -> ZoneInfo:
    try:
        return ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise argparse.ArgumentTypeError(
            f"unknown time zone {text!r}; expected an IANA name, e.g. Europe/Amsterdam"
        ) from None


def register(sub: Any) -> None:
    """Add the ``backtest`` command."""
    p: argparse.ArgumentParser = sub.add_parser(
        "backtest",
        help="simulate one charging session a day over a price file, for each strategy",
        description=(
            "Simulate one charging session a day over historical day-ahead prices, with prices "
            "known as they were published, and compare each strategy with charging at once and "
            "with the exact optimum (HiGHS). Tariff, block limit, deadline margin, minimum "
            "current, phases and voltage come from the SMARTCHARGE_ settings."
        ),
    )
    p.add_argument(
        "--prices",
        required=True,
        type=Path,
        metavar="FILE.csv",
        help="CSV with the header start_utc,price_eur_per_mwh (hourly and 15-minute rows)",
    )
    p.add_argument(
        "--strategy",
        default=None,
        metavar="NAME|all",
        help="a strategy name, or 'all' (default: SMARTCHARGE_STRATEGY)",
    )
    p.add_argument(
        "--plug-in", type=_hhmm, default=time(18, 0), metavar="HH:MM", help="default 18:00"
    )
    p.add_argument(
        "--ready-by",
        type=_hhmm,
        default=time(7, 0),
        metavar="HH:MM",
        help="the next such time after plug-in; default 07:00",
    )
    p.add_argument(
        "--energy-kwh",
        type=_bounded(0.0, 200.0, "a number of kWh"),
        default=20.0,
        metavar="X",
        help="energy needed per session; default 20",
    )
    p.add_argument(
        "--power-kw",
        type=_bounded(0.0, 100.0, "a number of kW"),
        default=11.0,
        metavar="P",
        help="charging power at full current, taken exactly as given; default 11",
    )
    p.add_argument(
        "--tz",
        type=_zone,
        default=ZoneInfo("Europe/Amsterdam"),
        metavar="ZONE",
        help="local time zone of --plug-in and --ready-by; default Europe/Amsterdam",
    )
    p.add_argument(
        "--max-price",
        default=None,
        metavar="LIMIT",
        help="the threshold strategy's limit, e.g. 0.18 or p30 (default: SMARTCHARGE_MAX_PRICE; "
        "without one, --strategy all skips threshold)",
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(handler=run)


def _strategies(
    name: str, max_price: str | None, *, from_flag: bool, search_path: list[Path]
) -> list[Strategy]:
    """Resolve the strategies to run; with ``all``, one that cannot be built is skipped."""
    known = available_strategies()
    if from_flag and name != _ALL and ":" not in name and name.strip().lower() not in known:
        raise ConfigError(
            f"--strategy {name!r}: unknown strategy; expected one of "
            f"{', '.join([*known, _ALL])}, or package.module:ClassName"
        )
    if name != _ALL:
        return [get_strategy(name, max_price=max_price, search_path=search_path)]
    out = []
    for each in known:
        try:
            out.append(get_strategy(each, max_price=max_price))
        except ConfigError as exc:
            # threshold needs a limit; without one, the other strategies still run.
            print(f"smartcharge: note: {each} skipped: {exc}", file=sys.stderr)
    return out


def run(args: argparse.Namespace) -> int:
    """Run the backtest and print a table or JSON; return the exit status."""
    settings = settings_and_logging(quiet=args.json)
    config = BacktestConfig(
        plug_in=args.plug_in,
        ready_by=args.ready_by,
        energy_kwh=args.energy_kwh,
        power_kw=args.power_kw,
        tz=args.tz,
        min_current_a=float(settings.min_current_a),
        phases=settings.phases,
        voltage_v=settings.voltage_v,
        max_interruptions=settings.max_interruptions,
        deadline_margin=timedelta(minutes=settings.deadline_margin_min),
    )
    if args.plug_in == args.ready_by:
        raise ConfigError("--plug-in and --ready-by are the same time; the session would be empty")
    min_kw = config.min_current_a * config.kw_per_amp
    if config.power_kw < min_kw:
        raise ConfigError(
            f"--power-kw {config.power_kw:g} is below the power at the minimum current "
            f"({config.min_current_a:g} A x {config.phases} x {config.voltage_v:g} V = "
            f"{min_kw:.2f} kW); expected at least that"
        )
    strategies = _strategies(
        args.strategy or settings.strategy,
        args.max_price if args.max_price is not None else settings.max_price,
        from_flag=args.strategy is not None,
        search_path=[settings.strategy_folder],
    )
    tariff = Tariff.from_settings(settings)
    try:
        truth = read_price_csv(args.prices, tariff)
    except PriceFileError as exc:
        print(f"smartcharge: {exc}", file=sys.stderr)
        return 2
    report = run_backtest(truth, strategies, config)
    if not report.sessions:
        print(
            f"smartcharge: {args.prices}: no whole session fits in the prices "
            f"({len(truth)} rows); expected at least one plug-in to ready-by window",
            file=sys.stderr,
        )
        return 2
    if args.json:
        rows = [r.to_json() for r in report.results]
        print(json.dumps(rows if args.strategy == _ALL else rows[0], indent=2))
    else:
        print(format_report(report, tariff))
    return 0


def format_report(report: BacktestReport, tariff: Tariff) -> str:
    """Return the backtest as a table for people."""
    c = report.config
    first, last = report.sessions[0].day, report.sessions[-1].day
    lines = [
        f"Backtest: {len(report.sessions)} sessions, plug-in days {first} to {last} ({c.tz.key})"
        + (
            f", {report.skipped_days} days skipped for missing prices"
            if report.skipped_days
            else ""
        ),
        f"  plugged in {c.plug_in:%H:%M}, ready by {c.ready_by:%H:%M} (finish "
        f"{c.deadline_margin // timedelta(minutes=1)} min before), {c.energy_kwh:g} kWh at "
        f"{c.power_kw:g} kW ({c.max_current_a:.2f} A x {c.phases} x {c.voltage_v:g} V, "
        f"min {c.min_current_a:g} A), at most {c.max_interruptions} blocks",
        f"  all-in price: (spot/1000 + {tariff.markup_eur_per_kwh:g} + "
        f"{tariff.tax_eur_per_kwh:g}) x {1 + tariff.vat_percent / 100:g} EUR/kWh; day-ahead "
        f"known from {PUBLICATION_TIME:%H:%M} CET the day before",
        "",
    ]
    head = (
        "strategy",
        "cost EUR",
        "cost/opt",
        "saving EUR",
        "saving %",
        "missed",
        "switches",
        "plan ms p50",
        "p99",
        "whole-amp gap EUR",
        "%",
    )
    table = [head, *(_row(r) for r in report.results)]
    widths = [max(len(row[i]) for row in table) for i in range(len(head))]
    for row in table:
        cells = [row[0].ljust(widths[0])] + [
            cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)
        ]
        lines.append("  ".join(cells))
    r0 = report.results[0]
    lines += [
        "",
        f"immediate (full power from plug-in): {r0.immediate_cost_eur:.2f} EUR; "
        f"exact optimum (HiGHS): {r0.optimal_cost_eur:.2f} EUR",
        "switches: charging blocks started per session. whole-amp: the same plans with every "
        "current between 0 and full rounded up to a whole amp.",
    ]
    violations = [r for r in report.results if r.limit_violations]
    lines += [
        f"warning: {r.strategy} planned {r.limit_violations} slots outside the current limits"
        for r in violations
    ]
    return "\n".join(lines)


def _row(r: StrategyResult) -> tuple[str, ...]:
    return (
        r.strategy,
        f"{r.cost_eur:.2f}",
        f"{r.cost_ratio:.4f}",
        f"{r.saving_eur:.2f}",
        f"{r.saving_percent:.1f}",
        str(r.missed_deadlines),
        f"{r.switches_per_session:.2f}",
        f"{r.plan_ms_p50:.3f}",
        f"{r.plan_ms_p99:.3f}",
        f"{r.whole_amp_gap_eur:+.2f}",
        f"{r.whole_amp_gap_percent:+.3f}",
    )
