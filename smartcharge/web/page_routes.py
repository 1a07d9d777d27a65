"""The web page's routes: ``GET /`` and the no-JavaScript form ``POST /plan`` (issue 14 item 4).

A hook of ``web.server``: it calls ``add_page_routes`` once while building the application.
The guard in front of every route is the server's (the token beyond loopback, the ``Host``
check, cross-site writes refused); a write goes through ``request.app[WRITES].steer``, the same
door as ``POST /api/plan`` (the write limit and the bounded answer).

``GET /`` renders the page (``web.page``, pure) from the same documents the API serves, taken
from one ``ApiFacts``. ``POST /plan`` takes the form (form-encoded): applied, it answers 303 to
``/`` (the browser shows the new plan; a reload does not post again); refused, it answers the
page again with the values as typed and the reason next to the field (400, or 429 past the
write limit with ``Retry-After``).
"""

from __future__ import annotations

from datetime import timedelta

from aiohttp import web

from smartcharge.session.steering import SteerRefusal, SteerSource
from smartcharge.web.appkeys import VIEW, WRITES
from smartcharge.web.documents import (
    prices_document,
    sessions_document,
    status_document,
    today,
)
from smartcharge.web.form import parse_form
from smartcharge.web.page import FormState, PageInput, render_page
from smartcharge.web.page_assets import CONTENT_SECURITY_POLICY
from smartcharge.web.view import ApiFacts, DaemonView
from smartcharge.web.writes import Limited, Pending

# The ledger on the page: the newest sessions (GET /api/sessions has them all).
LEDGER_ROWS = 10
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    # same-origin, not no-referrer: under no-referrer a browser sends "Origin: null" with the
    # form's POST, and the server refuses a write whose origin is not its own
    "Referrer-Policy": "same-origin",
}


def page_input(facts: ApiFacts, form: FormState | None = None) -> PageInput:
    """Return what the page shows: the API's documents of ``facts`` (today and tomorrow)."""
    day = today(facts)
    return PageInput(
        status=status_document(facts),
        prices=[prices_document(facts, day), prices_document(facts, day + timedelta(days=1))],
        sessions=sessions_document(facts, LEDGER_ROWS),
        timezone=facts.timezone.key,
        form=form,
    )


def _html(text: str, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status,
        text=text,
        content_type="text/html",
        charset="utf-8",
        headers={**_HEADERS, **(headers or {})},
    )


async def _page(request: web.Request) -> web.Response:
    return _html(render_page(page_input(request.app[VIEW].facts())))


async def _post_plan(request: web.Request) -> web.StreamResponse:
    view = request.app[VIEW]
    fields: dict[str, str] = {}
    if request.content_type in FORM_TYPES:
        posted = await request.post()
        fields = {k: v for k, v in posted.items() if isinstance(v, str)}
    else:
        refusal = SteerRefusal(
            "body",
            request.content_type[:80],
            "the form must be sent form-encoded",
            "Content-Type: application/x-www-form-urlencoded",
        )
        return _refused(view, {}, refusal, 415)
    parsed = parse_form(fields)
    if isinstance(parsed, SteerRefusal):
        return _refused(view, fields, parsed, 400)
    answer = await request.app[WRITES].steer(parsed, SteerSource.PAGE)
    if isinstance(answer, Limited):
        refusal = SteerRefusal(
            "rate",
            "",
            f"Too many changes: at most {request.app[WRITES].limiter.limit} a minute.",
            f"another change in {answer.retry_after_s} s",
        )
        headers = {"Retry-After": str(answer.retry_after_s)}
        return _refused(view, fields, refusal, 429, headers)
    if isinstance(answer, Pending) or answer.refusal is None:
        # Pending: applied (or refused, logged) when the daemon is free; the page shows it.
        raise web.HTTPSeeOther("/", headers=_HEADERS)
    return _refused(view, fields, answer.refusal, 400)


def _refused(
    view: DaemonView,
    fields: dict[str, str],
    refusal: SteerRefusal,
    status: int,
    headers: dict[str, str] | None = None,
) -> web.Response:
    form = FormState(fields.get("target_kwh", ""), fields.get("ready_by", ""), refusal)
    return _html(render_page(page_input(view.facts(), form)), status, headers)


def add_page_routes(app: web.Application, view: DaemonView) -> None:
    """Add ``GET /`` and ``POST /plan`` to ``app`` (which holds ``VIEW`` and ``WRITES``)."""
    del view  # the handlers read the view from the application, like the API's
    app.router.add_get("/", _page)
    app.router.add_post("/plan", _post_plan)
