"""The daemon's persistent state: the session in progress and what the daemon last did.

One versioned, checksummed JSON document, ``<state dir>/state.json``, written atomically with a
``.bak`` copy (``smartcharge.storage``). It holds everything needed to carry on after a restart
or a crash at any instant: the session (plug-in time, need, plan, delivered energy, energy per
price slot, every command sent with its time and reason), the daemon's baseline for the
manual-override rule, the user's hold, and the last contact with the cloud and with ENTSO-E.

A corrupt file (its checksum or its content does not parse) is moved aside
(``state_file_corrupt`` is logged) and the ``.bak`` copy or a fresh state is used: never a crash
loop. A file that cannot be *read* (permission denied, an I/O error) is not corrupt: ``load``
raises ``StateIOError`` and leaves it alone, so the daemon exits 2 at start instead of starting
the session again from zero. Prices and the token have their own files (the price cache and the
token store).

One codec (``smartcharge.codec``) writes the frozen types of ``smartcharge.session.model``; no
type has a hand-written pair of functions.

Version history: 1 is the first; 2 (issue 13) writes a command as ``{"kind", "value"}`` inside
the sent and pending records, the last reading as a whole charger snapshot and the next action
as a typed value, and saves what the daemon kept only in memory before (``_migrate`` brings a
version 1 file up).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import structlog

from smartcharge.clock import Clock
from smartcharge.codec import from_data, to_data
from smartcharge.errors import StateError
from smartcharge.session.model import DaemonState
from smartcharge.storage import StateDisk, load_document, move_aside, save_document

log = structlog.get_logger(__name__)

STATE_FILE = "state.json"
STATE_KIND = "smartcharge-state"
STATE_VERSION = 2
# Keep the command log of a session bounded: a session sends a few dozen commands a night.
MAX_COMMANDS_KEPT = 500


def state_to_data(state: DaemonState) -> Any:
    """Return ``state`` as the JSON data of the state file (its command log bounded)."""
    session = state.session
    if session is not None and len(session.commands) > MAX_COMMANDS_KEPT:
        state = replace(
            state, session=replace(session, commands=session.commands[-MAX_COMMANDS_KEPT:])
        )
    return to_data(state)


def state_from_data(data: Any) -> DaemonState:
    """Build the state from what ``state_to_data`` wrote.

    Raises:
        ValueError, KeyError, TypeError: the data does not fit.
    """
    return from_data(DaemonState, data)


def _command_v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    """Nest a version 1 record's ``kind`` and ``value`` as its ``command``."""
    out = {k: v for k, v in data.items() if k not in ("kind", "value")}
    out["command"] = {"kind": data["kind"], "value": data.get("value")}
    return out


def _v1_to_v2(data: Any) -> Any:
    """Bring a version 1 document to version 2.

    Version 1 kept the last reading without the charger id, the installation's ceiling and the
    lock: it is dropped (it is for ``smartcharge status`` only, and the next poll writes it
    again). An empty next action or hold is none.
    """
    if not isinstance(data, dict):
        return data
    out = dict(data)
    out["last_status"] = None
    out["next_action"] = data.get("next_action") or None
    if isinstance(data.get("last_command"), dict):
        out["last_command"] = _command_v1_to_v2(data["last_command"])
    session = data.get("session")
    if isinstance(session, dict):
        session = dict(session)
        session["hold"] = session.get("hold") or None
        session["baseline"] = session.get("baseline") or {}
        session["commands"] = [_command_v1_to_v2(c) for c in session.get("commands", [])]
        session["pending"] = [_command_v1_to_v2(p) for p in session.get("pending", [])]
        out["session"] = session
    return out


def _migrate(version: int, data: Any) -> Any:
    """Bring an older document up to ``STATE_VERSION``."""
    if version > STATE_VERSION:
        raise StateError(
            f"the state file has version {version}, newer than this smartcharge understands"
            f" ({STATE_VERSION}); upgrade smartcharge or move the file away"
        )
    if version == 1:
        data = _v1_to_v2(data)
    return data


class StateStore:
    """Loads and saves ``DaemonState`` in the state dir.

    Args:
        state_dir: ``SMARTCHARGE_STATE_DIR``.
        clock: for the ``saved_at`` stamp and the name of a corrupt file moved aside.
        disk: the state folder's file system (records failed saves for ``/healthz``).
    """

    def __init__(self, state_dir: Path, clock: Clock, disk: StateDisk | None = None) -> None:
        self.path = state_dir / STATE_FILE
        self._clock = clock
        self._disk = disk or StateDisk()

    def load(self) -> DaemonState:
        """Return the saved state, or a fresh one when there is none or it is unusable.

        Raises:
            StateError: the file comes from a newer smartcharge (refusing beats losing it).
            StateIOError: the file is there but cannot be read (nothing is moved or reset).
        """
        found = load_document(self.path, STATE_KIND, self._clock.now(), disk=self._disk)
        if found.problem is not None:
            log.error(
                "state_file_corrupt",
                path=str(self.path),
                problem=found.problem,
                moved_to=None if found.moved_to is None else str(found.moved_to),
                used_backup=found.used_backup,
            )
        if found.version is None:
            return DaemonState()
        data = _migrate(found.version, found.data)
        try:
            return state_from_data(data)
        except (KeyError, TypeError, ValueError) as exc:
            # Content that does not parse is corrupt: move it aside, never overwrite it.
            moved = None if found.used_backup else move_aside(self.path, self._clock.now())
            log.error(
                "state_file_corrupt",
                path=str(self.path),
                problem=f"{self.path}: content does not parse ({exc})",
                moved_to=None if moved is None else str(moved),
                used_backup=False,
            )
            return DaemonState()

    def save(self, state: DaemonState) -> DaemonState:
        """Write ``state`` atomically (temp file, fsync, rename; the old copy kept as .bak).

        Returns:
            ``state`` with its ``saved_at`` stamp, as written.

        Raises:
            StateError: the file cannot be written (the previous content stays).
        """
        saved = replace(state, saved_at=self._clock.now())
        save_document(
            self.path,
            STATE_KIND,
            STATE_VERSION,
            state_to_data(saved),
            disk=self._disk,
            now=saved.saved_at,
        )
        return saved

    def exists(self) -> bool:
        """Return whether a state file is there."""
        return self.path.exists()
