"""The web page from the API's documents (web/page.py, web/chart.py): pure, no server.

The documents are shaped as the contract (STEER.md, issue 14) describes the API's answers. The
page is parsed with the standard library's HTML parser: the assertions are on its elements and
attributes (labels, one bar per slot, the planned ones marked, nothing from elsewhere), and on
the escaping of every value that comes from a document.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import Any

import pytest

from smartcharge.session.steering import SteerRefusal
from smartcharge.web.page import FormState, PageInput, render_page
from smartcharge.web.page_assets import CONTENT_SECURITY_POLICY, CSS, JS, csp_hash

NOW = datetime(2026, 12, 7, 21, 3, tzinfo=UTC)
ZONE = "Europe/Amsterdam"
EVIL = '<script>alert("x")</script>"\'&'


def z(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def price_day(day: str, first: datetime, count: int, planned: set[int]) -> dict[str, Any]:
    slots = [
        {
            "start": z(first + timedelta(minutes=15 * i)),
            "end": z(first + timedelta(minutes=15 * (i + 1))),
            "price_eur_per_kwh": -0.03 if i == 5 else round(0.20 + 0.01 * ((i * 7) % 13), 5),
            "planned": i in planned,
        }
        for i in range(count)
    ]
    return {"date": day, "timezone": ZONE, "slots": slots}


def override(mode: str = "plan", set_by: str = "page") -> dict[str, Any]:
    return {
        "mode": mode,
        "target_kwh": 35.0,
        "ready_by": "2026-12-08T05:30:00Z",
        "set_by": set_by,
        "set_at": "2026-12-07T20:55:00Z",
    }


def status(**changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "now": z(NOW),
        "link": "cloud",
        "session": {
            "session_id": "s-1",
            "plugged_in_at": "2026-12-07T18:10:00Z",
            "ready_by": "2026-12-08T05:30:00Z",
            "target_kwh": 35.0,
            "delivered_kwh": 4.25,
            "remaining_kwh": 30.75,
            "target_met_at": None,
            "override": override(),
        },
        "next_override": None,
        "plan": {
            "made_at": "2026-12-07T20:55:00Z",
            "reason": "override",
            "strategy": "cheapest",
            "target_kwh": 35.0,
            "ready_by": "2026-12-08T05:30:00Z",
            "energy_kwh": 30.75,
            "cost_eur": 6.12,
            "immediate_cost_eur": 8.4,
            "reachable": True,
            "slots": [],
        },
        "next_action": {"action": "resume", "at": "2026-12-08T01:00:00Z"},
        "prices_known_until": "2026-12-08T23:00:00Z",
        "last_contact": {
            "charger_at": "2026-12-07T21:02:00Z",
            "charger_reachable": True,
            "prices_at": "2026-12-07T12:15:00Z",
            "price_source": "entsoe",
        },
        "car": {"full_power_kw": 11.0, "taper_above_kwh": 60.5},
        "health": {"status": "ok", "reasons": []},
        "settings_problems": [],
    }
    doc.update(changes)
    return doc


TODAY = price_day("2026-12-07", datetime(2026, 12, 6, 23, tzinfo=UTC), 96, set())
TOMORROW = price_day("2026-12-08", datetime(2026, 12, 7, 23, tzinfo=UTC), 96, {8, 9, 10, 20})
SESSIONS = {
    "sessions": [
        {
            "session_id": "s-0",
            "plugged_in_at": "2026-12-06T18:00:00Z",
            "plugged_out_at": "2026-12-07T07:00:00Z",
            "ready_by": "2026-12-07T06:00:00Z",
            "target_kwh": 20.0,
            "energy_kwh": 20.0,
            "cost_eur": 4.0,
            "immediate_cost_eur": 5.5,
            "saving_eur": 1.5,
            "target_met": True,
            "target_met_at": "2026-12-07T04:00:00Z",
            "commands": 4,
        }
    ],
    "totals": {"sessions": 1, "energy_kwh": 20.0, "cost_eur": 4.0, "saving_eur": 1.5},
}


class Tree(HTMLParser):
    """The page's elements in document order: (tag, attributes, text inside up to the next tag)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.stack: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def all(self, tag: str, **match: str) -> list[dict[str, str | None]]:
        return [
            a
            for t, a in self.elements
            if t == tag and all(a.get(k.rstrip("_")) == v for k, v in match.items())
        ]


