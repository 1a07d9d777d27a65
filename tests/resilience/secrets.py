"""Scan log text and every file of a folder (except the token store) for secrets."""

from __future__ import annotations

import base64
from collections.abc import Iterable
from pathlib import Path

from smartcharge.wallbox.tokens import TOKEN_FILE


def _variants(secret: str) -> set[str]:
    """Return the secret and the forms it could leak in (Basic auth, JSON-escaped)."""
    out = {secret}
    for user in ("demo.user@example.com", "test.user@example.com"):
        out.add(base64.b64encode(f"{user}:{secret}".encode()).decode())
    return {s for s in out if len(s) >= 6}


def is_token_store(path: Path) -> bool:
    """Return whether ``path`` is the token store or one of its own copies."""
    return path.name == TOKEN_FILE or path.name.startswith(TOKEN_FILE + ".")


def scan_for_secrets(secrets: Iterable[str], *, logs: str, folder: Path | None) -> list[str]:
    """Return ``where: secret-kind`` for every secret found; [] when clean.

    Args:
        secrets: the password, tokens and keys of the run.
        logs: every log line written.
        folder: a state dir whose files (all but the token store) are read as bytes.
    """
    needles = {v for s in secrets if s for v in _variants(s)}
    found: list[str] = []
    for needle in sorted(needles):
        if needle in logs:
            found.append(f"log: {needle[:4]}...")
    if folder is not None and folder.is_dir():
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            if is_token_store(path):
                continue
            data = path.read_bytes()
            found += [f"{path.name}: {n[:4]}..." for n in sorted(needles) if n.encode() in data]
    return found
