"""Logging: JSON lines with the right keys, and no secret ever written."""

from __future__ import annotations

import base64
import io
import json
import logging
from types import SimpleNamespace

import structlog
from pydantic import SecretStr

from smartcharge.logsetup import MASK, configure_logging, redact_text, register_secret


def _configure(fmt: str = "json", level: str = "DEBUG", **secrets: str) -> io.StringIO:
    stream = io.StringIO()
    settings = SimpleNamespace(
        log_format=SimpleNamespace(value=fmt),
        log_level=level,
        wallbox_password=SecretStr(secrets.get("password", "")),
        entsoe_api_key=SecretStr(secrets.get("key", "")),
    )
    configure_logging(settings, stream=stream)
    return stream


def test_json_lines_have_timestamp_level_event_and_context():
    """Each line is one JSON object with an ISO-8601 UTC timestamp, level, event and context."""
    stream = _configure()

    structlog.get_logger("t").info("charger_paused", charger_id=999001, price_eur_kwh=0.21)

    line = json.loads(stream.getvalue().strip())
    assert "charger_paused" == line["event"]
    assert "info" == line["level"]
    assert 999001 == line["charger_id"]
    assert line["timestamp"].endswith("Z")
    assert "T" in line["timestamp"]


def test_console_format_is_not_json():
    """The console renderer writes a human line."""
    stream = _configure(fmt="console")

    structlog.get_logger("t").info("prices_fetched", slots=96)

    text = stream.getvalue()
    assert "prices_fetched" in text
    assert "slots=96" in text
    assert not text.lstrip().startswith("{")


def test_settings_secrets_are_masked_everywhere():
    """Password and API key from the settings never appear, in values, messages or tracebacks."""
    stream = _configure(password="pw-Very-Secret-1", key="entsoe-key-XYZ")
    log = structlog.get_logger("t")

    log.info(
        "note",
        detail="login with pw-Very-Secret-1",
        url="https://x/api?securityToken=entsoe-key-XYZ",
    )
    try:
        raise RuntimeError("failed: pw-Very-Secret-1 / entsoe-key-XYZ")
    except RuntimeError:
        log.exception("request_failed")
    logging.getLogger("aiohttp.client").warning("GET ?securityToken=entsoe-key-XYZ&x=1")

    out = stream.getvalue()
    assert "pw-Very-Secret-1" not in out
    assert "entsoe-key-XYZ" not in out
    assert 3 <= out.count(MASK)


def test_secret_keys_headers_and_credentials_are_masked():
    """Authorization headers, Basic credentials, tokens and JWT-shaped strings are masked."""
    stream = _configure()
    basic = base64.b64encode(b"user@example.com:pw").decode()
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.abcdefghijklmnop"
    log = structlog.get_logger("t")

    log.debug(
        "wallbox_request_sent",
        headers={"Authorization": f"Basic {basic}", "Partner": "wallbox"},
        token="tok-123",
        refresh_token="ref-456",
        body={"nested": {"password": "pw"}},
        note=f"got {jwt}",
    )

    out = stream.getvalue()
    line = json.loads(out)
    assert basic not in out
    assert jwt not in out
    assert "tok-123" not in out
    assert "ref-456" not in out
    assert "wallbox" == line["headers"]["Partner"]
    assert MASK == line["body"]["nested"]["password"]


def test_reprs_of_request_objects_are_scrubbed():
    """An object whose repr carries an Authorization header is scrubbed, too."""

    class RequestInfo:
        def __repr__(self) -> str:
            return "<RequestInfo headers={'Authorization': 'Bearer abc.def.ghi-123'}>"

    stream = _configure()

    structlog.get_logger("t").warning("wallbox_request_failed", request=RequestInfo())

    out = stream.getvalue()
    assert "abc.def.ghi-123" not in out
    assert "wallbox_request_failed" in out


def test_registered_secrets_are_scrubbed_from_text():
    """register_secret() makes a runtime secret (a fresh token) disappear from any text."""
    register_secret("runtime-token-777")

    assert "runtime-token-777" not in redact_text("token runtime-token-777 in a message")


def test_entsoe_logger_never_logs_debug():
    """entsoe-py logs its query with the key at DEBUG: its logger stays at INFO or above."""
    _configure(level="DEBUG")

    assert logging.getLogger("entsoe").getEffectiveLevel() >= logging.INFO


class _Terminal(io.StringIO):
    """A stream that says it is a terminal, as stderr does in an interactive shell."""

    def isatty(self) -> bool:
        return True


def test_auto_format_is_console_on_a_terminal_and_json_otherwise():
    """SMARTCHARGE_LOG_FORMAT=auto (the default): people get console lines, pipes get JSON."""
    settings = SimpleNamespace(log_format=SimpleNamespace(value="auto"), log_level="INFO")
    terminal, pipe = _Terminal(), io.StringIO()

    configure_logging(settings, stream=terminal)
    structlog.get_logger("t").info("prices_fetched", slots=96)
    configure_logging(settings, stream=pipe)
    structlog.get_logger("t").info("prices_fetched", slots=96)

    assert "slots=96" in terminal.getvalue()
    assert not terminal.getvalue().lstrip().startswith("{")
    assert 96 == json.loads(pipe.getvalue())["slots"]


def test_auto_is_the_default_setting():
    """A new user's Settings say auto, so a terminal never shows JSON by default."""
    from smartcharge.config import LogFormat, Settings  # noqa: PLC0415

    assert LogFormat.AUTO == Settings(_env_file=None).log_format


def test_one_shot_commands_write_log_lines_only_at_debug():
    """A one-shot command reports its own problems; its log lines appear only at DEBUG."""
    quiet, loud = io.StringIO(), io.StringIO()

    configure_logging(
        SimpleNamespace(log_format=SimpleNamespace(value="json"), log_level="INFO"),
        stream=quiet,
        one_shot=True,
    )
    structlog.get_logger("t").error("price_source_failed", source="entsoe")
    configure_logging(
        SimpleNamespace(log_format=SimpleNamespace(value="json"), log_level="DEBUG"),
        stream=loud,
        one_shot=True,
    )
    structlog.get_logger("t").error("price_source_failed", source="entsoe")

    assert "" == quiet.getvalue()
    assert "price_source_failed" == json.loads(loud.getvalue())["event"]
