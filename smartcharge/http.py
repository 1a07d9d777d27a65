"""The process's one HTTP client session, made so that no request is ever sent twice silently.

aiohttp re-sends an idempotent request (GET, PUT, ...) once, on its own, when the server drops
the connection before answering. For the Wallbox cloud that is wrong twice over: the re-sent
call bypasses our rate limiter, and a ``PUT v2/charger`` (current, lock) would reach the
charger a second time without our knowing. The middleware below turns a dropped connection
into an error that aiohttp does not retry, so the adapter sees it and decides (re-reading the
status first when a write's outcome is unknown).
"""

from __future__ import annotations

import aiohttp


class ConnectionDroppedError(aiohttp.ClientConnectionError):
    """The server closed the connection before answering (never retried by aiohttp)."""


async def _no_silent_retry(
    request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
) -> aiohttp.ClientResponse:
    try:
        return await handler(request)
    except aiohttp.ClientConnectorError:
        raise  # nothing was sent; aiohttp does not retry these, and callers know it
    except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as err:
        raise ConnectionDroppedError(f"{type(err).__name__}: {err}") from err


def open_session(timeout_s: float) -> aiohttp.ClientSession:
    """Return a new session with a total timeout and no silent re-sends (use ``async with``)."""
    return aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=timeout_s), middlewares=(_no_silent_retry,)
    )
