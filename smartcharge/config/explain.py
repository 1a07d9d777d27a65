"""One readable line for a validation error: what is accepted, the value shown safely."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from smartcharge.config.names import mask_url
from smartcharge.number_text import number_hint


def describe(value: Any, var: str) -> str:
    """Return the value as a problem line shows it: quoted, shortened, URL or secret masked."""
    if "PASSWORD" in var or "API_KEY" in var or "TOKEN" in var:
        return "(secret hidden)"
    text = mask_url(str(value))
    if len(text) > 60:
        text = text[:57] + "..."
    return repr(text)


_MESSAGES = {
    "int_parsing": "expected a whole number",
    "float_parsing": "expected a number",
    "bool_parsing": "expected true or false",
    "literal_error": "expected one of",
    "enum": "expected one of",
    "greater_than": "must be greater than",
    "greater_than_equal": "must be at least",
    "less_than": "must be less than",
    "less_than_equal": "must be at most",
    "time_parsing": "expected HH:MM (24h), e.g. 07:00",
    "finite_number": "expected a finite number",
    "path_type": "expected a folder path",
}


def explain(err: Mapping[str, Any], var: str = "") -> str:
    """Return what ``var`` accepts, for one of pydantic's error dicts (with a hint for a slip)."""
    kind = str(err.get("type", ""))
    ctx = err.get("ctx") or {}
    if kind == "value_error":
        return str(ctx.get("error", err.get("msg", "")))
    base = _MESSAGES.get(kind)
    if base is None:
        return str(err.get("msg", "invalid value"))
    if kind in ("float_parsing", "int_parsing") and "SECRET" not in var:
        return base + number_hint(kind, err.get("input"), var)
    if kind in ("literal_error", "enum"):
        return f"{base} {ctx.get('expected', '')}".strip()
    for key in ("gt", "ge", "lt", "le"):
        if key in ctx:
            return f"{base} {ctx[key]}"
    return base
