"""How settings get in: a .env line that cannot be read, secrets from files, URLs with
credentials or an impossible port (issue 11, items 16 and 18).
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
import structlog

from smartcharge.cli import main
from smartcharge.config import load_settings, unknown_names
from smartcharge.errors import ConfigError
from smartcharge.logsetup import configure_logging

PASSWORD = "hunter2-from-a-file"  # noqa: S105 - a test value


def _env_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> Path:
    path = tmp_path / "config" / ".env"
    path.parent.mkdir()
    path.write_text(text, encoding="utf-8")
    monkeypatch.setenv("SMARTCHARGE_ENV_FILE", str(path))
    return path


# --- item 18: a .env line that cannot be read


def test_an_unclosed_quote_on_the_password_line_is_a_line_precise_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    """Item 18: the password line with an unclosed quote is reported with file:line and name.

    The old code dropped it silently (python-dotenv skips what it cannot parse) and `run` then
    said the password was not set. The value is never echoed.
    """
    path = _env_file(
        tmp_path,
        monkeypatch,
        'SMARTCHARGE_WALLBOX_USERNAME=me@example.com\nSMARTCHARGE_WALLBOX_PASSWORD="abc def\n',
    )

    status = main(["check-config"])

    err = capsys.readouterr().err
    assert 2 == status
    assert [f"{path}:2 (SMARTCHARGE_WALLBOX_PASSWORD)"] == [
        line.removeprefix("smartcharge: ").split(": ", 1)[0] for line in err.strip().splitlines()
    ]
    assert "unclosed quote" in err
    assert "abc" not in err
    assert "Traceback" not in err


def test_an_unclosed_quote_that_swallows_the_next_lines_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """A quote closed only lines later would take the lines between as the password."""
    path = _env_file(
        tmp_path,
        monkeypatch,
        "SMARTCHARGE_TARGET_KWH=30\n"
        'SMARTCHARGE_WALLBOX_PASSWORD="abc\n'
        "SMARTCHARGE_WALLBOX_CHARGER_ID=5\n"
        'SMARTCHARGE_ENTSOE_API_KEY="k"\n',
    )

    with pytest.raises(ConfigError) as caught:
        load_settings()

    assert 1 == len(caught.value.problems)
    assert caught.value.problems[0].startswith(f"{path}:2 (SMARTCHARGE_WALLBOX_PASSWORD): ")
    assert "abc" not in str(caught.value)


def test_lines_without_name_equals_value_are_reported_by_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """YAML-style, space-separated and bare-name lines: one line-precise problem each."""
    path = _env_file(
        tmp_path,
        monkeypatch,
        "SMARTCHARGE_WALLBOX_PASSWORD: secret-pw\n# fine\nSMARTCHARGE_TARGET_KWH 30\n"
        "SMARTCHARGE_READY_BY\nOTHER_TOOL_FLAG\n",
    )

    with pytest.raises(ConfigError) as caught:
        load_settings()

    assert [
        f"{path}:1 (SMARTCHARGE_WALLBOX_PASSWORD): cannot read this line; expected NAME=value",
        f"{path}:3 (SMARTCHARGE_TARGET_KWH): cannot read this line; expected NAME=value",
        f"{path}:4 (SMARTCHARGE_READY_BY): no '=' on this line; expected NAME=value",
    ] == [line.split(", with", 1)[0] for line in caught.value.problems]
    assert "secret-pw" not in str(caught.value)


def test_a_quoted_value_with_spaces_and_an_export_line_still_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """What python-dotenv reads well keeps working: quotes, export, comments."""
    _env_file(
        tmp_path,
        monkeypatch,
        '# mine\nexport SMARTCHARGE_WALLBOX_PASSWORD="two words # not a comment"\n'
        "SMARTCHARGE_TARGET_KWH=12 # kWh\n",
    )

    settings = load_settings()

    assert settings.wallbox_password is not None
    assert "two words # not a comment" == settings.wallbox_password.get_secret_value()
    assert 12.0 == settings.target_kwh


# --- item 16: secrets out of the environment


def test_the_password_and_the_key_come_from_secret_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Item 16: *_FILE names a file holding the secret (trailing newline dropped)."""
    password_file = tmp_path / "wallbox_password"
    password_file.write_text(PASSWORD + "\n", encoding="utf-8")
    key_file = tmp_path / "entsoe_api_key"
    key_file.write_text("key-from-a-file", encoding="utf-8")
    monkeypatch.setenv("SMARTCHARGE_WALLBOX_PASSWORD_FILE", str(password_file))
    _env_file(tmp_path, monkeypatch, f"SMARTCHARGE_ENTSOE_API_KEY_FILE={key_file}\n")

    settings = load_settings()

    assert settings.wallbox_password is not None
    assert PASSWORD == settings.wallbox_password.get_secret_value()
    assert settings.entsoe_api_key is not None
    assert "key-from-a-file" == settings.entsoe_api_key.get_secret_value()
    assert [] == unknown_names()


