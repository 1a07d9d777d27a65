"""What the OCPP link remembers across a daemon restart (kept in ``ocpp_link.json``).

The charge point keeps its transaction while smartcharge restarts, and reconnects without a
new boot; what the link learnt about it must survive as well:

- the profile kind it accepted (Relative or Absolute): no refused profile again after each
  restart;
- our transaction counter: a transaction id we gave is never given again, even when the wall
  clock the counter starts from stepped back;
- the running transaction (its id, start, and the energy register at its start): the
  session's energy keeps counting from the right base, not from the first reading after the
  restart.

Pure: the values and how they go in and out of the record. The file is the runtime's
(``runtime.ocpp_memory``): this package does no file I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from smartcharge.ocpp.record import ConnectorRecord


@dataclass(frozen=True, slots=True)
class LinkMemory:
    """What one charge point's link remembers.

    Attributes:
        charge_point_id: whose memory it is (another id's is not used).
        profile_kind: the TxDefaultProfile kind it accepted last (``ProfileKind`` value).
        last_transaction_id: the last transaction id we gave.
        transaction_id: the running transaction, if any.
        transaction_started_at: when it started.
        session_start_wh: the energy register at its start.
    """

    charge_point_id: str
    profile_kind: str | None = None
    last_transaction_id: int = 0
    transaction_id: int | None = None
    transaction_started_at: datetime | None = None
    session_start_wh: float | None = None

    def to_json(self) -> dict[str, Any]:
        """Return the document's payload."""
        started = self.transaction_started_at
        return {
            "charge_point_id": self.charge_point_id,
            "profile_kind": self.profile_kind,
            "last_transaction_id": self.last_transaction_id,
            "transaction_id": self.transaction_id,
            "transaction_started_at": None if started is None else started.isoformat(),
            "session_start_wh": self.session_start_wh,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LinkMemory:
        """Return the memory of a payload.

        Raises:
            KeyError, TypeError, ValueError: the payload is not one ``to_json`` wrote.
        """
        started = data["transaction_started_at"]
        kind = data["profile_kind"]
        transaction = data["transaction_id"]
        start_wh = data["session_start_wh"]
        if kind is not None and kind not in ("Absolute", "Relative"):
            raise ValueError(f"unknown profile kind {kind!r}")
        return cls(
            charge_point_id=str(data["charge_point_id"]),
            profile_kind=kind,
            last_transaction_id=int(data["last_transaction_id"]),
            transaction_id=None if transaction is None else int(transaction),
            transaction_started_at=None if started is None else datetime.fromisoformat(started),
            session_start_wh=None if start_wh is None else float(start_wh),
        )


def remembered(charge_point_id: str, record: ConnectorRecord, kind: str | None) -> LinkMemory:
    """Return what is to be remembered of ``record`` and the accepted profile ``kind``."""
    return LinkMemory(
        charge_point_id=charge_point_id,
        profile_kind=kind,
        last_transaction_id=record.next_transaction_id,
        transaction_id=record.transaction_id,
        transaction_started_at=record.transaction_started_at,
        session_start_wh=record.session_start_wh,
    )


def restore(record: ConnectorRecord, memory: LinkMemory) -> None:
    """Put ``memory``'s counter and running transaction back into a fresh ``record``.

    The counter never goes back: the next id is above both the remembered one and the one the
    record started from.
    """
    record.next_transaction_id = max(record.next_transaction_id, memory.last_transaction_id)
    if memory.transaction_id is not None:
        record.transaction_id = memory.transaction_id
        record.transaction_started_at = memory.transaction_started_at
        record.session_start_wh = memory.session_start_wh
        record.restored = True


class MemoryStore(Protocol):
    """Where the memory is kept (``runtime.ocpp_memory.LinkMemoryStore``: the state dir)."""

    def load(self) -> LinkMemory | None:
        """Return the memory kept, or None."""
        ...

    def save(self, memory: LinkMemory) -> bool:
        """Keep ``memory``; True if kept (a failure is the store's to report)."""
        ...


__all__ = ["LinkMemory", "MemoryStore", "remembered", "restore"]
