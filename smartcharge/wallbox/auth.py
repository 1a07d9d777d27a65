"""Wallbox tokens: reuse, refresh, and (rarely) sign in.

Every sign-in opens a server-side session and too many log the user's phone app out
(wallbox-api.md §2.4), so the order is: the token in memory; else the one in the TokenStore
(another process, or this one before a restart, may have saved it); else refresh it with the
refresh token; else sign in. A refresh the cloud rejects (401/403, §2.3, §8) is followed by one
fresh sign-in. Concurrent callers share one renewal (single flight). Sign-ins are budgeted
(``Settings.wallbox_signins_per_hour``), counted per account in the shared budget file so
restarts and other state dirs do not reset the count, and after the cloud rejects the
credentials this process never tries them again. The allowance protects the account from
wrong-password lock-outs and phone-app log-outs, which only a sign-in the cloud answered can
cause: an attempt that got no answer (DNS failure, connection refused, TLS error, timeout)
gives its slot back.
"""

from __future__ import annotations

import asyncio
import base64
import enum
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import structlog
from pydantic import SecretStr

from smartcharge.clock import Clock
from smartcharge.wallbox.errors import (
    WallboxAuthError,
    WallboxError,
    WallboxRateLimitedError,
    WallboxResponseError,
    WallboxUnavailableError,
)
from smartcharge.wallbox.limiter import CallKind, RateLimiter
from smartcharge.wallbox.models import SignInResponse, parse
from smartcharge.wallbox.tokens import Tokens, TokenStore

log = structlog.get_logger(__name__)

__all__ = ["AuthCall", "Authenticator", "RefreshRejectedError"]

# Renew when less than this is left. Tokens have lived from 15 minutes to a day (§2.2); five
# minutes covers a slow request, a poll interval's worth of drift and modest clock skew, and
# still leaves two thirds of the shortest lifetime seen.
REFRESH_MARGIN_S = 300.0
# A token whose ``ttl`` is already (nearly) past when we receive it means our clock and the
# cloud's disagree; trust it for this long instead of renewing in a loop (a 401 still renews).
SKEWED_TOKEN_LIFE_S = 900.0

CREDENTIAL_VARS = "SMARTCHARGE_WALLBOX_USERNAME/SMARTCHARGE_WALLBOX_PASSWORD"


class AuthCall(enum.Enum):
    """The two calls on the user-api host."""

    SIGNIN = "GET users/signin"
    REFRESH = "GET users/refresh-token"


class RefreshRejectedError(WallboxError):
    """The cloud refused the refresh token (401/403 on users/refresh-token); sign in instead."""


def _expiry(epoch_ms: int, name: str, call: AuthCall, now: datetime) -> datetime:
    """Return an epoch-milliseconds expiry as a datetime in ``now``'s zone.

    Raises:
        WallboxResponseError: the number is no instant a datetime can hold (years 1 to 9999),
            e.g. a ``ttl`` of 1e30; names the endpoint and the field.
    """
    try:
        return datetime.fromtimestamp(epoch_ms / 1000, now.tzinfo)
    except (OverflowError, ValueError, OSError):
        field = f"data.attributes.{name}"
        raise WallboxResponseError(
            f"Wallbox cloud: {call.value} answered with unexpected JSON: field {field!r}: "
            "not an expiry time in epoch milliseconds",
            endpoint=call.value,
            field=field,
        ) from None


# (call, headers) -> the parsed JSON answer; raises WallboxError subclasses.
Send = Callable[[AuthCall, dict[str, str]], Awaitable[Any]]


