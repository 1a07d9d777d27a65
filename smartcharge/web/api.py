"""The JSON API's routes under ``/api`` (issue 14 item 3).

``GET /api/status``, ``GET /api/plan``, ``GET /api/prices?date=YYYY-MM-DD``,
``GET /api/sessions?limit=N`` and ``POST /api/plan``; the documents are ``web.documents``'s,
the body and query are read by ``web.body``, every write goes through ``web.writes``. Who may
call is decided before a handler runs (``web.server``'s guard).
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from smartcharge.session.steering import SteerRefusal, SteerSource
from smartcharge.web.appkeys import VIEW, WRITES
from smartcharge.web.body import parse_date, parse_limit, parse_steer
from smartcharge.web.documents import (
    error_document,
    plan_document,
    prices_document,
    sessions_document,
    status_document,
    steer_document,
    today,
)
from smartcharge.web.writes import Limited, Pending

SESSIONS_DEFAULT_LIMIT = 30
# The header the CLI sends, so an override it sets is logged as set by the CLI.
CLIENT_HEADER = "X-Smartcharge-Client"
# Who the header may name (anything else is the API): the CLI, and the web page's script.
_CLIENTS = {"cli": SteerSource.CLI, "page": SteerSource.PAGE}
JSON_TYPE = "application/json"


def json_response(
    document: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """Return ``document`` as a JSON response (never cached: it is the daemon's state now)."""
    return web.Response(
        status=status,
        text=json.dumps(document),
        content_type=JSON_TYPE,
        headers={"Cache-Control": "no-store", **(headers or {})},
    )


def error_response(
    status: int,
    field: str,
    value: str,
    message: str,
    accepted: str,
    headers: dict[str, str] | None = None,
) -> web.Response:
    """Return ``{"error": {...}}`` with ``status``."""
    return json_response(error_document(field, value, message, accepted), status, headers)


def refusal_response(refusal: SteerRefusal) -> web.Response:
    """Return a 400 naming the refused field and what is accepted."""
    return error_response(400, refusal.field, refusal.value, refusal.message, refusal.accepted)


async def _status(request: web.Request) -> web.Response:
    return json_response(status_document(request.app[VIEW].facts()))


async def _plan(request: web.Request) -> web.Response:
    return json_response(plan_document(request.app[VIEW].facts()))


async def _prices(request: web.Request) -> web.Response:
    day = parse_date(request.query.get("date"))
    if isinstance(day, SteerRefusal):
        return refusal_response(day)
    facts = request.app[VIEW].facts()
    return json_response(prices_document(facts, today(facts) if day is None else day))


async def _sessions(request: web.Request) -> web.Response:
    limit = parse_limit(request.query.get("limit"), SESSIONS_DEFAULT_LIMIT)
    if isinstance(limit, SteerRefusal):
        return refusal_response(limit)
    return json_response(sessions_document(request.app[VIEW].facts(), limit))


async def _steer(request: web.Request) -> web.Response:
    if request.content_type != JSON_TYPE:
        return error_response(
            415,
            "Content-Type",
            request.headers.get("Content-Type", "(none)")[:80],
            "the body must be JSON",
            f"Content-Type: {JSON_TYPE}",
        )
    parsed = parse_steer(await request.read())
    if isinstance(parsed, SteerRefusal):
        return refusal_response(parsed)
    client = request.headers.get(CLIENT_HEADER, "").strip().lower()
    source = _CLIENTS.get(client, SteerSource.API)
    answer = await request.app[WRITES].steer(parsed, source)
    if isinstance(answer, Limited):
        return error_response(
            429,
            "rate",
            "",
            f"too many changes: at most {request.app[WRITES].limiter.limit} a minute",
            f"another change in {answer.retry_after_s} s",
            headers={"Retry-After": str(answer.retry_after_s)},
        )
    if isinstance(answer, Pending):
        return json_response(
            {
                "pending": True,
                "message": f"the daemon is busy with the charger and did not answer within "
                f"{answer.timeout_s:g} s; the request is applied (or refused) when it is free: "
                "see GET /api/status and the log",
            },
            202,
        )
    if answer.refusal is not None:
        return refusal_response(answer.refusal)
    return json_response(steer_document(answer, request.app[VIEW].facts()))


def add_api_routes(app: web.Application) -> None:
    """Add the ``/api`` routes to ``app`` (which holds ``VIEW`` and ``WRITES``)."""
    app.router.add_get("/api/status", _status)
    app.router.add_get("/api/plan", _plan)
    app.router.add_post("/api/plan", _steer)
    app.router.add_get("/api/prices", _prices)
    app.router.add_get("/api/sessions", _sessions)
