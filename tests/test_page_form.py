"""The page's no-JavaScript form -> a SteerRequest (web/form.py, pure)."""

from __future__ import annotations

import pytest

from smartcharge.session.steering import SteerMode, SteerRefusal, SteerRequest
from smartcharge.web.form import parse_form


def test_a_target_and_ready_by_make_a_plan_request():
    got = parse_form({"mode": "plan", "target_kwh": " 35 ", "ready_by": "06:30"})

    assert SteerRequest(SteerMode.PLAN, 35.0, "06:30") == got


def test_empty_fields_mean_the_settings_values_and_no_mode_means_plan():
    assert SteerRequest(SteerMode.PLAN, None, None) == parse_form(
        {"target_kwh": "", "ready_by": " "}
    )


def test_a_decimal_comma_is_read():
    got = parse_form({"mode": "plan", "target_kwh": "35,5"})

    assert isinstance(got, SteerRequest)
    assert 35.5 == got.target_kwh


@pytest.mark.parametrize("mode", ["now", "off", "clear"])
def test_the_buttons_send_only_their_mode(mode: str):
    got = parse_form({"mode": mode, "target_kwh": "nonsense", "ready_by": "99:99"})

    assert SteerRequest(SteerMode(mode)) == got


@pytest.mark.parametrize("text", ["lots", "nan", "inf", "1e999", "35 kWh"])
def test_a_target_that_is_not_a_number_is_refused_naming_the_field(text: str):
    got = parse_form({"mode": "plan", "target_kwh": text})

    assert isinstance(got, SteerRefusal)
    assert "target_kwh" == got.field
    assert text == got.value
    assert "number of kWh" in got.accepted


def test_an_unknown_mode_is_refused_with_the_modes_accepted():
    got = parse_form({"mode": "fast"})

    assert isinstance(got, SteerRefusal)
    assert ("mode", "fast") == (got.field, got.value)
    assert "plan, now, off, clear" == got.accepted


def test_the_ready_by_is_passed_as_typed_for_the_daemon_to_judge():
    got = parse_form({"target_kwh": "20", "ready_by": "25:00"})

    assert isinstance(got, SteerRequest)
    assert "25:00" == got.ready_by
