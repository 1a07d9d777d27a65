"""The central system's websocket endpoint, served by aiohttp.

A Wallbox appends its Charge Point Identity to the URL it was given (``ws://host:port/`` becomes
``ws://host:port/<id>``; evcc#15490), so the id is the path's last segment. Only the configured
id is accepted; other ids, a wrong password (security profile 1: HTTP Basic, user = the id) and
a client that does not offer the ``ocpp1.6`` subprotocol are refused before the upgrade, and
logged without the password. wss comes from an ``ssl.SSLContext`` holding the user's certificate.
"""

from __future__ import annotations

import base64
import hmac
import ssl
from urllib.parse import unquote

import structlog
from aiohttp import web

from smartcharge.ocpp.charger import OcppCharger
from smartcharge.ocpp.transport import SUBPROTOCOL, WebSocketLink

log = structlog.get_logger(__name__)

# OCPP-J frames are small (a full GetConfiguration of a Wallbox is a few kB); a bound keeps a
# misbehaving client from making us buffer megabytes.
MAX_FRAME_BYTES = 256 * 1024
# A websocket ping this often; a charge point whose link died without a close (Wi-Fi gone) is
# dropped when no pong comes within half of it. evcc sets the charger's WebSocketPingInterval
# to 30 s for the same reason.
PING_INTERVAL_S = 30.0


def charge_point_id_from_path(path: str) -> str:
    """Return the charge point id: the last non-empty segment of the URL path."""
    segments = [s for s in path.split("/") if s]
    return unquote(segments[-1]) if segments else ""


class OcppServer:
    """The endpoint one charger connects to.

    Args:
        charger: the charger that connections with its id are handed to.
        password: when set, HTTP Basic with the charge point id and this password is required.
        ssl_context: when set, the endpoint speaks wss with this context's certificate.
    """

    def __init__(
        self,
        charger: OcppCharger,
        *,
        password: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._charger = charger
        self._password = password
        self._ssl_context = ssl_context
        self._runner: web.AppRunner | None = None
        self._sockets: set[web.WebSocketResponse] = set()
        self.refused = 0

    def application(self) -> web.Application:
        """Return an aiohttp application serving the endpoint on every path."""
        app = web.Application()
        app.router.add_get("/{tail:.*}", self._handle)
        app.on_shutdown.append(self._close_sockets)
        return app

    async def start(self, host: str, port: int) -> int:
        """Listen on ``host``:``port`` and return the bound port (0 picks a free one)."""
        self._runner = web.AppRunner(self.application(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port, ssl_context=self._ssl_context)
        await site.start()
        server = site._server  # noqa: SLF001 - aiohttp exposes the bound port nowhere else
        assert server is not None
        sockets = getattr(server, "sockets", None) or ()
        return int(sockets[0].getsockname()[1]) if sockets else port

    async def close(self) -> None:
        """Close every connection and stop listening."""
        await self._charger.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _close_sockets(self, _app: web.Application) -> None:
        for socket in list(self._sockets):
            await socket.close()

    def _refuse(self, reason: str, charge_point_id: str, status: int) -> web.Response:
        self.refused += 1
        log.warning("ocpp_charge_point_refused", charge_point_id=charge_point_id, reason=reason)
        headers = {"WWW-Authenticate": 'Basic realm="ocpp"'} if status == 401 else None
        return web.Response(status=status, text=f"refused: {reason}\n", headers=headers)

    def _authorized(self, request: web.Request, charge_point_id: str) -> bool:
        if self._password is None:
            return True
        scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True)
        except ValueError:
            return False
        login, _, password = decoded.partition(b":")
        # Both compared in constant time, and both always compared.
        same_login = hmac.compare_digest(login, charge_point_id.encode())
        same_password = hmac.compare_digest(password, self._password.encode())
        return same_login and same_password

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        charge_point_id = charge_point_id_from_path(request.path)
        if charge_point_id != self._charger.charge_point_id:
            return self._refuse("unknown_charge_point_id", charge_point_id, 404)
        if not self._authorized(request, charge_point_id):
            return self._refuse("bad_credentials", charge_point_id, 401)
        offered = {p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",")}
        if SUBPROTOCOL not in offered:
            return self._refuse("no_ocpp16_subprotocol", charge_point_id, 400)
        socket = web.WebSocketResponse(
            protocols=(SUBPROTOCOL,), max_msg_size=MAX_FRAME_BYTES, heartbeat=PING_INTERVAL_S
        )
        await socket.prepare(request)
        self._sockets.add(socket)
        try:
            await self._charger.serve(WebSocketLink(socket))
        finally:
            self._sockets.discard(socket)
            await socket.close()
        return socket
