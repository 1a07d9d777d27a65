"""A simulated night on the OCPP link: ``smartcharge demo --link ocpp`` and its test.

The daemon is built through ``runtime.compose`` with ``SMARTCHARGE_CHARGER_LINK=ocpp``; its
endpoint (``runtime.adapters.build_ocpp_link``) listens on 127.0.0.1 and ``SimulatedOcppWallbox``
connects to it over a real websocket. Prices come from the demo's simulated ENTSO-E (real
recorded NL prices); the Wallbox cloud of the demo's world runs but is never asked anything,
unless the night has the cloud beside the OCPP link (``cloud=True``: the daemon's charger is
then ``runtime.cloud_side.OcppWithCloud`` on the demo's account, as ``smartcharge run`` builds
it when the account is configured).

The Wallbox moves the simulated clock itself (``pass_time``: the car charges, MeterValues go
out every sample interval), so the daemon's jobs are run here between its steps, each when due
(the same ``job_specs`` as the scheduler; a plan edge inside a quarter hour at the first step
after it) rather than by ``run_simulated``.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any, TextIO

import aiohttp

from smartcharge.config import Settings
from smartcharge.demo import (
    DEMO_DAY,
    PLUG_IN,
    TZ,
    UNPLUG,
    SimulatedWorld,
    local,
    plan_line,
    simulated_world,
)
from smartcharge.ledger import LedgerEntry, ledger_text
from smartcharge.logsetup import configure_logging
from smartcharge.runtime.adapters import build_ocpp_charger, build_ocpp_link
from smartcharge.runtime.cloud_side import OcppWithCloud
from smartcharge.runtime.compose import build_daemon
from smartcharge.runtime.daemon import Daemon
from smartcharge.runtime.jobs import job_specs
from smartcharge.runtime.ocpp_link import OcppLink
from smartcharge.runtime.report_tick import ReportTicks
from smartcharge.simulator._car import Car
from smartcharge.simulator.ocpp_charge_point import (
    OcppQuirks,
    ReceivedCall,
    SimulatedOcppWallbox,
)
from smartcharge.simulator.wallbox_cloud import RecordedRequest

START = local(DEMO_DAY, time(17, 45))
READY_BY = local(DEMO_DAY + timedelta(days=1), time(7, 0))
CP_ID = "WB-NIGHT-0001"
STEP_S = 10.0  # the charger's meter sample interval: the simulated Wallbox's own step
WAIT_S = 5.0  # real seconds: the simulated Wallbox's connect and call timeout
COMMANDS = ("SetChargingProfile", "ClearChargingProfile", "RemoteStartTransaction", "Reset")

Event = tuple[datetime, str, dict[str, Any]]


@dataclass
class OcppNight:
    """What one night on the OCPP link left behind.

    Attributes:
        events: every decision event of the daemon, with its simulated time.
        received: every call the simulated Wallbox received, in order.
        meter_values: the MeterValues it sent (the readings).
        polls: the daemon's poll jobs run.
        energy_at: the energy in the car since the plug-in at each step while plugged in (kWh;
            the register's, so a transaction a reboot ended still counts).
        power_at: the car's power at each step while plugged in (kW).
        report_ticks: the ticks a report of the charger started (``runtime.report_tick``).
        session_kwh: the last transaction's energy at the unplug (kWh).
        entries: the ledger.
        cloud_requests: requests the Wallbox cloud received (none without the cloud beside).
        cloud_log: those requests, in order.
    """

    events: list[Event] = field(default_factory=list)
    received: list[ReceivedCall] = field(default_factory=list)
    meter_values: int = 0
    polls: int = 0
    energy_at: dict[datetime, float] = field(default_factory=dict)
    power_at: dict[datetime, float] = field(default_factory=dict)
    report_ticks: int = 0
    session_kwh: float = 0.0
    entries: list[LedgerEntry] = field(default_factory=list)
    cloud_requests: int = 0
    cloud_log: list[RecordedRequest] = field(default_factory=list)

    def energy_by(self, instant: datetime) -> float:
        """Return the energy in the car at ``instant`` (the last step at or before it)."""
        return max((e for t, e in self.energy_at.items() if t <= instant), default=0.0)

    @property
    def commands(self) -> list[ReceivedCall]:
        """Return the commands the charger received (profiles, clears, remote starts)."""
        return [c for c in self.received if c.action in COMMANDS]


class _Central:
    """One run of the daemon with its OCPP endpoint, as ``smartcharge run`` would start it."""

    def __init__(
        self, link: OcppLink, daemon: Daemon, settings: Settings, port: int, *, cloud: bool
    ) -> None:
        self.port = port
        self.cloud = cloud
        self.link = link
        self.daemon = daemon
        self.settings = settings
        self.specs = job_specs(settings, link.charger.capabilities.min_read_interval_s)
        self.jobs = daemon.jobs()
        self.due: dict[str, datetime] = {}

    @classmethod
    async def open(
        cls,
        world: SimulatedWorld,
        record: Callable[[str, dict[str, Any]], None],
        port: int = 0,
        *,
        cloud: bool = False,
    ) -> _Central:
        """Build the link and the daemon on ``world``'s settings; listen on ``port`` (0: free).

        ``cloud``: the daemon's charger is the OCPP link with the cloud beside it.
        """
        clock, settings = world.clock, world.settings
        link = build_ocpp_link(settings, clock)
        link.host, link.port = "127.0.0.1", port  # the setting allows 1-65535
        bound = await link.start()
        charger = build_ocpp_charger(settings, link, world.http, clock) if cloud else link.charger
        daemon = build_daemon(settings, clock, world.http, charger=charger, on_event=record)
        return cls(link, daemon, settings, bound, cloud=cloud)

    async def start(self, now: datetime) -> None:
        """Start the daemon (its first tick) and its jobs' schedule."""
        await self.daemon.start()
        self.due = {s.name: s.next_after(now) for s in self.specs}

    async def run_due(self, before: datetime, now: datetime, night: OcppNight) -> None:
        """Run the jobs due by ``now`` (a plan edge passed since ``before`` first)."""
        edge = self.daemon.next_plan_edge(before)
        if edge is not None and edge <= now:
            await self.daemon.plan_edge_job()
        for spec in self.specs:
            if now >= self.due[spec.name]:
                night.polls += spec.name == "poll"
                await self.jobs[spec.name]()
                self.due[spec.name] = spec.next_after(now)

    async def settle(self) -> None:
        """Wait for what the charger's messages and the daemon's reports set off."""
        await self.link.charger.settle()
        await self.daemon.work.settle()  # a tick a report set off, a plan sent

    async def kill(self) -> None:
        """End abruptly: tasks cancelled, sockets closed, no on-exit rule."""
        await self.daemon.work.abandon()
        await self.link.charger.close()
        await self.link.server.close()

    async def stop(self) -> None:
        """Stop as SIGTERM does: the daemon's shutdown, then the on-exit rule on the profile."""
        await self.daemon.shutdown()
        if isinstance(self.daemon.charger, OcppWithCloud):
            await self.daemon.charger.release()
        await self.link.stop(self.settings.on_exit)

    def count(self, night: OcppNight) -> None:
        """Add this run's report ticks to ``night``."""
        if isinstance(self.link.charger.on_report, ReportTicks):
            night.report_ticks += self.link.charger.on_report.ticks


class NightControl:
    """What a night's ``during`` hook may do between the Wallbox's steps.

    Attributes:
        wallbox: the simulated Wallbox (reboot it, take it offline, look at it).
        night: what the night has recorded so far.
        alive: whether the daemon runs (``kill`` ends it, ``restart`` starts a new one).
        restarts: how often the daemon was started again.
    """

    def __init__(
        self,
        wallbox: SimulatedOcppWallbox,
        night: OcppNight,
        world: SimulatedWorld,
        central: _Central,
        record: Callable[[str, dict[str, Any]], None],
    ) -> None:
        self.wallbox = wallbox
        self.night = night
        self.alive = True
        self.restarts = 0
        self.central = central
        self._world = world
        self._record = record

    async def kill(self) -> None:
        """End the daemon abruptly, as SIGKILL would: no on-exit rule, no profile cleared.

        Its tasks are cancelled (a tick and a plan send in flight are cut short) and the
        endpoint's sockets close; the Wallbox is left alone with what it was last sent.
        """
        if self.alive:
            self.alive = False
            self.central.count(self.night)
            await self.central.kill()

    async def restart(self) -> None:
        """Kill the daemon and start a new one on the same state dir and port.

        As a crash and the container's restart: the Wallbox reconnects without a new boot.
        """
        port = self.central.port
        await self.kill()
        self.central = await _Central.open(
            self._world, self._record, port, cloud=self.central.cloud
        )
        await self.wallbox.connect()
        await self.central.start(self._world.clock.now())
        self.alive = True
        self.restarts += 1


During = Callable[[datetime, NightControl], Awaitable[None]]


async def run_ocpp_night(
    state_dir: Path,
    car: Car,
    *,
    on_event: Callable[[str, dict[str, Any]], None] | None = None,
    end: datetime | None = None,
    start: datetime = START,
    plug_in: datetime | None = None,
    unplug: datetime | None = None,
    quirks: OcppQuirks | None = None,
    during: During | None = None,
    cloud: bool = False,
    **overrides: Any,
) -> OcppNight:
    """Run the demo's night on the OCPP link: plugged in at 18:00, out at 07:30.

    Args:
        state_dir: the daemon's state folder.
        car: the car the simulated Wallbox charges.
        on_event: called with every decision event besides recording it.
        end: when the run stops (ten minutes after the unplug by default).
        start: when the daemon starts (17:45 by default).
        plug_in: when the car is plugged in (18:00 by default).
        unplug: when it is unplugged (07:30 by default).
        quirks: the Wallbox firmware's quirks (``OcppQuirks()`` by default).
        during: called before every step of the Wallbox with the time and a ``NightControl``
            (a reboot, an outage, the daemon killed or restarted).
        cloud: the Wallbox cloud beside the OCPP link (``build_ocpp_charger`` on the demo's
            account), for the energy cost in the app.
        overrides: settings beside the demo's (the need, the ready-by time).
    """
    plug_in = plug_in or local(DEMO_DAY, PLUG_IN)
    unplug = unplug or local(DEMO_DAY + timedelta(days=1), UNPLUG)
    end = end or unplug + timedelta(minutes=10)
    night = OcppNight()
    overrides.setdefault("poll_interval_s", 60)
    async with simulated_world(
        state_dir, start, charger_link="ocpp", ocpp_charge_point_id=CP_ID, **overrides
    ) as world:
        clock = world.clock

        def record(name: str, data: dict[str, Any]) -> None:
            night.events.append((clock.now(), name, data))
            if on_event is not None:
                on_event(name, data)

        central = await _Central.open(world, record, cloud=cloud)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=WAIT_S)) as http:
            wallbox = SimulatedOcppWallbox(
                f"ws://127.0.0.1:{central.port}/",
                CP_ID,
                clock,
                http,
                car=car,
                quirks=quirks,
                max_current_a=float(world.settings.max_current_a),
                timeout_s=WAIT_S,
            )
            control = NightControl(wallbox, night, world, central, record)
            if cloud:
                # The same charger in the app: its limit there caps what OCPP gives.
                app = world.cloud.charger
                wallbox.app_limit_a = lambda: float(app.max_charging_current_a)
            try:
                await wallbox.connect()
                await central.start(clock.now())
                before = clock.now()
                plugged_wh: float | None = None  # the register at the plug-in
                while clock.now() < end:
                    now = clock.now()
                    if plug_in <= now < unplug and not wallbox.plugged:
                        await wallbox.plug_in()
                    if wallbox.plugged:
                        if plugged_wh is None:
                            plugged_wh = wallbox.meter.register_wh
                        night.session_kwh = wallbox.session_wh / 1000.0
                        night.energy_at[now] = (wallbox.meter.register_wh - plugged_wh) / 1000.0
                        night.power_at[now] = wallbox.meter.power_w / 1000.0
                        if now >= unplug:
                            await wallbox.unplug()
                    if during is not None:
                        await during(now, control)
                    if control.alive:
                        await control.central.run_due(before, now, night)
                    before = now
                    await wallbox.pass_time(STEP_S)
                    if control.alive:
                        await control.central.settle()
                if control.alive:
                    control.central.count(night)
                    await control.central.stop()
                await wallbox.settle()
            finally:
                await wallbox.close()
                await control.central.link.server.close()
        night.received = list(wallbox.received)
        night.meter_values = sum(1 for action, _ in wallbox.sent if action == "MeterValues")
        night.entries = control.central.daemon.ledger.entries()
        night.cloud_requests = len(world.cloud.requests)
        night.cloud_log = list(world.cloud.requests)
    return night


