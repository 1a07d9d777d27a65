"""One HTTP exchange with the Wallbox cloud, and every failure turned into a ``WallboxError``.

``Transport.request()`` is the only code in the adapter that touches aiohttp. Its messages name
the call and what happens next; they never contain a header, a token or a body. What to do
about a failure (retry, back off, renew the token) is the client's (``client.py``).
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import aiohttp
import structlog

from smartcharge import __version__
from smartcharge.clock import Clock
from smartcharge.wallbox._json import MAX_JSON_DEPTH, json_too_deep
from smartcharge.wallbox.auth import AuthCall, RefreshRejectedError
from smartcharge.wallbox.defaults import DEFAULT_TIMEOUT_S
from smartcharge.wallbox.errors import (
    WallboxAuthError,
    WallboxChargerNotFoundError,
    WallboxError,
    WallboxForbiddenError,
    WallboxRateLimitedError,
    WallboxResponseError,
    WallboxUnavailableError,
)
from smartcharge.wallbox.limiter import CallKind

log = structlog.get_logger(__name__)

__all__ = [
    "API",
    "AUTH",
    "DEFAULT_TIMEOUT_S",
    "Endpoint",
    "TokenRejectedError",
    "Transport",
    "retry_after_s",
]

# No source shows the cloud sending Retry-After (wallbox-api.md §8, §11). Without one, back off
# for a minute: the window of the observed 1-read-a-minute limit (§9).
DEFAULT_RETRY_AFTER_S = 60.0
# A 403 on a read behaved like a rate limit and went away only after slowing down (§8:
# cliviu74/wallbox#80; HOMEY moved to 123 s). Back off for longer than a 429's minute.
FORBIDDEN_READ_BACKOFF_S = 180.0
# Never honour a Retry-After beyond an hour: a broken header must not silence us for a day.
MAX_RETRY_AFTER_S = 3600.0

API = "api"
AUTH = "auth"


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One call of the cloud's API.

    Attributes:
        method: the HTTP method.
        host: ``API`` or ``AUTH``.
        path: the path under the host's base URL.
        kind: its share of the budget; None for the user-api calls (sign-in and refresh).
        action: what it is for, for messages: "status", "pause", "sign-in", ...
        query: the query parameters.
    """

    method: str
    host: str
    path: str
    kind: CallKind | None
    action: str
    query: tuple[tuple[str, str], ...] = ()

    @property
    def name(self) -> str:
        """Return ``METHOD path``, how messages and log lines name the call."""
        return f"{self.method} {self.path}"

    @property
    def is_write(self) -> bool:
        """Return whether the call changes the charger."""
        return self.kind is CallKind.WRITE


class TokenRejectedError(WallboxError):
    """401 from the api host: the access token expired or was revoked."""


def retry_after_s(value: str | None, now: datetime) -> float | None:
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


def _check_hint(endpoint: Endpoint) -> str:
    setting = (
        "SMARTCHARGE_WALLBOX_AUTH_URL" if endpoint.host == AUTH else "SMARTCHARGE_WALLBOX_API_URL"
    )
    return f"check the network connection (proxy, firewall, DNS) and {setting}"


