"""The local HTTP server: ``/healthz``, the JSON API (``/api/*``) and the web page (``/``).

One aiohttp server on ``SMARTCHARGE_HTTP_HOST:SMARTCHARGE_HEALTH_PORT`` (``127.0.0.1:8765`` by
default). A guard runs in front of every route but ``/healthz`` (the container's HEALTHCHECK):

- listening on loopback: no token; the ``Host`` header must be a loopback name or address (a
  DNS-rebinding page reaching ``127.0.0.1`` under its own name gets 403);
- listening beyond loopback: ``SMARTCHARGE_API_TOKEN`` as a Bearer token or as the password of
  HTTP Basic (any user name), else 401 with ``WWW-Authenticate: Basic realm="smartcharge"``
  (a browser then shows its log-in prompt); the same answer for a missing and a wrong token;
- a write (POST) from a page of another origin: 403.

Errors are JSON everywhere (``{"error": {...}}``), also aiohttp's own 404, 405 and 413. The
server logs no request (no access log): a request line or header could carry the token.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

import structlog
from aiohttp import web
from pydantic import SecretStr

from smartcharge.clock import Clock
from smartcharge.config.http import is_loopback, token_problem
from smartcharge.errors import ConfigError
from smartcharge.web.api import add_api_routes, error_response
from smartcharge.web.appkeys import VIEW, WRITES
from smartcharge.web.auth import (
    WriteLimiter,
    cross_site,
    host_is_loopback,
    token_matches,
)
from smartcharge.web.health import health_body
from smartcharge.web.page_routes import add_page_routes
from smartcharge.web.view import DaemonView
from smartcharge.web.writes import STEER_TIMEOUT_S, Writes

log = structlog.get_logger(__name__)

HEALTH_PATH = "/healthz"
# A steer body is a few dozen bytes; anything near this is not one of ours.
MAX_BODY_BYTES = 16 * 1024
REALM = 'Basic realm="smartcharge", charset="UTF-8"'
AUTH_ACCEPTED = (
    "SMARTCHARGE_API_TOKEN as 'Authorization: Bearer <token>', or as the password of HTTP "
    "Basic with any user name"
)
_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class HttpServer:
    """The daemon's local HTTP server.

    Args:
        view: the daemon as the server sees it (``runtime.compose.daemon_view``).
        host: the address to listen on (``SMARTCHARGE_HTTP_HOST``).
        port: the port (``SMARTCHARGE_HEALTH_PORT``); 0 binds a free one (tests read ``port``
            after ``start()``). For ``SMARTCHARGE_HEALTH_PORT=0`` the daemon builds no server.
        clock: the injected clock (the write limit's window).
        token: ``SMARTCHARGE_API_TOKEN``; required beyond loopback.
        steer_timeout_s: the bound on a write's answer (``web.writes``).

    Raises:
        ConfigError: ``host`` is beyond loopback and there is no token (``check-config`` says
            so first; this is the last line of defence).
    """

    def __init__(
        self,
        view: DaemonView,
        host: str,
        port: int,
        clock: Clock,
        token: SecretStr | None = None,
        *,
        steer_timeout_s: float = STEER_TIMEOUT_S,
    ) -> None:
        self.view = view
        self.host = host
        self.port = port
        self.loopback = is_loopback(host)
        self._token = token if token is not None and token.get_secret_value() else None
        problem = token_problem(host, port or 1, self._token)
        if problem is not None:
            raise ConfigError(f"SMARTCHARGE_HTTP_HOST={host}: {problem}")
        self.writes = Writes(view, WriteLimiter(clock.monotonic), steer_timeout_s)
        self._runner: web.AppRunner | None = None

    def build_app(self) -> web.Application:
        """Return the application: the guard, JSON errors, ``/healthz``, the API and the page."""
        app = web.Application(
            middlewares=[_json_errors, self._guard], client_max_size=MAX_BODY_BYTES
        )
        app[VIEW] = self.view
        app[WRITES] = self.writes
        app.router.add_get(HEALTH_PATH, self._healthz)
        add_api_routes(app)
        add_page_routes(app, self.view)
        return app

    async def _healthz(self, _request: web.Request) -> web.Response:
        status, body = health_body(self.view.health())
        return web.Response(status=status, text=json.dumps(body), content_type="application/json")

    @web.middleware
    async def _guard(self, request: web.Request, handler: _Handler) -> web.StreamResponse:
        if request.path == HEALTH_PATH:
            return await handler(request)
        # The header itself: aiohttp's request.host falls back to a (blocking) name look-up.
        host = request.headers.get("Host", "")
        if self.loopback and not host_is_loopback(host):
            return error_response(
                403,
                "Host",
                host[:80],
                "this server listens on loopback and answers only to loopback names",
                "Host: 127.0.0.1:<port> or localhost:<port> (SMARTCHARGE_HTTP_HOST to listen "
                "beyond this machine, with SMARTCHARGE_API_TOKEN)",
            )
        if self._token is not None and not token_matches(
            request.headers.get("Authorization"), self._token.get_secret_value()
        ):
            return error_response(
                401,
                "Authorization",
                "",
                "a token is needed beyond loopback (missing or wrong)",
                AUTH_ACCEPTED,
                headers={"WWW-Authenticate": REALM},
            )
        if request.method not in ("GET", "HEAD", "OPTIONS") and cross_site(
            request.headers.get("Origin"),
            request.headers.get("Sec-Fetch-Site"),
            host,
        ):
            return error_response(
                403,
                "Origin",
                request.headers.get("Origin", request.headers.get("Sec-Fetch-Site", ""))[:80],
                "a change from a page of another site is refused",
                "a request from this server's own page, or from outside a browser",
            )
        return await handler(request)

    async def start(self) -> None:
        """Start serving; ``port`` is the bound port afterwards."""
        runner = web.AppRunner(
            self.build_app(), handle_signals=False, access_log=None, shutdown_timeout=1.0
        )
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self.port = int(runner.addresses[0][1])
        log.info(
            "http_server_started",
            host=self.host,
            port=self.port,
            token_required=self._token is not None,
        )

    async def stop(self) -> None:
        """Stop serving; a write still running in the background is waited for."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        await self.writes.wait_background()


@web.middleware
async def _json_errors(request: web.Request, handler: _Handler) -> web.StreamResponse:
    """Aiohttp's own errors (404, 405, 413, ...) as ``{"error": {...}}``."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
        accepted = {
            404: "GET / (the page), /api/status, /api/plan, /api/prices, /api/sessions, "
            "/healthz; POST /api/plan, /plan (the page's form)",
            405: f"the methods {exc.headers.get('Allow', '')}",
            413: f"a body of at most {MAX_BODY_BYTES} bytes",
        }.get(exc.status, "see the README, 'The local API'")
        return error_response(
            exc.status, "path", request.path[:80], exc.reason, accepted, headers=headers
        )
    except Exception as exc:  # a bug: said in JSON and logged (the path and error, no header)
        log.exception("http_request_failed", method=request.method, path=request.path)
        return error_response(
            500,
            "server",
            request.path[:80],
            f"the daemon could not answer ({type(exc).__name__}); see its log",
            "the same request again later",
        )
