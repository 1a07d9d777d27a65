"""What the account's shared budget file holds, apart from the limiter that spends it.

The kinds of call and their budgets, the file's name for an account, the daemons registered as
driving a charger, and how this process's copy of the file takes in what other processes wrote
(``merge``). Plain data and pure functions; ``limiter.py`` reads and writes the file.
"""

from __future__ import annotations

import copy
import enum
import hashlib
import math
import os
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from smartcharge.codec import from_data, to_data
from smartcharge.domain import ChargerSnapshot

__all__ = [
    "DRIVER_TTL",
    "Budget",
    "CallKind",
    "Driver",
    "budget_file_name",
    "budget_lock_name",
    "is_alive",
    "merge",
    "parse_instant",
    "snapshot_from_json",
    "snapshot_to_json",
]

# A daemon renews its entry with its reads (at least every few minutes); an entry whose process
# is gone, or not renewed for this long (a daemon in another pid namespace, e.g. a container,
# that was killed), no longer counts.
DRIVER_TTL = timedelta(minutes=30)


def budget_file_name(username: str) -> str:
    """Return the budget file's name for ``username`` (a hash: no e-mail address in a name).

    The cloud treats e-mail addresses case-insensitively, so ``A@x.com`` and ``a@x.com`` share.
    """
    digest = hashlib.sha256(username.strip().lower().encode()).hexdigest()[:16]
    return f"wallbox-budget-{digest}.json"


def budget_lock_name(username: str) -> str:
    """Return the name of the budget file's lock file for ``username``."""
    return budget_file_name(username).removesuffix(".json") + ".lock"


class CallKind(enum.StrEnum):
    """What a budgeted call is."""

    READ = "read"  # a GET on api.wall-box.com
    WRITE = "write"  # a PUT/POST on api.wall-box.com
    SIGNIN = "signin"  # a sign-in on user-api.wall-box.com (each opens a server session, §2.4)


@dataclass(frozen=True, slots=True)
class Budget:
    """At most ``capacity`` calls in any ``window_s`` seconds."""

    capacity: int
    window_s: float

    @classmethod
    def per_minute(cls, rate: float) -> Budget:
        """Return the budget for ``rate`` calls a minute (fractional rates allowed)."""
        if rate <= 0:
            raise ValueError("a rate must be positive")
        capacity = max(1, math.floor(rate))
        return cls(capacity, capacity * 60.0 / rate)

    @classmethod
    def per_hour(cls, count: int) -> Budget:
        """Return the budget for ``count`` calls an hour."""
        return cls(max(1, count), 3600.0)


def parse_instant(text: Any) -> datetime | None:
    """Return the aware instant ``text`` holds (ISO 8601), or None."""
    if not isinstance(text, str):
        return None
    try:
        instant = datetime.fromisoformat(text)
    except ValueError:
        return None
    return instant if instant.tzinfo is not None else None


def snapshot_to_json(snapshot: ChargerSnapshot) -> Any:
    """Return ``snapshot`` as plain JSON data (``smartcharge.codec``, as the state writes it)."""
    return to_data(snapshot)


def snapshot_from_json(data: Any) -> ChargerSnapshot | None:
    """Return the snapshot stored by ``snapshot_to_json``, or None if it is not one."""
    try:
        return from_data(ChargerSnapshot, data)
    except (KeyError, TypeError, ValueError):
        return None


def merge(mine: dict[str, Any], theirs: dict[str, Any]) -> dict[str, Any]:
    """Return this process's data with the calls and back-off other processes recorded."""
    out = copy.deepcopy(mine)
    calls = out.setdefault("calls", {})
    for kind, times in (theirs.get("calls") or {}).items():
        if isinstance(times, list):
            calls[kind] = sorted(
                set(calls.get(kind, [])) | {t for t in times if isinstance(t, str)}
            )
    theirs_until = parse_instant(theirs.get("backoff_until"))
    mine_until = parse_instant(out.get("backoff_until"))
    if theirs_until is not None and (mine_until is None or theirs_until > mine_until):
        out["backoff_until"] = theirs_until.isoformat()
    return out


@dataclass(frozen=True, slots=True)
class Driver:
    """A daemon that drives one charger of the account."""

    charger_id: int
    pid: int
    state_dir: str
    seen_at: datetime


def is_alive(pid: int) -> bool:
    """Return whether process ``pid`` exists (on this machine)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    except OSError:
        return False
    return True