def test_a_secret_file_problem_names_the_variable_and_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Missing file, empty file, or the value set twice: one line each, naming the variable."""
    empty = tmp_path / "empty"
    empty.write_text("\n", encoding="utf-8")
    monkeypatch.setenv("SMARTCHARGE_WALLBOX_PASSWORD_FILE", str(tmp_path / "missing"))
    monkeypatch.setenv("SMARTCHARGE_ENTSOE_API_KEY_FILE", str(empty))

    with pytest.raises(ConfigError) as caught:
        load_settings()
    monkeypatch.setenv("SMARTCHARGE_ENTSOE_API_KEY", "also-set")
    with pytest.raises(ConfigError) as twice:
        load_settings()

    missing, empty_line = caught.value.problems
    assert missing.startswith(f"SMARTCHARGE_WALLBOX_PASSWORD_FILE='{tmp_path / 'missing'}'")
    assert "No such file" in missing
    assert f"uid {os.getuid()}" in missing
    assert empty_line.endswith("the file is empty")
    assert any(
        "SMARTCHARGE_ENTSOE_API_KEY and SMARTCHARGE_ENTSOE_API_KEY_FILE are both set" in line
        for line in twice.value.problems
    )


def test_a_mounted_env_file_keeps_the_secrets_out_of_the_process_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    """Item 16: with SMARTCHARGE_ENV_FILE the secrets are read from the file, not the environment.

    What compose now does: ``../.env`` mounted read-only as ``/config/.env``.
    """
    _env_file(
        tmp_path,
        monkeypatch,
        f"SMARTCHARGE_WALLBOX_USERNAME=me@example.com\nSMARTCHARGE_WALLBOX_PASSWORD={PASSWORD}\n",
    )

    status = main(["check-config"])

    out = capsys.readouterr().out
    assert 0 == status
    assert PASSWORD not in out
    assert not [value for value in os.environ.values() if PASSWORD in value]


def test_check_config_masks_a_url_password(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    """Item 16: a proxy URL's user:password@ is shown as ***@ by check-config."""
    monkeypatch.setenv("SMARTCHARGE_WALLBOX_API_URL", "https://me:s3cret-pw@proxy.example:8443/w")
    # A ready configuration (an account), so that check-config exits 0 (1: run would refuse).
    monkeypatch.setenv("SMARTCHARGE_WALLBOX_USERNAME", "me@example.com")
    monkeypatch.setenv("SMARTCHARGE_WALLBOX_PASSWORD", "pw-123456")

    status = main(["check-config"])

    out = capsys.readouterr().out
    assert 0 == status
    assert "s3cret-pw" not in out
    assert "https://***@proxy.example:8443/w" in out


@pytest.mark.parametrize("port", ["70000", "65536", "0", "99999999999"])
def test_a_url_port_above_65535_is_refused(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], port: str
):
    """Item 16: a URL whose port is outside 1-65535 is refused by name, its password masked."""
    monkeypatch.setenv(
        "SMARTCHARGE_ENTSOE_API_URL", f"https://me:s3cret-pw@entsoe.example:{port}/api"
    )

    status = main(["check-config"])

    err = capsys.readouterr().err
    assert 2 == status
    assert "SMARTCHARGE_ENTSOE_API_URL='https://***@entsoe.example:" in err
    assert "the port must be a whole number from 1 to 65535" in err
    assert "s3cret-pw" not in err


def test_a_url_password_never_reaches_a_log_line(monkeypatch: pytest.MonkeyPatch):
    """Item 16: the password of a proxy URL is masked in every log line, like the others."""
    monkeypatch.setenv("SMARTCHARGE_ENTSOE_API_URL", "https://me:s3cret-pw@proxy.example/api")
    settings = load_settings()
    stream = io.StringIO()
    configure_logging(settings, stream=stream, force_console=False)

    structlog.get_logger("test").warning(
        "price_source_failed", error=f"cannot reach {settings.entsoe_api_url}"
    )

    assert "proxy.example" in stream.getvalue()
    assert "s3cret-pw" not in stream.getvalue()
