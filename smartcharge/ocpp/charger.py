"""A Wallbox over OCPP 1.6J, driven as smartcharge's charger.

``OcppCharger`` keeps what the charge point said (boot, configuration, status, readings,
transaction: ``record.py``) across its connections, runs the setup (``setup.py``) after each
boot or reconnect, and steers it only through a TxDefaultProfile in whole amps. It implements
the ``smartcharge.ports.Charger`` protocol, so the session core drives it like the cloud; its
capabilities say what differs (no energy cost, no lock; readings every sample interval).

Rules from ../shared/ocpp-wallbox.md:

- nothing is sent before the charge point's BootNotification has been answered (a Wallbox does
  not answer calls that come earlier: lbbrhzn/ocpp#1503);
- every call runs in the charger's own tasks or in the caller of ``apply()``, never inside a
  message handler (a deadlock in the ``ocpp`` package); one call sequence at a time (a lock),
  each call with a timeout;
- a pause is a 0 A profile, never a RemoteStopTransaction (that ends the session and the car
  must be re-plugged: evcc#14348); RemoteStartTransaction, without a profile (evcc#6882), only
  when the connector waits in ``Preparing`` and charging is wanted.

The module is just over 500 lines because the command path (a wish, its profile, the
RemoteStart, the check that it took effect) is one sequence under one lock; its pure parts are
in profiles.py.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from datetime import datetime
from typing import Any

import structlog

from smartcharge.clock import Clock
from smartcharge.domain import ChargerSnapshot, Command, CommandKind
from smartcharge.ocpp._lib import call
from smartcharge.ocpp.config_keys import ChargerConfig
from smartcharge.ocpp.connection import CentralChargePoint
from smartcharge.ocpp.errors import (
    ChargerNotConnectedError,
    CommandRejectedError,
    OcppError,
    UnsupportedCommandError,
)
from smartcharge.ocpp.memory import MemoryStore, remembered, restore
from smartcharge.ocpp.profiles import (
    PlannedLimit,
    ProfileKind,
    limit_ignored,
    plan_periods,
    plan_profile,
    whole_amps,
)
from smartcharge.ocpp.readings import MeterReading
from smartcharge.ocpp.record import ConnectorRecord, Identity
from smartcharge.ocpp.setup import set_up
from smartcharge.ocpp.transport import LinkClosedError, WebSocketLink
from smartcharge.ports import ChargerCapabilities

log = structlog.get_logger(__name__)

# A Wallbox answers a call within a second or two on the LAN (evcc#15492 traces); 10 s leaves
# room for a busy charger without holding a command for long.
CALL_TIMEOUT_S = 10.0
# What we give the charger in the BootNotification answer (a Wallbox reports 60 by default).
HEARTBEAT_INTERVAL_S = 60
# Readings every 10 s, as evcc sets (the cloud allows one read a minute).
SAMPLE_INTERVAL_S = 10
# A RemoteStart the charger accepted is answered by its StartTransaction within seconds; until
# then (or this long) no second one is sent for the same wait in Preparing.
REMOTE_START_PENDING_S = 60.0
ID_TAG = "smartcharge"
# The messages that are reports of the connector (``on_report``).
_REPORTS = frozenset({"StatusNotification", "MeterValues", "StartTransaction", "StopTransaction"})


class OcppCharger:
    """One Wallbox on the OCPP link.

    Args:
        charge_point_id: the only charge point id accepted (the URL path's last segment).
        clock: the time source.
        charger_id: the number the snapshots carry (the domain's charger id).
        max_current_a: the most current the installation allows (whole amps).
        phases: the phases the charger supplies (to tell current from power).
        connector_id: the connector smartcharge steers.
        call_timeout_s: the longest wait for one answer.
        heartbeat_interval_s: given to the charger at boot.
        sample_interval_s: the MeterValueSampleInterval set at setup.
        memory: where the accepted profile kind, the transaction counter and the running
            transaction are kept across a restart (``memory.py``); None keeps them in memory.
    """

    def __init__(
        self,
        charge_point_id: str,
        clock: Clock,
        *,
        charger_id: int = 0,
        max_current_a: int = 16,
        phases: int = 3,
        connector_id: int = 1,
        call_timeout_s: float = CALL_TIMEOUT_S,
        heartbeat_interval_s: int = HEARTBEAT_INTERVAL_S,
        sample_interval_s: int = SAMPLE_INTERVAL_S,
        memory: MemoryStore | None = None,
    ) -> None:
        self.charge_point_id = charge_point_id
        self._clock = clock
        self._charger_id = charger_id
        self._max_current_a = max_current_a
        self._phases = phases
        self._connector_id = connector_id
        self._call_timeout_s = call_timeout_s
        self._heartbeat_interval_s = heartbeat_interval_s
        self._sample_interval_s = sample_interval_s

        self._ops = asyncio.Lock()  # one call sequence at a time
        self._tasks: set[asyncio.Task[None]] = set()
        self._connection: CentralChargePoint | None = None

        self.identity: Identity | None = None
        self.config = ChargerConfig()
        self.measurands: tuple[str, ...] = ()
        self.profile_kind: ProfileKind | None = None  # the kind this charger accepted last
        self.record = ConnectorRecord(int(clock.now().timestamp()) % 2_000_000_000)

        self._wanted_a: int | None = None  # None: no wish yet; 0: paused; else the limit
        self._charge_a = max_current_a  # the current to charge with when not paused
        self._plan: tuple[tuple[PlannedLimit, ...], datetime | None] | None = None
        self._limit_accepted_at: datetime | None = None
        self._sent_limits: tuple[PlannedLimit, ...] = ()  # what the last accepted profile says
        self._remote_start_at: float | None = None  # monotonic, while a RemoteStart is pending
        self.ignores_limit = False
        self.setups_completed = 0
        # Told the snapshot after each report of the charger (status, readings, transaction);
        # the runtime decides whether it is worth a tick (``runtime.report_tick``).
        self.on_report: Callable[[ChargerSnapshot], None] | None = None
        self._memory = memory
        self._remembered = memory.load() if memory is not None else None
        if self._remembered is not None and self._remembered.charge_point_id == charge_point_id:
            restore(self.record, self._remembered)
            kind = self._remembered.profile_kind
            self.profile_kind = None if kind is None else ProfileKind(kind)

    # -- connections -------------------------------------------------------------------------

    @property
    def capabilities(self) -> ChargerCapabilities:
        """Return what the link carries: no energy cost or lock; a read per sample; the plan."""
        return ChargerCapabilities(
            energy_cost=False,
            restart=True,
            lock=False,
            min_read_interval_s=float(self._sample_interval_s),
            plan_profile=True,
        )

    @property
    def is_connected(self) -> bool:
        """Return whether a charge point is connected and its boot answered."""
        return self._connection is not None and self._connection.registered

    async def serve(self, link: WebSocketLink) -> None:
        """Run one accepted websocket until it closes (a newer one replaces an older one)."""
        connection = CentralChargePoint(
            self.charge_point_id,
            link,
            self,
            self._clock,
            call_timeout_s=self._call_timeout_s,
            heartbeat_interval_s=self._heartbeat_interval_s,
        )
        previous, self._connection = self._connection, connection
        if previous is not None:
            await previous.link.close()
        log.info("ocpp_charge_point_connected", charge_point_id=self.charge_point_id)
        try:
            await connection.start()
        except LinkClosedError:
            pass
        finally:
            connection.mark_closed()
            if self._connection is connection:
                self._connection = None
                log.info("ocpp_charge_point_disconnected", charge_point_id=self.charge_point_id)

    async def close(self) -> None:
        """Stop the charger's tasks and close its connection."""
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._connection is not None:
            await self._connection.link.close()

    def _spawn(self, job: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(job)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @property
    def is_busy(self) -> bool:
        """Return whether tasks set off by messages are still running."""
        return bool(self._tasks)

    async def settle(self) -> None:
        """Wait until the tasks messages set off have finished (for tests and shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    # -- messages from the charge point (called inside handlers: record only) ----------------

    def on_boot(self, vendor: str, model: str, firmware: str | None) -> None:
        """Record the identity; the setup follows once the answer is out."""
        self.identity = Identity(vendor, model, firmware)
        log.info(
            "ocpp_charger_booted",
            charge_point_id=self.charge_point_id,
            vendor=vendor,
            model=model,
            firmware=firmware,
        )

    def on_status(self, connector_id: int, status: str, at: datetime | None) -> None:
        """Record the connector's status (connector 0 is the whole charger)."""
        if connector_id == self._connector_id:
            if status != "Preparing":
                self._remote_start_at = None
            self.record.on_status(status, self._clock.now())

    def on_start_transaction(self, connector_id: int, meter_start_wh: float, at: datetime) -> int:
        """Record a started transaction under a new id of ours."""
        if connector_id != self._connector_id:
            return self.record.new_transaction_id()
        self._remote_start_at = None
        transaction_id = self.record.start_transaction(meter_start_wh, at, self._clock.now())
        self._remember()  # before the id is answered: it is never given twice
        return transaction_id

    def on_stop_transaction(self, transaction_id: int, meter_stop_wh: float) -> None:
        """Record a stopped transaction (its energy stays the last session's)."""
        self.record.on_stop_transaction(transaction_id, meter_stop_wh, self._clock.now())

    def on_meter_values(
        self, connector_id: int, transaction_id: int | None, reading: MeterReading
    ) -> None:
        """Record a reading."""
        if connector_id == self._connector_id:
            self.record.on_meter_values(transaction_id, reading, self._clock.now())

    def message_answered(self, connection: CentralChargePoint, action: str) -> None:
        """Start what a message sets off, now that its answer is out."""
        self._remember()
        if connection is not self._connection:
            return
        if action == "BootNotification" or not connection.registered:
            # Its boot answered, or a charge point back after a network drop (no new boot):
            # either way it is registered now, and the setup runs (again).
            connection.registered, connection.ready = True, False
            self._remote_start_at = None  # a reboot forgets a start it had not begun
            self._spawn(self._setup(connection))
            return
        if action == "StatusNotification" and self._should_remote_start():
            self._spawn(self._guarded(connection, self._remote_start))
        elif action == "MeterValues":
            self._check_limit()
        if action in _REPORTS and self.on_report is not None:
            self.on_report(self._snapshot())

    # -- setup -------------------------------------------------------------------------------

    async def _setup(self, connection: CentralChargePoint) -> None:
        try:
            async with self._ops:
                await self._setup_steps(connection)
        except OcppError as exc:
            log.warning("ocpp_setup_failed", charge_point_id=self.charge_point_id, error=str(exc))

    async def _setup_steps(self, connection: CentralChargePoint) -> None:
        done = await set_up(connection, self.charge_point_id, self._sample_interval_s)
        self.config, self.measurands = done.config, done.measurands
        connection.ready = True
        self.setups_completed += 1
        log.info(
            "ocpp_setup_completed",
            charge_point_id=self.charge_point_id,
            measurands=",".join(self.measurands),
            max_periods=self.config.max_periods,
            stack_level=self.config.max_stack_level,
        )
        if self._wanted_a is not None:
            # A rebooted or reconnected charger may have lost the profile: send ours again.
            await self._send_profile(connection)
        if self._should_remote_start():
            await self._remote_start(connection)

    # -- commands ----------------------------------------------------------------------------

    async def status(self) -> ChargerSnapshot:
        """Return what the charge point last said (OFFLINE when it is not connected).

        Raises:
            ChargerNotConnectedError: the transaction remembered from before a restart has
                not been read since (its energy is unknown until its next MeterValues; 0 kWh
                would look like a counter reset to the session core, which would then count
                the energy before it twice).
        """
        if self.record.unread:
            raise ChargerNotConnectedError(
                f"charge point {self.charge_point_id}: its transaction has not been read since"
                " smartcharge started; waiting for its meter values"
            )
        return self._snapshot()

    def _snapshot(self) -> ChargerSnapshot:
        return self.record.snapshot(
            charger_id=self._charger_id,
            connected=self.is_connected,
            charge_a=self._charge_a,
            max_current_a=self._max_current_a,
            now=self._clock.now(),
            held_off=self._wanted_a == 0,
        )

    async def apply(
        self, command: Command, *, base: ChargerSnapshot | None = None
    ) -> ChargerSnapshot:
        """Send ``command``: a TxDefaultProfile (and a RemoteStart where one is needed), or a Reset.

        ``base`` (``ports.Charger``) is not needed: the adapter always holds what the charge
        point last said.

        Raises:
            UnsupportedCommandError: energy cost, lock and unlock have no OCPP path (the energy
                cost stays with the cloud); nothing is sent.
            ChargerNotConnectedError: no charge point is connected; a pause, resume or current
                is kept and sent at its next setup (a restart is not).
            CommandRejectedError: the charge point refused every profile kind, or the Reset.
            CommandTimeoutError: no answer in time.
        """
        self.capabilities.check(command, "OCPP 1.6", UnsupportedCommandError)
        kind = command.kind
        if kind is CommandKind.RESTART:
            return await self._reset()
        if kind is CommandKind.PAUSE:
            self._wanted_a = 0
        elif kind is CommandKind.RESUME:
            self._wanted_a = self._charge_a
        elif kind is CommandKind.SET_MAX_CURRENT:
            if command.value is None:
                raise ValueError("set_max_current needs a value in amps")
            self._charge_a = whole_amps(command.value, self._max_current_a) or self._charge_a
            if self._wanted_a == 0:
                return await self.status()  # paused: the new current waits for the resume
            self._wanted_a = self._charge_a
        connection = self._ready_connection()
        async with self._ops:
            await self._send_profile(connection)
            if self._should_remote_start():
                await self._remote_start(connection)
        return await self.status()

    async def _reset(self) -> ChargerSnapshot:
        """Reboot the charge point (a soft Reset: it ends a transaction cleanly first)."""
        connection = self._ready_connection()
        async with self._ops:
            answer = await connection.request(call.Reset(type="Soft"))
        if str(answer.status) != "Accepted":
            raise CommandRejectedError(
                f"charge point {self.charge_point_id} refused the Reset ({answer.status})"
            )
        return await self.status()

    async def send_plan(
        self, limits: Sequence[PlannedLimit], full_from: datetime | None
    ) -> ChargerSnapshot:
        """Keep the night's plan in the charger as one multi-period TxDefaultProfile.

        Args:
            limits: the planned limits (whole amps, 0 = no charging), each from its start
                until the next one.
            full_from: the planned end (at the latest the ready-by time minus the margin): from
                then on the charger may give full current, so a dead daemon never strands a
                car. The plan is remembered: later limits keep it behind the current one.

        Raises:
            ChargerNotConnectedError, CommandRejectedError, CommandTimeoutError: as ``apply``.
        """
        now = self._clock.now()
        self._plan = (tuple(limits), full_from)
        current = [p for p in limits if p.start <= now]
        self._wanted_a = current[-1].current_a if current else self._wanted_a
        if self._wanted_a is None:
            self._wanted_a = self._charge_a
        connection = self._ready_connection()
        async with self._ops:
            await self._send_profile(connection)
            if self._should_remote_start():
                await self._remote_start(connection)
        return await self.status()

    async def clear_profile(self) -> None:
        """Remove our profile (the on-exit rule ``resume``: the charger charges at its own limit).

        Raises:
            ChargerNotConnectedError, CommandRejectedError, CommandTimeoutError: as ``apply``.
        """
        connection = self._ready_connection()
        self._wanted_a, self._plan = None, None
        async with self._ops:
            await connection.request(call.ClearChargingProfile(id=1))

    def _remember(self) -> None:
        """Save what a restart must find again (``memory.py``), when it changed."""
        if self._memory is None:
            return
        kind = None if self.profile_kind is None else self.profile_kind.value
        now = remembered(self.charge_point_id, self.record, kind)
        if now != self._remembered and self._memory.save(now):
            self._remembered = now

    def _ready_connection(self) -> CentralChargePoint:
        connection = self._connection
        if connection is None or not connection.registered:
            raise ChargerNotConnectedError(
                f"charge point {self.charge_point_id} is not connected; the command is kept"
                " and sent once it has booted"
            )
        return connection

    def _profile_limits(self, now: datetime) -> tuple[list[PlannedLimit], datetime | None]:
        wanted = self._wanted_a if self._wanted_a is not None else self._charge_a
        if self._plan is None:
            return [PlannedLimit(now, wanted)], None
        limits, full_from = self._plan
        later = [p for p in limits if p.start > now]
        return [PlannedLimit(now, wanted), *later], full_from

    async def _send_profile(self, connection: CentralChargePoint) -> None:
        """Send the wanted limit (with the plan behind it); try the other kind if refused."""
        now = self._clock.now()
        limits, full_from = self._profile_limits(now)
        first = self.profile_kind or ProfileKind.ABSOLUTE
        for kind in (first, first.other):
            profile = plan_profile(
                limits,
                kind=kind,
                stack_level=self.config.max_stack_level,
                now=now,
                max_periods=self.config.max_periods,
                full_current_a=self._max_current_a,
                full_from=full_from,
                anchor=self.record.transaction_started_at if self.record.transaction_id else None,
            )
            answer = await connection.request(
                call.SetChargingProfile(
                    connector_id=self._connector_id, cs_charging_profiles=profile
                )
            )
            if str(answer.status) == "Accepted":
                if self.profile_kind is not kind:
                    log.info(
                        "ocpp_profile_kind_chosen",
                        charge_point_id=self.charge_point_id,
                        kind=kind.value,
                    )
                self.profile_kind = kind
                self._remember()
                self._limit_accepted_at = now
                self._sent_limits = tuple(
                    plan_periods(
                        limits,
                        now=now,
                        full_from=full_from,
                        full_current_a=self._max_current_a,
                        max_periods=self.config.max_periods,
                    )
                )
                return
            log.warning(
                "ocpp_profile_rejected",
                charge_point_id=self.charge_point_id,
                kind=kind.value,
                status=str(answer.status),
            )
        raise CommandRejectedError(
            f"charge point {self.charge_point_id} rejected the TxDefaultProfile"
            " as Absolute and as Relative"
        )

    def _should_remote_start(self) -> bool:
        pending = self._remote_start_at is not None and (
            self._clock.monotonic() - self._remote_start_at < REMOTE_START_PENDING_S
        )
        return (
            self.record.status == "Preparing"
            and self.record.transaction_id is None
            and not pending
            and bool(self._wanted_a)
            and self._connection is not None
            and self._connection.ready
        )

    async def _remote_start(self, connection: CentralChargePoint) -> None:
        answer = await connection.request(
            call.RemoteStartTransaction(id_tag=ID_TAG, connector_id=self._connector_id)
        )
        if str(answer.status) == "Accepted":
            self._remote_start_at = self._clock.monotonic()
        log.info(
            "ocpp_remote_start_sent",
            charge_point_id=self.charge_point_id,
            status=str(answer.status),
        )

    async def _guarded(
        self,
        connection: CentralChargePoint,
        job: Callable[[CentralChargePoint], Awaitable[None]],
    ) -> None:
        try:
            async with self._ops:
                if self._should_remote_start():
                    await job(connection)
        except OcppError as exc:
            log.warning("ocpp_call_failed", charge_point_id=self.charge_point_id, error=str(exc))

    def _check_limit(self) -> None:
        """Log once when the car draws clearly more than an accepted limit allows."""
        if self.ignores_limit or self._limit_accepted_at is None:
            return
        found = limit_ignored(
            self.record.reading,
            self._sent_limits,
            accepted_at=self._limit_accepted_at,
            settle_s=self._sample_interval_s,
            phases=self._phases,
        )
        if found is not None:
            self.ignores_limit = True
            log.warning(
                "charger_ignores_limit",
                charge_point_id=self.charge_point_id,
                limit_a=found[0],
                drawn_a=round(found[1], 1),
                firmware=self.identity.firmware if self.identity else None,
            )
