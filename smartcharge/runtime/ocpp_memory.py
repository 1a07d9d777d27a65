"""The OCPP link's memory across a restart in the state dir: ``ocpp_link.json``.

What is kept and why is ``smartcharge.ocpp.memory``'s (the profile kind, the transaction
counter, the running transaction and its start register). Here it is one versioned, checksummed
document written atomically with a ``.bak`` copy (``smartcharge.storage``), on the state dir's
``StateDisk`` (a failed save is logged once there and shown by ``/healthz``). An unusable file
is moved aside and logged (``ocpp_memory_file_corrupt``); the link then starts afresh (its
first reading of a running transaction is the base).

Version history: 1 is the first.
"""

from __future__ import annotations

from pathlib import Path

import structlog

from smartcharge.clock import Clock
from smartcharge.errors import StateError
from smartcharge.ocpp.memory import LinkMemory
from smartcharge.storage import StateDisk, load_document, move_aside, save_document

log = structlog.get_logger(__name__)

OCPP_MEMORY_FILE = "ocpp_link.json"
OCPP_MEMORY_KIND = "smartcharge-ocpp-link"
OCPP_MEMORY_VERSION = 1


class LinkMemoryStore:
    """Loads and saves the ``LinkMemory`` in the state dir.

    Args:
        state_dir: ``SMARTCHARGE_STATE_DIR``.
        clock: for the name of a corrupt file moved aside.
        disk: the state folder's file system (records failed saves for ``/healthz``).
    """

    def __init__(self, state_dir: Path, clock: Clock, disk: StateDisk | None = None) -> None:
        self.path = state_dir / OCPP_MEMORY_FILE
        self._clock = clock
        self._disk = disk or StateDisk()

    def load(self) -> LinkMemory | None:
        """Return the memory, or None when there is none or it is unusable.

        Raises:
            StateIOError: the file is there but cannot be read.
        """
        found = load_document(self.path, OCPP_MEMORY_KIND, self._clock.now(), disk=self._disk)
        if found.problem is not None:
            log.error("ocpp_memory_file_corrupt", path=str(self.path), problem=found.problem)
        if found.version is None or not isinstance(found.data, dict):
            return None
        try:
            return LinkMemory.from_json(found.data)
        except (KeyError, TypeError, ValueError) as exc:
            moved = None if found.used_backup else move_aside(self.path, self._clock.now())
            log.error(
                "ocpp_memory_file_corrupt",
                path=str(self.path),
                problem=f"{self.path}: content does not parse ({exc})",
                moved_to=None if moved is None else str(moved),
            )
            return None

    def save(self, memory: LinkMemory) -> bool:
        """Write ``memory`` atomically; True if written.

        A failure is recorded on the disk (logged once there, shown by ``/healthz``) and
        retried at the next change; the link goes on from what it holds.
        """
        try:
            save_document(
                self.path,
                OCPP_MEMORY_KIND,
                OCPP_MEMORY_VERSION,
                memory.to_json(),
                disk=self._disk,
                now=self._clock.now(),
            )
        except StateError:
            return False
        return True


__all__ = ["OCPP_MEMORY_FILE", "OCPP_MEMORY_KIND", "OCPP_MEMORY_VERSION", "LinkMemoryStore"]
