"""Settings: defaults, readable errors that name the culprit, masking, typo warnings."""

from __future__ import annotations

from datetime import time
from pathlib import Path

import pytest

from smartcharge.cli import main
from smartcharge.config import load_settings, unknown_names
from smartcharge.errors import ConfigError


def test_defaults_load_without_any_configuration():
    """With no .env and no variables, every setting has its documented default."""
    settings = load_settings()

    assert "cheapest" == settings.strategy
    assert time(7, 0) == settings.ready_by
    assert ("entsoe", "energyzero") == settings.price_sources
    assert "https://api.wall-box.com" == settings.wallbox_api_url
    assert "https://user-api.wall-box.com" == settings.wallbox_auth_url
    assert 6 == settings.min_current_a
    assert 21.0 == settings.tariff_vat_percent


def test_env_file_values_and_environment_precedence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Values come from .env, and the environment wins over the file."""
    env = tmp_path / "my.env"
    env.write_text("SMARTCHARGE_TARGET_KWH=35\nSMARTCHARGE_READY_BY=06:30\n", encoding="utf-8")
    monkeypatch.setenv("SMARTCHARGE_ENV_FILE", str(env))
    monkeypatch.setenv("SMARTCHARGE_TARGET_KWH", "12.5")

    settings = load_settings()

    assert 12.5 == settings.target_kwh
    assert time(6, 30) == settings.ready_by


def test_bad_values_give_one_line_each_with_file_and_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Each bad value is reported once, naming the variable, the value, the rule and file:line."""
    env = tmp_path / ".env"
    env.write_text(
        "# comment\nSMARTCHARGE_READY_BY=7h\n\n"
        "SMARTCHARGE_PHASES=2\nSMARTCHARGE_MAX_CURRENT_A=abc\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("SMARTCHARGE_ENV_FILE", str(env))

    with pytest.raises(ConfigError) as err:
        load_settings()

    lines = err.value.problems
    assert 3 == len(lines)
    ready = next(line for line in lines if line.startswith("SMARTCHARGE_READY_BY"))
    assert f"({env}:2)" in ready
    assert "HH:MM" in ready
    phases = next(line for line in lines if line.startswith("SMARTCHARGE_PHASES"))
    assert f"({env}:4)" in phases
    assert "1 or 3" in phases
    current = next(line for line in lines if line.startswith("SMARTCHARGE_MAX_CURRENT_A"))
    assert "'abc'" in current
    assert "whole number" in current


def test_environment_value_is_named_as_such(monkeypatch: pytest.MonkeyPatch):
    """A bad value from the environment says it came from the environment."""
    monkeypatch.setenv("SMARTCHARGE_BIDDING_ZONE", "XX")

    with pytest.raises(ConfigError) as err:
        load_settings()

    assert 1 == len(err.value.problems)
    assert "SMARTCHARGE_BIDDING_ZONE='XX' (from the environment)" in err.value.problems[0]
    assert "NL" in err.value.problems[0]


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("SMARTCHARGE_MIN_CURRENT_A", "5", "at least 6"),
        ("SMARTCHARGE_LOG_FORMAT", "xml", "json"),
        ("SMARTCHARGE_LOG_LEVEL", "LOUD", "DEBUG"),
        ("SMARTCHARGE_TIMEZONE", "Mars/Olympus", "IANA"),
        ("SMARTCHARGE_PRICE_SOURCES", "entsoe,nordpool", "energyzero"),
        ("SMARTCHARGE_PRICE_SOURCES", "energyzero:BE", "only entsoe:ZONE"),
        ("SMARTCHARGE_MAX_PRICE", "cheap", "p30"),
        ("SMARTCHARGE_WALLBOX_API_URL", "api.wall-box.com", "http(s) URL"),
        ("SMARTCHARGE_RESTART_ON_ERROR", "maybe", "true or false"),
        ("SMARTCHARGE_WALLBOX_CHARGER_ID", "-3", "greater than 0"),
    ],
)
def test_each_rule_explains_what_is_accepted(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, expected: str
):
    """A wrong value is rejected with a message that says what would be accepted."""
    monkeypatch.setenv(name, value)

    with pytest.raises(ConfigError) as err:
        load_settings()

    assert 1 == len(err.value.problems)
    assert err.value.problems[0].startswith(f"{name}=")
    assert expected in err.value.problems[0]


