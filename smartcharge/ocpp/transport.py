"""aiohttp websockets as the ``recv()``/``send()`` connection the ``ocpp`` package expects.

The ``ocpp`` package is transport-agnostic: its ``ChargePoint`` only awaits ``recv()`` and
``send(text)``. aiohttp's server (``web.WebSocketResponse``) and client
(``ClientWebSocketResponse``) sockets share ``receive()`` and ``send_str()``, so one adapter
serves the central system and the simulated charge point, and no second web stack
(``websockets``) is needed.
"""

from __future__ import annotations

from typing import Protocol

import aiohttp

from smartcharge.ocpp.errors import OcppError

# The OCPP-J subprotocol a 1.6 charge point asks for (OCPP-J 1.6 §3.1.2).
SUBPROTOCOL = "ocpp1.6"


class LinkClosedError(OcppError):
    """The websocket closed (by either side, or by a network error)."""


class _AiohttpSocket(Protocol):
    async def receive(self, timeout: float | None = None) -> aiohttp.WSMessage: ...  # noqa: D102

    async def send_str(self, data: str, compress: int | None = None) -> None: ...  # noqa: D102

    async def close(self, *, code: int = ..., message: bytes = b"") -> bool: ...  # noqa: D102

    @property
    def closed(self) -> bool: ...  # noqa: D102


class WebSocketLink:
    """One open websocket, seen as the ``ocpp`` package's connection.

    Args:
        socket: an open aiohttp websocket (server or client side).
    """

    def __init__(self, socket: _AiohttpSocket) -> None:
        self._socket = socket

    async def recv(self) -> str:
        """Return the next text frame.

        Raises:
            LinkClosedError: the socket closed or failed; the ``ocpp`` read loop ends on it.
        """
        msg = await self._socket.receive()
        if msg.type is aiohttp.WSMsgType.TEXT:
            return str(msg.data)
        if msg.type is aiohttp.WSMsgType.BINARY:
            return bytes(msg.data).decode("utf-8", errors="replace")
        raise LinkClosedError(f"websocket closed ({msg.type.name})")

    async def send(self, text: str) -> None:
        """Send one text frame.

        Raises:
            LinkClosedError: the socket is closed.
        """
        if self._socket.closed:
            raise LinkClosedError("websocket closed")
        try:
            await self._socket.send_str(text)
        except (ConnectionError, RuntimeError) as exc:
            raise LinkClosedError(f"websocket send failed: {exc}") from exc

    @property
    def closed(self) -> bool:
        """Return whether the socket is closed."""
        return self._socket.closed

    async def close(self) -> None:
        """Close the socket (idempotent)."""
        await self._socket.close()
