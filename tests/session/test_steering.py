"""session.steering: a user's request checked, pure: what is accepted, and each refusal's words."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from smartcharge.session.steering import (
    MAX_AHEAD,
    SessionOverride,
    SteerMode,
    SteerRefusal,
    SteerRequest,
    SteerSource,
    parse_mode,
    parse_ready_by,
    resolve,
)

AMS = ZoneInfo("Europe/Amsterdam")
NOW = datetime(2025, 1, 15, 20, 0, tzinfo=UTC)  # 21:00 in Amsterdam


def ask(
    request: SteerRequest,
    current: SessionOverride | None = None,
    battery_kwh: float | None = None,
) -> SessionOverride | SteerRefusal | None:
    return resolve(
        request, SteerSource.CLI, NOW, timezone=AMS, battery_kwh=battery_kwh, current=current
    )


def refused(result: object) -> SteerRefusal:
    assert isinstance(result, SteerRefusal), result
    return result


def test_a_target_and_a_local_ready_by_become_the_override():
    """35 kWh by 06:30: the next 06:30 in Amsterdam (05:30 UTC tomorrow), set by the CLI now."""
    result = ask(SteerRequest(SteerMode.PLAN, 35.0, "06:30"))

    assert (
        SessionOverride(
            SteerMode.PLAN, 35.0, datetime(2025, 1, 16, 5, 30, tzinfo=UTC), SteerSource.CLI, NOW
        )
        == result
    )


def test_an_hhmm_earlier_today_is_tomorrow_and_a_later_one_today():
    assert datetime(2025, 1, 16, 19, 0, tzinfo=UTC) == parse_ready_by("20:00", NOW, AMS)
    assert datetime(2025, 1, 15, 21, 30, tzinfo=UTC) == parse_ready_by("22:30", NOW, AMS)
    assert datetime(2025, 1, 15, 21, 30, tzinfo=UTC) == parse_ready_by(" 22:30 ", NOW, AMS)


def test_an_iso_time_with_its_offset_or_z_is_taken_in_utc():
    assert datetime(2025, 1, 16, 5, 30, tzinfo=UTC) == parse_ready_by(
        "2025-01-16T06:30:00+01:00", NOW, AMS
    )
    assert datetime(2025, 1, 16, 5, 30, tzinfo=UTC) == parse_ready_by(
        "2025-01-16T05:30:00Z", NOW, AMS
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2025-01-15T19:00:00Z", "in the past"),
        ("2025-01-15T20:00:00Z", "in the past"),  # now itself
        ("2025-01-16T06:30:00", "without its offset"),
        ("24:00", "not a time of day"),
        ("07:60", "not a time of day"),
        ("tomorrow", "neither HH:MM nor an ISO-8601 time"),
        ("", "neither HH:MM nor an ISO-8601 time"),
        ((NOW + MAX_AHEAD + timedelta(minutes=1)).isoformat(), "more than 72 h ahead"),
    ],
)
def test_a_bad_ready_by_is_refused_naming_it_and_what_is_accepted(text: str, message: str):
    refusal = refused(parse_ready_by(text, NOW, AMS))

    assert "ready_by" == refusal.field
    assert text == refusal.value
    assert message in refusal.message
    assert "HH:MM" in refusal.accepted
    assert "Europe/Amsterdam" in refusal.accepted
    assert "72 h" in refusal.accepted


def test_a_ready_by_72_hours_ahead_is_still_accepted():
    assert NOW + MAX_AHEAD == parse_ready_by((NOW + MAX_AHEAD).isoformat(), NOW, AMS)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (0.0, "above 0"),
        (-5.0, "above 0"),
        (200.5, "above the maximum of 200"),
        (math.nan, "not a finite number"),
        (math.inf, "not a finite number"),
    ],
)
def test_a_bad_target_is_refused(value: float, message: str):
    refusal = refused(ask(SteerRequest(SteerMode.PLAN, value)))

    assert "target_kwh" == refusal.field
    assert message in refusal.message
    assert "above 0 and at most 200" in refusal.accepted


def test_a_target_above_the_battery_is_refused_naming_the_setting():
    refusal = refused(ask(SteerRequest(SteerMode.PLAN, 65.0), battery_kwh=64.0))

    assert ("target_kwh", "65") == (refusal.field, refusal.value)
    assert "battery" in refusal.message
    assert "at most 64" in refusal.accepted
    assert "SMARTCHARGE_BATTERY_KWH=64" in refusal.accepted
    assert isinstance(ask(SteerRequest(SteerMode.PLAN, 64.0), battery_kwh=64.0), SessionOverride)


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (SteerRequest(SteerMode.NOW, ready_by="06:30"), "ready_by"),
        (SteerRequest(SteerMode.OFF, target_kwh=30.0), "target_kwh"),
        (SteerRequest(SteerMode.OFF, ready_by="06:30"), "ready_by"),
        (SteerRequest(SteerMode.CLEAR, target_kwh=30.0), "target_kwh"),
        (SteerRequest(SteerMode.CLEAR, ready_by="06:30"), "ready_by"),
    ],
)
def test_a_field_the_mode_does_not_take_is_refused(request_: SteerRequest, field: str):
    refusal = refused(ask(request_))

    assert field == refusal.field
    assert f"no {field} with" in refusal.accepted


def test_now_takes_a_target():
    result = ask(SteerRequest(SteerMode.NOW, target_kwh=30.0))

    assert isinstance(result, SessionOverride)
    assert (SteerMode.NOW, 30.0, None) == (result.mode, result.target_kwh, result.ready_by)


def test_what_a_request_leaves_out_is_kept_from_the_override_in_force():
    """35 kWh by 06:30, then "now": now to 35 kWh; then "plan": 35 kWh by 06:30 again."""
    first = ask(SteerRequest(SteerMode.PLAN, 35.0, "06:30"))
    assert isinstance(first, SessionOverride)

    boost = ask(SteerRequest(SteerMode.NOW), current=first)
    assert isinstance(boost, SessionOverride)
    back = ask(SteerRequest(SteerMode.PLAN), current=boost)

    assert (SteerMode.NOW, 35.0, first.ready_by) == (boost.mode, boost.target_kwh, boost.ready_by)
    assert isinstance(back, SessionOverride)
    assert (SteerMode.PLAN, 35.0, first.ready_by) == (back.mode, back.target_kwh, back.ready_by)


def test_clear_and_an_empty_plan_are_the_settings():
    first = ask(SteerRequest(SteerMode.PLAN, 35.0))
    assert isinstance(first, SessionOverride)

    assert ask(SteerRequest(SteerMode.CLEAR), current=first) is None
    assert ask(SteerRequest(SteerMode.PLAN)) is None


def test_the_mode_is_read_from_text_or_refused():
    assert SteerMode.NOW == parse_mode(" NOW ")
    refusal = refused(parse_mode("boost"))
    assert ("mode", "boost") == (refusal.field, refusal.value)
    assert "plan, now, off, clear" in refusal.accepted
