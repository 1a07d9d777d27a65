"""One call budget per Wallbox account, shared by every smartcharge process that uses it.

The cloud rate-limits per account, hard and by surprise (wallbox-api.md §9: announced 3 reads
and 5 writes a minute, seen since about 1 read a minute, then 429 or 403). So every call to
``api.wall-box.com`` first takes a slot here, and every process using the account spends the
same budget: a ``smartcharge charger ...`` run beside the daemon, and two state dirs of one
account (two chargers, or a CLI run from another folder). The times of recent calls live in
``wallbox-budget-<hash>.json`` in the budget dir (``SMARTCHARGE_WALLBOX_BUDGET_DIR``, by
default the state dir), where ``<hash>`` is a hash of the account's username, so the file is
the account's and its name gives no e-mail address away. It is read and written under an
exclusive ``fcntl.flock`` on ``wallbox-budget-<hash>.lock``. Two machines using one account
cannot share it: their budgets must be split by hand (README, "The Wallbox cloud").

Each budget is a token bucket of ``capacity = max(1, floor(rate))`` tokens that refills
completely every ``capacity * 60 / rate`` seconds, kept as the log of the calls themselves: a
call may go out when fewer than ``capacity`` calls were made in the last window. That never
lets more than ``rate`` calls a minute through, in any minute, for any mix of processes.

A call that never reached the cloud (no connection: DNS, refused, TLS) gives its slot back
(``refund``); so does a sign-in that got no answer, since only answered sign-ins can lock the
account out.

The same file holds the whole-client back-off (after a 429 or a polling 403 every process
waits), the last charger status with the time it was read (so a status asked for again soon is
answered from it, with its age), the outcome of the last answered sign-in, the charger ids found
on the account, and which daemons drive which charger (the poll interval grows with their
number). It never holds a secret. Time comes from the injected clock.

A disk that cannot be written (full, read-only, gone) never stops a call: the budget is kept in
memory, the file is tried again on every use, and the failure goes to the ``StateDisk`` (one
``state_write_failed`` per cause, and ``/healthz`` says so). Until a save succeeds again this
process trusts its memory and adds what other processes managed to record.

The file's contents as data (the kinds of call, the budgets, the registered daemons, how two
copies merge) live in ``budget.py``; this module reads and writes the file under its lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import fcntl
import os
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import structlog

from smartcharge.clock import Clock
from smartcharge.domain import ChargerSnapshot
from smartcharge.errors import StateError
from smartcharge.storage import (
    StateDisk,
    StateIOError,
    ensure_private_dir,
    load_document,
    save_document,
)
from smartcharge.wallbox.budget import (
    DRIVER_TTL,
    Budget,
    CallKind,
    Driver,
    budget_file_name,
    budget_lock_name,
    is_alive,
    merge,
    parse_instant,
    snapshot_from_json,
    snapshot_to_json,
)
from smartcharge.wallbox.errors import WallboxRateLimitedError

log = structlog.get_logger(__name__)

__all__ = [
    "Budget",
    "CallKind",
    "Driver",
    "RateLimiter",
    "budget_file_name",
    "budget_lock_name",
]

_KIND = "wallbox_limiter"
_VERSION = 1


class RateLimiter:
    """The call budgets of one account, persisted in ``budget_dir`` and shared across processes.

    Args:
        budget_dir: the folder shared by every smartcharge process of this account
            (Settings.wallbox_budget_dir, by default the state dir).
        clock: the time source (every instant recorded comes from it).
        username: the account; the file's name is a hash of it.
        reads_per_minute: the GET budget (Settings.wallbox_reads_per_minute).
        writes_per_minute: the PUT/POST budget (Settings.wallbox_writes_per_minute).
        signins_per_hour: the sign-in budget (Settings.wallbox_signins_per_hour).
        disk: the state folder's file system (shared with the daemon's other stores).
    """

    def __init__(
        self,
        budget_dir: Path,
        clock: Clock,
        *,
        username: str,
        reads_per_minute: float = 1.0,
        writes_per_minute: float = 3.0,
        signins_per_hour: int = 3,
        disk: StateDisk | None = None,
    ) -> None:
        self._dir = budget_dir
        self._disk = disk or StateDisk()
        # The last data this process knew, and whether the file lags behind it.
        self._memory: dict[str, Any] = {}
        self._unsaved = False
        self.path = budget_dir / budget_file_name(username)
        self._lock_path = budget_dir / budget_lock_name(username)
        self._clock = clock
        self.budgets = {
            CallKind.READ: Budget.per_minute(reads_per_minute),
            CallKind.WRITE: Budget.per_minute(writes_per_minute),
            CallKind.SIGNIN: Budget.per_hour(signins_per_hour),
        }
        # One waiter at a time per kind inside this process, so waiters go out in order.
        self._waiters = {kind: asyncio.Lock() for kind in CallKind}

    # --- the shared file

    @contextlib.contextmanager
    def _locked(self) -> Iterator[dict[str, Any]]:
        """Hold the cross-process lock; yield the shared data; write it back if changed.

        The lock is held only for a read-modify-write of a small file, never across an await,
        so a blocking ``flock`` costs the event loop microseconds. A lock, read or write that
        fails falls back to this process's memory (see the module docstring); it never raises.
        """
        now = self._clock.now()
        fd = self._open_lock(now)
        try:
            data = self._read(now)
            before = repr(data)
            yield data
            self._memory = copy.deepcopy(data)
            if self._unsaved or repr(data) != before:
                try:
                    save_document(
                        self.path, _KIND, _VERSION, data, disk=self._disk, now=self._clock.now()
                    )
                    self._unsaved = False
                except StateError:
                    self._unsaved = True  # logged once by the disk; retried on the next use
        finally:
            if fd is not None:
                os.close(fd)  # closing the descriptor releases the flock

    def _open_lock(self, now: datetime) -> int | None:
        """Return the locked descriptor of the lock file, or None when it cannot be had."""
        try:
            ensure_private_dir(self._dir)
            fd = self._disk.open_lock(self._lock_path)
        except StateError as exc:
            self._disk.failed(self._lock_path, "state_dir", str(exc), now, op="lock")
            return None
        except OSError as exc:
            err = StateIOError("open the lock file", self._lock_path, exc, self._dir)
            self._disk.failed(self._lock_path, err.cause, str(err), now, op="lock")
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError as exc:
            os.close(fd)
            err = StateIOError("lock", self._lock_path, exc, self._dir)
            self._disk.failed(self._lock_path, err.cause, str(err), now, op="lock")
            return None
        self._disk.saved(self._lock_path, op="lock")
        return fd

    def _read(self, now: datetime) -> dict[str, Any]:
        """Return the shared data: the file's, or memory while the file cannot be had."""
        try:
            result = load_document(self.path, _KIND, now, disk=self._disk)
        except StateIOError as exc:
            self._disk.failed(self.path, exc.cause, str(exc), now, op="read")
            self._unsaved = True
            return copy.deepcopy(self._memory)
        self._disk.saved(self.path, op="read")
        if result.problem:
            log.warning("wallbox_limiter_file_corrupt", path=str(self.path))
        data: dict[str, Any] = result.data if isinstance(result.data, dict) else {}
        if self._unsaved:
            data = merge(self._memory, data)
        return data

    def _calls(self, data: dict[str, Any], kind: CallKind, now: datetime) -> list[datetime]:
        """Return the recorded calls of ``kind`` still inside its window, oldest first."""
        budget = self.budgets[kind]
        window = timedelta(seconds=budget.window_s)
        raw = data.get("calls", {}).get(kind.value, [])
        calls = sorted(t for t in (parse_instant(x) for x in raw) if t is not None)
        # Drop calls that left the window; also nonsense far in the future (a clock jump).
        return [t for t in calls if now - window < t <= now + window]

    def _next_slot(self, data: dict[str, Any], kind: CallKind, now: datetime) -> datetime:
        budget = self.budgets[kind]
        calls = self._calls(data, kind, now)
        slot = now
        if len(calls) >= budget.capacity:
            slot = calls[-budget.capacity] + timedelta(seconds=budget.window_s)
        if kind is not CallKind.SIGNIN:
            backoff = parse_instant(data.get("backoff_until"))
            if backoff is not None and backoff > slot:
                slot = backoff
        return max(slot, now)

    def reserve(self, kind: CallKind) -> datetime | None:
        """Take a slot for a call of ``kind`` now if one is free.

        Returns:
            None when the call may go out now (the slot is recorded at ``clock.now()``),
            otherwise the instant the next slot frees up (nothing recorded).
        """
        taken = self.take(kind)
        return taken[1] if taken[0] is None else None

    def take(self, kind: CallKind) -> tuple[datetime | None, datetime]:
        """Take a slot now if one is free.

        Returns:
            The instant recorded (for ``refund``), or None when no slot is free; and the
            instant the next slot frees up (now when one was taken).
        """
        now = self._clock.now()
        with self._locked() as data:
            slot = self._next_slot(data, kind, now)
            if slot > now:
                return None, slot
            calls = self._calls(data, kind, now)
            calls.append(now)
            data.setdefault("calls", {})[kind.value] = [t.isoformat() for t in calls]
            return now, now

    def refund(self, kind: CallKind, at: datetime) -> None:
        """Give back the slot taken at ``at``: the call never reached the cloud."""
        with self._locked() as data:
            raw = data.get("calls", {}).get(kind.value, [])
            stamp = at.isoformat()
            if stamp in raw:
                raw.remove(stamp)
                data["calls"][kind.value] = raw

    def next_slot(self, kind: CallKind) -> datetime:
        """Return when the next call of ``kind`` may go out (now if it may go now)."""
        now = self._clock.now()
        with self._locked() as data:
            return self._next_slot(data, kind, now)

    async def acquire(
        self,
        kind: CallKind,
        *,
        max_wait_s: float | None = None,
        on_wait: Callable[[CallKind, datetime], None] | None = None,
    ) -> datetime:
        """Wait on the clock until a slot for ``kind`` is free, and take it.

        Args:
            kind: what the call is.
            max_wait_s: give up rather than wait longer than this (0: never wait).
            on_wait: called before waiting, with the instant waited for (again if it moves),
                so a person can be told at once what they are waiting for.

        Returns:
            The instant the slot was recorded at (for ``refund``).

        Raises:
            WallboxRateLimitedError: the wait would exceed ``max_wait_s``.
        """
        async with self._waiters[kind]:
            announced: datetime | None = None
            while True:
                taken, slot = self.take(kind)
                if taken is not None:
                    return taken
                wait_s = (slot - self._clock.now()).total_seconds()
                if max_wait_s is not None and wait_s > max_wait_s:
                    raise WallboxRateLimitedError(
                        f"Wallbox cloud: the {kind.value} budget is spent; next call at "
                        f"{slot.isoformat(timespec='seconds')}",
                        retry_at=slot,
                    )
                if on_wait is not None and announced != slot:
                    on_wait(kind, slot)
                announced = slot
                # Worth an info line when a person may be waiting (e.g. the CLI after discovery).
                level = log.info if wait_s >= 5 else log.debug
                level("wallbox_call_delayed", kind=kind.value, wait_s=round(wait_s, 3))
                await self._clock.sleep(max(wait_s, 0.0))

    # --- whole-client back-off

    def back_off(self, until: datetime) -> None:
        """Hold every read and write, of every process, until ``until``."""
        with self._locked() as data:
            current = parse_instant(data.get("backoff_until"))
            if current is None or until > current:
                data["backoff_until"] = until.isoformat()

    def backoff_until(self) -> datetime | None:
        """Return the end of the current back-off, or None when there is none."""
        now = self._clock.now()
        with self._locked() as data:
            until = parse_instant(data.get("backoff_until"))
        return until if until is not None and until > now else None

    def note_signin(self, *, rejected: bool, outcome: str) -> None:
        """Record the outcome of an answered sign-in (so later processes can say so).

        Args:
            rejected: the cloud refused the credentials.
            outcome: what the cloud did, for people ("accepted the credentials", ...).
        """
        with self._locked() as data:
            data["signin_rejected"] = rejected
            data["signin_outcome"] = outcome
            data["signin_answered_at"] = self._clock.now().isoformat()

    def last_signin_rejected(self) -> bool:
        """Return whether the cloud rejected the credentials at the last answered sign-in."""
        with self._locked() as data:
            return bool(data.get("signin_rejected", False))

    def last_signin(self) -> tuple[datetime | None, str | None]:
        """Return when the cloud last answered a sign-in, and what it did (None: unknown)."""
        with self._locked() as data:
            outcome = data.get("signin_outcome")
            return (
                parse_instant(data.get("signin_answered_at")),
                outcome if isinstance(outcome, str) else None,
            )

    # --- the last status, and the chargers of the account

    def store_status(self, snapshot: ChargerSnapshot) -> None:
        """Remember ``snapshot`` as the latest known status of its charger."""
        with self._locked() as data:
            data.setdefault("status", {})[str(snapshot.charger_id)] = snapshot_to_json(snapshot)

    def forget_status(self, charger_id: int) -> None:
        """Drop the stored status of ``charger_id`` (a write is about to change it).

        Until the write's answer is stored, every process must read the charger afresh
        rather than act on what it was before: a write whose answer is lost, or a process
        killed after the charger applied it, must not lead to the same command again.
        """
        with self._locked() as data:
            data.get("status", {}).pop(str(charger_id), None)

    def cached_status(self, charger_id: int) -> ChargerSnapshot | None:
        """Return the latest stored status of ``charger_id``, whoever read it."""
        with self._locked() as data:
            return snapshot_from_json(data.get("status", {}).get(str(charger_id)))

    def store_chargers(self, username: str, charger_ids: list[int]) -> None:
        """Remember which chargers ``username``'s account has."""
        with self._locked() as data:
            data.setdefault("chargers", {})[username] = list(charger_ids)

    # --- the daemons that drive the account's chargers

    def register_driver(self, charger_id: int, state_dir: Path) -> None:
        """Record (or renew) that this daemon process drives ``charger_id`` from ``state_dir``."""
        now = self._clock.now()
        me = {"pid": os.getpid(), "state_dir": str(state_dir)}
        with self._locked() as data:
            kept = [
                entry
                for entry in data.get("drivers", [])
                if isinstance(entry, dict)
                and {"pid": entry.get("pid"), "state_dir": entry.get("state_dir")} != me
            ]
            kept.append({**me, "charger_id": charger_id, "seen_at": now.isoformat()})
            data["drivers"] = kept

    def drivers(self) -> list[Driver]:
        """Return the daemons (still running, registered within ``DRIVER_TTL``) of the account."""
        now = self._clock.now()
        with self._locked() as data:
            raw = list(data.get("drivers", []))
        found: list[Driver] = []
        for entry in raw:
            if not isinstance(entry, dict):
                continue
            seen_at = parse_instant(entry.get("seen_at"))
            pid, charger_id = entry.get("pid"), entry.get("charger_id")
            if (
                seen_at is None
                or not isinstance(pid, int)
                or not isinstance(charger_id, int)
                or now - seen_at > DRIVER_TTL
                or not is_alive(pid)
            ):
                continue
            found.append(Driver(charger_id, pid, str(entry.get("state_dir", "")), seen_at))
        return found

    def known_chargers(self, username: str) -> list[int] | None:
        """Return the charger ids found earlier on ``username``'s account, if any."""
        with self._locked() as data:
            ids = data.get("chargers", {}).get(username)
        if not isinstance(ids, list) or not all(isinstance(i, int) for i in ids):
            return None
        return list(ids)
