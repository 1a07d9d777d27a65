"""Secrets in OCPP frames are masked before anything is logged or kept.

A Wallbox reports its ``PUK`` and ``WebSocketPassword`` in GetConfiguration (evcc#15490,
#15581 dumps; ../shared/ocpp-wallbox.md §1.3), and a ChangeConfiguration may carry one. Both
shapes are ``{"key": NAME, "value": VALUE}``; the value is masked whenever NAME looks like a
secret. The ``ocpp`` package logs every frame it sends and receives, so its logger is replaced
by ``RedactingLogger``.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

MASK = "**redacted**"

# Configuration keys whose value is a secret: the Wallbox PUK and WebSocketPassword, and any
# password-, secret-, token- or key-like name another firmware may add (AuthorizationKey is
# the security-profile-2 password in OCPP 1.6 security whitepaper).
_SECRET_KEY = re.compile(r"(?i)(^puk$|^pin$|password|passwd|secret|token|authorizationkey)")
# The same pairs inside text that is not a whole JSON frame (a repr in an exception message).
_PAIR_IN_TEXT = re.compile(
    r"""(?P<head>['"]key['"]\s*:\s*['"](?P<name>[^'"]+)['"][^{}]*?['"]value['"]\s*:\s*)"""
    r"""(?P<quote>['"])(?P<value>[^'"]*)(?P=quote)"""
)


def is_secret_key(name: str) -> bool:
    """Return whether a configuration key's value must never be logged or kept."""
    return bool(_SECRET_KEY.search(name))


def redact_payload(payload: Any) -> Any:
    """Return ``payload`` with the value of every secret configuration key masked."""
    if isinstance(payload, list):
        return [redact_payload(item) for item in payload]
    if isinstance(payload, dict):
        out = {k: redact_payload(v) for k, v in payload.items()}
        name = out.get("key")
        if isinstance(name, str) and is_secret_key(name) and out.get("value") not in (None, ""):
            out["value"] = MASK
        return out
    return payload


def redact_text(text: str) -> str:
    """Return ``text`` (a JSON frame or any text quoting one) with secret values masked."""
    try:
        frame = json.loads(text)
    except ValueError:
        frame = None
    if isinstance(frame, list | dict):
        return json.dumps(redact_payload(frame), separators=(",", ":"))

    def _mask(match: re.Match[str]) -> str:
        if not is_secret_key(match["name"]) or not match["value"]:
            return match[0]
        return f"{match['head']}{match['quote']}{MASK}{match['quote']}"

    return _PAIR_IN_TEXT.sub(_mask, text)


class RedactingLogger:
    """A stand-in for the ``ocpp`` package's logger that masks secrets in every argument.

    The package logs each frame at INFO; they are wire detail, so they go out at DEBUG.

    Args:
        logger: where the redacted lines go.
    """

    def __init__(self, logger: logging.Logger) -> None:
        self._logger = logger

    @staticmethod
    def _clean(args: tuple[object, ...]) -> tuple[str, ...]:
        return tuple(redact_text(str(a)) for a in args)

    def debug(self, msg: str, *args: object) -> None:
        """Log wire detail."""
        self._logger.debug(redact_text(msg), *self._clean(args))

    def info(self, msg: str, *args: object) -> None:
        """Log wire detail (the package's INFO is our DEBUG)."""
        self._logger.debug(redact_text(msg), *self._clean(args))

    def warning(self, msg: str, *args: object) -> None:
        """Log a degraded exchange."""
        self._logger.warning(redact_text(msg), *self._clean(args))

    def error(self, msg: str, *args: object) -> None:
        """Log a failed exchange."""
        self._logger.error(redact_text(msg), *self._clean(args))

    def exception(self, msg: str, *args: object) -> None:
        """Log a failed exchange without its traceback (a frame's repr may hold a secret)."""
        self._logger.error(redact_text(msg), *self._clean(args))
