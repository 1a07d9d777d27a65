"""The web page's routes (``/`` and the no-JavaScript form ``POST /plan``; issue 14 item 4).

A hook of ``web.server``: it calls ``add_page_routes`` once while building the application, so
the page's code lives here alone. The guard in front of every route (the token beyond loopback,
the Host check, cross-site writes refused) is the server's; a write goes through
``request.app[WRITES].steer`` (the write limit and the bounded answer).
"""

from __future__ import annotations

from aiohttp import web

from smartcharge.web.view import DaemonView


def add_page_routes(app: web.Application, view: DaemonView) -> None:
    """Add the page's routes to ``app`` (none yet)."""
    del app, view
