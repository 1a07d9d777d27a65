"""One websocket connection of the charge point, seen from the central system.

Handlers answer at once and never send: a call awaited inside a handler deadlocks the ``ocpp``
package (its read loop awaits the handler, so the answer to our call is never read; evcc
documents the same trap). What a message sets off happens in the charger's own tasks, told
by ``message_answered`` once the answer has gone out.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol

from smartcharge.clock import Clock
from smartcharge.ocpp._lib import ChargePointBase, OCPPError, call_result, on
from smartcharge.ocpp.errors import (
    ChargerNotConnectedError,
    CommandRejectedError,
    CommandTimeoutError,
)
from smartcharge.ocpp.readings import MeterReading, parse_meter_values, parse_timestamp
from smartcharge.ocpp.redact import RedactingLogger
from smartcharge.ocpp.transport import LinkClosedError, WebSocketLink

WIRE_LOGGER = logging.getLogger("smartcharge.ocpp.wire")
# OCPP-J message type ids (OCPP-J 1.6 §4.1.3): the answers to a call.
_CALL_RESULT, _CALL_ERROR = 3, 4


class ChargePointEvents(Protocol):
    """What a connection tells the charger it belongs to."""

    def on_boot(self, vendor: str, model: str, firmware: str | None) -> None:
        """Record the charge point's BootNotification."""
        ...

    def on_status(self, connector_id: int, status: str, at: datetime | None) -> None:
        """Record a StatusNotification."""
        ...

    def on_start_transaction(self, connector_id: int, meter_start_wh: float, at: datetime) -> int:
        """Record a started transaction and return our transaction id for it."""
        ...

    def on_stop_transaction(self, transaction_id: int, meter_stop_wh: float) -> None:
        """Record a stopped transaction."""
        ...

    def on_meter_values(
        self, connector_id: int, transaction_id: int | None, reading: MeterReading
    ) -> None:
        """Record a MeterValues message."""
        ...

    def message_answered(self, connection: CentralChargePoint, action: str) -> None:
        """React to a message whose answer has been sent (outside the handler)."""
        ...


