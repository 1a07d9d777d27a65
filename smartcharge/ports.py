"""Protocols the shell depends on: a charger and a price source."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from smartcharge.domain import ChargerSnapshot, Command, CommandKind, PriceSlot
from smartcharge.errors import UnsupportedCommandError

# What every charger link does: read a snapshot, enable and disable charging, set the current.
BASIC_COMMANDS = frozenset({CommandKind.RESUME, CommandKind.PAUSE, CommandKind.SET_MAX_CURRENT})


@dataclass(frozen=True, slots=True)
class ChargerCapabilities:
    """What a way of reaching a charger can do, as its adapter declares it.

    Every link reads a snapshot, enables and disables charging (``RESUME``/``PAUSE``) and sets
    the current (``SET_MAX_CURRENT``); the commands below are declared per link, and a caller
    (the session policy) leaves out what its link cannot carry.

    Attributes:
        energy_cost: ``SET_ENERGY_COST``: the link keeps a price per kWh on the charger (the
            Wallbox cloud does, for its session costs; OCPP 1.6 has no such message).
        restart: ``RESTART``: the charger can be rebooted over the link.
        lock: ``LOCK``/``UNLOCK``: the charger can be locked against use over the link.
        min_read_interval_s: the shortest time between two reads worth making: the link's own
            limit (the cloud's read budget, a minute per read by default) or how often the
            charger reports (OCPP: its meter sample interval). Polls are never more frequent.
        plan_profile: the charger can keep the whole plan itself (``send_plan``: OCPP's
            multi-period TxDefaultProfile), so it charges as planned while smartcharge is gone.
    """

    energy_cost: bool
    restart: bool
    lock: bool
    min_read_interval_s: float
    plan_profile: bool = False

    @property
    def commands(self) -> frozenset[CommandKind]:
        """Return every command kind the link carries."""
        extra = {
            CommandKind.SET_ENERGY_COST: self.energy_cost,
            CommandKind.RESTART: self.restart,
            CommandKind.LOCK: self.lock,
            CommandKind.UNLOCK: self.lock,
        }
        return BASIC_COMMANDS | {kind for kind, can in extra.items() if can}

    def supports(self, kind: CommandKind) -> bool:
        """Return whether the link carries commands of ``kind``."""
        return kind in self.commands

    def check(
        self,
        command: Command,
        link: str,
        error: type[UnsupportedCommandError] = UnsupportedCommandError,
    ) -> None:
        """Raise unless the link carries ``command`` (call it before anything is sent).

        Args:
            command: the command about to be sent.
            link: how the charger is reached, for the message (``OCPP 1.6``).
            error: the adapter's own subclass of ``UnsupportedCommandError`` to raise.

        Raises:
            UnsupportedCommandError: naming the command, the link and what it does carry.
        """
        if not self.supports(command.kind):
            can = ", ".join(sorted(kind.value for kind in self.commands))
            raise error(f"{command} cannot be sent to a charger over {link}; it carries {can}")


class Charger(Protocol):
    """A charger the daemon can read and command, however it is reached (cloud, OCPP, ...).

    **Protocol:** ``capabilities`` declares the commands the link carries and the shortest
    time between reads; it does not change while the adapter lives. ``status()`` returns a
    fresh or recently read snapshot (its ``fetched_at`` says how recent) and raises a
    ``SmartchargeError`` subclass on failure. ``apply()`` sends exactly one command and returns
    the snapshot the charger's answer implies (no read needs to follow); a command the link
    does not carry raises ``UnsupportedCommandError`` before anything is sent. A command whose
    outcome is unknown (no answer after sending) raises and must be checked against a fresh
    ``status()`` before it is sent again.
    """

    @property
    def capabilities(self) -> ChargerCapabilities:
        """Return what the link carries and how often it may be read."""
        ...

    async def status(self) -> ChargerSnapshot:
        """Return the charger's current snapshot."""
        ...

    async def apply(
        self, command: Command, *, base: ChargerSnapshot | None = None
    ) -> ChargerSnapshot:
        """Send ``command`` and return what the charger now is.

        ``base``: a recent snapshot the caller holds, which the answer may be built on when
        the adapter has none of its own, so that it need not read the charger first (a stop
        cannot wait for a read the link's limit does not allow yet). Adapters that always hold
        the charger's last report ignore it.

        Raises:
            UnsupportedCommandError: the link does not carry the command (nothing was sent).
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