def parse(html: str) -> Tree:
    tree = Tree()
    tree.feed(html)
    tree.close()
    return tree


def page(**kw: Any) -> str:
    args: dict[str, Any] = {
        "status": status(),
        "prices": [TODAY, TOMORROW],
        "sessions": SESSIONS,
        "timezone": ZONE,
    }
    args.update(kw)
    return render_page(PageInput(**args))


def chart_rects(html: str) -> list[dict[str, str | None]]:
    svg = re.search(r'<svg class="chart" id="price-chart".*?</svg>', html, re.S)
    assert svg is not None
    return parse(svg.group(0)).all("rect")


def test_the_page_has_a_language_a_title_and_a_viewport():
    tree = parse(page())

    assert [{"lang": "en"}] == tree.all("html")
    head = re.search(r"<head>.*</head>", page(), re.S)
    assert head is not None
    assert 1 == len(parse(head.group(0)).all("title"))
    assert tree.all("meta", name="viewport")
    assert tree.all("meta", charset="utf-8")


def test_one_bar_per_price_slot_of_both_days_and_no_other_rect():
    rects = chart_rects(page())

    starts = [r["data-start"] for r in rects]
    assert [s["start"] for s in [*TODAY["slots"], *TOMORROW["slots"]]] == starts
    assert all((r["class"] or "").split()[0] == "slot" for r in rects)


def test_the_planned_slots_are_marked_by_class_attribute_pattern_and_title():
    rects = chart_rects(page())

    planned = [r for r in rects if "planned" in (r["class"] or "").split()]
    want = [s["start"] for s in TOMORROW["slots"] if s["planned"]]
    assert want == [r["data-start"] for r in planned]
    assert all(r["data-planned"] == "true" and r["fill"] == "url(#planned-hatch)" for r in planned)
    others = [r for r in rects if r not in planned]
    assert all(r["data-planned"] == "false" and r["fill"] != r"url(#planned-hatch)" for r in others)
    html = page()
    assert 'id="planned-hatch"' in html
    assert html.count("planned charging</title></rect>") == len(want)


def test_the_planned_runs_are_underlined_and_named_in_the_text_alternative():
    html = page()

    # slots 8-10 (one run) and 20 (another) of tomorrow: 02:00-02:45 and 05:00-05:15 local
    assert 2 == html.count('<line class="run"')
    assert "4 slots planned for charging: Tue 8 Dec 02:00–02:45, Tue 8 Dec 05:00–05:15." in html


def test_a_negative_price_is_drawn_below_the_zero_line():
    rects = chart_rects(page())

    negative = [r for r in rects if float(r["data-price"] or 0) < 0]
    positive = [r for r in rects if float(r["data-price"] or 0) > 0]
    assert negative
    zero_y = float(negative[0]["y"] or 0)
    assert all(float(r["y"] or 0) + float(r["height"] or 0) <= zero_y + 0.01 for r in positive)


def test_the_chart_has_a_text_alternative_and_a_table_of_every_slot():
    html = page()
    tree = parse(html)

    assert tree.all("svg", role="img", **{"aria-labelledby": "chart-title chart-desc"})
    assert '<title id="chart-title">' in html
    assert '<desc id="chart-desc">192 price slots from Mon 7 Dec 00:00 to Wed 9 Dec 00:00.' in html
    table = re.search(r'<details id="price-table">.*?</details>', html, re.S)
    assert table is not None
    assert 192 == table.group(0).count("<tr") - 1  # the header row
    assert 4 == table.group(0).count('<tr class="planned">')


def test_missing_prices_for_tomorrow_are_said_and_today_still_drawn():
    html = page(prices=[TODAY, {"date": "2026-12-08", "timezone": ZONE, "slots": []}])

    assert 96 == len(chart_rects(html))
    assert "No prices known yet for 2026-12-08" in html


def test_no_prices_at_all_draws_no_chart():
    html = page(prices=[{"date": "2026-12-07", "timezone": ZONE, "slots": []}])

    assert 'id="price-chart"' not in html
    assert "No prices known yet for 2026-12-07" in html


