"""Protocols the shell depends on: a charger and a price source."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from smartcharge.domain import ChargerSnapshot, Command, PriceSlot


class Charger(Protocol):
    """A charger the daemon can read and command.

    **Protocol:** ``status()`` returns a fresh or recently cached snapshot (its ``fetched_at``
    says which) and raises a ``WallboxError`` subclass on failure; ``apply()`` sends exactly one
    command and returns the snapshot the cloud's answer implies (no read follows a write).
    A command whose outcome is unknown (timeout after sending) raises and must be re-checked
    against a fresh ``status()`` before it is sent again.
    """

    async def status(self) -> ChargerSnapshot:
        """Return the charger's current snapshot."""
        ...

    async def apply(
        self, command: Command, *, base: ChargerSnapshot | None = None
    ) -> ChargerSnapshot:
        """Send ``command`` and return what the charger now is.

        ``base``: a recent snapshot the answer may be built on when the adapter has no stored
        one, so that it need not read the charger first (a stop cannot wait for a read slot).
        """
        ...


class PriceSource(Protocol):
    """Somewhere day-ahead prices come from.

    **Protocol:** ``fetch(start, end)`` returns the slots of ``[start, end)`` it has, with the
    tariff applied and ``source`` set; raises ``PricesNotPublishedError`` when the period is
    not published yet, another ``PriceSourceError`` on failure.
    """

    name: str

    async def fetch(self, start: datetime, end: datetime) -> tuple[PriceSlot, ...]:
        """Return the price slots of ``[start, end)``."""
        ...
