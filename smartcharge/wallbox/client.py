"""WallboxClient: the Wallbox cloud, spoken exactly right (see ``shared/wallbox-api.md``).

Every call goes through ``_request()``, the one place that talks aiohttp and turns its
exceptions and the cloud's status codes into the ``WallboxError`` tree. Around it:

- a shared per-account budget (``RateLimiter``): reads and writes wait for a slot, and a 429 or
  a 403 on a read holds back the whole client, in every process (wallbox-api.md §9);
- tokens from ``Authenticator``: a 401 renews the token once and retries the request once;
- reads retry on 429, 5xx, timeouts and dropped connections, a bounded number of times, with
  exponential back-off and jitter, sleeping on the injected clock;
- writes are never retried blindly: when the outcome of a command is unknown (timeout or
  dropped connection after sending, or a 5xx), the status is read again first and the command
  is sent once more only if the charger is not already as asked;
- a write's answer updates the stored snapshot, so no read follows a write.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import structlog
from pydantic import SecretStr

from smartcharge import __version__
from smartcharge.clock import Clock
from smartcharge.domain import (
    ChargerSnapshot,
    ChargerStatus,
    Command,
    CommandKind,
    same_energy_cost,
)
from smartcharge.ports import ChargerCapabilities
from smartcharge.storage import StateDisk
from smartcharge.wallbox._json import MAX_JSON_DEPTH, json_too_deep
from smartcharge.wallbox.auth import AuthCall, Authenticator, RefreshRejectedError
from smartcharge.wallbox.errors import (
    WallboxAuthError,
    WallboxChargerNotFoundError,
    WallboxError,
    WallboxForbiddenError,
    WallboxRateLimitedError,
    WallboxResponseError,
    WallboxUnavailableError,
)
from smartcharge.wallbox.limiter import CallKind, RateLimiter
from smartcharge.wallbox.models import (
    ChargerStatusResponse,
    ChargerUpdateResponse,
    ConfigResponse,
    GroupsResponse,
    RemoteAction,
    RemoteActionResponse,
    SessionsResponse,
    WallboxSession,
    parse,
    status_from_id,
)
from smartcharge.wallbox.tokens import TokenStore

log = structlog.get_logger(__name__)

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "MIN_CURRENT_A",
    "READ_TRIES",
    "WallboxClient",
    "command_satisfied",
]

# The cloud normally answers in well under a second; the user-api host has had slow spells
# (home-assistant/core#140059). 20 s lets a slow answer through yet bounds a daemon tick; it is
# Settings.wallbox_timeout_s and applies to the whole exchange, body included.
DEFAULT_TIMEOUT_S = 20.0
# Tries for a read (the first included). Each try also waits for a read slot, so with the
# default budget of 1 read a minute three tries span at least two minutes.
READ_TRIES = 3
# Back-off before a read is retried: 5 s, then 10 s (doubling, capped), plus up to 50% jitter
# so processes that failed together do not come back together.
BACKOFF_BASE_S = 5.0
BACKOFF_MAX_S = 120.0
# No source shows the cloud sending Retry-After (wallbox-api.md §8, §11). Without one, back off
# for a minute: the window of the observed 1-read-a-minute limit (§9).
DEFAULT_RETRY_AFTER_S = 60.0
# A 403 on a read behaved like a rate limit and went away only after slowing down (§8:
# cliviu74/wallbox#80; HOMEY moved to 123 s). Back off for longer than a 429's minute.
FORBIDDEN_READ_BACKOFF_S = 180.0
# Never honour a Retry-After beyond an hour: a broken header must not silence us for a day.
MAX_RETRY_AFTER_S = 3600.0
# The longest a call waits for a slot before giving up with WallboxRateLimitedError.
MAX_WAIT_S = 300.0
# A stored status this young is as current as a new read would be: it was read (or implied by
# a write's answer) by this or another process of the account moments ago, e.g. by the tick
# just before. An older one is not acted on: status() waits for its own read (issue 11.19: a
# poll at the budget's own interval found the slot taken by a few milliseconds and acted on a
# status a minute old). A quarter of the default read interval.
FRESH_STATUS_S = 15.0
# While a status read waits for its slot, the stored status is looked at this often: when
# another process of the account reads the charger meanwhile, its answer is used instead of
# spending one more read (a burst of CLI runs then costs one read, not one each).
STORED_CHECK_S = 1.0
# A wait shorter than this is not worth telling a person about.
ANNOUNCE_WAIT_S = 1.0
# A daemon renews its entry in the account's list of daemons this often (limiter.DRIVER_TTL).
DRIVER_RENEW = timedelta(minutes=5)
# Minimum settable charging current (wallbox-api.md §6: HA number min; DOC range 6-32 A).
MIN_CURRENT_A = 6

_API = "api"
_AUTH = "auth"


@dataclass(frozen=True, slots=True)
class _Endpoint:
    method: str
    host: str  # _API or _AUTH
    path: str
    kind: CallKind | None  # None for the user-api calls (sign-in and refresh)
    action: str  # what it is for, for messages: "status", "pause", "sign-in", ...
    query: tuple[tuple[str, str], ...] = ()

    @property
    def name(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def is_write(self) -> bool:
        return self.kind is CallKind.WRITE


class _TokenRejectedError(WallboxError):
    """401 from the api host: the access token expired or was revoked."""


def command_satisfied(snapshot: ChargerSnapshot, command: Command) -> bool:
    """Return whether ``snapshot`` already shows what ``command`` asks for.

    A restart is never "already done".
    """
    kind = command.kind
    if kind is CommandKind.PAUSE:
        return snapshot.status is ChargerStatus.PAUSED
    if kind is CommandKind.RESUME:
        return snapshot.status in (
            ChargerStatus.CHARGING,
            ChargerStatus.DISCHARGING,
            ChargerStatus.WAITING_FOR_CAR_DEMAND,
            ChargerStatus.WAITING,
        )
    if kind is CommandKind.LOCK:
        return snapshot.locked
    if kind is CommandKind.UNLOCK:
        return not snapshot.locked
    if kind is CommandKind.SET_MAX_CURRENT:
        return command.value is not None and snapshot.max_charging_current_a == int(command.value)
    if kind is CommandKind.SET_ENERGY_COST:
        return (
            command.value is not None
            and snapshot.energy_cost_eur_per_kwh is not None
            and same_energy_cost(snapshot.energy_cost_eur_per_kwh, command.value)
        )
    return False


def _reported(
    before: ChargerSnapshot, status_id: int | None, at: datetime
) -> ChargerSnapshot | None:
    """Return ``before`` with the status a remote-action answer reports, or None without one."""
    if status_id is None:
        return None
    status = status_from_id(status_id)
    return ChargerSnapshot(
        charger_id=before.charger_id,
        status=status,
        status_id=status_id,
        charging_power_kw=before.charging_power_kw if status.is_charging else 0.0,
        added_energy_kwh=before.added_energy_kwh,
        max_charging_current_a=before.max_charging_current_a,
        max_available_current_a=before.max_available_current_a,
        energy_cost_eur_per_kwh=before.energy_cost_eur_per_kwh,
        locked=before.locked,
        fetched_at=at,
    )


def _retry_after_s(value: str | None, now: datetime) -> float | None:
    """Return the wait a ``Retry-After`` header asks for (seconds or an HTTP date), capped."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            return None
        seconds = (when - now).total_seconds()
    if not math.isfinite(seconds):
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)


