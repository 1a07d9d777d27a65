"""The local API's JSON documents, built from ``ApiFacts`` (pure: no I/O, no clock).

Times are ISO-8601 UTC with ``Z`` (``2026-12-07T05:30:00Z``), units are in the names,
``null`` is unknown. The shapes are the contract of issue 14 (README "The local API");
the web page renders from the same documents.

- ``status_document``: ``GET /api/status``
- ``plan_document``: ``GET /api/plan``
- ``prices_document``: ``GET /api/prices?date=YYYY-MM-DD`` (a local day)
- ``sessions_document``: ``GET /api/sessions?limit=N``
- ``steer_document``: the answer to ``POST /api/plan``
- ``error_document``: every error (400, 401, 403, 404, 405, 415, 429)
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from smartcharge.ledger import LedgerEntry, totals
from smartcharge.session.model import SessionState
from smartcharge.session.steering import SteerOutcome, override_data
from smartcharge.web.view import ApiFacts, CarFigures
from strategies.base import PlanSlot

# Rounding of the figures shown (the state keeps full precision): energy to the Wh, money to
# a hundredth of a cent, prices to a thousandth of a cent, power to 10 W.
_KWH, _EUR, _EUR_PER_KWH, _KW = 3, 4, 5, 2

Document = dict[str, Any]


def utc_text(instant: datetime | None) -> str | None:
    """Return ``instant`` as ISO-8601 UTC with ``Z`` (seconds), or None."""
    if instant is None:
        return None
    return instant.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def _slot_document(slot: PlanSlot) -> Document:
    hours = (slot.end - slot.start).total_seconds() / 3600
    return {
        "start": utc_text(slot.start),
        "end": utc_text(slot.end),
        "current_a": slot.current_a,
        # The plan's expected mean power over the slot (its energy over its length).
        "power_kw": round(slot.energy_kwh / hours, _KW) if hours > 0 else 0.0,
        "energy_kwh": round(slot.energy_kwh, _KWH),
        "price_eur_per_kwh": _round(slot.price_eur_per_kwh, _EUR_PER_KWH),
        "charging": slot.is_charging,
    }


def plan_json(session: SessionState | None) -> Document | None:
    """Return PLAN for the session's plan in force, or None (no session, or no plan yet)."""
    if session is None or session.plan is None:
        return None
    record = session.plan
    plan = record.plan
    return {
        "made_at": utc_text(record.made_at),
        "reason": record.reason.value,
        "strategy": plan.strategy,
        "target_kwh": round(session.target_kwh, _KWH),
        "ready_by": utc_text(session.ready_by),
        "energy_kwh": round(plan.energy_kwh, _KWH),
        "cost_eur": round(plan.cost_eur, _EUR),
        "immediate_cost_eur": _round(record.immediate_cost_eur, _EUR),
        "reachable": plan.is_reachable,
        "slots": [_slot_document(s) for s in plan.slots],
    }


def _session_document(session: SessionState | None) -> Any:
    if session is None:
        return None
    return {
        "session_id": session.session_id,
        "plugged_in_at": utc_text(session.plugged_in_at),
        "ready_by": utc_text(session.ready_by),
        "target_kwh": round(session.target_kwh, _KWH),
        "delivered_kwh": round(session.delivered_kwh, _KWH),
        "remaining_kwh": round(session.remaining_kwh, _KWH),
        "target_met_at": utc_text(session.target_met_at),
        "override": override_data(session.override),
    }


def _car_document(car: CarFigures | None) -> Document | None:
    if car is None:
        return None
    profile = car.profile
    return {
        "full_power_kw": round(profile.full_power_kw(car.max_current_a, car.kw_per_amp), _KW),
        "at_current_a": car.max_current_a,
        "draw_share": round(profile.draw_share, 3),
        "taper_share": _round(profile.taper_share, 3),
        "power_by_current_kw": [[a, kw] for a, kw in profile.power_by_current_kw],
        "sessions": profile.sessions,
        "readings": profile.readings,
        "learnt_at": utc_text(profile.learnt_at),
    }


def _price_source(facts: ApiFacts) -> str | None:
    """The source of the price in force now, else of the last known slot."""
    slot = facts.prices.slot_at(facts.now)
    if slot is None and facts.prices:
        slot = facts.prices.slots[-1]
    return None if slot is None else slot.source


