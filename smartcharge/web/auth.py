"""Who may use the local API (pure): the token check, the cross-site check, the write limit.

- **Loopback or not** is decided by the configured address (``SMARTCHARGE_HTTP_HOST``), never by
  the peer: a server listening beyond loopback asks every caller for the token, also one that
  connects from this machine (behind a proxy or a container's port map the peer says little).
- **The token** (``SMARTCHARGE_API_TOKEN``) comes as ``Authorization: Bearer <token>`` or as the
  password of HTTP Basic with any user name (a browser's log-in prompt); compared in constant
  time. A missing and a wrong token get the same answer.
- **Cross-site writes**: a page elsewhere must not steer the daemon through the user's browser
  (on loopback there is no token to stop it): a write whose ``Sec-Fetch-Site`` says
  ``cross-site``/``same-site``, or whose ``Origin`` is not this server, is refused.
- **The Host header on loopback**: a DNS-rebinding page reaches a loopback server under its own
  host name; only loopback names and addresses are answered there.
- **Writes are rate-limited**: ``WriteLimiter``, a sliding window on an injected monotonic clock.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections import deque
from collections.abc import Callable
from urllib.parse import urlsplit

from smartcharge.config.http import is_loopback

# Writes allowed per window: a person steering tonight's session needs a handful a minute; the
# daemon plans again after each, so more would only churn (the charger's own commands are
# bounded by the policy and the client's budget either way).
WRITES_PER_WINDOW = 6
WRITE_WINDOW_S = 60.0


def token_matches(authorization: str | None, token: str) -> bool:
    """Return whether an ``Authorization`` header carries ``token``.

    ``Bearer <token>``, or ``Basic`` with any user name and ``token`` as the password. Both
    sides are compared as UTF-8 bytes with ``hmac.compare_digest``.
    """
    if not authorization or not token:
        return False
    scheme, _, credentials = authorization.strip().partition(" ")
    credentials = credentials.strip()
    given: str | None = None
    if scheme.lower() == "bearer":
        given = credentials
    elif scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return False
        _user, colon, password = decoded.partition(":")
        given = password if colon else None
    if given is None:
        return False
    return hmac.compare_digest(given.encode("utf-8"), token.encode("utf-8"))


def host_is_loopback(host_header: str | None) -> bool:
    """Return whether a ``Host`` header names this machine by a loopback name or address."""
    if not host_header:
        return False
    try:
        hostname = urlsplit(f"//{host_header}").hostname
    except ValueError:
        return False
    return hostname is not None and is_loopback(hostname)


def cross_site(origin: str | None, fetch_site: str | None, host_header: str | None) -> bool:
    """Return whether a write comes from a page of another origin.

    Args:
        origin: the ``Origin`` header (browsers send it with every POST).
        fetch_site: the ``Sec-Fetch-Site`` header (``same-origin``, ``none``: the user typed
            it; ``same-site``, ``cross-site``: another page).
        host_header: the ``Host`` header the request was sent to.
    """
    if fetch_site is not None and fetch_site.strip().lower() not in ("same-origin", "none"):
        return True
    if origin is None:
        return False  # not a browser's cross-origin request (curl, the CLI)
    # The host and port only: behind a TLS proxy the page is https and this server http.
    try:
        parts = urlsplit(origin.strip())
    except ValueError:
        return True
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return True  # "null" (a sandboxed frame, a file) and anything stranger
    return parts.netloc.lower() != (host_header or "").lower()


class WriteLimiter:
    """At most ``limit`` writes within any ``window_s`` seconds (a sliding window).

    Args:
        monotonic: the injected monotonic clock (``Clock.monotonic``).
        limit: writes allowed per window.
        window_s: the window's length in seconds.
    """

    def __init__(
        self,
        monotonic: Callable[[], float],
        limit: int = WRITES_PER_WINDOW,
        window_s: float = WRITE_WINDOW_S,
    ) -> None:
        self._monotonic = monotonic
        self.limit = limit
        self.window_s = window_s
        self._times: deque[float] = deque()

    def take(self) -> float | None:
        """Count one write now; return None when allowed, else the seconds until one is."""
        now = self._monotonic()
        while self._times and now - self._times[0] >= self.window_s:
            self._times.popleft()
        if len(self._times) >= self.limit:
            return self.window_s - (now - self._times[0])
        self._times.append(now)
        return None
