"""Commands sent by hand with ``smartcharge charger ...``, told to the daemon via the state dir.

A pause, resume or current change made with the CLI beside a running daemon is the user's by
definition (issue 11 §5). The CLI records each one it sent in ``manual-commands.json`` in the
shared state dir; the daemon reads the file at every tick and takes what is newer than what it
has seen for the user's choice at once, without waiting for a reading to differ from its own
baseline (which a command of its own still pending would explain away).

The file is a checksummed document (``smartcharge.storage``) holding the last few commands,
each written by the shared codec (``smartcharge.codec``); a corrupt file is moved aside like
every other state file, and an entry that does not read is skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from smartcharge.codec import from_data, to_data
from smartcharge.domain import Command, CommandKind
from smartcharge.errors import StateError
from smartcharge.session.model import DaemonState
from smartcharge.session.override import ManualCommandSeen
from smartcharge.storage import load_document, save_document

MANUAL_FILE = "manual-commands.json"
MANUAL_KIND = "smartcharge-manual-commands"
MANUAL_VERSION = 1
# Only the newest few matter: the daemon reads the file every 60-120 s.
MANUAL_KEPT = 20
# The commands the daemon's manual-override rule cares about.
TRACKED = frozenset({CommandKind.PAUSE, CommandKind.RESUME, CommandKind.SET_MAX_CURRENT})


@dataclass(frozen=True, slots=True)
class ManualCommand:
    """A command the user sent by hand, as saved (``smartcharge.codec``, one entry per command).

    The fields are flat so the file keeps the shape of version 1, written by hand before:
    ``{"kind", "value", "at", "charger_id"}``.

    Attributes:
        kind: what was sent.
        value: amps for SET_MAX_CURRENT, else None.
        at: when the cloud accepted it (UTC).
        charger_id: the charger it went to.
    """

    kind: CommandKind
    value: float | None
    at: datetime
    charger_id: int

    @classmethod
    def of(cls, command: Command, at: datetime, charger_id: int) -> ManualCommand:
        """Return the record of ``command``, sent to ``charger_id`` and accepted at ``at``."""
        return cls(command.kind, command.value, at, charger_id)

    @property
    def command(self) -> Command:
        """Return what was sent."""
        return Command(self.kind, self.value)


def _load(path: Path, now: datetime) -> list[ManualCommand]:
    try:
        found = load_document(path, MANUAL_KIND, now)
    except StateError:
        # There but unreadable (an OS error, see smartcharge.storage): nothing to learn from
        # it now; the daemon's next tick reads it again. Never a reason to stop a tick.
        return []
    if found.version is None or not isinstance(found.data, list):
        return []
    out: list[ManualCommand] = []
    for item in found.data:
        try:
            out.append(from_data(ManualCommand, item))
        except (KeyError, TypeError, ValueError):
            continue  # one unreadable entry costs only itself
    return out


def record_manual_command(state_dir: Path, manual: ManualCommand) -> None:
    """Add ``manual`` to the state dir's record, if the daemon cares about its kind.

    Raises:
        StateError: the file cannot be written.
    """
    if manual.command.kind not in TRACKED:
        return
    path = state_dir / MANUAL_FILE
    kept = [*_load(path, manual.at), manual][-MANUAL_KEPT:]
    save_document(path, MANUAL_KIND, MANUAL_VERSION, to_data(kept))


def manual_commands_after(
    state_dir: Path, charger_id: int, after: datetime | None, now: datetime
) -> tuple[ManualCommand, ...]:
    """Return the commands sent by hand to ``charger_id`` after ``after``, oldest first."""
    path = state_dir / MANUAL_FILE
    if not path.exists():
        return ()
    found = [
        m
        for m in _load(path, now)
        if m.charger_id == charger_id and (after is None or m.at > after)
    ]
    return tuple(sorted(found, key=lambda m: m.at))


def manual_commands_seen(
    state_dir: Path, state: DaemonState, charger_id: int, now: datetime
) -> tuple[ManualCommandSeen, ...]:
    """Return the commands sent by hand in the session and not yet taken into account.

    Only commands sent during the session count (the file outlives sessions).
    """
    session = state.session
    if session is None:
        return ()
    after = session.plugged_in_at
    if state.manual_seen_at is not None:
        after = max(after, state.manual_seen_at)
    found = manual_commands_after(state_dir, charger_id, after, now)
    return tuple(ManualCommandSeen(m.command, m.at) for m in found)