class Transport:
    """The HTTP exchanges of one account, on the process's one aiohttp session.

    Args:
        session: the process's one aiohttp session (never created here).
        api_url: base URL of the api host.
        auth_url: base URL of the user-api host.
        username: the account's e-mail address (named when the sign-in is refused).
        clock: turns a ``Retry-After`` into an instant.
        timeout_s: the limit on one HTTP exchange, body included.
        back_off: told the instant every call must wait for after a 429 (or a 403 on a read).
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        api_url: str,
        auth_url: str,
        username: str,
        clock: Clock,
        timeout_s: float,
        back_off: Callable[[datetime], None],
    ) -> None:
        self._session = session
        self._urls = {API: api_url.rstrip("/"), AUTH: auth_url.rstrip("/")}
        self._username = username
        self._clock = clock
        self._timeout_s = timeout_s
        self._back_off = back_off

    async def auth_call(self, call: AuthCall, headers: dict[str, str]) -> Any:
        """Make one user-api call (sign-in or token refresh): outside the api budget."""
        path = "users/signin" if call is AuthCall.SIGNIN else "users/refresh-token"
        action = "sign-in" if call is AuthCall.SIGNIN else "token refresh"
        return await self.request(Endpoint("GET", AUTH, path, None, action), headers, None)

    async def request(
        self, endpoint: Endpoint, headers: dict[str, str], body: dict[str, Any] | None
    ) -> Any:
        """Make one HTTP exchange and translate every failure into the WallboxError tree.

        This is the only code that touches aiohttp. Messages name the call and what happens
        next; they never contain a header, a token or a body.

        Raises:
            WallboxAuthError: sign-in refused (401/403 on users/signin).
            RefreshRejectedError: refresh token refused (401/403 on users/refresh-token).
            TokenRejectedError: access token refused (401 on the api host).
            WallboxRateLimitedError: 429, or 403 on a read (the whole client backs off).
            WallboxForbiddenError: 403 on a command.
            WallboxChargerNotFoundError: 404 on the api host (a charger path).
            WallboxUnavailableError: timeout, connection failure, 5xx.
            WallboxResponseError: 404 on the user-api host (the sign-in's or refresh's URL is
                wrong), another status, or a body that is not JSON.
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
                f"{self._timeout_s:g} s; {_check_hint(endpoint)}",
                outcome_unknown=endpoint.is_write,
            ) from err
        except aiohttp.ClientConnectorError as err:
            raise WallboxUnavailableError(
                f"{where}: cannot reach {self._urls[endpoint.host]} ({_reason(err)}); "
                f"{_check_hint(endpoint)}",
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

    def _decode(self, raw: bytes, endpoint: Endpoint, where: str) -> Any:
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
                return None  # the command went through; writes.after_write() infers the new state
            raise WallboxResponseError(
                f"{where} answered with JSON nested more than {MAX_JSON_DEPTH} levels deep "
                f"(at field {deep_at or '(body)'!r})",
                endpoint=endpoint.name,
                field=deep_at or "(body)",
            ) from None
        except ValueError:
            if endpoint.is_write:
                return None  # the command went through; writes.after_write() infers the new state
            raise WallboxResponseError(
                f"{where} answered with a body that is not JSON", endpoint=endpoint.name
            ) from None

    def _raise_for(
        self, status: int, retry_after: str | None, endpoint: Endpoint, where: str
    ) -> Any:
        now = self._clock.now()
        if endpoint.host == AUTH:
            if status in (401, 403) and endpoint.path == "users/signin":
                raise WallboxAuthError(
                    f"Wallbox sign-in rejected (HTTP {status}) for {self._username}: check "
                    "SMARTCHARGE_WALLBOX_USERNAME and SMARTCHARGE_WALLBOX_PASSWORD (only e-mail "
                    "and password accounts work, not Google or Apple sign-in)"
                )
            if status in (401, 403):
                raise RefreshRejectedError(f"{where} refused the refresh token (HTTP {status})")
        elif status == 401:
            raise TokenRejectedError(f"{where} refused the access token (HTTP 401)")
        if status == 429 or (status == 403 and endpoint.method == "GET"):
            wait_s = retry_after_s(retry_after, now)
            if wait_s is None:
                wait_s = DEFAULT_RETRY_AFTER_S if status == 429 else FORBIDDEN_READ_BACKOFF_S
            retry_at = now + timedelta(seconds=wait_s)
            self._back_off(retry_at)
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
        if status == 404 and endpoint.host == AUTH:
            # The user-api has no such path: the URL points elsewhere (the api host, a proxy).
            raise WallboxResponseError(
                f"{where} returned 404 from {self._urls[AUTH]}: not the Wallbox sign-in "
                "service; check SMARTCHARGE_WALLBOX_AUTH_URL",
                endpoint=endpoint.name,
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