async def run_demo(out: TextIO, state_dir: Path) -> OcppNight:
    """Run the OCPP night, printing its decisions; return what it left behind."""
    out.write(
        "smartcharge demo --link ocpp: the daemon's real code as the OCPP 1.6J central system "
        "of a simulated\nWallbox on 127.0.0.1 (a real websocket, readings every 10 s), with "
        f"real NL day-ahead prices of {DEMO_DAY:%d %B %Y}\non a simulated clock. A car is "
        "plugged in at 18:00 and needs 20 kWh by 07:00 (Europe/Amsterdam).\n"
    )
    night = await run_ocpp_night(state_dir, Car(max_power_kw=11.0))
    out.write(night_text(night))
    return night


def night_text(night: OcppNight) -> str:
    """Return the night as the demo prints it: decisions and OCPP commands, figures, ledger."""
    lines: list[tuple[datetime, str]] = []
    for at, name, data in night.events:
        if name == "plan_made":
            lines.append((at, plan_line(data)))
        elif name in ("charger_resumed", "charger_paused"):
            lines.append((at, f"▶ {name.removeprefix('charger_')} charging"))
        elif name == "target_met":
            lines.append((at, f"target met: {data['delivered_kwh']:.2f} kWh delivered"))
    for call in night.commands:
        schedule = call.payload.get("csChargingProfiles", {}).get("chargingSchedule", {})
        start = schedule.get("startSchedule")
        limits = ""
        if start is not None:
            origin = datetime.fromisoformat(start.replace("Z", "+00:00"))
            limits = ": " + ", ".join(
                f"{origin.astimezone(TZ) + timedelta(seconds=p['startPeriod']):%H:%M} "
                f"{p['limit']:g} A"
                for p in schedule.get("chargingSchedulePeriod", [])
            )
        lines.append((call.at, f"  OCPP {call.action}{limits}"))
    text = "".join(
        f"{at.astimezone(TZ):%H:%M}  {what}\n" for at, what in sorted(lines, key=lambda x: x[0])
    )
    return (
        text + f"\nThe night took {len(night.commands)} OCPP commands, {night.meter_values} meter "
        f"readings from the charger\nand {night.polls} polls of them; the Wallbox cloud got "
        f"{night.cloud_requests} requests. Energy by 07:00: {night.energy_by(READY_BY):.2f} kWh."
        "\n\nLedger\n" + ledger_text(night.entries, TZ) + "\n"
    )


def main(out: TextIO | None = None) -> int:
    """Run the OCPP demo; return 0 when the simulated car was charged by the deadline."""
    stream = out or sys.stdout
    with tempfile.TemporaryDirectory(prefix="smartcharge-demo-ocpp-") as tmp:
        from smartcharge.demo import demo_settings  # noqa: PLC0415

        settings = demo_settings(Path(tmp), "http://127.0.0.1", "http://127.0.0.1")
        configure_logging(settings, stream=sys.stderr, force_console=True)
        night = asyncio.run(run_demo(stream, Path(tmp)))
    return 0 if night.entries and all(e.target_met for e in night.entries) else 1


__all__ = [
    "CP_ID",
    "READY_BY",
    "START",
    "STEP_S",
    "NightControl",
    "OcppNight",
    "main",
    "night_text",
    "run_demo",
    "run_ocpp_night",
]