def test_every_input_has_a_label_and_the_form_posts_to_plan_without_script():
    tree = parse(page())

    inputs = tree.all("input")
    assert {"target_kwh", "ready_by"} == {i["id"] for i in inputs}
    labels = {a["for"] for a in tree.all("label")}
    assert {i["id"] for i in inputs} <= labels
    assert [{"id": "steer", "method": "post", "action": "/plan"}] == tree.all("form")
    modes = [b["value"] for b in tree.all("button") if b["name"] == "mode"]
    assert ["plan", "now", "off", "clear"] == modes
    assert all(b["type"] == "submit" for b in tree.all("button"))


def test_the_form_is_filled_with_the_sessions_target_and_local_ready_by():
    tree = parse(page())

    assert "35" == tree.all("input", id="target_kwh")[0]["value"]
    assert "06:30" == tree.all("input", id="ready_by")[0]["value"]  # 05:30Z in Amsterdam


def test_a_refusal_is_shown_next_to_its_field_with_the_values_as_typed():
    refusal = SteerRefusal("ready_by", "25:00", "25:00 is not a time of day.", "HH:MM, 00:00-23:59")
    html = page(form=FormState(target_kwh="40", ready_by="25:00", refusal=refusal))
    tree = parse(html)

    field = tree.all("input", id="ready_by")[0]
    assert "25:00" == field["value"]
    assert "true" == field["aria-invalid"]
    assert "ready_by-error" in (field["aria-describedby"] or "")
    assert "40" == tree.all("input", id="target_kwh")[0]["value"]
    assert "aria-invalid" not in tree.all("input", id="target_kwh")[0]
    error = tree.all("p", id="ready_by-error")[0]
    assert "hidden" not in error
    assert "25:00 is not a time of day. (accepted: HH:MM, 00:00-23:59)" in html


def test_a_refusal_of_another_field_is_shown_above_the_form():
    refusal = SteerRefusal("mode", "fast", "fast is not a mode.", "plan, now, off, clear")
    tree = parse(page(form=FormState("", "", refusal)))

    assert "hidden" not in tree.all("p", id="form-error")[0]
    assert all("aria-invalid" not in i for i in tree.all("input"))


def test_the_session_shows_energy_so_far_needed_ready_by_next_action_and_the_override():
    html = page()

    for text in (
        "Charged so far</dt><dd>4.2 kWh",
        "Still needed</dt><dd>30.8 kWh",
        "Ready by</dt><dd>Tue 8 Dec 06:30",
        "Next action</dt><dd>start charging at Tue 8 Dec 02:00",
        "Override in force</dt><dd>tonight&#x27;s plan: target 35.0 kWh, ready by Tue 8 Dec 06:30"
        " (set from this page at 21:55)",
        "Cost of the plan</dt><dd>€6.12",
        "Cost charging at once</dt><dd>€8.40",
    ):
        assert text in html


@pytest.mark.parametrize(
    ("mode", "words"),
    [("now", "charge now at full current"), ("off", "don&#x27;t charge this session")],
)
def test_the_now_and_off_overrides_read_as_words(mode: str, words: str):
    doc = status()
    doc["session"]["override"] = override(mode, set_by="cli")

    assert f"{words} (set from the command line at 21:55)" in page(status=doc)


def test_no_car_shows_the_next_sessions_override_and_the_form_still_works():
    html = page(status=status(session=None, plan=None, next_override=override("now", "api")))
    tree = parse(html)

    assert "No car plugged in." in html
    assert "charge now at full current (set from the API at 21:55)" in html
    assert "this applies to the next session" in html
    assert tree.all("form", id="steer")


def test_an_unreachable_plan_is_said():
    doc = status()
    doc["plan"]["reachable"] = False

    assert "The target cannot be reached by the ready-by time" in page(status=doc)


def test_settings_problems_and_health_reasons_are_shown_as_an_alert():
    html = page(
        status=status(
            settings_problems=[".env:3 SMARTCHARGE_TARGET_KWH='lots': expected a number"],
            health={"status": "unhealthy", "reasons": ["no poll for 12 min"]},
        )
    )
    tree = parse(html)

    assert tree.all("section", role="alert")
    assert "SMARTCHARGE_TARGET_KWH=&#x27;lots&#x27;: expected a number" in html
    assert "no poll for 12 min" in html


