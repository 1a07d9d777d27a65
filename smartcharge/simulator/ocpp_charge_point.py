"""A simulated Wallbox speaking OCPP 1.6J to a central system over a real websocket.

Built with the ``ocpp`` package's client side over aiohttp's websocket client (the same
recv/send adapter the central system uses, so no ``websockets`` dependency). Time is the
injected ``SimulatedClock``: nothing happens until ``pass_time()`` moves it, which integrates
the car's energy and sends MeterValues every ``MeterValueSampleInterval``.

The car is the cloud simulator's ``Car`` (``smartcharge.simulator._car``): the power is the
offered current x phases x 230 V, capped by the car. Every call the central system sends is
recorded in ``received`` (what reached the wire), every call the charger sends in ``sent``.

The switches in ``OcppQuirks`` reproduce what Wallbox firmware is known to do
(../shared/ocpp-wallbox.md §1.3).

The module is over 500 lines because it answers every call of OCPP 1.6J a Wallbox answers, each
with its quirk switches beside it; it is a test fake, not on the daemon's path.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import aiohttp

from smartcharge.ocpp._lib import ChargePointBase, after, call, call_result, on
from smartcharge.ocpp.redact import RedactingLogger
from smartcharge.ocpp.transport import SUBPROTOCOL, LinkClosedError, WebSocketLink
from smartcharge.simulator._car import Car
from smartcharge.simulator.clock import SimulatedClock
from smartcharge.simulator.ocpp_schedule import composite_limit_a

VOLTAGE_V = 230.0
# A Pulsar Pro sent 8.8 A jumped to 16 A (evcc#22087).
FRACTION_JUMP_A = 16.0
# IEC 61851: below 6 A a charger offers nothing.
MIN_CURRENT_A = 6.0
SUPPORTED_MEASURANDS = frozenset(
    {
        "Energy.Active.Import.Register",
        "Power.Active.Import",
        "Current.Offered",
        "Current.Import",
        "Power.Offered",
        "Voltage",
    }
)


@dataclass(frozen=True, slots=True)
class OcppQuirks:
    """Known Wallbox firmware behaviour, each one a switch.

    Attributes:
        silent_until_boot_answered: calls that arrive before its BootNotification is answered
            get no answer at all (lbbrhzn/ocpp#1503).
        whole_amps_only: a fractional limit is not understood and jumps to 16 A (evcc#22087).
        required_profile_kind: ``"Relative"`` rejects Absolute profiles (Commander 2 FW 6.7.33,
            evcc#24183), ``"Absolute"`` rejects Relative ones; None takes both.
        ignores_limits: accepts every profile and keeps offering its own maximum (evcc#31597).
        remote_stop_ends_session: a RemoteStopTransaction ends the session for good: the car
            must be re-plugged before charging again (evcc#14348).
        reconnect_every_s: drops and re-opens its websocket after this many connected seconds
            (the ~25 s loop of evcc#26060); None = a stable link.
        offline_full_power: while its central system is unreachable it charges at full power,
            ignoring its profiles (Charge HQ's offline note).
        rejects_remote_start_with_profile: a RemoteStartTransaction carrying a profile is
            refused (evcc#6882).
    """

    silent_until_boot_answered: bool = True
    whole_amps_only: bool = False
    required_profile_kind: str | None = None
    ignores_limits: bool = False
    remote_stop_ends_session: bool = True
    reconnect_every_s: float | None = None
    offline_full_power: bool = False
    rejects_remote_start_with_profile: bool = True


@dataclass(frozen=True, slots=True)
class ReceivedCall:
    """A call the central system sent, as it reached the charger."""

    action: str
    payload: dict[str, Any]
    answered: bool
    at: datetime


@dataclass
class _Transaction:
    transaction_id: int | None  # None while it was started offline and not yet reported
    started_at: datetime
    meter_start_wh: float


@dataclass
class _Config:
    value: str
    readonly: bool = False


def _default_config(charge_point_id: str, password: str | None, puk: str) -> dict[str, _Config]:
    # From the GetConfiguration dumps in evcc#15490, #15581 (../shared/ocpp-wallbox.md §1.3).
    readonly = {
        "SupportedFeatureProfiles": (
            "Core,FirmwareManagement,LocalAuthListManagement,Reservation,SmartCharging,"
            "RemoteTrigger"
        ),
        "ChargingScheduleAllowedChargingRateUnit": "Current",
        "ChargingScheduleMaxPeriods": "100",
        "ChargeProfileMaxStackLevel": "3",
        "MaxChargingProfilesInstalled": "10",
        "ConnectorSwitch3to1PhaseSupported": "false",
        "MeterValuesSampledDataMaxLength": "10",
        "SerialNumber": "123456",
    }
    writable = {
        "MeterValuesSampledData": "Energy.Active.Import.Register",
        "MeterValueSampleInterval": "60",
        "ClockAlignedDataInterval": "0",
        "HeartbeatInterval": "60",
        "ConnectionTimeOut": "120",
        "LocalAuthorizeOffline": "true",
        "AllowOfflineTxForUnknownId": "true",
        "AuthorizeRemoteTxRequests": "false",
        "AuthEnabled": "true",
        "AuthDisabledIdTag": "NoAuthorization",
        "PUK": puk,
        "WebSocketUser": charge_point_id,
        "WebSocketPassword": password or "",
        "MeterValuesSkipWhenOffline": "true",
    }
    config = {k: _Config(v, readonly=True) for k, v in readonly.items()}
    config.update({k: _Config(v) for k, v in writable.items()})
    return config


class _Link(ChargePointBase):
    """The charger's side of one websocket: answers the central system's calls."""

    def __init__(self, owner: SimulatedOcppWallbox, link: WebSocketLink, timeout_s: float) -> None:
        # Its frames carry the PUK too; a demo logs them through smartcharge's own logging.
        super().__init__(
            owner.charge_point_id,
            link,
            response_timeout=timeout_s,
            logger=RedactingLogger(logging.getLogger("smartcharge.simulator.ocpp")),
        )
        self.link = link
        self._owner = owner

    async def route_message(self, raw_msg: str) -> None:
        """Record each call; drop it unanswered when the boot quirk says so."""
        try:
            frame = json.loads(raw_msg)
        except ValueError:
            frame = None
        owner = self._owner
        if isinstance(frame, list) and frame and frame[0] == 2 and len(frame) >= 4:
            silent = owner.quirks.silent_until_boot_answered and not owner.boot_answered
            owner.received.append(
                ReceivedCall(str(frame[2]), dict(frame[3]), not silent, owner.clock.now())
            )
            if silent:
                owner.changed()
                return
        elif isinstance(frame, list) and frame and frame[0] == 3 and len(frame) >= 3:
            result = frame[2]
            if isinstance(result, dict) and "interval" in result and "currentTime" in result:
                # The answer to its BootNotification (the only one carrying both).
                owner.boot_answered = result.get("status") == "Accepted"
        await super().route_message(raw_msg)
        owner.changed()

    @on("ChangeAvailability")
    def on_change_availability(self, connector_id: int, type: str) -> Any:  # noqa: A002
        return self._owner.result("ChangeAvailability", status="Accepted")

    @on("GetConfiguration")
    def on_get_configuration(self, key: list[str] | None = None) -> Any:
        return self._owner.get_configuration(key)

    @on("ChangeConfiguration")
    def on_change_configuration(self, key: str, value: str) -> Any:
        return self._owner.change_configuration(key, value)

    @on("SetChargingProfile")
    def on_set_charging_profile(
        self, connector_id: int, cs_charging_profiles: dict[str, Any]
    ) -> Any:
        return self._owner.set_charging_profile(connector_id, cs_charging_profiles)

    @on("ClearChargingProfile")
    def on_clear_charging_profile(self, **criteria: Any) -> Any:
        return self._owner.clear_charging_profile(criteria)

    @on("RemoteStartTransaction")
    def on_remote_start_transaction(
        self, id_tag: str, connector_id: int | None = None, **extra: Any
    ) -> Any:
        return self._owner.remote_start(id_tag, extra.get("charging_profile"))

    @on("RemoteStopTransaction")
    def on_remote_stop_transaction(self, transaction_id: int) -> Any:
        return self._owner.remote_stop(transaction_id)

    @on("TriggerMessage")
    def on_trigger_message(self, requested_message: str, **extra: Any) -> Any:
        return self._owner.trigger(requested_message)

    @on("Reset")
    def on_reset(self, type: str) -> Any:  # noqa: A002
        return self._owner.result("Reset", status="Accepted")

    @after("Reset")
    def after_reset(self, type: str) -> None:  # noqa: A002
        # A charger answers the Reset, then reboots: the answer must be on the wire first.
        self._owner.spawn(self._owner.reboot())


@dataclass
class _Meter:
    register_wh: float
    power_w: float = 0.0
    offered_a: float = 0.0
    since_sample_s: float = 0.0
    connected_s: float = 0.0
    history: list[tuple[datetime, float, float]] = field(default_factory=list)


class SimulatedOcppWallbox:
    """A Wallbox Pulsar on OCPP 1.6J, with a car behind it.

    Args:
        url: the central system's URL without the charge point id (``ws://host:port/``).
        charge_point_id: appended to the URL, as a Wallbox does.
        clock: the simulated time; ``pass_time`` moves it.
        session: the aiohttp session the websocket is opened with.
        car: the car that is plugged in by ``plug_in``.
        quirks: the firmware behaviour to reproduce.
        password: HTTP Basic password (security profile 1); None sends none.
        ssl_context: for wss.
        max_current_a: the charger's own maximum (what it gives without a profile).
        phases: the phases it supplies.
        register_wh: its lifetime energy register at the start.
        firmware: reported in the BootNotification.
        puk: its PUK (a secret it reports in GetConfiguration, as real ones do).

    Attributes:
        app_limit_a: the current limit set in the Wallbox app (the cloud), read when the
            offered current is worked out; it caps whatever OCPP says, ignored profiles
            included (evcc#14458, #14040). None: no app limit (the charger's own maximum).
        measurands: the measurands it can sample (others are refused).
        timeout_s: connect and call timeout.
    """

    def __init__(
        self,
        url: str,
        charge_point_id: str,
        clock: SimulatedClock,
        session: aiohttp.ClientSession,
        *,
        car: Car | None = None,
        quirks: OcppQuirks | None = None,
        password: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
        max_current_a: float = 32.0,
        phases: int = 3,
        register_wh: float = 1_234_000.0,
        firmware: str = "6.7.33",
        puk: str = "81726354",
        measurands: frozenset[str] = SUPPORTED_MEASURANDS,
        timeout_s: float = 3.0,
    ) -> None:
        self.measurands = measurands
        self.url = url.rstrip("/") + "/" + charge_point_id
        self.charge_point_id = charge_point_id
        self.clock = clock
        self._session = session
        self.car = car or Car()
        self.quirks = quirks or OcppQuirks()
        self._password = password
        self._ssl_context = ssl_context
        self.max_current_a = max_current_a
        self.phases = phases
        self.firmware = firmware
        self._timeout_s = timeout_s
        self.config = _default_config(charge_point_id, password, puk)
        self.app_limit_a: Callable[[], float] | None = None

        self.received: list[ReceivedCall] = []
        self.sent: list[tuple[str, dict[str, Any]]] = []
        self.boot_answered = False
        self.boots = 0
        self.connects = 0
        self.reachable = True  # False: the central system cannot be reached (go_offline)
        self.plugged = False
        self.needs_replug = False
        self.status = "Available"
        self.transaction: _Transaction | None = None
        self.profiles: dict[int, dict[str, Any]] = {}
        self.meter = _Meter(register_wh)
        self._link: _Link | None = None
        self._reader: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._changed = asyncio.Event()
        self._pending_stop: tuple[int, float, str] | None = None
        # Cleared, an accepted RemoteStart waits here before its StartTransaction (a real
        # charger takes a few seconds); tests hold it to look at what happens meanwhile.
        self.start_gate = asyncio.Event()
        self.start_gate.set()

    # -- observation -------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """Return whether its websocket is open."""
        return self._link is not None and not self._link.link.closed

    @property
    def session_wh(self) -> float:
        """Return the energy of the running (or last) transaction."""
        if self.transaction is None:
            return 0.0
        return self.meter.register_wh - self.transaction.meter_start_wh

    def calls(self, action: str) -> list[ReceivedCall]:
        """Return the received calls of one action, in order."""
        return [c for c in self.received if c.action == action]

    def changed(self) -> None:
        """Wake whoever waits in ``wait_for``."""
        self._changed.set()

    async def wait_for(self, predicate: Callable[[], bool], timeout_s: float = 3.0) -> None:
        """Wait until ``predicate()`` holds (it is checked after every change).

        Raises:
            TimeoutError: it did not hold within ``timeout_s`` (real seconds).
        """
        async with asyncio.timeout(timeout_s):
            while not predicate():
                self._changed.clear()
                await self._changed.wait()

    def spawn(self, job: Coroutine[Any, Any, None]) -> None:
        """Run ``job`` outside the handler that set it off (a call in a handler deadlocks)."""
        task = asyncio.get_running_loop().create_task(job)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @property
    def is_busy(self) -> bool:
        """Return whether work its handlers set off is still running."""
        return bool(self._tasks)

    async def settle(self) -> None:
        """Wait until what its handlers set off has been sent and answered."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks))

    # -- the link ----------------------------------------------------------------------------

    async def connect(self) -> None:
        """Open the websocket; boot when its boot has not been answered since power-up.

        Raises:
            aiohttp.WSServerHandshakeError: the central system refused (wrong id, password).
            TimeoutError: no connection within the timeout.
        """
        headers = (
            {"Authorization": aiohttp.encode_basic_auth(self.charge_point_id, self._password)}
            if self._password
            else None
        )
        async with asyncio.timeout(self._timeout_s):
            socket = await self._session.ws_connect(
                self.url,
                protocols=(SUBPROTOCOL,),
                headers=headers,
                ssl=self._ssl_context if self._ssl_context is not None else True,
                autoping=True,
            )
        link = _Link(self, WebSocketLink(socket), self._timeout_s)
        self._link = link
        self.connects += 1
        self.meter.connected_s = 0.0
        self._reader = asyncio.get_running_loop().create_task(self._read(link))
        if not self.boot_answered:
            await self._boot()
        await self._report_offline_work()
        await self._send_status()

    async def _read(self, link: _Link) -> None:
        with contextlib.suppress(LinkClosedError):
            await link.start()
        if self._link is link:
            self._link = None
        self.changed()

    async def disconnect(self) -> None:
        """Close the websocket (the charger itself keeps running)."""
        link, reader = self._link, self._reader
        self._link = None
        if link is not None:
            await link.link.close()
        if reader is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await reader
        self.changed()

    async def close(self) -> None:
        """Stop: finish pending work and close the websocket."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*list(self._tasks), return_exceptions=True)
        await self.disconnect()

    async def go_offline(self) -> None:
        """Lose the central system: close the link and stay away until ``go_online``."""
        self.reachable = False
        await self.disconnect()
        if self.plugged and self.transaction is None and self.quirks.offline_full_power:
            self._start_transaction_offline()
        self._update()

    async def go_online(self) -> None:
        """Reach the central system again and reconnect."""
        self.reachable = True
        await self.connect()
        self._update()

    async def reboot(self) -> None:
        """Restart: the link drops, the transaction ends, profiles are lost, it boots again."""
        await self.disconnect()
        if self.transaction is not None and self.transaction.transaction_id is not None:
            self._pending_stop = (
                self.transaction.transaction_id,
                self.meter.register_wh,
                "Reboot",
            )
        self.transaction = None
        self.profiles.clear()
        self.boot_answered = False
        self._update(report=False)
        if self.reachable:
            await self.connect()

    async def _call(self, payload: object) -> Any:
        link = self._link
        if link is None:
            raise LinkClosedError("not connected")
        action = type(payload).__name__
        self.sent.append((action, dict(vars(payload))))
        answer = await link.call(payload)
        self.changed()
        return answer

    async def _boot(self) -> None:
        self.boots += 1
        await self._call(
            call.BootNotification(
                charge_point_model="PLP1-0-2-4",
                charge_point_vendor="Wall Box Chargers",
                firmware_version=self.firmware,
                meter_type="Internal NON compliant",
            )
        )

    async def report_status(self) -> None:
        """Send its connector status again (as after a TriggerMessage or a flap)."""
        await self._send_status()

    async def _send_status(self) -> None:
        if self.connected and self.boot_answered:
            await self._call(
                call.StatusNotification(
                    connector_id=1,
                    error_code="NoError",
                    status=self.status,
                    timestamp=self._stamp(),
                )
            )

    async def _report_offline_work(self) -> None:
        if self._pending_stop is not None:
            transaction_id, meter_wh, reason = self._pending_stop
            self._pending_stop = None
            await self._call(
                call.StopTransaction(
                    meter_stop=int(meter_wh),
                    timestamp=self._stamp(),
                    transaction_id=transaction_id,
                    reason=reason,
                )
            )
        tx = self.transaction
        if tx is not None and tx.transaction_id is None:
            answer = await self._call(
                call.StartTransaction(
                    connector_id=1,
                    id_tag="offline",
                    meter_start=int(tx.meter_start_wh),
                    timestamp=tx.started_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                )
            )
            tx.transaction_id = int(answer.transaction_id)

    def _stamp(self) -> str:
        return self.clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")

    # -- the car -----------------------------------------------------------------------------

    async def plug_in(self) -> None:
        """Plug the car in: the connector waits in Preparing (no autostart on OCPP)."""
        self.plugged, self.needs_replug = True, False
        if not self.reachable and self.quirks.offline_full_power:
            self._start_transaction_offline()
        self._update()
        await self.settle()

    async def unplug(self) -> None:
        """Unplug the car: the transaction stops."""
        tx = self.transaction
        self.plugged, self.needs_replug = False, False
        if tx is not None and tx.transaction_id is not None and self.connected:
            await self._call(
                call.StopTransaction(
                    meter_stop=int(self.meter.register_wh),
                    timestamp=self._stamp(),
                    transaction_id=tx.transaction_id,
                    reason="EVDisconnected",
                )
            )
        self.transaction = None
        self._update()
        await self.settle()

    def _start_transaction_offline(self) -> None:
        self.transaction = _Transaction(None, self.clock.now(), self.meter.register_wh)

    def offered_a(self) -> float:
        """Return the current it offers the car now (at most the app's limit, if one is set)."""
        offered = self._offered_by_ocpp_a()
        if self.app_limit_a is None or not offered:
            return offered
        return min(offered, self.app_limit_a())

    def _offered_by_ocpp_a(self) -> float:
        tx = self.transaction
        if tx is None:
            return 0.0
        if not self.reachable and self.quirks.offline_full_power:
            return self.max_current_a
        if self.quirks.ignores_limits:
            return self.max_current_a
        limit = composite_limit_a(self.profiles.values(), self.clock.now(), tx.started_at)
        if limit is None:
            return self.max_current_a
        if self.quirks.whole_amps_only and limit != int(limit):
            limit = FRACTION_JUMP_A
        limit = min(limit, self.max_current_a)
        return limit if limit >= MIN_CURRENT_A else 0.0

    def _update(self, *, report: bool = True) -> None:
        """Recompute power and status; report a status change."""
        offered = self.offered_a()
        added_kwh = self.session_wh / 1000.0
        power_kw = self.car.draw_kw(offered, self.phases, VOLTAGE_V, added_kwh) if offered else 0
        self.meter.offered_a, self.meter.power_w = offered, power_kw * 1000.0
        if not self.plugged:
            status = "Available"
        elif self.transaction is None:
            status = "Finishing" if self.needs_replug else "Preparing"
        elif offered == 0:
            status = "SuspendedEVSE"
        elif power_kw <= 0:
            status = "SuspendedEV"
        else:
            status = "Charging"
        if status != self.status:
            self.status = status
            if report:
                self.spawn(self._send_status())
        self.changed()

    # -- time --------------------------------------------------------------------------------

    async def pass_time(self, seconds: float) -> None:
        """Let ``seconds`` pass: the car charges, MeterValues go out every sample interval."""
        remaining = seconds
        while remaining > 1e-9:
            interval = max(1.0, float(self.config["MeterValueSampleInterval"].value or 60))
            step = min(remaining, interval - self.meter.since_sample_s)
            reconnect_s = self.quirks.reconnect_every_s
            if reconnect_s is not None and self.connected:
                step = min(step, max(1e-3, reconnect_s - self.meter.connected_s))
            self.meter.register_wh += self.meter.power_w * step / 3600.0
            await self.clock.advance(step)
            remaining -= step
            self.meter.since_sample_s += step
            if self.connected:
                self.meter.connected_s += step
            self._update()
            await self.settle()
            if self.meter.since_sample_s >= interval - 1e-9:
                self.meter.since_sample_s = 0.0
                self.meter.history.append(
                    (self.clock.now(), self.meter.register_wh, self.meter.power_w)
                )
                await self._send_meter_values()
            if (
                reconnect_s is not None
                and self.connected
                and self.meter.connected_s >= reconnect_s - 1e-9
            ):
                await self.disconnect()
                await self.connect()

    async def _send_meter_values(self) -> None:
        tx = self.transaction
        if tx is None or tx.transaction_id is None or not self.connected:
            return
        await self._call(
            call.MeterValues(
                connector_id=1,
                transaction_id=tx.transaction_id,
                meter_value=[{"timestamp": self._stamp(), "sampledValue": self._samples()}],
            )
        )

    def _samples(self) -> list[dict[str, Any]]:
        wanted = self.config["MeterValuesSampledData"].value.split(",")
        out: list[dict[str, Any]] = []
        m = self.meter
        car_phases = self.phases if self.car.phases is None else min(self.car.phases, self.phases)
        per_phase_a = m.power_w / (car_phases * VOLTAGE_V) if m.power_w else 0.0
        for measurand in wanted:
            common = {"measurand": measurand, "context": "Sample.Periodic", "location": "Outlet"}
            if measurand == "Energy.Active.Import.Register":
                out.append({**common, "value": f"{m.register_wh:.0f}", "unit": "Wh"})
            elif measurand == "Power.Active.Import":
                out.append({**common, "value": f"{m.power_w:.0f}", "unit": "W"})
            elif measurand == "Current.Offered":
                out.append({**common, "value": f"{m.offered_a:.1f}", "unit": "A"})
            elif measurand == "Current.Import":
                for phase in ("L1", "L2", "L3")[:car_phases]:
                    out.append(
                        {**common, "value": f"{per_phase_a:.1f}", "unit": "A", "phase": phase}
                    )
        return out

    # -- answers to the central system (inside handlers: no calls, only spawn) -----------------

    @staticmethod
    def result(action: str, **fields: Any) -> Any:
        """Return the ``call_result`` dataclass of ``action``."""
        return getattr(call_result, action)(**fields)

    def get_configuration(self, keys: list[str] | None) -> Any:
        """Answer GetConfiguration (the PUK and password included, as a Wallbox does)."""
        names = keys if keys else list(self.config)
        known = [
            {"key": k, "readonly": self.config[k].readonly, "value": self.config[k].value}
            for k in names
            if k in self.config
        ]
        unknown = [k for k in names if k not in self.config] or None
        return self.result("GetConfiguration", configuration_key=known, unknown_key=unknown)

    def change_configuration(self, key: str, value: str) -> Any:
        """Answer ChangeConfiguration: read-only keys and unknown measurands are refused."""
        entry = self.config.get(key)
        if entry is None:
            return self.result("ChangeConfiguration", status="NotSupported")
        if entry.readonly:
            return self.result("ChangeConfiguration", status="Rejected")
        if key == "MeterValuesSampledData" and not set(value.split(",")) <= self.measurands:
            return self.result("ChangeConfiguration", status="Rejected")
        if key == "MeterValueSampleInterval" and not value.isdigit():
            return self.result("ChangeConfiguration", status="Rejected")
        entry.value = value
        return self.result("ChangeConfiguration", status="Accepted")

    def set_charging_profile(self, connector_id: int, profile: dict[str, Any]) -> Any:
        """Answer SetChargingProfile: amps only, the kind the quirk wants, within max periods."""
        schedule = profile.get("charging_schedule") or {}
        kind = profile.get("charging_profile_kind")
        required = self.quirks.required_profile_kind
        periods = schedule.get("charging_schedule_period") or []
        max_periods = int(self.config["ChargingScheduleMaxPeriods"].value)
        if (
            (required is not None and kind != required)
            or schedule.get("charging_rate_unit") != "A"
            or len(periods) > max_periods
            or int(profile.get("stack_level", 0))
            > int(self.config["ChargeProfileMaxStackLevel"].value)
        ):
            return self.result("SetChargingProfile", status="Rejected")
        for pid, old in list(self.profiles.items()):
            if old.get("stack_level") == profile.get("stack_level") and old.get(
                "charging_profile_purpose"
            ) == profile.get("charging_profile_purpose"):
                del self.profiles[pid]
        self.profiles[int(profile["charging_profile_id"])] = profile
        self._update()
        return self.result("SetChargingProfile", status="Accepted")

    def clear_charging_profile(self, criteria: dict[str, Any]) -> Any:
        """Answer ClearChargingProfile (by id, or all)."""
        wanted = criteria.get("id")
        gone = [pid for pid in self.profiles if wanted is None or pid == wanted]
        for pid in gone:
            del self.profiles[pid]
        self._update()
        return self.result("ClearChargingProfile", status="Accepted" if gone else "Unknown")

    def remote_start(self, id_tag: str, profile: dict[str, Any] | None) -> Any:
        """Answer RemoteStartTransaction: only on a plugged, waiting connector."""
        if profile is not None and self.quirks.rejects_remote_start_with_profile:
            return self.result("RemoteStartTransaction", status="Rejected")
        if not self.plugged or self.needs_replug or self.transaction is not None:
            return self.result("RemoteStartTransaction", status="Rejected")
        self.spawn(self._start_transaction(id_tag))
        return self.result("RemoteStartTransaction", status="Accepted")

    async def _start_transaction(self, id_tag: str) -> None:
        await self.start_gate.wait()
        started_at, meter_start = self.clock.now(), self.meter.register_wh
        answer = await self._call(
            call.StartTransaction(
                connector_id=1,
                id_tag=id_tag,
                meter_start=int(meter_start),
                timestamp=self._stamp(),
            )
        )
        self.transaction = _Transaction(int(answer.transaction_id), started_at, meter_start)
        self._update()

    def remote_stop(self, transaction_id: int) -> Any:
        """Answer RemoteStopTransaction: the session ends (and needs a re-plug)."""
        tx = self.transaction
        if tx is None or tx.transaction_id != transaction_id:
            return self.result("RemoteStopTransaction", status="Rejected")
        self.spawn(self._stop_transaction(tx.transaction_id, "Remote"))
        return self.result("RemoteStopTransaction", status="Accepted")

    async def _stop_transaction(self, transaction_id: int, reason: str) -> None:
        self.transaction = None
        self.needs_replug = self.quirks.remote_stop_ends_session
        await self._call(
            call.StopTransaction(
                meter_stop=int(self.meter.register_wh),
                timestamp=self._stamp(),
                transaction_id=transaction_id,
                reason=reason,
            )
        )
        self._update()

    def trigger(self, requested_message: str) -> Any:
        """Answer TriggerMessage for status and meter values."""
        if requested_message == "StatusNotification":
            self.spawn(self._send_status())
        elif requested_message == "MeterValues":
            self.spawn(self._send_meter_values())
        else:
            return self.result("TriggerMessage", status="NotImplemented")
        return self.result("TriggerMessage", status="Accepted")
