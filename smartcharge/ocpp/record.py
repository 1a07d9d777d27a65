"""What the charge point said: who it is, and its connector's status, transaction, readings.

Kept by ``OcppCharger`` across connections and filled inside message handlers, so it only
records (no calls, no waits). The snapshot the session core reads is built from it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from smartcharge.domain import ChargerSnapshot, ChargerStatus
from smartcharge.ocpp.readings import MeterReading, domain_status


@dataclass(frozen=True, slots=True)
class Identity:
    """What the charge point said about itself in its BootNotification."""

    vendor: str
    model: str
    firmware: str | None


@dataclass(slots=True)
class ConnectorRecord:
    """The steered connector as last reported.

    Attributes:
        status: the OCPP ChargePointStatus last sent (None: not yet).
        reading: the last meter reading (the register kept when a reading lacks it).
        updated_at: when any of this last changed (the snapshot's ``fetched_at``).
        transaction_id: the running transaction (ours, or one recovered from MeterValues).
        transaction_started_at: when the running transaction started (profiles anchor on it).
        session_start_wh: the energy register at the session's start.
        next_transaction_id: the id the next StartTransaction gets.
        restored: the running transaction was remembered from before a restart
            (``memory.py``) and the charge point has not sent a reading of it since.
    """

    next_transaction_id: int
    status: str | None = None
    reading: MeterReading = field(default_factory=MeterReading)
    updated_at: datetime | None = None
    transaction_id: int | None = None
    transaction_started_at: datetime | None = None
    session_start_wh: float | None = None
    restored: bool = False

    @property
    def unread(self) -> bool:
        """Return whether the running transaction was remembered and not read since.

        Its energy is then unknown (a started transaction is read at its start,
        ``meterStart``); the first MeterValues of the connector ends the wait, with or without
        the register (a charger that never reports it is not waited for).
        """
        return self.restored and self.transaction_id is not None

    def on_status(self, status: str, now: datetime) -> None:
        """Record a status of the connector."""
        if status == "Available" and self.transaction_id is not None:
            self.transaction_id = None  # a stale transaction (evcc connector_core.go)
        self.status = status
        self.updated_at = now

    def start_transaction(self, meter_start_wh: float, at: datetime, now: datetime) -> int:
        """Record a transaction started on the connector; return its new id."""
        self.transaction_id = self.new_transaction_id()
        self.restored = False
        self.transaction_started_at = at
        self.session_start_wh = meter_start_wh
        self.reading = MeterReading(energy_register_wh=meter_start_wh, taken_at=at)
        self.updated_at = now
        return self.transaction_id

    def new_transaction_id(self) -> int:
        """Return a new transaction id (also for transactions on other connectors)."""
        self.next_transaction_id += 1
        return self.next_transaction_id

    def on_stop_transaction(self, transaction_id: int, meter_stop_wh: float, now: datetime) -> None:
        """Record a stopped transaction (its energy stays the last session's)."""
        if transaction_id != self.transaction_id:
            return
        self.transaction_id = None
        self.restored = False
        self.reading = MeterReading(energy_register_wh=meter_stop_wh)
        self.updated_at = now

    def on_meter_values(
        self, transaction_id: int | None, reading: MeterReading, now: datetime
    ) -> None:
        """Record a reading of the connector."""
        self.restored = False
        if transaction_id is not None and self.transaction_id is None:
            # Started before we were running: the first register seen is our session start.
            self.transaction_id = transaction_id
            self.session_start_wh = reading.energy_register_wh
        self.reading = MeterReading(
            energy_register_wh=reading.energy_register_wh or self.reading.energy_register_wh,
            power_w=reading.power_w,
            current_offered_a=reading.current_offered_a,
            current_import_a=reading.current_import_a,
            taken_at=reading.taken_at,
        )
        self.updated_at = now

    def snapshot(
        self,
        *,
        charger_id: int,
        connected: bool,
        charge_a: int,
        max_current_a: int,
        now: datetime,
        held_off: bool = False,
    ) -> ChargerSnapshot:
        """Return the domain's snapshot of this record (OFFLINE when not connected).

        ``held_off``: our limit is 0 A. A car waiting in ``Preparing`` then waits for us, so
        the snapshot says PAUSED (not WAITING, which the session core takes as enabled: it
        would neither see its pause applied nor send the resume that starts the charge).
        """
        reading = self.reading
        status = domain_status(self.status, connected=connected)
        if held_off and connected and self.status == "Preparing":
            status = ChargerStatus.PAUSED
        added_wh = 0.0
        if reading.energy_register_wh is not None and self.session_start_wh is not None:
            added_wh = max(0.0, reading.energy_register_wh - self.session_start_wh)
        return ChargerSnapshot(
            charger_id=charger_id,
            status=status,
            status_id=None,
            charging_power_kw=(reading.power_w or 0.0) / 1000.0 if connected else 0.0,
            added_energy_kwh=added_wh / 1000.0,
            max_charging_current_a=charge_a,
            max_available_current_a=max_current_a,
            energy_cost_eur_per_kwh=None,
            locked=False,
            fetched_at=self.updated_at or now,
        )
