"""Commands sent by hand with ``smartcharge charger ...``, told to the daemon via the state dir.

A pause, resume or current change made with the CLI beside a running daemon is the user's by
definition (issue 11 §5). The CLI records each one it sent in ``manual-commands.json`` in the
shared state dir; the daemon reads the file at every tick and takes what is newer than what it
has seen for the user's choice at once, without waiting for a reading to differ from its own
baseline (which a command of its own still pending would explain away).

The file is a checksummed document (``smartcharge.storage``) holding the last few commands;
a corrupt one is moved aside like every other state file.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

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
    """A command the user sent by hand.

    Attributes:
        command: what was sent.
        at: when the cloud accepted it (UTC).
        charger_id: the charger it went to.
    """

    command: Command
    at: datetime
    charger_id: int

    def to_json(self) -> dict[str, Any]:
        """Return a JSON-able dict."""
        return {
            "kind": self.command.kind.value,
            "value": self.command.value,
            "at": self.at.isoformat(),
            "charger_id": self.charger_id,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ManualCommand:
        """Build from ``to_json`` output.

        Raises:
            KeyError, TypeError, ValueError: the entry is not one.
        """
        value = data.get("value")
        at = datetime.fromisoformat(str(data["at"]))
        if at.tzinfo is None:
            raise ValueError(f"naive time in {MANUAL_FILE}: {data['at']!r}")
        return cls(
            Command(CommandKind(data["kind"]), None if value is None else float(value)),
            at,
            int(data["charger_id"]),
        )


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
            out.append(ManualCommand.from_json(item))
        except (KeyError, TypeError, ValueError):
            continue
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
    save_document(path, MANUAL_KIND, MANUAL_VERSION, [m.to_json() for m in kept])


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
