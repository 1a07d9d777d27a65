"""The diff of two Settings: every setting classified once, secrets masked, restart ones kept."""

from __future__ import annotations

import typing
from datetime import time
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from smartcharge.config import Settings
from smartcharge.settings_diff import (
    SETTING_KINDS,
    SettingChange,
    SettingKind,
    diff_settings,
    keep_running,
)


def _settings(**values: Any) -> Settings:
    return Settings(_env_file=None, **values)


def test_every_setting_is_classified_exactly_once():
    """A new Settings field fails here until it is given a kind (and a removed one, too)."""
    fields = set(Settings.model_fields)

    assert set() == fields - set(SETTING_KINDS), "classify these in settings_diff.SETTING_KINDS"
    assert set() == set(SETTING_KINDS) - fields, "not settings any more: remove them"
    assert all(isinstance(kind, SettingKind) for kind in SETTING_KINDS.values())


@pytest.mark.parametrize(
    "field",
    [
        f
        for f in Settings.model_fields
        if any(word in f for word in ("password", "api_key", "token", "puk", "secret"))
    ],
)
def test_secret_looking_settings_are_secret_strings(field: str):
    """A setting named like a secret is a SecretStr, so the diff (and every log) masks it."""
    annotation = Settings.model_fields[field].annotation

    assert annotation is SecretStr or SecretStr in typing.get_args(annotation)


@pytest.mark.parametrize(
    ("field", "kind"),
    [
        ("target_kwh", SettingKind.PLANNING),
        ("ready_by", SettingKind.PLANNING),
        ("strategy", SettingKind.PLANNING),
        ("max_current_a", SettingKind.PLANNING),
        ("tariff_vat_percent", SettingKind.PLANNING),
        ("deadline_margin_min", SettingKind.PLANNING),
        ("max_interruptions", SettingKind.PLANNING),
        ("max_price", SettingKind.PLANNING),
        ("state_dir", SettingKind.NEEDS_RESTART),
        ("health_port", SettingKind.NEEDS_RESTART),
        ("wallbox_charger_id", SettingKind.NEEDS_RESTART),
        ("wallbox_username", SettingKind.NEEDS_RESTART),
        ("wallbox_password", SettingKind.CREDENTIALS),
        ("log_level", SettingKind.OTHER),
        ("charger_link", SettingKind.NEEDS_RESTART),
        ("ocpp_port", SettingKind.NEEDS_RESTART),
    ],
)
def test_the_kinds_the_issue_names(field: str, kind: SettingKind):
    """Issue 14 item 1's examples land in the kind it names."""
    assert kind == SETTING_KINDS[field]


def test_equal_settings_give_an_empty_diff():
    """Nothing changed: the diff is falsy and names nothing."""
    diff = diff_settings(_settings(target_kwh=30), _settings(target_kwh=30))

    assert not diff
    assert () == diff.names
    assert not diff.needs_replan


def test_a_planning_change_is_shown_with_old_and_new_value():
    """A new target and ready-by: planning changes, shown as text, and a re-plan is asked for."""
    diff = diff_settings(_settings(target_kwh=20), _settings(target_kwh=35, ready_by=time(6, 30)))

    assert (
        SettingChange("SMARTCHARGE_TARGET_KWH", SettingKind.PLANNING, "20.0", "35.0"),
        SettingChange("SMARTCHARGE_READY_BY", SettingKind.PLANNING, "07:00", "06:30"),
    ) == diff.changes
    assert diff.needs_replan
    assert not diff.needs_signin
    assert () == diff.needs_restart
    assert {"SMARTCHARGE_TARGET_KWH": "20.0 -> 35.0", "SMARTCHARGE_READY_BY": "07:00 -> 06:30"} == (
        diff.shown()
    )


def test_a_new_password_is_a_credentials_change_and_never_shown():
    """The password is compared by value and shown masked, in every form the diff offers."""
    old = _settings(wallbox_username="me@example.com", wallbox_password="old-s3cret")
    new = _settings(wallbox_username="me@example.com", wallbox_password="new-s3cret")

    diff = diff_settings(old, new)

    assert ("SMARTCHARGE_WALLBOX_PASSWORD",) == diff.names
    assert diff.needs_signin
    assert not diff.needs_replan
    assert "s3cret" not in repr(diff)
    assert "s3cret" not in str(diff.shown())
    assert {"SMARTCHARGE_WALLBOX_PASSWORD": "********** -> **********"} == diff.shown()


def test_a_new_api_token_or_address_needs_a_restart_and_the_token_is_never_shown():
    """The server's guard and address are set up once (issue 14): restart-only, masked."""
    old = _settings(api_token="first-token-0123456789")
    new = _settings(api_token="second-token-0123456789", http_host="0.0.0.0")  # noqa: S104

    diff = diff_settings(old, new)

    assert ("SMARTCHARGE_API_TOKEN", "SMARTCHARGE_HTTP_HOST") == diff.needs_restart
    assert not diff.needs_replan
    assert "token-0123" not in repr(diff) + str(diff.shown())
    assert "********** -> **********" == diff.shown()["SMARTCHARGE_API_TOKEN"]


def test_a_password_set_for_the_first_time_says_so_masked():
    """From unset to set: the change shows, the value does not."""
    diff = diff_settings(_settings(), _settings(wallbox_password="hunter2hunter2"))

    assert {"SMARTCHARGE_WALLBOX_PASSWORD": "(not set) -> **********"} == diff.shown()


def test_a_url_with_a_password_in_it_is_masked():
    """A user:password@ in a URL setting is masked in the diff, as check-config masks it."""
    diff = diff_settings(
        _settings(), _settings(entsoe_api_url="https://me:pa55word@proxy.example/api")
    )

    assert "pa55word" not in str(diff.shown())
    assert ("SMARTCHARGE_ENTSOE_API_URL",) == diff.needs_restart


def test_keep_running_keeps_restart_settings_and_takes_the_rest(tmp_path: Path):
    """What a running daemon applies: the new target, but the state dir and port it started with."""
    running = _settings(state_dir=tmp_path / "a", health_port=8765, target_kwh=20)
    loaded = _settings(state_dir=tmp_path / "b", health_port=9999, target_kwh=35, log_level="DEBUG")

    applied = keep_running(running, loaded)

    assert tmp_path / "a" == applied.state_dir
    assert 8765 == applied.health_port
    assert 35.0 == applied.target_kwh
    assert "DEBUG" == applied.log_level.value
    assert ("SMARTCHARGE_STATE_DIR", "SMARTCHARGE_HEALTH_PORT") == diff_settings(
        running, loaded
    ).needs_restart
