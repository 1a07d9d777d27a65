"""What the session core has to say: events as data, logged by the runtime."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


class Level(enum.StrEnum):
    """A log level (STYLE.md §9)."""

    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class Event:
    """One event to log: its name (snake_case, subject first, past tense), level and fields.

    Attributes:
        name: e.g. ``plan_made``.
        level: the log level.
        fields: the data, keys with units.
    """

    name: str
    level: Level = Level.INFO
    fields: Mapping[str, Any] = field(default_factory=dict)


def event(name: str, level: Level = Level.INFO, **fields: Any) -> Event:
    """Return an ``Event`` (the short way to write one)."""
    return Event(name, level, fields)
