"""``smartcharge demo``: a whole night of the daemon's real code, simulated, in seconds.

The daemon (built by ``runtime.compose`` as ``smartcharge run`` builds it: the real Wallbox
client, price feed, planner, controller, state and ledger) runs against the simulated Wallbox
cloud and a simulated ENTSO-E serving real recorded NL day-ahead prices shipped in the package,
both on real HTTP on 127.0.0.1, on a simulated clock: a car is plugged in at 18:00 and needs
20 kWh by 07:00. It needs no account, no API key and no ``.env``: the state lives in a
temporary folder.

``SimulatedWorld`` is the same set-up for the end-to-end tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import tempfile
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo

import aiohttp
from aiohttp import web

from smartcharge.config import LogLevel, Settings
from smartcharge.ledger import LedgerEntry, in_cents, ledger_text
from smartcharge.logsetup import configure_logging
from smartcharge.runtime.compose import build_daemon, open_http
from smartcharge.runtime.daemon import Daemon
from smartcharge.runtime.jobs import run_simulated
from smartcharge.simulator.clock import SimulatedClock
from smartcharge.simulator.entsoe_server import EntsoeFakeServer
from smartcharge.simulator.wallbox_cloud import (
    ANNOUNCED_WRITES_PER_MINUTE,
    REALISTIC_COMMAND_LAG_S,
    Car,
    WallboxCloudSimulator,
    realistic_car,
)
from strategies.base import Plan

DATA = Path(__file__).resolve().parent / "simulator" / "data"
PRICES_CSV = DATA / "prices_nl_sample.csv"
TZ = ZoneInfo("Europe/Amsterdam")
# A December night with 15-minute prices in the shipped sample (SOURCE.md in simulator/data).
DEMO_DAY = date(2025, 12, 16)
PLUG_IN = time(18, 0)
UNPLUG = time(7, 30)
DEMO_USER = "demo.user@example.com"
DEMO_PASSWORD = "demo-password-not-a-secret"  # noqa: S105 - the simulated account's
DEMO_KEY = "demo-entsoe-key"


@dataclass(frozen=True, slots=True)
class Realism:
    """How real the simulated cloud and car are (``smartcharge demo --realistic``).

    Attributes:
        car: the car plugged in at 18:00.
        command_lag_s: the delay before a command takes effect, or None (at once).
        write_limit_per_minute: the cloud's write limit, or None.
        separate_hosts: the user-api and the api on two ports.
        seed: seeds the command lag.
        description: one line for the demo's introduction.
    """

    car: Car = field(default_factory=lambda: Car(max_power_kw=11.0))
    command_lag_s: tuple[float, float] | None = None
    write_limit_per_minute: int | None = None
    separate_hosts: bool = False
    seed: int = 0
    description: str = ""


# ``--realistic``: a one-phase car (3.7 kW on-board charger, 16 A on one phase) at 35 % of
# 40 kWh, tapering above 80 %, drawing a few per cent below the set current, behind a cloud
# whose commands take effect 20-60 s late, with the announced write limit and two hosts.
REALISTIC = Realism(
    car=realistic_car(capacity_kwh=40.0, start_soc=0.35, phases=1, max_current_a=16.0),
    command_lag_s=REALISTIC_COMMAND_LAG_S,
    write_limit_per_minute=ANNOUNCED_WRITES_PER_MINUTE,
    separate_hosts=True,
    description=(
        "Realistic: a one-phase car (3.7 kW) at 35 % of 40 kWh that slows down above 80 %, "
        "and a cloud\nwhose commands take effect 20-60 s late (5 writes a minute at most).\n"
    ),
)


def local(day: date, at: time) -> datetime:
    """Return local ``day at`` (Europe/Amsterdam) in UTC."""
    return datetime.combine(day, at, tzinfo=TZ).astimezone(UTC)


@dataclass
class SimulatedWorld:
    """The fakes, the settings and the daemon on one simulated clock.

    Attributes:
        clock: the simulated clock (auto-advancing: a rate-limit wait jumps ahead).
        cloud: the simulated Wallbox cloud.
        entsoe: the simulated ENTSO-E.
        settings: the daemon's settings (pointing at the fakes).
        http: the one aiohttp session.
        daemon: the daemon.
        events: every decision event, with its simulated time.
    """

    clock: SimulatedClock
    cloud: WallboxCloudSimulator
    entsoe: EntsoeFakeServer
    settings: Settings
    http: aiohttp.ClientSession
    on_event: Callable[[str, dict[str, Any]], None] | None = None
    events: list[tuple[datetime, str, dict[str, Any]]] = field(default_factory=list)
    daemon: Daemon = field(init=False)

    def __post_init__(self) -> None:
        self.new_daemon()

    def new_daemon(self) -> Daemon:
        """Build a fresh daemon on the same state dir (a restart), replacing ``daemon``."""
        self.daemon = build_daemon(self.settings, self.clock, self.http, on_event=self._record)
        return self.daemon

    def _record(self, event: str, data: dict[str, Any]) -> None:
        self.events.append((self.clock.now(), event, data))
        if self.on_event is not None:
            self.on_event(event, data)


def demo_settings(state_dir: Path, cloud_url: str, entsoe_url: str, **overrides: Any) -> Settings:
    """Return settings for the simulated world (explicit values, no .env read)."""
    values: dict[str, Any] = {
        "wallbox_username": DEMO_USER,
        "wallbox_password": DEMO_PASSWORD,
        "wallbox_api_url": cloud_url,
        "wallbox_auth_url": cloud_url,
        "wallbox_charger_id": 999001,
        "entsoe_api_key": DEMO_KEY,
        "entsoe_api_url": f"{entsoe_url}/api",
        "price_sources": ("entsoe",),
        "bidding_zone": "NL",
        "timezone": "Europe/Amsterdam",
        "state_dir": state_dir,
        "target_kwh": 20.0,
        "ready_by": time(7, 0),
        "strategy": "cheapest",
        "max_interruptions": 3,
        "deadline_margin_min": 30,
        "max_current_a": 16,
        "min_current_a": 6,
        "phases": 3,
        "voltage_v": 230.0,
        "poll_interval_s": 90,
        "poll_interval_idle_s": 300,
        "health_port": 0,
        "log_level": LogLevel.WARNING,
        "max_price": None,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)


@contextlib.asynccontextmanager
async def simulated_world(
    state_dir: Path,
    start: datetime,
    *,
    on_event: Callable[[str, dict[str, Any]], None] | None = None,
    realism: Realism | None = None,
    **overrides: Any,
) -> AsyncIterator[SimulatedWorld]:
    """Start the fakes on 127.0.0.1 and build the daemon on a clock at ``start``.

    ``realism`` sets the cloud's realism switches (the car is the caller's to plug in).
    """
    realism = realism or Realism()
    clock = SimulatedClock(start, auto_advance=True)
    cloud = WallboxCloudSimulator(
        clock,
        username=DEMO_USER,
        password=DEMO_PASSWORD,
        command_lag_s=realism.command_lag_s,
        write_limit_per_minute=realism.write_limit_per_minute,
        separate_hosts=realism.separate_hosts,
        seed=realism.seed,
    )
    entsoe = EntsoeFakeServer(valid_keys=[DEMO_KEY])
    entsoe.serve_csv("NL", PRICES_CSV, start - timedelta(days=2), start + timedelta(days=3))
    cloud_url = await cloud.start()
    runner = web.AppRunner(
        entsoe.app(), handle_signals=False, access_log=None, shutdown_timeout=1.0
    )
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    overrides.setdefault("wallbox_auth_url", cloud.auth_url or cloud_url)
    settings = demo_settings(state_dir, cloud_url, f"http://{host}:{port}", **overrides)
    try:
        async with open_http(settings) as http:
            yield SimulatedWorld(clock, cloud, entsoe, settings, http, on_event)
    finally:
        await runner.cleanup()
        await cloud.stop()


# --- printing ---------------------------------------------------------------------------

_QUARTER = timedelta(minutes=15)


@dataclass(frozen=True, slots=True)
class QuarterRow:
    """One quarter hour of a plan, as the demo's table shows it.

    Attributes:
        start: the quarter's start (UTC, on the quarter-hour grid).
        price_eur_per_kwh: the all-in price at its start (None: unknown).
        current_a: the highest current charged in it (0: not charging).
        energy_kwh: the energy the plan puts into it.
        charge_from: when charging starts, if not at the quarter's start.
        charge_until: when charging stops, if before the quarter's end.
    """

    start: datetime
    price_eur_per_kwh: float | None
    current_a: float
    energy_kwh: float
    charge_from: datetime | None
    charge_until: datetime | None


def quarter_rows(plan: Plan) -> list[QuarterRow]:
    """Return one row per quarter hour the plan spans, whatever its slots look like.

    A plan merges neighbouring slots of equal price into one and splits a slot where charging
    stops part-way; the table shows neither: a merged half hour gets its two rows, and a
    partial slot is one row saying when charging stops.
    """
    if not plan.slots:
        return []
    first = plan.slots[0].start
    at = first - timedelta(
        minutes=first.minute % 15, seconds=first.second, microseconds=first.microsecond
    )
    rows = []
    while at < plan.slots[-1].end:
        end = at + _QUARTER
        inside = [s for s in plan.slots if s.start < end and s.end > at]
        price = next((s.price_eur_per_kwh for s in inside if s.start <= at < s.end), None)
        if price is None and inside:
            price = inside[0].price_eur_per_kwh
        charging = [s for s in inside if s.is_charging]
        energy = sum(
            s.energy_kwh * (min(s.end, end) - max(s.start, at)) / (s.end - s.start)
            for s in charging
        )
        begin = min((max(s.start, at) for s in charging), default=at)
        stop = max((min(s.end, end) for s in charging), default=end)
        rows.append(
            QuarterRow(
                start=at,
                price_eur_per_kwh=price,
                current_a=max((s.current_a for s in charging), default=0.0),
                energy_kwh=energy,
                charge_from=begin if begin > at else None,
                charge_until=stop if stop < end else None,
            )
        )
        at = end
    return rows


def _hhmm(instant: datetime, tz: ZoneInfo = TZ) -> str:
    return instant.astimezone(tz).strftime("%H:%M")


def plan_table(plan: Plan, tz: ZoneInfo = TZ) -> str:
    """Return the plan as a table with a terminal chart of the price (charging marked).

    Times are local in ``tz`` (the demo's Europe/Amsterdam; ``smartcharge plan`` passes the
    user's zone).
    """
    rows = quarter_rows(plan)
    priced = [r.price_eur_per_kwh for r in rows if r.price_eur_per_kwh is not None]
    lo, hi = (min(priced), max(priced)) if priced else (0.0, 1.0)
    span = (hi - lo) or 1.0
    lines = ["  time   EUR/kWh  price                       charge"]
    for r in rows:
        price = r.price_eur_per_kwh
        if price is None:
            bar, text = "?", "   ?   "
        else:
            bar = "█" * (1 + round((price - lo) / span * 24))
            text = f"{price:7.4f}"
        mark = ""
        if r.current_a > 0:
            mark = f"  ◀ {r.current_a:4.1f} A {r.energy_kwh:5.2f} kWh"
            if r.charge_from is not None:
                mark += f" from {_hhmm(r.charge_from, tz)}"
            if r.charge_until is not None:
                mark += f" until {_hhmm(r.charge_until, tz)}"
        lines.append(f"  {_hhmm(r.start, tz)}  {text}  {bar:<26}{mark}".rstrip())
    return "\n".join(lines)


def plan_line(data: Mapping[str, Any]) -> str:
    """Return the ``plan_made`` event as one sentence, its euros rounded as the ledger does."""
    text = f"plan made ({data['reason']}): {data['energy_kwh']:.2f} kWh for EUR "
    immediate = data.get("immediate_cost_eur")
    if immediate is None:
        return text + f"{data['cost_eur']:.2f}"
    cost, immediate_text, saving = in_cents(data["cost_eur"], immediate)
    return text + (
        f"{cost}, immediate charging would cost EUR {immediate_text} (saving EUR {saving})"
    )


@dataclass
class EnergyCostUpdates:
    """The energy-cost updates of the night, summarised rather than printed one by one."""

    prices_eur_per_kwh: list[float] = field(default_factory=list)

    def summary(self) -> str:
        """Return one sentence: how many, and their range."""
        n = len(self.prices_eur_per_kwh)
        if n == 0:
            return "No energy-cost update was needed."
        lo, hi = min(self.prices_eur_per_kwh), max(self.prices_eur_per_kwh)
        return (
            f"Energy-cost updates: {n}, between EUR {lo:.2f} and {hi:.2f}/kWh (the cost the "
            "Wallbox app shows\nfollows the all-in price of each quarter hour; it is sent when "
            "it changes by a cent or more)."
        )


class _Printer:
    """Prints the night's events: charging decisions stand out, energy costs are counted."""

    def __init__(self, out: TextIO, clock: SimulatedClock) -> None:
        self.out = out
        self.clock = clock
        self.daemon: Daemon | None = None
        self.energy_costs = EnergyCostUpdates()

    def _say(self, text: str, *, decision: bool = False) -> None:
        at = _hhmm(self.clock.now())
        self.out.write(f"{at}  {'▶ ' if decision else '  '}{text}\n")

    def __call__(self, event: str, data: dict[str, Any]) -> None:
        if event == "plan_made":
            self._say(plan_line(data))
            session = None if self.daemon is None else self.daemon.state.session
            if session is not None and session.plan is not None:
                self.out.write(plan_table(session.plan.plan) + "\n")
        elif event in ("charger_resumed", "charger_paused"):
            verb = "resume" if event == "charger_resumed" else "pause"
            price = data.get("price_eur_per_kwh")
            self._say(
                f"{verb:<6} charging"
                + (f" (slot price EUR {price:.4f}/kWh)" if price is not None else "")
                + f", {data.get('delivered_kwh', 0):.2f} kWh delivered",
                decision=True,
            )
        elif event == "charger_current_set":
            self._say(f"set the current to {data['current_a']:g} A", decision=True)
        elif event == "energy_cost_set":
            self.energy_costs.prices_eur_per_kwh.append(data["energy_cost_eur_per_kwh"])
        elif event == "session_started":
            ready_by = datetime.fromisoformat(data["ready_by"])
            self._say(f"session started: {data['target_kwh']:g} kWh needed by {_hhmm(ready_by)}")
        elif event == "target_met":
            self._say(f"target met: {data['delivered_kwh']:.2f} kWh delivered")
        elif event in ("prices_updated", "price_fetch_deferred"):
            details = ", ".join(f"{k}={v}" for k, v in data.items())
            self._say(f"{event.replace('_', ' ')}: {details}")
        elif event == "session_finished":
            self._say(f"car unplugged: {data['energy_kwh']:.2f} kWh delivered")
        self.out.flush()


async def run_demo(
    out: TextIO, state_dir: Path, realism: Realism | None = None
) -> list[LedgerEntry]:
    """Run the simulated night, printing as it goes; return the ledger."""
    realism = realism or Realism()
    start = local(DEMO_DAY, time(17, 45))
    plug_in = local(DEMO_DAY, PLUG_IN)
    unplug = local(DEMO_DAY + timedelta(days=1), UNPLUG)
    printer: _Printer | None = None

    def on_event(event: str, data: dict[str, Any]) -> None:
        if printer is not None:
            printer(event, data)

    async with simulated_world(state_dir, start, on_event=on_event, realism=realism) as world:
        printer = _Printer(out, world.clock)
        printer.daemon = world.daemon
        out.write(
            "smartcharge demo: the daemon's real code against a simulated Wallbox cloud and a "
            "simulated ENTSO-E\nserving real NL day-ahead prices of "
            f"{DEMO_DAY:%d %B %Y}, on a simulated clock. A car is plugged in at 18:00\n"
            "and needs 20 kWh by 07:00 (Europe/Amsterdam). Charging decisions are marked ▶; "
            "the energy-cost\nupdates for the Wallbox app are summed up at the end.\n"
            + realism.description
            + "\n"
        )
        await world.daemon.start()

        plugged = False

        def between(at: datetime) -> None:
            nonlocal plugged
            charger = world.cloud.charger
            if at >= plug_in and not plugged:
                plugged = True
                charger.plug_in(car=realism.car)
                out.write(f"{_hhmm(at)}    the car is plugged in (it starts charging at once)\n")
            if at >= unplug and charger.is_car_connected:
                charger.unplug()
                out.write(f"{_hhmm(at)}    the car is unplugged\n")

        await run_simulated(
            world.daemon, world.clock, unplug + timedelta(minutes=10), between=between
        )
        await world.daemon.shutdown()
        entries = world.daemon.ledger.entries()
        commands = [r for r in world.cloud.requests if r.method in ("POST", "PUT")]
        costs = len(printer.energy_costs.prices_eur_per_kwh)
        out.write(
            "\n" + printer.energy_costs.summary() + "\n"
            f"The night took {len(commands)} commands to the charger ({len(commands) - costs} "
            f"charging decisions, {costs} energy-cost updates) and "
            f"{sum(1 for r in world.cloud.requests if r.method == 'GET')} reads of the cloud.\n"
        )
    out.write("\nLedger\n" + ledger_text(entries, TZ) + "\n")
    out.write(
        "\nTo run for real: copy .env.example to .env, fill in your Wallbox account and "
        "ENTSO-E key, then `smartcharge run` (or the container, see the README).\n"
    )
    return entries


def main(out: TextIO | None = None, *, realistic: bool = False) -> int:
    """Run the demo; return 0 when the simulated car was charged by the deadline.

    With ``realistic`` the night runs with ``REALISTIC`` (a one-phase tapering car, command
    lag, the write limit, two hosts).
    """
    stream = out or sys.stdout
    with tempfile.TemporaryDirectory(prefix="smartcharge-demo-") as tmp:
        settings = demo_settings(Path(tmp), "http://127.0.0.1", "http://127.0.0.1")
        configure_logging(settings, stream=sys.stderr, force_console=True)
        realism = REALISTIC if realistic else None
        entries = asyncio.run(run_demo(stream, Path(tmp), realism))
    return 0 if entries and all(e.target_met for e in entries) else 1
