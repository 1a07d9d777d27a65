"""The values the server keeps on its ``aiohttp`` application, for the API's and page's handlers."""

from __future__ import annotations

from aiohttp import web

from smartcharge.web.view import DaemonView
from smartcharge.web.writes import Writes

VIEW = web.AppKey("view", DaemonView)
WRITES = web.AppKey("writes", Writes)