def status_document(facts: ApiFacts) -> Document:
    """Return ``GET /api/status``: the session, plan, next action, contacts, car and health.

    ``energy_cost_in_app`` is what ``smartcharge status`` says of the energy cost in the app.
    """
    state = facts.state
    action = state.next_action
    return {
        "now": utc_text(facts.now),
        "link": facts.link,
        "session": _session_document(state.session),
        "next_override": override_data(state.next_override),
        "plan": plan_json(state.session),
        "next_action": None
        if action is None
        else {"action": action.action.value, "at": utc_text(action.at)},
        "prices_known_until": utc_text(facts.prices.known_until),
        "last_contact": {
            "charger_at": utc_text(state.last_poll_at),
            "charger_reachable": not state.charger_unreachable,
            "prices_at": utc_text(state.last_price_fetch_at),
            "price_source": _price_source(facts),
        },
        "car": _car_document(facts.car),
        "energy_cost_in_app": facts.energy_cost_in_app.to_json(),
        "health": {
            "status": "ok" if facts.health.ok else "unhealthy",
            "reasons": list(facts.health.reasons),
        },
        "settings_problems": list(facts.settings_problems),
    }


def plan_document(facts: ApiFacts) -> Document:
    """Return ``GET /api/plan``: ``{"session_id", "plan"}``."""
    session = facts.state.session
    return {
        "session_id": None if session is None else session.session_id,
        "plan": plan_json(session),
    }


def local_day(day: date, timezone: ZoneInfo) -> tuple[datetime, datetime]:
    """Return the UTC instants where the local ``day`` starts and the next one starts."""
    start = datetime.combine(day, time(0), tzinfo=timezone)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=timezone)
    return start.astimezone(UTC), end.astimezone(UTC)


def today(facts: ApiFacts) -> date:
    """Return the local date at ``facts.now``."""
    return facts.now.astimezone(facts.timezone).date()


def prices_document(facts: ApiFacts, day: date) -> Document:
    """Return ``GET /api/prices``: the known all-in prices of the local ``day``.

    A slot is ``planned`` when the session's plan charges in any part of it. An empty list:
    the day's prices are not known (yet, or any more).
    """
    start, end = local_day(day, facts.timezone)
    session = facts.state.session
    charging = (
        []
        if session is None or session.plan is None
        else [s for s in session.plan.plan.slots if s.is_charging]
    )
    slots = [
        {
            "start": utc_text(p.start),
            "end": utc_text(p.end),
            "price_eur_per_kwh": round(p.price_eur_per_kwh, _EUR_PER_KWH),
            "planned": any(c.start < p.end and p.start < c.end for c in charging),
        }
        for p in facts.prices.between(start, end)
        if start <= p.start < end
    ]
    return {"date": day.isoformat(), "timezone": facts.timezone.key, "slots": slots}


def _ledger_row(entry: LedgerEntry) -> Document:
    return {
        "session_id": entry.session_id,
        "plugged_in_at": utc_text(entry.plugged_in_at),
        "plugged_out_at": utc_text(entry.plugged_out_at),
        "ready_by": utc_text(entry.ready_by),
        "target_kwh": round(entry.target_kwh, _KWH),
        "energy_kwh": round(entry.energy_kwh, _KWH),
        "cost_eur": round(entry.cost_eur, _EUR),
        "immediate_cost_eur": _round(entry.immediate_cost_eur, _EUR),
        "saving_eur": _round(entry.saving_eur, _EUR),
        "target_met": entry.target_met,
        "target_met_at": utc_text(entry.target_met_at),
        "commands": entry.commands,
    }


def sessions_document(facts: ApiFacts, limit: int) -> Document:
    """Return ``GET /api/sessions``: the newest ``limit`` finished sessions and the totals.

    The totals are over the whole ledger; ``ledger_problem`` says why it could not be read.
    """
    entries = list(facts.ledger)
    sums = totals(entries)
    newest = sorted(entries, key=lambda e: e.plugged_in_at, reverse=True)[:limit]
    return {
        "sessions": [_ledger_row(e) for e in newest],
        "totals": {
            "sessions": sums.sessions,
            "energy_kwh": round(sums.energy_kwh, _KWH),
            "cost_eur": round(sums.cost_eur, _EUR),
            "immediate_cost_eur": round(sums.immediate_cost_eur, _EUR),
            "saving_eur": round(sums.saving_eur, _EUR),
            "targets_met": sums.targets_met,
        },
        "ledger_problem": facts.ledger_problem,
    }


def steer_document(outcome: SteerOutcome, facts: ApiFacts) -> Document:
    """Return the answer to an applied ``POST /api/plan``: ``{"applies_to", "override", "plan"}``.

    ``plan`` is the session's plan after the request (None with no car plugged in).
    """
    return {
        "applies_to": None if outcome.applies_to is None else outcome.applies_to.value,
        "override": override_data(outcome.override),
        "plan": plan_json(facts.state.session),
    }


def error_document(field: str, value: str, message: str, accepted: str) -> Document:
    """Return ``{"error": {"field", "value", "message", "accepted"}}``."""
    return {"error": {"field": field, "value": value, "message": message, "accepted": accepted}}
