"""Command group `daemon` (placeholder until its issue lands)."""

from __future__ import annotations

from typing import Any


def register(sub: Any) -> None:
    """Add this group's commands (none yet)."""