class CentralChargePoint(ChargePointBase):
    """The central system's side of one websocket.

    Args:
        charge_point_id: the id from the URL path.
        link: the open websocket.
        events: the charger the messages are for.
        clock: gives the times in our answers.
        call_timeout_s: the longest wait for the answer to one of our calls.
        heartbeat_interval_s: the interval given in the BootNotification answer.
    """

    def __init__(
        self,
        charge_point_id: str,
        link: WebSocketLink,
        events: ChargePointEvents,
        clock: Clock,
        *,
        call_timeout_s: float,
        heartbeat_interval_s: int,
    ) -> None:
        super().__init__(
            charge_point_id,
            link,
            response_timeout=call_timeout_s,
            logger=RedactingLogger(WIRE_LOGGER),
        )
        self.link = link
        self._events = events
        self._clock = clock
        self._call_timeout_s = call_timeout_s
        self._heartbeat_interval_s = heartbeat_interval_s
        self._answered: str | None = None
        self.registered = False  # its BootNotification answered (or it came back without one)
        self.ready = False  # setup done
        self._closed = asyncio.Event()
        # Ids of our calls whose answer has been read off the link: the answer counts even when
        # the link closes while the package still checks it (a charger that answers a Reset
        # closes the link at once).
        self._answers_read: set[str] = set()

    def mark_closed(self) -> None:
        """Note that the websocket is gone: calls still waiting give up at once."""
        self._closed.set()

    def _now_text(self) -> str:
        return self._clock.now().strftime("%Y-%m-%dT%H:%M:%SZ")

    async def route_message(self, raw_msg: str) -> None:
        """Handle one frame, then tell the charger what was answered."""
        self._answered = None
        with contextlib.suppress(ValueError, TypeError, IndexError):
            frame = json.loads(raw_msg)
            if frame[0] in (_CALL_RESULT, _CALL_ERROR):
                self._answers_read.add(str(frame[1]))
        await super().route_message(raw_msg)
        if self._answered is not None:
            self._events.message_answered(self, self._answered)

    async def request(self, payload: object) -> Any:
        """Send one call and return the charge point's answer (one call at a time).

        Raises:
            CommandTimeoutError: no answer within the call timeout.
            CommandRejectedError: the charge point answered with a CallError.
            ChargerNotConnectedError: the websocket closed.
        """
        action = type(payload).__name__
        if self._closed.is_set():
            raise ChargerNotConnectedError(f"{action}: {self.id} disconnected")
        unique_id = str(uuid.uuid4())
        sending = asyncio.ensure_future(self.call(payload, suppress=False, unique_id=unique_id))
        closing = asyncio.ensure_future(self._closed.wait())
        try:
            # The package's own wait has the same bound; this one also covers the send.
            async with asyncio.timeout(self._call_timeout_s + 1.0):
                await asyncio.wait({sending, closing}, return_when=asyncio.FIRST_COMPLETED)
                if not sending.done() and unique_id in self._answers_read:
                    await asyncio.wait({sending})  # answered before the close: finish reading
            if not sending.done():
                raise ChargerNotConnectedError(f"{action}: {self.id} disconnected")
            return sending.result()
        except TimeoutError as exc:
            raise CommandTimeoutError(
                f"{action}: no answer from {self.id} within {self._call_timeout_s:g} s"
            ) from exc
        except LinkClosedError as exc:
            raise ChargerNotConnectedError(f"{action}: {self.id} disconnected") from exc
        except OCPPError as exc:
            raise CommandRejectedError(f"{action}: {self.id} answered an error: {exc}") from exc
        finally:
            self._answers_read.discard(unique_id)
            for pending in (sending, closing):
                if not pending.done():
                    pending.cancel()
                    with contextlib.suppress(asyncio.CancelledError, Exception):
                        await pending

    @on("BootNotification")
    def on_boot_notification(
        self, charge_point_vendor: str, charge_point_model: str, **extra: Any
    ) -> Any:
        """Accept the charge point and give it the heartbeat interval."""
        self._answered = "BootNotification"
        self._events.on_boot(charge_point_vendor, charge_point_model, extra.get("firmware_version"))
        return call_result.BootNotification(
            current_time=self._now_text(),
            interval=self._heartbeat_interval_s,
            status="Accepted",
        )

    @on("Heartbeat")
    def on_heartbeat(self) -> Any:
        """Answer with our time."""
        self._answered = "Heartbeat"
        return call_result.Heartbeat(current_time=self._now_text())

    @on("StatusNotification")
    def on_status_notification(
        self, connector_id: int, error_code: str, status: str, **extra: Any
    ) -> Any:
        """Record the connector's status."""
        self._answered = "StatusNotification"
        self._events.on_status(connector_id, status, parse_timestamp(extra.get("timestamp")))
        return call_result.StatusNotification()

    @on("Authorize")
    def on_authorize(self, id_tag: str) -> Any:
        """Accept every id tag: the charger is the user's own."""
        self._answered = "Authorize"
        return call_result.Authorize(id_tag_info={"status": "Accepted"})

    @on("StartTransaction")
    def on_start_transaction(
        self, connector_id: int, id_tag: str, meter_start: int, timestamp: str, **extra: Any
    ) -> Any:
        """Accept the transaction under our own id."""
        self._answered = "StartTransaction"
        at = parse_timestamp(timestamp) or self._clock.now()
        transaction_id = self._events.on_start_transaction(connector_id, float(meter_start), at)
        return call_result.StartTransaction(
            transaction_id=transaction_id, id_tag_info={"status": "Accepted"}
        )

    @on("StopTransaction")
    def on_stop_transaction(
        self, meter_stop: int, timestamp: str, transaction_id: int, **extra: Any
    ) -> Any:
        """Record the end of a transaction."""
        self._answered = "StopTransaction"
        self._events.on_stop_transaction(transaction_id, float(meter_stop))
        return call_result.StopTransaction()

    @on("MeterValues")
    def on_meter_values(
        self,
        connector_id: int,
        meter_value: list[Mapping[str, Any]],
        transaction_id: int | None = None,
    ) -> Any:
        """Record a reading."""
        self._answered = "MeterValues"
        self._events.on_meter_values(connector_id, transaction_id, parse_meter_values(meter_value))
        return call_result.MeterValues()

    @on("DataTransfer")
    def on_data_transfer(self, vendor_id: str, **extra: Any) -> Any:
        """Accept and ignore vendor data."""
        self._answered = "DataTransfer"
        return call_result.DataTransfer(status="Accepted")