def test_secret_values_are_not_echoed_in_errors(monkeypatch: pytest.MonkeyPatch):
    """Even an invalid line never prints a secret back."""
    monkeypatch.setenv("SMARTCHARGE_WALLBOX_PASSWORD", "s3cret-pass")
    monkeypatch.setenv("SMARTCHARGE_PHASES", "7")

    with pytest.raises(ConfigError) as err:
        load_settings()

    assert "s3cret-pass" not in str(err.value)


def test_min_above_max_current_is_rejected(monkeypatch: pytest.MonkeyPatch):
    """The minimum current cannot exceed the maximum."""
    monkeypatch.setenv("SMARTCHARGE_MIN_CURRENT_A", "20")
    monkeypatch.setenv("SMARTCHARGE_MAX_CURRENT_A", "16")

    with pytest.raises(ConfigError) as err:
        load_settings()

    assert "SMARTCHARGE_MIN_CURRENT_A (20) is above SMARTCHARGE_MAX_CURRENT_A (16)" in str(
        err.value
    )


def test_a_target_above_the_battery_is_rejected(monkeypatch: pytest.MonkeyPatch):
    """SMARTCHARGE_BATTERY_KWH (optional) caps the target; at the battery it is accepted."""
    monkeypatch.setenv("SMARTCHARGE_TARGET_KWH", "70")
    monkeypatch.setenv("SMARTCHARGE_BATTERY_KWH", "60")

    with pytest.raises(ConfigError) as err:
        load_settings()
    monkeypatch.setenv("SMARTCHARGE_TARGET_KWH", "60")

    assert "SMARTCHARGE_TARGET_KWH (70) is above SMARTCHARGE_BATTERY_KWH (60)" in str(err.value)
    assert 60.0 == load_settings().battery_kwh


def test_missing_env_file_named_by_variable_is_an_error(monkeypatch: pytest.MonkeyPatch):
    """Pointing SMARTCHARGE_ENV_FILE at nothing is reported, not ignored."""
    monkeypatch.setenv("SMARTCHARGE_ENV_FILE", "/nonexistent/x.env")

    with pytest.raises(ConfigError) as err:
        load_settings()

    assert "SMARTCHARGE_ENV_FILE='/nonexistent/x.env'" in str(err.value)


def test_unknown_names_are_warned_with_the_nearest_valid_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """A probable typo is named with its file and line and the setting it probably meant."""
    env = tmp_path / ".env"
    env.write_text("SMARTCHARGE_TARGET_KHW=30\n", encoding="utf-8")
    monkeypatch.setenv("SMARTCHARGE_ENV_FILE", str(env))
    monkeypatch.setenv("SMARTCHARGE_STRATEGI", "cheapest")

    warnings = unknown_names()

    assert 2 == len(warnings)
    assert any("SMARTCHARGE_STRATEGI" in w and "SMARTCHARGE_STRATEGY" in w for w in warnings)
    assert any(f"({env}:1)" in w and "SMARTCHARGE_TARGET_KWH" in w for w in warnings)