def _reason(err: aiohttp.ClientConnectorError) -> str:
    """Return why a connection failed, in words (no URL, no secret)."""
    if isinstance(err, aiohttp.ClientConnectorDNSError):
        return "the host name could not be resolved"
    if isinstance(err, aiohttp.ClientSSLError):
        return "the TLS handshake failed"
    strerror = getattr(err.os_error, "strerror", None)
    return str(strerror).lower() if strerror else type(err).__name__


class WallboxClient:
    """A Wallbox account and one of its chargers, on the cloud; implements ``ports.Charger``.

    Args:
        session: the process's one aiohttp session (never created here).
        api_url: base URL of the api host (``https://api.wall-box.com``).
        auth_url: base URL of the user-api host (``https://user-api.wall-box.com``).
        username: the account's e-mail address.
        password: the account's password.
        clock: the time source for budgets, token expiry and back-off sleeps.
        state_dir: where the token store lives (and the call budget, unless ``budget_dir``).
        budget_dir: where the account's shared call budget lives (default: ``state_dir``).
        charger_id: the charger to use; None to discover it (exactly one on the account).
        timeout_s: the limit on one HTTP exchange.
        reads_per_minute: the GET budget of the account.
        writes_per_minute: the PUT/POST budget of the account.
        signins_per_hour: the sign-in budget of the account.
        register_secret: masks a secret in every later log line (``logsetup.register_secret``,
            handed in by ``runtime.compose``): the password, the Basic credential and every
            token are registered before they are used.
        rng: the source of back-off jitter (inject a seeded one in tests).
        disk: the state folder's file system, shared with the daemon (None: a private one).
        read_tries: tries for a read (the CLI makes one: a person is waiting).

    Attributes:
        waits: wait for a free slot of the budget (up to ``MAX_WAIT_S``); False: never wait,
            answer a status from the stored one and refuse a call that has no slot now.
        on_wait: called with the kind of call and the instant waited for, before a wait.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        api_url: str,
        auth_url: str,
        username: str,
        password: SecretStr,
        clock: Clock,
        state_dir: Path,
        register_secret: Callable[[str], None],
        charger_id: int | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        reads_per_minute: float = 1.0,
        writes_per_minute: float = 3.0,
        signins_per_hour: int = 3,
        rng: random.Random | None = None,
        disk: StateDisk | None = None,
        budget_dir: Path | None = None,
        read_tries: int = READ_TRIES,
    ) -> None:
        self._session = session
        self._urls = {_API: api_url.rstrip("/"), _AUTH: auth_url.rstrip("/")}
        self._username = username
        self._clock = clock
        self._charger_id = charger_id
        self._timeout_s = timeout_s
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self._read_tries = max(1, read_tries)
        self.waits = True
        self.on_wait: Callable[[CallKind, datetime], None] | None = None
        self._announced: tuple[CallKind, datetime] | None = None
        self._driving_from: Path | None = None
        self._driver_renewed_at: datetime | None = None
        self.limiter = RateLimiter(
            budget_dir or state_dir,
            clock,
            username=username,
            reads_per_minute=reads_per_minute,
            writes_per_minute=writes_per_minute,
            signins_per_hour=signins_per_hour,
            disk=disk,
        )
        self.auth = Authenticator(
            username=username,
            password=password,
            store=TokenStore(state_dir, disk, register_secret=register_secret),
            limiter=self.limiter,
            register_secret=register_secret,
            clock=clock,
            send=self._auth_call,
        )
        self._status_lock = asyncio.Lock()
        self._command_lock = asyncio.Lock()
        self._discover_lock = asyncio.Lock()
        self._last_success_at: datetime | None = None

    # --- public surface -----------------------------------------------------------------

    @property
    def last_success_at(self) -> datetime | None:
        """Return when the cloud last answered a call successfully (None: not yet)."""
        return self._last_success_at

    @property
    def capabilities(self) -> ChargerCapabilities:
        """Return what the cloud carries (every command) and its read budget's interval."""
        read = self.limiter.budgets[CallKind.READ]
        every_s = read.window_s / read.capacity
        return ChargerCapabilities(
            energy_cost=True, restart=True, lock=True, min_read_interval_s=every_s
        )

    @property
    def charger_id(self) -> int | None:
        """Return the charger in use, once known."""
        return self._charger_id

    async def discover_charger_id(self) -> int:
        """Return the charger to use: the configured one, or the account's only charger.

        Raises:
            WallboxChargerNotFoundError: the account has no charger, or several (listed).
        """
        if self._charger_id is not None:
            return self._charger_id
        async with self._discover_lock:
            if self._charger_id is not None:
                return self._charger_id
            known = self.limiter.known_chargers(self._username)
            if known is not None and len(known) == 1:
                self._charger_id = known[0]
                return known[0]
            endpoint = _Endpoint("GET", _API, "v3/chargers/groups", CallKind.READ, "discovery")
            groups = parse(GroupsResponse, await self._call(endpoint), endpoint.name)
            chargers = groups.chargers()
            self.limiter.store_chargers(self._username, [c.id for c in chargers])
            if not chargers:
                raise WallboxChargerNotFoundError(
                    f"Wallbox account {self._username} has no charger; add it in the Wallbox "
                    "app, or check SMARTCHARGE_WALLBOX_USERNAME"
                )
            if len(chargers) > 1:
                listed = ", ".join(f"{c.id} ({c.name or 'unnamed'})" for c in chargers)
                raise WallboxChargerNotFoundError(
                    f"Wallbox account {self._username} has {len(chargers)} chargers: {listed}; "
                    "set SMARTCHARGE_WALLBOX_CHARGER_ID to the one smartcharge should control"
                )
            self._charger_id = chargers[0].id
            log.info("wallbox_charger_discovered", charger_id=self._charger_id)
            return self._charger_id

    async def status(
        self, *, max_age_s: float | None = None, fresh: bool = False
    ) -> ChargerSnapshot:
        """Return the charger's snapshot: the stored one while it is current, else a new read.

        A stored snapshot (read or implied by a write, by any process of the account) younger
        than ``max_age_s`` is returned as it is. Otherwise the charger is read, waiting for a
        slot of the read budget if needed: a poll acts on its own read, never on a stale one.
        With ``waits`` off, a stored snapshot of any age is returned when no slot is free.

        Args:
            max_age_s: accept a stored snapshot up to this old (default ``FRESH_STATUS_S``).
            fresh: always read from the cloud (waiting for a read slot if needed).

        Raises:
            WallboxError: a subclass saying what failed.
        """
        charger_id = await self.discover_charger_id()
        limit_s = FRESH_STATUS_S if max_age_s is None else max_age_s
        async with self._status_lock:
            if not fresh:
                cached = self.limiter.cached_status(charger_id)
                if cached is not None:
                    age_s = (self._clock.now() - cached.fetched_at).total_seconds()
                    if age_s <= limit_s:
                        return cached
                    if not self.waits and self.limiter.next_slot(CallKind.READ) > self._clock.now():
                        log.debug("wallbox_status_from_cache", age_s=round(age_s, 1))
                        return cached
                read_meanwhile = await self._wait_for_read_slot(charger_id, limit_s)
                if read_meanwhile is not None:
                    return read_meanwhile
            return await self._read_status(charger_id)

    async def _wait_for_read_slot(self, charger_id: int, limit_s: float) -> ChargerSnapshot | None:
        """Wait until a read slot is free, or return a status another process read meanwhile."""
        while self.waits:
            slot = self.limiter.next_slot(CallKind.READ)
            # next_slot() read the clock before this: a free slot (its own now) is in the past.
            wait_s = (slot - self._clock.now()).total_seconds()
            if wait_s <= 0 or wait_s > MAX_WAIT_S:
                return None  # free now, or too far: the read's own acquire decides
            self._announce(CallKind.READ, slot)
            await self._clock.sleep(min(wait_s, STORED_CHECK_S))
            cached = self.limiter.cached_status(charger_id)
            if (
                cached is not None
                and (self._clock.now() - cached.fetched_at).total_seconds() <= limit_s
            ):
                return cached
        return None

    def _announce(self, kind: CallKind, until: datetime) -> None:
        """Tell ``on_wait`` (once per instant, and not for a blink) what a call waits for."""
        if (
            self.on_wait is not None
            and self._announced != (kind, until)
            and (until - self._clock.now()).total_seconds() >= ANNOUNCE_WAIT_S
        ):
            self._announced = (kind, until)
            self.on_wait(kind, until)

    def stored_status(self) -> ChargerSnapshot | None:
        """Return the stored snapshot of the charger in use (any age), if there is one."""
        if self._charger_id is None:
            return None
        return self.limiter.cached_status(self._charger_id)

    def drive(self, state_dir: Path) -> int:
        """Register this process as the daemon driving the configured charger.

        Returns:
            How many chargers of the account the running daemons drive (this one included);
            1 when the charger is not configured (it is then the account's only one).
        """
        if self._charger_id is None:
            return 1
        self._driving_from = state_dir
        self._driver_renewed_at = self._clock.now()
        self.limiter.register_driver(self._charger_id, state_dir)
        return max(1, len({d.charger_id for d in self.limiter.drivers()}))

    async def apply(
        self, command: Command, *, base: ChargerSnapshot | None = None
    ) -> ChargerSnapshot:
        """Send ``command`` and return the snapshot its answer implies (``ports.Charger``).

        Args:
            command: what to send.
            base: for a pause or resume, the snapshot to build the answer on when no stored
                status is at hand, instead of reading the charger first: the daemon's resume
                on exit, when the read budget has no slot left within the stop budget.
        """
        self.capabilities.check(command, "the Wallbox cloud")
        kind = command.kind
        if base is not None and kind in (CommandKind.RESUME, CommandKind.PAUSE):
            return await self._command(command, base)
        if kind is CommandKind.RESUME:
            return await self.resume()
        if kind is CommandKind.PAUSE:
            return await self.pause()
        if kind is CommandKind.LOCK:
            return await self.lock()
        if kind is CommandKind.UNLOCK:
            return await self.unlock()
        if kind is CommandKind.RESTART:
            return await self.restart()
        if command.value is None:
            raise ValueError(f"{kind.value} needs a value")
        if kind is CommandKind.SET_MAX_CURRENT:
            return await self.set_max_current(int(command.value))
        return await self.set_energy_cost(command.value)

    async def resume(self) -> ChargerSnapshot:
        """Resume (start) charging: remote action 1."""
        return await self._command(Command(CommandKind.RESUME))

    async def pause(self) -> ChargerSnapshot:
        """Pause charging: remote action 2."""
        return await self._command(Command(CommandKind.PAUSE))

    async def restart(self) -> ChargerSnapshot:
        """Reboot the charger: remote action 3 (never re-sent when its outcome is unknown)."""
        return await self._command(Command(CommandKind.RESTART))

    async def lock(self) -> ChargerSnapshot:
        """Lock the charger."""
        return await self._command(Command(CommandKind.LOCK))

    async def unlock(self) -> ChargerSnapshot:
        """Unlock the charger."""
        return await self._command(Command(CommandKind.UNLOCK))

    async def set_max_current(self, amps: int) -> ChargerSnapshot:
        """Set the maximum charging current, in whole amps (6 A up to the charger's maximum).

        Raises:
            ValueError: ``amps`` is not a whole number from 6 A up.
        """
        if isinstance(amps, bool) or int(amps) != amps or amps < MIN_CURRENT_A:
            raise ValueError(f"max charging current must be a whole number >= {MIN_CURRENT_A} A")
        return await self._command(Command(CommandKind.SET_MAX_CURRENT, float(amps)))

    async def set_energy_cost(self, eur_per_kwh: float) -> ChargerSnapshot:
        """Set the energy price the cloud uses for session costs, EUR/kWh.

        Raises:
            ValueError: the price is not a finite number.
        """
        if not math.isfinite(eur_per_kwh):
            raise ValueError("energy cost must be a finite number of EUR/kWh")
        return await self._command(Command(CommandKind.SET_ENERGY_COST, float(eur_per_kwh)))

    async def session_history(self, start: datetime, end: datetime) -> tuple[WallboxSession, ...]:
        """Return the sessions the cloud recorded that started in ``[start, end]``, oldest first."""
        charger_id = await self.discover_charger_id()
        endpoint = _Endpoint(
            "GET",
            _API,
            "v4/sessions/stats",
            CallKind.READ,
            "history",
            query=(
                ("charger", str(charger_id)),
                ("start_date", str(int(start.timestamp()))),
                ("end_date", str(int(end.timestamp()))),
            ),
        )
        return parse(SessionsResponse, await self._call(endpoint), endpoint.name).to_domain()

    # --- commands -------------------------------------------------------------------------

    def _write_for(self, command: Command, charger_id: int) -> tuple[_Endpoint, dict[str, Any]]:
        kind = command.kind
        action = kind.value
        if kind in (CommandKind.RESUME, CommandKind.PAUSE, CommandKind.RESTART):
            code = {
                CommandKind.RESUME: RemoteAction.RESUME,
                CommandKind.PAUSE: RemoteAction.PAUSE,
                CommandKind.RESTART: RemoteAction.RESTART,
            }[kind]
            path = f"v3/chargers/{charger_id}/remote-action"
            return _Endpoint("POST", _API, path, CallKind.WRITE, action), {"action": int(code)}
        if kind in (CommandKind.LOCK, CommandKind.UNLOCK):
            body = {"locked": 1 if kind is CommandKind.LOCK else 0}
            return _Endpoint("PUT", _API, f"v2/charger/{charger_id}", CallKind.WRITE, action), body
        assert command.value is not None
        if kind is CommandKind.SET_MAX_CURRENT:
            body = {"maxChargingCurrent": int(command.value)}
            return _Endpoint("PUT", _API, f"v2/charger/{charger_id}", CallKind.WRITE, action), body
        path = f"chargers/config/{charger_id}"
        return _Endpoint("POST", _API, path, CallKind.WRITE, action), {"energyCost": command.value}

    async def _command(
        self, command: Command, base: ChargerSnapshot | None = None
    ) -> ChargerSnapshot:
        """Send one command, at most once in effect, and return what the charger now is."""
        charger_id = await self.discover_charger_id()
        async with self._command_lock:  # one command to the charger at a time (STYLE.md §7)
            before = self.limiter.cached_status(charger_id)
            if before is None and base is not None and base.charger_id == charger_id:
                before = base
            if before is None:
                before = await self.status(fresh=True)
            endpoint, body = self._write_for(command, charger_id)
            self.limiter.forget_status(charger_id)
            try:
                answer = await self._call(endpoint, body)
            except WallboxUnavailableError as err:
                if not err.outcome_unknown:
                    raise
                log.warning("wallbox_command_outcome_unknown", command=str(command))
                if command.kind is CommandKind.RESTART:
                    raise WallboxUnavailableError(
                        f"Wallbox charger {charger_id}: restart may or may not have reached the "
                        "charger; not sent again (check its status before restarting again)",
                        outcome_unknown=True,
                    ) from err
                checked = await self.status(fresh=True)
                if command_satisfied(checked, command):
                    log.info("wallbox_command_confirmed", command=str(command))
                    return checked
                # The charger applies a command 20-60 s after the cloud accepts it (issue 16
                # §3), so a reading that does not show it yet proves nothing: never send it
                # again here. The daemon keeps it pending until a reading shows it or its
                # deadline passes (controller.PENDING_DEADLINE).
                raise WallboxUnavailableError(
                    f"Wallbox cloud: {endpoint.name} ({command}) may or may not have reached "
                    f"charger {charger_id} (its answer was lost and a reading does not show it "
                    "yet); not sent again",
                    outcome_unknown=True,
                ) from err
            after, confirmed = self._after(command, before, answer, endpoint)
            if confirmed:
                self.limiter.store_status(after)
            # Wire detail only: the daemon logs each command it sends, with why.
            log.debug(
                "wallbox_command_answered",
                charger_id=charger_id,
                command=str(command),
                status=after.status.value,
                confirmed=confirmed,
            )
            return after

    def _after(
        self, command: Command, before: ChargerSnapshot, answer: Any, endpoint: _Endpoint
    ) -> tuple[ChargerSnapshot, bool]:
        """Return the snapshot a successful write's answer implies, and whether it is sure.

        The command went through (2xx), so an answer we cannot parse must not fail it: we then
        infer the new state from the command itself and say so in the log.

        The remote-action answer is unpublished (wallbox-api.md §4.4: HA's test mock is
        ``{"status_id": 193}``). Its ``status_id`` is used only when it confirms the command
        (a paused id after a pause, a charging or waiting id after a resume); otherwise the
        outcome is unknown until the next read, and ``before`` comes back unconfirmed (not
        stored, so the next status call reads the charger). Never sent again in between.
        """
        now = self._clock.now()
        kind = command.kind
        try:
            if kind in (CommandKind.LOCK, CommandKind.UNLOCK, CommandKind.SET_MAX_CURRENT):
                after = parse(ChargerUpdateResponse, answer, endpoint.name).to_domain(before, now)
                return after, True
            if kind is CommandKind.SET_ENERGY_COST:
                return parse(ConfigResponse, answer, endpoint.name).to_domain(before, now), True
            status_id = parse(RemoteActionResponse, answer, endpoint.name).status_id
        except WallboxResponseError as err:
            log.warning("wallbox_write_answer_unexpected", endpoint=endpoint.name, field=err.field)
            status_id = None
        if kind in (CommandKind.PAUSE, CommandKind.RESUME):
            reported = _reported(before, status_id, now)
            if reported is not None and command_satisfied(reported, command):
                return reported, True
            log.info(
                "wallbox_command_unconfirmed",
                command=str(command),
                status_id=status_id,
                outcome="unknown until the next reading",
            )
            return before, False
        # A restart, or a write whose answer could not be read: inferred from the command.
        if status_id is None:
            status_id = before.status_id
        locked = before.locked
        if kind in (CommandKind.LOCK, CommandKind.UNLOCK):
            locked = kind is CommandKind.LOCK
        current = before.max_charging_current_a
        if kind is CommandKind.SET_MAX_CURRENT and command.value is not None:
            current = int(command.value)
        cost = before.energy_cost_eur_per_kwh
        if kind is CommandKind.SET_ENERGY_COST:
            cost = command.value
        status = status_from_id(status_id)
        return (
            ChargerSnapshot(
                charger_id=before.charger_id,
                status=status,
                status_id=status_id,
                charging_power_kw=before.charging_power_kw if status.is_charging else 0.0,
                added_energy_kwh=before.added_energy_kwh,
                max_charging_current_a=current,
                max_available_current_a=before.max_available_current_a,
                energy_cost_eur_per_kwh=cost,
                locked=locked,
                fetched_at=now,
            ),
            True,
        )

    # --- reads ----------------------------------------------------------------------------

    async def _read_status(self, charger_id: int) -> ChargerSnapshot:
        endpoint = _Endpoint("GET", _API, f"chargers/status/{charger_id}", CallKind.READ, "status")
        answer = parse(ChargerStatusResponse, await self._call(endpoint), endpoint.name)
        snapshot = answer.to_domain(self._clock.now(), charger_id)
        self.limiter.store_status(snapshot)
        if self._driving_from is not None and (
            self._driver_renewed_at is None
            or snapshot.fetched_at - self._driver_renewed_at >= DRIVER_RENEW
        ):
            self._driver_renewed_at = snapshot.fetched_at
            self.limiter.register_driver(charger_id, self._driving_from)
        return snapshot

    # --- the call pipeline ----------------------------------------------------------------

    async def _call(self, endpoint: _Endpoint, body: dict[str, Any] | None = None) -> Any:
        """Make one api call within the budget, authorised, retried if it is a read."""
        assert endpoint.kind is not None
        tries = self._read_tries if endpoint.kind is CallKind.READ else 1
        for attempt in range(1, tries + 1):
            try:
                answer = await self._authorized(endpoint, body)
            except (WallboxRateLimitedError, WallboxUnavailableError) as err:
                self._note_failure(endpoint, err)
                if attempt >= tries:
                    raise
                delay = self._backoff_s(attempt)
                log.info(
                    "wallbox_request_retrying",
                    endpoint=endpoint.name,
                    attempt=attempt,
                    delay_s=round(delay, 2),
                )
                await self._clock.sleep(delay)
                continue
            self._note_success()
            return answer
        raise AssertionError("unreachable")  # pragma: no cover

    def _backoff_s(self, attempt: int) -> float:
        base = min(BACKOFF_BASE_S * 2.0 ** (attempt - 1), BACKOFF_MAX_S)
        return base + self._rng.uniform(0.0, base / 2)

    async def _slot(self, kind: CallKind) -> datetime:
        return await self.limiter.acquire(
            kind, max_wait_s=MAX_WAIT_S if self.waits else 0.0, on_wait=self._announce
        )

    async def _spend(
        self, endpoint: _Endpoint, token: str, body: dict[str, Any] | None, slot: datetime
    ) -> Any:
        """Make the call on ``slot``; give the slot back when the call never reached the cloud."""
        assert endpoint.kind is not None
        try:
            return await self._request(endpoint, {"Authorization": f"Bearer {token}"}, body)
        except WallboxUnavailableError as err:
            if not err.reached:
                self.limiter.refund(endpoint.kind, slot)
            raise

    async def _authorized(self, endpoint: _Endpoint, body: dict[str, Any] | None) -> Any:
        """Take a slot and a token; on 401 renew the token once and retry once."""
        assert endpoint.kind is not None
        slot = await self._slot(endpoint.kind)
        try:
            token = await self.auth.token()
        except WallboxError:
            self.limiter.refund(endpoint.kind, slot)  # the call itself never went out
            raise
        try:
            return await self._spend(endpoint, token, body, slot)
        except _TokenRejectedError:
            log.info("wallbox_token_rejected", endpoint=endpoint.name)
        token = await self.auth.renew_after_rejection(token)
        slot = await self._slot(endpoint.kind)
        try:
            return await self._spend(endpoint, token, body, slot)
        except _TokenRejectedError:
            raise WallboxAuthError(
                f"Wallbox cloud: {endpoint.name} rejected a freshly renewed token; giving up "
                "(check the account in the Wallbox app)"
            ) from None

    async def _auth_call(self, call: AuthCall, headers: dict[str, str]) -> Any:
        path = "users/signin" if call is AuthCall.SIGNIN else "users/refresh-token"
        action = "sign-in" if call is AuthCall.SIGNIN else "token refresh"
        return await self._request(_Endpoint("GET", _AUTH, path, None, action), headers, None)

    def _note_failure(self, endpoint: _Endpoint, err: WallboxError) -> None:
        # Wire detail only: the daemon logs the outage once when it starts and once when it
        # ends (wallbox_unavailable, wallbox_recovered); a CLI command reports its own failure.
        log.debug("wallbox_request_failed", endpoint=endpoint.name, error=str(err))

    def _note_success(self) -> None:
        self._last_success_at = self._clock.now()

    async def _request(
        self, endpoint: _Endpoint, headers: dict[str, str], body: dict[str, Any] | None
    ) -> Any:
        """Make one HTTP exchange and translate every failure into the WallboxError tree.

        This is the only code that touches aiohttp. Messages name the call and what happens
        next; they never contain a header, a token or a body.

        Raises:
            WallboxAuthError: sign-in refused (401/403 on users/signin).
            RefreshRejectedError: refresh token refused (401/403 on users/refresh-token).
            _TokenRejectedError: access token refused (401 on the api host).
            WallboxRateLimitedError: 429, or 403 on a read (the whole client backs off).
            WallboxForbiddenError: 403 on a command.
            WallboxChargerNotFoundError: 404.
            WallboxUnavailableError: timeout, connection failure, 5xx.
            WallboxResponseError: another status, or a body that is not JSON.
        """
        url = f"{self._urls[endpoint.host]}/{endpoint.path}"
        sent_headers = {
            "Accept": "application/json",
            "User-Agent": f"smartcharge/{__version__}",
            **headers,
        }
        data: bytes | None = None
        if body is not None:
            sent_headers["Content-Type"] = "application/json;charset=UTF-8"
            data = json.dumps(body).encode()
        where = f"Wallbox cloud: {endpoint.name} ({endpoint.action})"
        try:
            # Two guards: aiohttp's own total timeout, and asyncio.timeout around the whole
            # exchange (connect, send, headers and body), so nothing can outlive timeout_s.
            async with asyncio.timeout(self._timeout_s):
                async with self._session.request(
                    endpoint.method,
                    url,
                    params=list(endpoint.query) or None,
                    headers=sent_headers,
                    data=data,
                    timeout=aiohttp.ClientTimeout(total=self._timeout_s),
                    allow_redirects=False,
                ) as response:
                    status = response.status
                    retry_after = response.headers.get("Retry-After")
                    raw = await response.read()
        except TimeoutError as err:
            raise WallboxUnavailableError(
                f"{where}: no answer from {self._urls[endpoint.host]} within "
                f"{self._timeout_s:g} s; {self._check_hint(endpoint)}",
                outcome_unknown=endpoint.is_write,
            ) from err
        except aiohttp.ClientConnectorError as err:
            raise WallboxUnavailableError(
                f"{where}: cannot reach {self._urls[endpoint.host]} ({_reason(err)}); "
                f"{self._check_hint(endpoint)}",
                outcome_unknown=False,
                reached=False,
            ) from err
        except aiohttp.ClientError as err:
            raise WallboxUnavailableError(
                f"{where}: connection dropped ({type(err).__name__})",
                outcome_unknown=endpoint.is_write,
            ) from err
        log.debug("wallbox_response", endpoint=endpoint.name, http_status=status)
        if 200 <= status < 300:
            return self._decode(raw, endpoint, where)
        self._raise_for(status, retry_after, endpoint, where)

    @staticmethod
    def _check_hint(endpoint: _Endpoint) -> str:
        setting = (
            "SMARTCHARGE_WALLBOX_AUTH_URL"
            if endpoint.host == _AUTH
            else ("SMARTCHARGE_WALLBOX_API_URL")
        )
        return f"check the network connection (proxy, firewall, DNS) and {setting}"

    def _decode(self, raw: bytes, endpoint: _Endpoint, where: str) -> Any:
        text = raw.decode("utf-8", errors="replace")
        if not text.strip():
            return None
        deep_at = json_too_deep(text, MAX_JSON_DEPTH)
        try:
            if deep_at is not None:
                raise RecursionError(deep_at)
            return json.loads(text)
        except RecursionError:
            # json.loads recurses once per level: a body nested thousands deep would end in a
            # RecursionError; none of the cloud's answers nests more than a few levels.
            if endpoint.is_write:
                return None  # the command went through; _after() infers the new state
            raise WallboxResponseError(
                f"{where} answered with JSON nested more than {MAX_JSON_DEPTH} levels deep "
                f"(at field {deep_at or '(body)'!r})",
                endpoint=endpoint.name,
                field=deep_at or "(body)",
            ) from None
        except ValueError:
            if endpoint.is_write:
                return None  # the command went through; _after() infers the new state
            raise WallboxResponseError(
                f"{where} answered with a body that is not JSON", endpoint=endpoint.name
            ) from None

    def _raise_for(
        self, status: int, retry_after: str | None, endpoint: _Endpoint, where: str
    ) -> Any:
        now = self._clock.now()
        if endpoint.host == _AUTH:
            if status in (401, 403) and endpoint.path == "users/signin":
                raise WallboxAuthError(
                    f"Wallbox sign-in rejected (HTTP {status}) for {self._username}: check "
                    "SMARTCHARGE_WALLBOX_USERNAME and SMARTCHARGE_WALLBOX_PASSWORD (only e-mail "
                    "and password accounts work, not Google or Apple sign-in)"
                )
            if status in (401, 403):
                raise RefreshRejectedError(f"{where} refused the refresh token (HTTP {status})")
        elif status == 401:
            raise _TokenRejectedError(f"{where} refused the access token (HTTP 401)")
        if status == 429 or (status == 403 and endpoint.method == "GET"):
            wait_s = _retry_after_s(retry_after, now)
            if wait_s is None:
                wait_s = DEFAULT_RETRY_AFTER_S if status == 429 else FORBIDDEN_READ_BACKOFF_S
            retry_at = now + timedelta(seconds=wait_s)
            self.limiter.back_off(retry_at)
            log.warning(
                "wallbox_rate_limited",
                endpoint=endpoint.name,
                http_status=status,
                retry_at=retry_at.isoformat(),
            )
            raise WallboxRateLimitedError(
                f"{where} returned {status}; every call waits until "
                f"{retry_at.isoformat(timespec='seconds')}",
                retry_at=retry_at,
            )
        if status == 403:
            raise WallboxForbiddenError(
                f"{where} was refused (HTTP 403): the account may not own this charger, or the "
                "charger is in OCPP mode or not in a state that allows it",
                action=endpoint.action,
            )
        if status == 404:
            raise WallboxChargerNotFoundError(
                f"{where} returned 404: no such charger on this account; check "
                "SMARTCHARGE_WALLBOX_CHARGER_ID"
            )
        if status >= 500:
            raise WallboxUnavailableError(
                f"{where} returned {status}; transient, will retry",
                outcome_unknown=endpoint.is_write,
                answered=True,
            )
        raise WallboxResponseError(f"{where} returned HTTP {status}", endpoint=endpoint.name)
