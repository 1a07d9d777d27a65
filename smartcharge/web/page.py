"""Pure: the API's JSON documents -> the one HTML page at ``/`` (issue 14 item 4).

The page shows what ``GET /api/status``, ``/api/prices`` (today and tomorrow) and
``/api/sessions`` answer, from the same documents, so the page and the API cannot disagree:

- the settings problems and health reasons, if any (first: they need the user);
- the session: energy so far and still needed, target, ready-by, next action, the override in
  force and the plan's figures;
- the prices of today and tomorrow as a bar chart (``chart``), the planned slots marked;
- a form for tonight's target and ready-by with buttons "charge now", "don't charge" and "back
  to the plan": it posts to ``/plan`` (form-encoded, works without JavaScript); the script sends
  it to ``POST /api/plan`` instead and refreshes the page's data (``page_assets``);
- the ledger of finished sessions with the saving.

Every value from a document is escaped. Sections the script refreshes carry ``data-refresh`` and
an ``id``. Nothing is loaded from elsewhere: the style and the script are inline.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape
from typing import Any
from zoneinfo import ZoneInfo

from smartcharge.session.steering import SteerRefusal
from smartcharge.web import chart
from smartcharge.web.page_assets import CSS, JS, REFRESH_S
from smartcharge.web.timefmt import local_when, parse_time

Json = Mapping[str, Any]

# The form's fields (the names of ``POST /plan`` and of the JSON body of ``POST /api/plan``).
FORM_FIELDS = ("target_kwh", "ready_by")
_SOURCE_TEXT = {"cli": "the command line", "api": "the API", "page": "this page"}


@dataclass(frozen=True, slots=True)
class FormState:
    """What the form shows after a refused ``POST /plan``: the values as typed and why.

    Attributes:
        target_kwh: the target as typed.
        ready_by: the ready-by as typed.
        refusal: why nothing changed (shown next to its field, or above the form).
    """

    target_kwh: str
    ready_by: str
    refusal: SteerRefusal


@dataclass(frozen=True, slots=True)
class PageInput:
    """Everything the page shows, taken at one instant.

    Attributes:
        status: the ``GET /api/status`` document.
        prices: the ``GET /api/prices`` documents of today and tomorrow.
        sessions: the ``GET /api/sessions`` document.
        timezone: the zone the page shows times in (``SMARTCHARGE_TIMEZONE``).
        form: the refused form to show again, or None.
    """

    status: Json
    prices: Sequence[Json]
    sessions: Json
    timezone: str
    form: FormState | None = None


def render_page(page: PageInput) -> str:
    """Return the whole HTML page."""
    zone = ZoneInfo(page.timezone)
    now = parse_time(page.status["now"])
    body = "\n".join(
        (
            _header(now, zone),
            _problems(page.status),
            _session(page.status, zone, now),
            _prices(page.prices, zone, now),
            _steering(page.status, zone, now, page.form),
            _ledger(page.sessions, zone, now),
            _contact(page.status, zone, now),
        )
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        "<title>smartcharge: tonight's charging</title>\n"
        f"<style>{CSS}</style>\n</head>\n<body>\n<main>\n{body}\n</main>\n"
        f"<script>{JS}</script>\n</body>\n</html>\n"
    )


def _header(now: datetime, zone: ZoneInfo) -> str:
    return (
        "<header><h1>smartcharge</h1>"
        f'<p class="note" id="updated" data-refresh>As of {escape(local_when(_iso(now), zone))}'
        f" ({escape(str(zone))}); the page refreshes every {REFRESH_S} s.</p></header>"
    )


def _iso(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def _problems(status: Json) -> str:
    """Return the settings problems and health reasons (an empty placeholder when none)."""
    problems = [str(p) for p in status.get("settings_problems") or ()]
    health = status.get("health") or {}
    reasons = [str(r) for r in health.get("reasons") or ()]
    parts: list[str] = []
    if problems:
        parts.append(
            "<h2>The last edit of .env was refused</h2>"
            '<p class="note">smartcharge runs on the settings before it. Fix these lines:</p>'
            + _list(problems)
        )
    if health.get("status") == "unhealthy" and reasons:
        parts.append("<h2>Something needs attention</h2>" + _list(reasons))
    if not parts:
        return '<div id="problems" data-refresh></div>'
    return (
        '<div id="problems" data-refresh><section class="warning" role="alert" '
        'aria-labelledby="problems-title">'
        + "".join(parts).replace("<h2>", '<h2 id="problems-title">', 1)
        + "</section></div>"
    )


def _list(items: Sequence[str]) -> str:
    return "<ul>" + "".join(f"<li>{escape(i)}</li>" for i in items) + "</ul>"


def _kwh(value: Any) -> str:
    return "unknown" if value is None else f"{float(value):.1f} kWh"


def _eur(value: Any) -> str:
    return "unknown" if value is None else f"€{float(value):.2f}"


def _dl(rows: Sequence[tuple[str, str]]) -> str:
    return "<dl>" + "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in rows) + "</dl>"


def override_text(override: Json | None, zone: ZoneInfo, now: datetime) -> str:
    """Return the override in force in words (None: the settings' plan)."""
    if not override:
        return "none: the plan from the settings"
    mode = override.get("mode")
    if mode == "now":
        what = "charge now at full current"
    elif mode == "off":
        what = "don't charge this session"
    else:
        bits = []
        if override.get("target_kwh") is not None:
            bits.append(f"target {_kwh(override['target_kwh'])}")
        if override.get("ready_by") is not None:
            bits.append(f"ready by {local_when(override['ready_by'], zone, now)}")
        what = "tonight's plan" + (": " + ", ".join(bits) if bits else "")
    who = _SOURCE_TEXT.get(str(override.get("set_by")), str(override.get("set_by")))
    return f"{what} (set from {who} at {local_when(override.get('set_at'), zone, now)})"


def _next_action(action: Json | None, zone: ZoneInfo, now: datetime) -> str:
    if not action:
        return "none planned"
    verb = {"resume": "start charging", "pause": "pause charging"}.get(
        str(action.get("action")), str(action.get("action"))
    )
    return f"{verb} at {local_when(action.get('at'), zone, now)}"


def _session(status: Json, zone: ZoneInfo, now: datetime) -> str:
    session = status.get("session")
    plan = status.get("plan")
    if not session:
        rows = [
            ("Override for the next session", override_text(status.get("next_override"), zone, now))
        ]
        inner = "<p>No car plugged in.</p>" + _dl(rows)
    else:
        rows = [
            ("Plugged in", local_when(session.get("plugged_in_at"), zone, now)),
            ("Charged so far", _kwh(session.get("delivered_kwh"))),
            ("Still needed", _kwh(session.get("remaining_kwh"))),
            ("Target", _kwh(session.get("target_kwh"))),
            ("Ready by", local_when(session.get("ready_by"), zone, now)),
            ("Next action", _next_action(status.get("next_action"), zone, now)),
            ("Override in force", override_text(session.get("override"), zone, now)),
        ]
        if session.get("target_met_at"):
            rows.insert(4, ("Target met", local_when(session["target_met_at"], zone, now)))
        inner = _dl(rows)
    if plan:
        inner += _plan(plan, zone, now)
    return (
        '<section id="session" data-refresh aria-labelledby="session-title">'
        f'<h2 id="session-title">Tonight\'s session</h2>{inner}</section>'
    )


def _plan(plan: Json, zone: ZoneInfo, now: datetime) -> str:
    warning = ""
    if not plan.get("reachable", True):
        warning = (
            '<p class="warning" role="note">The target cannot be reached by the ready-by time: '
            "smartcharge charges as much as it can.</p>"
        )
    rows = [
        ("Plan made", f"{local_when(plan.get('made_at'), zone, now)} ({plan.get('reason')})"),
        ("Strategy", str(plan.get("strategy"))),
        ("Energy planned", _kwh(plan.get("energy_kwh"))),
        ("Cost of the plan", _eur(plan.get("cost_eur"))),
        ("Cost charging at once", _eur(plan.get("immediate_cost_eur"))),
    ]
    return f"<h3>The plan</h3>{warning}{_dl(rows)}"


def _prices(days: Sequence[Json], zone: ZoneInfo, now: datetime) -> str:
    items = chart.bars(days)
    missing = [str(d.get("date")) for d in days if not d.get("slots")]
    note = ""
    if missing:
        note = (
            f'<p class="note">No prices known yet for {escape(", ".join(missing))} '
            "(day-ahead prices are published around 13:00).</p>"
        )
    if not items:
        body = note or '<p class="note">No prices known.</p>'
    else:
        legend = (
            '<ul class="legend" aria-hidden="true">'
            '<li><svg width="18" height="14"><path class="slot" d="M0 0H18V14H0Z"/></svg>'
            "price per slot (all-in)</li>"
            '<li><svg width="18" height="14"><path class="slot planned" d="M0 0H18V14H0Z"/>'
            "</svg>planned charging (striped, underlined)</li>"
            "</ul>"
        )
        body = (
            f'<figure><div class="scroll">{chart.svg(items, zone, now)}</div>'
            f"<figcaption>{escape(chart.describe(items, zone))}</figcaption></figure>"
            f"{legend}{note}{chart.table(items, zone)}"
        )
    return (
        '<section id="prices" data-refresh aria-labelledby="prices-title">'
        f'<h2 id="prices-title">Prices today and tomorrow</h2>{body}</section>'
    )


def _field(
    name: str, label: str, kind: str, value: str, hint: str, refusal: SteerRefusal | None
) -> str:
    """Return one labelled input with its hint and its error slot."""
    error = refusal is not None and refusal.field == name
    extra = ' step="0.1" min="0" inputmode="decimal"' if kind == "number" else ""
    message = f"{refusal.message} (accepted: {refusal.accepted})" if error and refusal else ""
    invalid = ' aria-invalid="true"' if error else ""
    return (
        f'<div class="field"><label for="{name}">{escape(label)}</label>'
        f'<input id="{name}" name="{name}" type="{kind}" value="{escape(value)}"{extra}'
        f' aria-describedby="{name}-hint {name}-error"'
        f"{invalid}>"
        f'<p class="note" id="{name}-hint">{escape(hint)}</p>'
        f'<p class="error" id="{name}-error"{"" if error else " hidden"}>{escape(message)}</p>'
        "</div>"
    )


def _steering(status: Json, zone: ZoneInfo, now: datetime, form: FormState | None) -> str:
    session = status.get("session")
    if form is not None:
        target, ready_by = form.target_kwh, form.ready_by
    elif session:
        target = _number(session.get("target_kwh"))
        ready_by = "" if not session.get("ready_by") else _hm(session["ready_by"], zone)
    else:
        override = status.get("next_override") or {}
        target = _number(override.get("target_kwh"))
        ready_by = "" if not override.get("ready_by") else _hm(override["ready_by"], zone)
    refusal = form.refusal if form else None
    general = refusal is not None and refusal.field not in FORM_FIELDS
    general_text = ""
    if general and refusal:
        general_text = f"{refusal.message} (accepted: {refusal.accepted})"
    applies = (
        "For the car plugged in now, until it is unplugged."
        if session
        else "No car plugged in: this applies to the next session."
    )
    return (
        '<section id="steering" data-refresh aria-labelledby="steering-title">'
        '<h2 id="steering-title">Tonight</h2>'
        f'<p class="note">{escape(applies)}</p>'
        '<form id="steer" method="post" action="/plan">'
        f'<p class="error" id="form-error" role="alert"{"" if general else " hidden"}>'
        f"{escape(general_text)}</p>"
        + _field(
            "target_kwh",
            "Energy to charge (kWh)",
            "number",
            target,
            "Empty: the target from the settings.",
            refusal,
        )
        + _field(
            "ready_by",
            "Ready by (HH:MM)",
            "time",
            ready_by,
            "The next such time, local. Empty: the ready-by from the settings.",
            refusal,
        )
        + '<div class="buttons">'
        '<button type="submit" name="mode" value="plan">Set tonight\'s plan</button>'
        '<button type="submit" name="mode" value="now">Charge now</button>'
        '<button type="submit" name="mode" value="off">Don\'t charge</button>'
        '<button type="submit" name="mode" value="clear">Back to the plan</button>'
        "</div>"
        '<p class="note">"Charge now" charges at full current until the target or unplug; '
        '"Back to the plan" drops what was set here and follows the settings again.</p>'
        '<p class="note" id="form-status" role="status" aria-live="polite"></p>'
        "</form></section>"
    )


def _number(value: Any) -> str:
    return "" if value is None else f"{float(value):g}"


def _hm(text: str, zone: ZoneInfo) -> str:
    return parse_time(text).astimezone(zone).strftime("%H:%M")


def _ledger(sessions: Json, zone: ZoneInfo, now: datetime) -> str:
    entries = list(sessions.get("sessions") or ())
    totals = sessions.get("totals") or {}
    problem = sessions.get("ledger_problem")
    warning = (
        f'<p class="warning" role="note">The ledger could not be read: {escape(str(problem))}</p>'
        if problem
        else ""
    )
    count = totals.get("sessions", len(entries))
    if not entries:
        body = '<p class="note">No finished sessions yet.</p>'
    else:
        rows = "".join(
            "<tr>"
            f"<td>{escape(local_when(e.get('plugged_in_at'), zone, now))}</td>"
            f"<td>{escape(local_when(e.get('plugged_out_at'), zone, now))}</td>"
            f'<td class="num">{escape(_kwh(e.get("energy_kwh")))}</td>'
            f'<td class="num">{escape(_eur(e.get("cost_eur")))}</td>'
            f'<td class="num">{escape(_eur(e.get("saving_eur")))}</td>'
            f"<td>{'yes' if e.get('target_met') else 'no'}</td>"
            "</tr>"
            for e in entries
        )
        body = (
            f"<p>Saved <strong>{escape(_eur(totals.get('saving_eur')))}</strong> over "
            f"{escape(str(count))} {'session' if count == 1 else 'sessions'} "
            f"({escape(_kwh(totals.get('energy_kwh')))}, cost "
            f"{escape(_eur(totals.get('cost_eur')))}) against charging at once.</p>"
            '<div class="scroll"><table><caption>Finished sessions, newest first</caption>'
            "<thead><tr>"
            '<th scope="col">Plugged in</th><th scope="col">Unplugged</th>'
            '<th scope="col" class="num">Energy</th><th scope="col" class="num">Cost</th>'
            '<th scope="col" class="num">Saving</th><th scope="col">Target met</th>'
            f"</tr></thead><tbody>{rows}</tbody></table></div>"
        )
    return (
        '<section id="ledger" data-refresh aria-labelledby="ledger-title">'
        f'<h2 id="ledger-title">Ledger</h2>{warning}{body}</section>'
    )


def _contact(status: Json, zone: ZoneInfo, now: datetime) -> str:
    """Return the charger link, the last contacts, the price source and the car's figures."""
    contact = status.get("last_contact") or {}
    reachable = contact.get("charger_reachable")
    rows = [
        ("Charger link", str(status.get("link"))),
        ("Charger last heard", local_when(contact.get("charger_at"), zone, now)),
        ("Charger reachable", "yes" if reachable else "no"),
        ("Prices fetched", local_when(contact.get("prices_at"), zone, now)),
        ("Price source", str(contact.get("price_source") or "unknown")),
        ("Prices known until", local_when(status.get("prices_known_until"), zone, now)),
    ]
    car = status.get("car") or {}
    rows += [
        (f"Car: {str(k).replace('_', ' ')}", _figure(v, str(k), zone, now)) for k, v in car.items()
    ]
    return (
        '<section id="contact" data-refresh aria-labelledby="contact-title">'
        f'<h2 id="contact-title">Charger, prices and car</h2>{_dl(rows)}</section>'
    )


def _figure(value: Any, name: str, zone: ZoneInfo, now: datetime) -> str:
    """Return one of the car's figures as text (a time local, a list of pairs as ``a: b``)."""
    if value is None:
        return "unknown"
    if name.endswith("_at") and isinstance(value, str):
        return local_when(value, zone, now)
    if isinstance(value, list):
        return ", ".join(
            ": ".join(str(v) for v in item) if isinstance(item, list) else str(item)
            for item in value
        )
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
