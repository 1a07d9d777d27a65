"""The learnt car profile in the state dir: ``car_profile.json`` (``smartcharge.carprofile``).

One versioned, checksummed document written atomically with a ``.bak`` copy, like the state
file (``smartcharge.storage``). A corrupt file is moved aside and logged
(``car_profile_file_corrupt``); the daemon then plans with the nominal power until the next
session teaches it again.

Version history: 1 is the first.
"""

from __future__ import annotations

from pathlib import Path

import structlog

from smartcharge.carprofile import CarProfile
from smartcharge.clock import Clock
from smartcharge.storage import StateDisk, load_document, move_aside, save_document

log = structlog.get_logger(__name__)

CAR_PROFILE_FILE = "car_profile.json"
CAR_PROFILE_KIND = "smartcharge-car-profile"
CAR_PROFILE_VERSION = 1


class CarProfileStore:
    """Loads and saves the ``CarProfile`` in the state dir.

    Args:
        state_dir: ``SMARTCHARGE_STATE_DIR``.
        clock: for the name of a corrupt file moved aside.
        disk: the state folder's file system (records failed saves for ``/healthz``).
    """

    def __init__(self, state_dir: Path, clock: Clock, disk: StateDisk | None = None) -> None:
        self.path = state_dir / CAR_PROFILE_FILE
        self._clock = clock
        self._disk = disk or StateDisk()

    def load(self) -> CarProfile | None:
        """Return the learnt profile, or None when there is none or it is unusable.

        Raises:
            StateIOError: the file is there but cannot be read.
        """
        found = load_document(self.path, CAR_PROFILE_KIND, self._clock.now(), disk=self._disk)
        if found.problem is not None:
            log.error("car_profile_file_corrupt", path=str(self.path), problem=found.problem)
        if found.version is None or not isinstance(found.data, dict):
            return None
        try:
            return CarProfile.from_json(found.data)
        except (KeyError, TypeError, ValueError) as exc:
            moved = None if found.used_backup else move_aside(self.path, self._clock.now())
            log.error(
                "car_profile_file_corrupt",
                path=str(self.path),
                problem=f"{self.path}: content does not parse ({exc})",
                moved_to=None if moved is None else str(moved),
            )
            return None

    def save(self, profile: CarProfile) -> None:
        """Write ``profile`` atomically.

        Raises:
            StateError: the file cannot be written (the previous content stays).
        """
        save_document(
            self.path,
            CAR_PROFILE_KIND,
            CAR_PROFILE_VERSION,
            profile.to_json(),
            disk=self._disk,
            now=self._clock.now(),
        )
