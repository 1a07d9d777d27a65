"""TokenStore: the Wallbox tokens on disk, so a restart does not sign in again.

The file ``wallbox-tokens.json`` in the state dir is written atomically with mode 0600 through
``smartcharge.storage``; it is the only file that ever holds a token. No backup copy is kept:
a lost or corrupt token file costs one sign-in, while a stale copy of a token helps no one.
The username is stored beside the tokens so tokens of another account are never used.

A token that cannot be saved (a full or read-only disk) is used from memory: it costs one
sign-in after a restart, never a call now. The ``StateDisk`` logs the failure once and writes
the file again when the daemon next saves its state (``StateDisk.retry``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import structlog

from smartcharge.errors import StateError
from smartcharge.storage import StateDisk, load_document, save_document

log = structlog.get_logger(__name__)

__all__ = ["TOKEN_FILE", "TokenStore", "Tokens"]

TOKEN_FILE = "wallbox-tokens.json"  # noqa: S105 - a file name, not a secret
_KIND = "wallbox_tokens"
_VERSION = 1


@dataclass(frozen=True, slots=True)
class Tokens:
    """An access token and its refresh token, with their absolute expiry (UTC).

    ``repr`` never shows the tokens.
    """

    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    access_expires_at: datetime
    refresh_expires_at: datetime | None
    username: str


def _ms(instant: datetime) -> int:
    return int(instant.timestamp() * 1000)


def _from_ms(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1000, UTC)


class TokenStore:
    """Load and save ``Tokens`` in ``state_dir/wallbox-tokens.json`` (mode 0600).

    Args:
        state_dir: the state dir.
        disk: the state folder's file system (None: a private one).
        register_secret: masks a secret in every later log line; the tokens loaded are
            registered before they are handed out.
    """

    def __init__(
        self,
        state_dir: Path,
        disk: StateDisk | None = None,
        *,
        register_secret: Callable[[str], None],
    ) -> None:
        self.path = state_dir / TOKEN_FILE
        self._disk = disk or StateDisk()
        self._register_secret = register_secret

    def load(self, now: datetime) -> Tokens | None:
        """Return the stored tokens, or None when there are none usable (or none readable)."""
        try:
            result = load_document(self.path, _KIND, now, disk=self._disk)
        except StateError as exc:
            log.warning("wallbox_token_store_unreadable", path=str(self.path), error=str(exc))
            return None
        if result.problem:
            log.warning(
                "wallbox_token_store_corrupt", path=str(self.path), moved_to=str(result.moved_to)
            )
        data = result.data
        if result.version != _VERSION or not isinstance(data, dict):
            return None
        try:
            refresh_ttl = data.get("refresh_token_ttl")
            tokens = Tokens(
                access_token=str(data["token"]),
                refresh_token=str(data["refresh_token"]),
                access_expires_at=_from_ms(int(data["ttl"])),
                refresh_expires_at=None if refresh_ttl is None else _from_ms(int(refresh_ttl)),
                username=str(data["username"]),
            )
        except (KeyError, TypeError, ValueError):
            log.warning("wallbox_token_store_unusable", path=str(self.path))
            return None
        self._register_secret(tokens.access_token)
        self._register_secret(tokens.refresh_token)
        return tokens

    def save(self, tokens: Tokens, now: datetime | None = None) -> None:
        """Write ``tokens`` atomically, mode 0600, leaving no backup copy behind.

        A failed write is recorded on the disk (logged once) and otherwise ignored.
        """
        try:
            self._save(tokens, now)
        except StateError:
            return
        with contextlib.suppress(FileNotFoundError):
            self.path.with_name(self.path.name + ".bak").unlink()

    def _save(self, tokens: Tokens, now: datetime | None) -> None:
        save_document(
            self.path,
            _KIND,
            _VERSION,
            {
                "token": tokens.access_token,
                "refresh_token": tokens.refresh_token,
                "ttl": _ms(tokens.access_expires_at),
                "refresh_token_ttl": (
                    None if tokens.refresh_expires_at is None else _ms(tokens.refresh_expires_at)
                ),
                "username": tokens.username,
            },
            disk=self._disk,
            now=now,
            retry=True,
        )

    def clear(self) -> None:
        """Forget the stored tokens."""
        for p in (self.path, self.path.with_name(self.path.name + ".bak")):
            with contextlib.suppress(FileNotFoundError):
                p.unlink()
