"""Logging: structlog configured once, stdlib loggers bridged in, every line redacted.

Output is JSON lines (``timestamp`` ISO-8601 UTC, ``level``, ``event`` in snake_case, and
bound context such as ``charger_id``) or a console rendering for people; the default, ``auto``,
picks the console rendering when the stream is a terminal and JSON otherwise.

Redaction is the last step before rendering, so nothing reaches the output without passing it:
values under secret-looking keys are masked; every string (including formatted exceptions and
reprs of request objects) is scrubbed of ``Bearer``/``Basic`` credentials, ``securityToken=``
query parameters, JWT-shaped strings and every secret registered with ``register_secret()``
(the password, the tokens and the API key are registered as soon as they are known).
"""

from __future__ import annotations

import logging
import re
import sys
import threading
from collections.abc import MutableMapping
from typing import Any, TextIO
from urllib.parse import urlsplit

import structlog

MASK = "**redacted**"
# Above every level: a one-shot command's log lines are not written (it says what went wrong).
_SILENT = logging.CRITICAL + 10

_SECRET_KEYS = re.compile(
    r"(pass(word)?|secret|token|authorization|api[_-]?key|securitytoken|credential|cookie)",
    re.IGNORECASE,
)
_PATTERNS = (
    re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+"),
    re.compile(r"(?i)(securityToken=)[^&\s'\"]+"),
    re.compile(
        r"(?i)(['\"]?(?:authorization|password|token|refresh_token)['\"]?\s*[:=]\s*)"
        r"(['\"]?)[^,'\"}\s]+"
    ),
    re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"),
)


class Redactor:
    """A structlog processor that removes secrets from an event dict."""

    def __init__(self) -> None:
        self._secrets: set[str] = set()
        self._lock = threading.Lock()

    def register(self, secret: str | None) -> None:
        """Never let ``secret`` appear in any log line from now on."""
        if secret and len(secret) >= 4:
            with self._lock:
                self._secrets.add(secret)

    def scrub(self, text: str) -> str:
        """Return ``text`` with every known secret and credential pattern masked."""
        for secret in sorted(self._secrets, key=len, reverse=True):
            if secret in text:
                text = text.replace(secret, MASK)
        text = _PATTERNS[0].sub(lambda m: f"{m.group(1)} {MASK}", text)
        text = _PATTERNS[1].sub(lambda m: f"{m.group(1)}{MASK}", text)
        text = _PATTERNS[2].sub(lambda m: f"{m.group(1)}{m.group(2)}{MASK}", text)
        return _PATTERNS[3].sub(MASK, text)

    def _clean(self, key: str, value: Any, depth: int = 0) -> Any:
        if key and _SECRET_KEYS.search(key) and value not in (None, "", False):
            return MASK
        if depth > 6:
            return MASK
        if isinstance(value, str):
            return self.scrub(value)
        if isinstance(value, bool | int | float) or value is None:
            return value
        if isinstance(value, dict):
            return {str(k): self._clean(str(k), v, depth + 1) for k, v in value.items()}
        if isinstance(value, list | tuple | set | frozenset):
            return [self._clean("", v, depth + 1) for v in value]
        return self.scrub(repr(value) if isinstance(value, BaseException) else str(value))

    def __call__(
        self, logger: Any, method: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        """Redact ``event_dict`` in place and return it."""
        for key in list(event_dict):
            if key in ("event", "timestamp", "level", "logger"):
                if isinstance(event_dict[key], str):
                    event_dict[key] = self.scrub(event_dict[key])
                continue
            event_dict[key] = self._clean(key, event_dict[key])
        return event_dict


_REDACTOR = Redactor()


def register_secret(secret: str | None) -> None:
    """Add ``secret`` to what the log redaction always masks."""
    _REDACTOR.register(secret)


def redact_text(text: str) -> str:
    """Scrub ``text`` the way log lines are scrubbed (for messages printed to users)."""
    return _REDACTOR.scrub(text)


def shared_processors() -> list[Any]:
    """Return the processors every line passes before rendering (redaction last)."""
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
        _REDACTOR,
    ]


def is_console(fmt: str, stream: TextIO) -> bool:
    """Return whether ``SMARTCHARGE_LOG_FORMAT=fmt`` renders console lines on ``stream``.

    ``auto`` (the default) means console lines for a person at a terminal and JSON for a
    machine: a container runtime, CI or a pipe never gets the console rendering.
    """
    if fmt == "auto":
        isatty = getattr(stream, "isatty", None)
        try:
            return bool(isatty()) if callable(isatty) else False
        except ValueError:  # a closed stream
            return False
    return fmt == "console"


def configure_logging(
    settings: Any,
    *,
    stream: TextIO | None = None,
    force_console: bool | None = None,
    one_shot: bool = False,
) -> None:
    """Configure structlog and the stdlib bridge once, from ``settings``.

    Args:
        settings: anything with ``log_format``, ``log_level`` and the secret settings.
        stream: where lines go (stdout by default).
        force_console: override the format (True console, False JSON).
        one_shot: a command that reports its own problems in sentences (``prices``,
            ``charger ...``): log lines are written only at ``SMARTCHARGE_LOG_LEVEL=DEBUG``,
            for troubleshooting, so a person never reads the same problem twice.
    """
    for name in ("wallbox_password", "entsoe_api_key", "ocpp_password"):
        value = getattr(settings, name, None)
        if value is not None:
            register_secret(value.get_secret_value())
    for name in ("wallbox_api_url", "wallbox_auth_url", "entsoe_api_url", "energyzero_api_url"):
        url = getattr(settings, name, None)
        if isinstance(url, str):
            register_secret(urlsplit(url).password)  # a proxy's user:password@ in a URL
    level = logging.getLevelName(str(getattr(settings, "log_level", "INFO")))
    if one_shot and level > logging.DEBUG:
        level = _SILENT
    out = stream or sys.stdout
    fmt = str(getattr(getattr(settings, "log_format", "auto"), "value", "auto"))
    console = is_console(fmt, out) if force_console is None else force_console
    renderer: Any = (
        structlog.dev.ConsoleRenderer(colors=False)
        if console
        else structlog.processors.JSONRenderer(sort_keys=False)
    )
    pre = shared_processors()
    handler = logging.StreamHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=pre[:-1],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                _REDACTOR,
                renderer,
            ],
        )
    )
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # entsoe-py logs its full query, securityToken included, at DEBUG (STYLE.md §9).
    logging.getLogger("entsoe").setLevel(max(level, logging.INFO))
    logging.getLogger("apscheduler").setLevel(max(level, logging.WARNING))
    logging.getLogger("urllib3").setLevel(max(level, logging.INFO))
    structlog.configure(
        processors=[*pre[:-1], structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