def test_check_config_prints_masked_settings(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    """check-config exits 0 and shows every setting with secrets masked."""
    monkeypatch.setenv("SMARTCHARGE_WALLBOX_USERNAME", "me@example.com")
    monkeypatch.setenv("SMARTCHARGE_WALLBOX_PASSWORD", "hunter2-secret")
    monkeypatch.setenv("SMARTCHARGE_ENTSOE_API_KEY", "abcdef-123456")

    status = main(["check-config"])

    out = capsys.readouterr().out
    assert 0 == status
    assert "hunter2-secret" not in out
    assert "abcdef-123456" not in out
    assert "SMARTCHARGE_WALLBOX_PASSWORD" in out
    assert "**********" in out
    assert "SMARTCHARGE_STRATEGY" in out


def test_check_config_exits_2_with_readable_lines(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    """A bad value makes check-config exit 2 with one line per problem and no traceback."""
    monkeypatch.setenv("SMARTCHARGE_READY_BY", "25:00")
    monkeypatch.setenv("SMARTCHARGE_PHASES", "x")

    status = main(["check-config"])

    err = capsys.readouterr().err
    assert 2 == status
    assert 2 == len(err.strip().splitlines())
    assert "Traceback" not in err
    assert "SMARTCHARGE_READY_BY='25:00'" in err


def test_copied_env_example_is_valid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A .env copied from .env.example loads: empty values mean 'not set'."""
    example = Path(__file__).resolve().parent.parent / ".env.example"
    env = tmp_path / ".env"
    env.write_text(example.read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.setenv("SMARTCHARGE_ENV_FILE", str(env))

    settings = load_settings()

    assert settings.wallbox_username is None
    assert settings.wallbox_password is None
    assert [] == unknown_names()


def test_every_setting_is_documented_in_env_example():
    """Each setting appears in .env.example (users tune smartcharge there)."""
    from smartcharge.config import setting_names

    text = (Path(__file__).resolve().parent.parent / ".env.example").read_text(encoding="utf-8")

    assert [] == [name for name in setting_names() if name not in text]


def test_log_level_is_case_insensitive(monkeypatch: pytest.MonkeyPatch):
    """debug means DEBUG."""
    monkeypatch.setenv("SMARTCHARGE_LOG_LEVEL", "debug")

    assert "DEBUG" == load_settings().log_level.value


def test_state_dir_with_a_nul_byte_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A path no file system accepts is a configuration error, not a crash at run time."""
    env = tmp_path / ".env"
    env.write_bytes(b"SMARTCHARGE_STATE_DIR=a\x00b\n")
    monkeypatch.setenv("SMARTCHARGE_ENV_FILE", str(env))

    with pytest.raises(ConfigError) as err:
        load_settings()

    assert "SMARTCHARGE_STATE_DIR" in str(err.value)


def test_load_settings_reads_the_environment_it_is_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """load_settings(environ) takes every value from that mapping, not from os.environ."""
    env = tmp_path / "given.env"
    env.write_text("SMARTCHARGE_READY_BY=06:30\nSMARTCHARGE_TARGET_KWH=35\n", encoding="utf-8")
    monkeypatch.setenv("SMARTCHARGE_MAX_PRICE", "0.3")
    monkeypatch.setenv("SMARTCHARGE_POLL_INTERVAL_S", "600")

    settings = load_settings(
        {
            "SMARTCHARGE_ENV_FILE": str(env),
            "SMARTCHARGE_MAX_PRICE": " P30 ",
            "SMARTCHARGE_TARGET_KWH": "12.5",
        }
    )

    assert "p30" == settings.max_price
    assert 12.5 == settings.target_kwh  # the mapping wins over its .env, as the environment does
    assert time(6, 30) == settings.ready_by
    assert 90 == settings.poll_interval_s  # os.environ's 600 is not read
    assert "0.3" == load_settings().max_price  # without a mapping, os.environ as before


def test_a_bad_value_in_the_given_environment_is_named(monkeypatch: pytest.MonkeyPatch):
    """The culprit is named as coming from the environment, the one load_settings was given."""
    with pytest.raises(ConfigError) as err:
        load_settings({"SMARTCHARGE_MAX_PRICE": "cheap"})

    assert ["SMARTCHARGE_MAX_PRICE='cheap' (from the environment)"] == [
        p.split(":")[0] for p in err.value.problems
    ]


@pytest.mark.parametrize(
    "value",
    [
        "0.18",
        "-0.05",
        " P30 ",
        "p0",
        "p100",
        "5",
        "p101",
        "p030",
        "p\uff13",
        "5.01",
        "1e400",
        "30%",
    ],
)
def test_max_price_has_one_parser(value: str):
    """SMARTCHARGE_MAX_PRICE: what config accepts is exactly what the threshold strategy reads."""
    from strategies.threshold import parse_limit  # noqa: PLC0415

    try:
        parse_limit(value)
        read = True
    except ConfigError:
        read = False
    try:
        load_settings({"SMARTCHARGE_MAX_PRICE": value})
        accepted = True
    except ConfigError:
        accepted = False

    assert read == accepted


def test_the_wallbox_timeout_default_has_one_source():
    """SMARTCHARGE_WALLBOX_TIMEOUT_S's default is the adapter's own (the same object, not a
    second 20.0 that could drift), and the adapter still imports no config."""
    from smartcharge.config import Settings  # noqa: PLC0415
    from smartcharge.wallbox import defaults, transport  # noqa: PLC0415

    field = Settings.model_fields["wallbox_timeout_s"]

    assert field.default is defaults.DEFAULT_TIMEOUT_S
    assert transport.DEFAULT_TIMEOUT_S is defaults.DEFAULT_TIMEOUT_S
    assert 20.0 == Settings(_env_file=None).wallbox_timeout_s