class Authenticator:
    """Hands out a valid access token, renewing it as rarely as possible.

    Args:
        username: the account's e-mail address.
        password: the account's password.
        store: where tokens persist across restarts.
        limiter: the shared budgets (the sign-in budget lives there).
        clock: the time source.
        send: performs one user-api call (``Transport.auth_call``).
        register_secret: masks a secret in every later log line (the password, the Basic
            credential and each token handed out are registered before they are used).
    """

    def __init__(
        self,
        *,
        username: str,
        password: SecretStr,
        store: TokenStore,
        limiter: RateLimiter,
        clock: Clock,
        send: Send,
        register_secret: Callable[[str], None],
    ) -> None:
        self._username = username
        self._register_secret = register_secret
        self._basic = self._credential(password)
        self._store = store
        self._limiter = limiter
        self._clock = clock
        self._send = send
        self._tokens: Tokens | None = None
        self._lock = asyncio.Lock()
        self._rejected: str | None = None

    def _credential(self, password: SecretStr) -> str:
        """Return the Basic credential for ``password``; both are masked in logs from now on."""
        secret = password.get_secret_value()
        basic = base64.b64encode(f"{self._username}:{secret}".encode()).decode("ascii")
        self._register_secret(secret)
        self._register_secret(basic)
        return basic

    def use_password(self, password: SecretStr) -> None:
        """Sign in with ``password`` at the next call (a live edit of the settings).

        The tokens in memory and in the store are forgotten, so exactly one sign-in follows
        (within the sign-in budget): a password changed because the old one leaked must not
        leave the old session in use.
        """
        self._basic = self._credential(password)
        self._tokens = None
        self._rejected = None
        self._store.clear()

    @property
    def tokens(self) -> Tokens | None:
        """Return the tokens in memory (repr-safe)."""
        return self._tokens

    def _usable(self, tokens: Tokens | None, now: datetime) -> bool:
        return (
            tokens is not None
            and tokens.username == self._username
            and tokens.access_expires_at - now > timedelta(seconds=REFRESH_MARGIN_S)
        )

    def _stored(self) -> Tokens | None:
        tokens = self._store.load(self._clock.now())
        return tokens if tokens is not None and tokens.username == self._username else None

    async def token(self) -> str:
        """Return an access token valid for a while yet.

        Raises:
            WallboxAuthError: credentials rejected, or the sign-in budget is spent after a
                rejection.
            WallboxRateLimitedError: the sign-in budget is spent.
            WallboxUnavailableError: the user-api host did not answer.
        """
        async with self._lock:
            now = self._clock.now()
            if self._usable(self._tokens, now):
                assert self._tokens is not None
                return self._tokens.access_token
            stored = self._stored()
            if self._usable(stored, now):
                assert stored is not None
                if self._tokens is None:
                    log.info(
                        "wallbox_token_reused", expires_at=stored.access_expires_at.isoformat()
                    )
                self._tokens = stored
                return stored.access_token
            tokens = await self._renew(self._tokens or stored)
            return tokens.access_token

    async def renew_after_rejection(self, rejected: str) -> str:
        """Return a new access token after the API answered ``rejected`` with 401.

        Callers that were rejected together share one renewal: whoever comes second finds a
        different token already in place and gets it.
        """
        async with self._lock:
            if self._tokens is not None and self._tokens.access_token != rejected:
                return self._tokens.access_token
            stored = self._stored()
            if (
                stored is not None
                and stored.access_token != rejected
                and self._usable(stored, self._clock.now())
            ):
                self._tokens = stored
                return stored.access_token
            tokens = await self._renew(self._tokens or stored)
            return tokens.access_token

    async def _renew(self, current: Tokens | None) -> Tokens:
        now = self._clock.now()
        if current is not None and (
            current.refresh_expires_at is None or current.refresh_expires_at > now
        ):
            try:
                tokens = await self._refresh(current)
            except RefreshRejectedError:
                log.warning("wallbox_token_refresh_rejected")
            else:
                log.info("wallbox_token_refreshed", expires_at=tokens.access_expires_at.isoformat())
                return tokens
        return await self._sign_in()

    async def _refresh(self, current: Tokens) -> Tokens:
        data = await self._send(
            AuthCall.REFRESH,
            {"Authorization": f"Bearer {current.refresh_token}", "Partner": "wallbox"},
        )
        return self._adopt(data, AuthCall.REFRESH)

    async def _sign_in(self) -> Tokens:
        if self._rejected is not None:
            raise WallboxAuthError(self._rejected)
        taken, slot = self._limiter.take(CallKind.SIGNIN)
        if taken is None:
            raise self._allowance_spent(slot)
        try:
            data = await self._send(
                AuthCall.SIGNIN, {"Authorization": f"Basic {self._basic}", "Partner": "wallbox"}
            )
        except WallboxAuthError as err:
            self._rejected = str(err)
            self._limiter.note_signin(rejected=True, outcome="rejected the credentials")
            log.error("wallbox_signin_rejected", username=self._username)
            raise
        except WallboxRateLimitedError:
            self._limiter.note_signin(rejected=False, outcome="answered 'too many requests'")
            raise
        except WallboxUnavailableError as err:
            if err.answered:
                self._limiter.note_signin(rejected=False, outcome="answered with a server error")
            else:
                # Never reached the cloud, or no answer came: it cannot count against the
                # account, so it does not count against the allowance either.
                self._limiter.refund(CallKind.SIGNIN, taken)
            raise
        self._limiter.note_signin(rejected=False, outcome="accepted the credentials")
        tokens = self._adopt(data, AuthCall.SIGNIN)
        log.info("wallbox_signed_in", expires_at=tokens.access_expires_at.isoformat())
        return tokens

    def _allowance_spent(self, slot: datetime) -> WallboxError:
        """Return the error for a spent sign-in allowance: why, and when the next try is."""
        limit = self._limiter.budgets[CallKind.SIGNIN].capacity
        message = (
            f"Wallbox sign-in: {limit} answered attempts in the last hour already (the most "
            f"allowed, SMARTCHARGE_WALLBOX_SIGNINS_PER_HOUR); next attempt allowed at "
            f"{slot.isoformat(timespec='seconds')}"
        )
        last_at, outcome = self._limiter.last_signin()
        when = "" if last_at is None else f" at {last_at.isoformat(timespec='seconds')}"
        if self._limiter.last_signin_rejected():
            return WallboxAuthError(
                f"{message}. The cloud rejected the credentials at the last answered "
                f"attempt{when}: check {CREDENTIAL_VARS}"
            )
        said = (
            "" if outcome is None else f". At the last answered attempt{when} the cloud {outcome}"
        )
        return WallboxRateLimitedError(f"{message}{said}", retry_at=slot)

    def _adopt(self, data: Any, call: AuthCall) -> Tokens:
        answer = parse(SignInResponse, data, call.value).data.attributes
        access = answer.token.get_secret_value()
        refresh = answer.refresh_token.get_secret_value()
        self._register_secret(access)
        self._register_secret(refresh)
        now = self._clock.now()
        # ttl and refresh_token_ttl are absolute epoch milliseconds (wallbox-api.md §2.1).
        expires_at = _expiry(answer.ttl, "ttl", call, now)
        if expires_at - now <= timedelta(seconds=REFRESH_MARGIN_S):
            log.warning(
                "wallbox_token_ttl_suspicious",
                expires_at=expires_at.isoformat(),
                now=now.isoformat(),
            )
            expires_at = now + timedelta(seconds=SKEWED_TOKEN_LIFE_S)
        refresh_expires_at = (
            None
            if answer.refresh_token_ttl is None
            else _expiry(answer.refresh_token_ttl, "refresh_token_ttl", call, now)
        )
        tokens = Tokens(
            access_token=access,
            refresh_token=refresh,
            access_expires_at=expires_at,
            refresh_expires_at=refresh_expires_at,
            username=self._username,
        )
        self._tokens = tokens
        self._store.save(tokens)
        return tokens
