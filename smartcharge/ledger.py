"""Finished sessions and what they cost, at the all-in prices of the slots they charged in.

The energy of each slot and the costs are attributed by ``smartcharge.session.accounting``;
``finish_session`` turns an ended session into its ledger entry.

The ledger is ``<state dir>/ledger.json``: a versioned, checksummed document written atomically;
one entry per session id, so recording a session twice (a restart while unplugging) keeps one.
A ledger from a newer smartcharge is never rewritten, and rows this version cannot parse are
kept verbatim.

Version history: 1 is the first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any

import structlog

from smartcharge.clock import Clock
from smartcharge.codec import from_data, to_data
from smartcharge.domain import PriceCurve
from smartcharge.errors import StateError
from smartcharge.session.accounting import immediate_cost, slot_cost_eur
from smartcharge.session.model import SessionState, SlotEnergy
from smartcharge.storage import StateDisk, StateIOError, load_document, save_document

log = structlog.get_logger(__name__)

LEDGER_FILE = "ledger.json"
LEDGER_KIND = "smartcharge-ledger"
LEDGER_VERSION = 1


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One finished session.

    Attributes:
        session_id: the session's id.
        plugged_in_at: plug-in (UTC).
        plugged_out_at: unplug (UTC).
        ready_by: the deadline (UTC).
        target_kwh: the need.
        energy_kwh: energy delivered.
        cost_eur: sum over slots of energy times all-in price (priced energy only).
        unpriced_kwh: energy delivered while the price was unknown (not in ``cost_eur``).
        immediate_cost_eur: the same energy charged at full power from plug-in; None if unknown.
        target_met: whether the need was met by ``ready_by``.
        target_met_at: when it was met, if it was.
        commands: how many commands the daemon sent in the session.
        slots: the energy per price slot.
    """

    session_id: str
    plugged_in_at: datetime
    plugged_out_at: datetime
    ready_by: datetime
    target_kwh: float
    energy_kwh: float
    cost_eur: float
    unpriced_kwh: float
    immediate_cost_eur: float | None
    target_met: bool
    target_met_at: datetime | None
    commands: int
    slots: tuple[SlotEnergy, ...] = field(default=())

    @property
    def saving_eur(self) -> float | None:
        """Return what the plan saved against immediate charging, if known."""
        if self.immediate_cost_eur is None:
            return None
        return self.immediate_cost_eur - self.cost_eur

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-able dict (also the ``sessions --json`` row; with ``saving_eur``)."""
        data: dict[str, Any] = {}
        for key, value in to_data(self).items():
            data[key] = value
            if key == "immediate_cost_eur":
                data["saving_eur"] = self.saving_eur
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LedgerEntry:
        """Build from ``to_json`` output (rows before ``unpriced_kwh`` and ``commands``: 0)."""
        return from_data(cls, {"unpriced_kwh": 0.0, "commands": 0, **data})


def finish_session(
    session: SessionState, plugged_out_at: datetime, prices: PriceCurve, full_power_kw: float
) -> LedgerEntry:
    """Turn a session that just ended into its ledger entry.

    Args:
        session: the session, its energy already attributed to slots.
        plugged_out_at: when the car was unplugged.
        prices: the known prices (for the immediate-charging comparison).
        full_power_kw: the power immediate charging would have drawn (the car's measured
            maximum when seen, else the charger's maximum).
    """
    cost, unpriced = slot_cost_eur(session.slot_energy)
    met_at = session.target_met_at
    return LedgerEntry(
        session_id=session.session_id,
        plugged_in_at=session.plugged_in_at,
        plugged_out_at=plugged_out_at,
        ready_by=session.ready_by,
        target_kwh=session.target_kwh,
        energy_kwh=session.delivered_kwh,
        cost_eur=cost,
        unpriced_kwh=unpriced,
        immediate_cost_eur=immediate_cost(
            session.plugged_in_at, session.delivered_kwh, full_power_kw, prices
        ),
        target_met=met_at is not None and met_at <= session.ready_by,
        target_met_at=met_at,
        commands=len(session.commands),
        slots=tuple(session.slot_energy),
    )


@dataclass(frozen=True, slots=True)
class Totals:
    """Sums over the ledger.

    Attributes:
        sessions: number of sessions.
        energy_kwh: energy delivered.
        cost_eur: what it cost.
        immediate_cost_eur: what immediate charging would have cost (sessions where known).
        saving_eur: the difference (sessions where known).
        targets_met: sessions whose need was met by the deadline.
    """

    sessions: int
    energy_kwh: float
    cost_eur: float
    immediate_cost_eur: float
    saving_eur: float
    targets_met: int

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-able dict."""
        return {
            "sessions": self.sessions,
            "energy_kwh": self.energy_kwh,
            "cost_eur": self.cost_eur,
            "immediate_cost_eur": self.immediate_cost_eur,
            "saving_eur": self.saving_eur,
            "targets_met": self.targets_met,
        }


def totals(entries: list[LedgerEntry]) -> Totals:
    """Return the sums over ``entries``."""
    known = [e for e in entries if e.immediate_cost_eur is not None]
    return Totals(
        sessions=len(entries),
        energy_kwh=sum(e.energy_kwh for e in entries),
        cost_eur=sum(e.cost_eur for e in entries),
        immediate_cost_eur=sum(e.immediate_cost_eur or 0.0 for e in known),
        saving_eur=sum(e.saving_eur or 0.0 for e in known),
        targets_met=sum(1 for e in entries if e.target_met),
    )


class Ledger:
    """The finished sessions on disk.

    The document's ``version`` says which smartcharge wrote it. One written by a newer version
    is never rewritten (``record`` and ``entries`` refuse with a ``StateError``), and a row this
    version cannot parse is kept verbatim when the ledger is rewritten, never dropped.

    Args:
        state_dir: ``SMARTCHARGE_STATE_DIR``.
        clock: for naming a corrupt file moved aside.
        disk: the state folder's file system (records failed writes for ``/healthz``).
    """

    def __init__(self, state_dir: Path, clock: Clock, disk: StateDisk | None = None) -> None:
        self.path = state_dir / LEDGER_FILE
        self._clock = clock
        self._disk = disk or StateDisk()

    def _load(self) -> tuple[list[tuple[LedgerEntry, Any]], list[Any]]:
        """Return the parsed rows (each with its raw form) and the rows that do not parse.

        Raises:
            StateError: the ledger is from a newer smartcharge, is not a list of sessions, or
                cannot be read.
        """
        found = load_document(self.path, LEDGER_KIND, self._clock.now(), disk=self._disk)
        if found.problem is not None:
            log.error(
                "ledger_file_corrupt",
                path=str(self.path),
                problem=found.problem,
                moved_to=None if found.moved_to is None else str(found.moved_to),
                used_backup=found.used_backup,
            )
        if found.version is None:
            return [], []
        if found.version > LEDGER_VERSION:
            raise StateError(
                f"{self.path} was written by a newer smartcharge (ledger version "
                f"{found.version}; this one knows {LEDGER_VERSION}) and is left as it is: "
                "upgrade smartcharge, or move the file away to start a new ledger"
            )
        if not isinstance(found.data, list):
            raise StateError(
                f"{self.path} holds no list of sessions and is left as it is: move it away to "
                "start a new ledger"
            )
        parsed: list[tuple[LedgerEntry, Any]] = []
        unparsed: list[Any] = []
        for n, row in enumerate(found.data):
            try:
                parsed.append((LedgerEntry.from_json(row), row))
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                log.error("ledger_entry_unreadable", path=str(self.path), row=n, problem=str(exc))
                unparsed.append(row)
        return parsed, unparsed

    def entries(self) -> list[LedgerEntry]:
        """Return the finished sessions this version can read, oldest first.

        Raises:
            StateError: the ledger is from a newer smartcharge or cannot be read.
        """
        parsed, _ = self._load()
        return sorted((e for e, _ in parsed), key=lambda e: e.plugged_in_at)

    def record(self, entry: LedgerEntry) -> None:
        """Add ``entry``, replacing an entry with the same session id.

        Rows that do not parse are written back verbatim (after the others).

        Raises:
            StateError: the ledger cannot be read, comes from a newer smartcharge (it is not
                touched), or cannot be written; the disk records it once for ``/healthz``.
        """
        now = self._clock.now()
        try:
            parsed, unparsed = self._load()
        except StateIOError as exc:
            self._disk.failed(self.path, exc.cause, str(exc), now)
            raise
        except StateError as exc:
            self._disk.failed(self.path, "refused", str(exc), now)
            raise
        kept = [(e.plugged_in_at, row) for e, row in parsed if e.session_id != entry.session_id]
        kept.append((entry.plugged_in_at, entry.to_json()))
        rows = [row for _, row in sorted(kept, key=lambda item: item[0])] + unparsed
        save_document(self.path, LEDGER_KIND, LEDGER_VERSION, rows, disk=self._disk, now=now)


def in_cents(cost_eur: float, immediate_cost_eur: float) -> tuple[str, str, str]:
    """Return cost, immediate-charging cost and saving as EUR texts that add up.

    The cost and the saving are each rounded once, to whole cents; the immediate cost shown is
    their sum. Rounding the three separately can show a saving that differs by a cent from
    the difference of the two costs beside it (4.20 and 5.59 with a saving of 1.40).
    """
    cost_ct = round(cost_eur * 100)
    saving_ct = round((immediate_cost_eur - cost_eur) * 100)
    return f"{cost_ct / 100:.2f}", f"{(cost_ct + saving_ct) / 100:.2f}", f"{saving_ct / 100:.2f}"


def ledger_text(entries: list[LedgerEntry], timezone: tzinfo) -> str:
    """Return the ledger as a table with the totals (``smartcharge sessions``)."""
    lines = [
        "  plugged in        plugged out       energy      cost  immediate  saving  target met",
    ]
    for e in entries:
        cost = f"{e.cost_eur:.2f}"
        immediate, saving = "     -   ", "    -  "
        if e.immediate_cost_eur is not None:
            cost, immediate, saving = in_cents(e.cost_eur, e.immediate_cost_eur)
        lines.append(
            f"  {e.plugged_in_at.astimezone(timezone):%Y-%m-%d %H:%M}  "
            f"{e.plugged_out_at.astimezone(timezone):%Y-%m-%d %H:%M}  "
            f"{e.energy_kwh:6.2f} kWh {cost:>7} {immediate:>9} {saving:>7}  "
            f"{'yes' if e.target_met else 'NO'}"
        )
    t = totals(entries)
    cost, immediate, saving = (
        f"{t.cost_eur:.2f}",
        f"{t.immediate_cost_eur:.2f}",
        f"{t.saving_eur:.2f}",
    )
    if all(e.immediate_cost_eur is not None for e in entries):
        cost, immediate, saving = in_cents(t.cost_eur, t.immediate_cost_eur)
    lines.append(
        f"  total: {t.sessions} session(s), {t.energy_kwh:.2f} kWh, EUR {cost} "
        f"(immediate charging: EUR {immediate}; saved EUR {saving}); "
        f"target met {t.targets_met}/{t.sessions}"
    )
    return "\n".join(lines)
