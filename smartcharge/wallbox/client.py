"""WallboxClient: the Wallbox cloud, spoken exactly right (see ``shared/wallbox-api.md``).

Every exchange goes through ``Transport.request()`` (``transport.py``), the one place that
talks aiohttp and turns its exceptions and the cloud's status codes into the ``WallboxError``
tree. Around it (``calls.py``, ``writes.py`` and this module):

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
import math
import random
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import aiohttp
import structlog
from pydantic import SecretStr

from smartcharge.clock import Clock
from smartcharge.domain import (
    ChargerSnapshot,
    Command,
    CommandKind,
)
from smartcharge.ports import ChargerCapabilities
from smartcharge.storage import StateDisk
from smartcharge.wallbox.auth import Authenticator
from smartcharge.wallbox.calls import READ_TRIES, Calls
from smartcharge.wallbox.errors import (
    WallboxChargerNotFoundError,
    WallboxUnavailableError,
)
from smartcharge.wallbox.limiter import CallKind, RateLimiter
from smartcharge.wallbox.models import (
    ChargerStatusResponse,
    GroupsResponse,
    SessionsResponse,
    WallboxSession,
    parse,
)
from smartcharge.wallbox.tokens import TokenStore
from smartcharge.wallbox.transport import (
    API,
    DEFAULT_TIMEOUT_S,
    Endpoint,
    Transport,
)
from smartcharge.wallbox.writes import after_write, command_satisfied, write_for

log = structlog.get_logger(__name__)

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "MIN_CURRENT_A",
    "READ_TRIES",
    "WallboxClient",
    "command_satisfied",
]

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
        self._username = username
        self._clock = clock
        self._charger_id = charger_id
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
        self._transport = Transport(
            session,
            api_url=api_url,
            auth_url=auth_url,
            username=username,
            clock=clock,
            timeout_s=timeout_s,
            back_off=self.limiter.back_off,
        )
        self.auth = Authenticator(
            username=username,
            password=password,
            store=TokenStore(state_dir, disk, register_secret=register_secret),
            limiter=self.limiter,
            register_secret=register_secret,
            clock=clock,
            send=self._transport.auth_call,
        )
        self._calls = Calls(
            self._transport,
            limiter=self.limiter,
            auth=self.auth,
            clock=clock,
            slot=self._slot,
            rng=rng or random.Random(),  # noqa: S311 - jitter, not cryptography
            read_tries=read_tries,
        )
        self._status_lock = asyncio.Lock()
        self._command_lock = asyncio.Lock()
        self._discover_lock = asyncio.Lock()

    # --- public surface -----------------------------------------------------------------

    def use_password(self, password: SecretStr) -> None:
        """Sign in once with ``password`` from the next call on (``Authenticator.use_password``)."""
        self.auth.use_password(password)

    @property
    def last_success_at(self) -> datetime | None:
        """Return when the cloud last answered a call successfully (None: not yet)."""
        return self._calls.last_success_at

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
            endpoint = Endpoint("GET", API, "v3/chargers/groups", CallKind.READ, "discovery")
            groups = parse(GroupsResponse, await self._calls.call(endpoint), endpoint.name)
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
        endpoint = Endpoint(
            "GET",
            API,
            "v4/sessions/stats",
            CallKind.READ,
            "history",
            query=(
                ("charger", str(charger_id)),
                ("start_date", str(int(start.timestamp()))),
                ("end_date", str(int(end.timestamp()))),
            ),
        )
        return parse(SessionsResponse, await self._calls.call(endpoint), endpoint.name).to_domain()

    # --- commands -------------------------------------------------------------------------

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
            endpoint, body = write_for(command, charger_id)
            self.limiter.forget_status(charger_id)
            try:
                answer = await self._calls.call(endpoint, body)
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
            after, confirmed = after_write(command, before, answer, endpoint, self._clock.now())
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

    # --- reads ----------------------------------------------------------------------------

    async def _read_status(self, charger_id: int) -> ChargerSnapshot:
        endpoint = Endpoint("GET", API, f"chargers/status/{charger_id}", CallKind.READ, "status")
        answer = parse(ChargerStatusResponse, await self._calls.call(endpoint), endpoint.name)
        snapshot = answer.to_domain(self._clock.now(), charger_id)
        self.limiter.store_status(snapshot)
        if self._driving_from is not None and (
            self._driver_renewed_at is None
            or snapshot.fetched_at - self._driver_renewed_at >= DRIVER_RENEW
        ):
            self._driver_renewed_at = snapshot.fetched_at
            self.limiter.register_driver(charger_id, self._driving_from)
        return snapshot

    # --- the budget -----------------------------------------------------------------------

    async def _slot(self, kind: CallKind) -> datetime:
        return await self.limiter.acquire(
            kind, max_wait_s=MAX_WAIT_S if self.waits else 0.0, on_wait=self._announce
        )