def test_no_problems_no_alert():
    assert not parse(page()).all("section", role="alert")


def test_the_ledger_shows_each_session_and_the_saving():
    html = page()

    assert "Saved <strong>€1.50</strong> over 1 session (20.0 kWh" in html
    assert (
        '<td class="num">20.0 kWh</td><td class="num">€4.00</td><td class="num">€1.50</td>' in html
    )


def test_nothing_is_loaded_from_elsewhere():
    html = page()
    tree = parse(html)

    assert not re.search(r"https?://|//[a-z0-9]", html, re.I)
    assert not tree.all("link")
    assert not tree.all("img")
    assert not tree.all("iframe")
    assert all("src" not in a for _, a in tree.elements)
    assert [{}] == tree.all("script")  # the one inline script, no src
    assert not re.search(r"@import|url\((?!#)", CSS)  # only local references (the hatch)


def test_every_value_from_a_document_is_escaped():
    doc = status(
        link=EVIL,
        settings_problems=[EVIL],
        health={"status": "unhealthy", "reasons": [EVIL]},
        car={EVIL: EVIL},
        prices_known_until=None,
    )
    doc["plan"].update(reason=EVIL, strategy=EVIL)
    doc["last_contact"]["price_source"] = EVIL
    doc["session"]["override"]["set_by"] = EVIL
    doc["next_action"]["action"] = EVIL
    evil_day = {"date": EVIL, "timezone": ZONE, "slots": []}
    sessions = {"sessions": [], "totals": {"sessions": EVIL}}
    refusal = SteerRefusal("ready_by", EVIL, EVIL, EVIL)
    html = page(
        status=doc,
        prices=[TODAY, evil_day],
        sessions=sessions,
        form=FormState(EVIL, EVIL, refusal),
    )
    tree = parse(html)

    assert "<script>alert" not in html
    assert [{}] == tree.all("script")
    assert html.count("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&quot;&#x27;&amp;") >= 10
    assert EVIL == tree.all("input", id="ready_by")[0]["value"]  # intact once unescaped


def test_the_refreshed_sections_have_ids():
    tree = parse(page())

    refreshed = [a["id"] for _, a in tree.elements if "data-refresh" in a]
    assert {"updated", "problems", "session", "prices", "steering", "ledger", "contact"} == set(
        refreshed
    )


def test_the_script_refreshes_within_30_to_60_s_and_posts_json_to_the_api():
    period = re.search(r"REFRESH_MS = (\d+);", JS)

    assert period is not None
    assert 30_000 <= int(period.group(1)) <= 60_000
    assert 'fetch(here("/api/plan")' in JS
    assert '"Content-Type": "application/json"' in JS
    assert '"X-Smartcharge-Client": "page"' in JS  # logged as set from the page
    assert "editing()" in JS  # no refresh of the form while it is being edited


def test_the_content_security_policy_allows_exactly_the_inline_script_and_style():
    assert f"script-src {csp_hash(JS)};" in CONTENT_SECURITY_POLICY
    assert f"style-src {csp_hash(CSS)};" in CONTENT_SECURITY_POLICY
    assert "default-src 'none'" in CONTENT_SECURITY_POLICY
    html = page()
    assert f"<script>{JS}</script>" in html
    assert f"<style>{CSS}</style>" in html


def test_the_cars_figures_read_as_text():
    car = {
        "full_power_kw": 10.9,
        "power_by_current_kw": [[16, 3.42], [10, 2.1]],
        "learnt_at": "2026-12-07T19:00:00Z",
        "sessions": 4,
    }
    html = page(status=status(car=car))

    assert "Car: full power kw</dt><dd>10.9" in html
    assert "Car: power by current kw</dt><dd>16: 3.42, 10: 2.1" in html
    assert "Car: learnt at</dt><dd>20:00" in html
    assert "Car: sessions</dt><dd>4" in html


def test_a_ledger_that_could_not_be_read_is_said():
    sessions = {**SESSIONS, "ledger_problem": "ledger.jsonl line 3: not JSON"}

    assert "The ledger could not be read: ledger.jsonl line 3: not JSON" in page(sessions=sessions)
