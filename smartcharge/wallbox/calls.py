"""One api call of the Wallbox cloud within the account's budget, authorised, a read retried.

``Calls.call()`` takes a slot of the shared budget (``RateLimiter``), a token
(``Authenticator``; a 401 renews it once and retries once) and makes the exchange
(``Transport``). A read is tried again on 429, 5xx, timeouts and dropped connections, a
bounded number of times, with exponential back-off and jitter on the injected clock; a write
is made once (``client.py`` decides what an unknown outcome means).
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import structlog

from smartcharge.clock import Clock
from smartcharge.wallbox.auth import Authenticator
from smartcharge.wallbox.errors import (
    WallboxAuthError,
    WallboxError,
    WallboxRateLimitedError,
    WallboxUnavailableError,
)
from smartcharge.wallbox.limiter import CallKind, RateLimiter
from smartcharge.wallbox.transport import Endpoint, TokenRejectedError, Transport

log = structlog.get_logger(__name__)

__all__ = ["BACKOFF_BASE_S", "BACKOFF_MAX_S", "READ_TRIES", "Calls"]

# Tries for a read (the first included). Each try also waits for a read slot, so with the
# default budget of 1 read a minute three tries span at least two minutes.
READ_TRIES = 3
# Back-off before a read is retried: 5 s, then 10 s (doubling, capped), plus up to 50% jitter
# so processes that failed together do not come back together.
BACKOFF_BASE_S = 5.0
BACKOFF_MAX_S = 120.0


class Calls:
    """The api calls of one account.

    Args:
        transport: makes one exchange.
        limiter: the account's shared budget (slots are given back for calls never sent).
        auth: hands out tokens.
        clock: the time source for back-off sleeps and ``last_success_at``.
        slot: waits for a slot of the budget for a kind of call (the client's: it may wait,
            and tell a person about the wait).
        rng: the source of back-off jitter.
        read_tries: tries for a read.
    """

    def __init__(
        self,
        transport: Transport,
        *,
        limiter: RateLimiter,
        auth: Authenticator,
        clock: Clock,
        slot: Callable[[CallKind], Awaitable[datetime]],
        rng: random.Random,
        read_tries: int,
    ) -> None:
        self._transport = transport
        self._limiter = limiter
        self._auth = auth
        self._clock = clock
        self._slot = slot
        self._rng = rng
        self._read_tries = max(1, read_tries)
        self.last_success_at: datetime | None = None

    async def call(self, endpoint: Endpoint, body: dict[str, Any] | None = None) -> Any:
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

    async def _spend(
        self, endpoint: Endpoint, token: str, body: dict[str, Any] | None, slot: datetime
    ) -> Any:
        """Make the call on ``slot``; give the slot back when the call never reached the cloud."""
        assert endpoint.kind is not None
        try:
            return await self._transport.request(
                endpoint, {"Authorization": f"Bearer {token}"}, body
            )
        except WallboxUnavailableError as err:
            if not err.reached:
                self._limiter.refund(endpoint.kind, slot)
            raise

    async def _authorized(self, endpoint: Endpoint, body: dict[str, Any] | None) -> Any:
        """Take a slot and a token; on 401 renew the token once and retry once."""
        assert endpoint.kind is not None
        slot = await self._slot(endpoint.kind)
        try:
            token = await self._auth.token()
        except WallboxError:
            self._limiter.refund(endpoint.kind, slot)  # the call itself never went out
            raise
        try:
            return await self._spend(endpoint, token, body, slot)
        except TokenRejectedError:
            log.info("wallbox_token_rejected", endpoint=endpoint.name)
        token = await self._auth.renew_after_rejection(token)
        slot = await self._slot(endpoint.kind)
        try:
            return await self._spend(endpoint, token, body, slot)
        except TokenRejectedError:
            raise WallboxAuthError(
                f"Wallbox cloud: {endpoint.name} rejected a freshly renewed token; giving up "
                "(check the account in the Wallbox app)"
            ) from None

    def _note_failure(self, endpoint: Endpoint, err: WallboxError) -> None:
        # Wire detail only: the daemon logs the outage once when it starts and once when it
        # ends (wallbox_unavailable, wallbox_recovered); a CLI command reports its own failure.
        log.debug("wallbox_request_failed", endpoint=endpoint.name, error=str(err))

    def _note_success(self) -> None:
        self.last_success_at = self._clock.now()
