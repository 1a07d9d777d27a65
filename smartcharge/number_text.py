"""A number setting as people type it: its own unit after the number, or a decimal comma.

``SMARTCHARGE_TARGET_KWH=20kWh`` and ``SMARTCHARGE_TARIFF_VAT_PERCENT=21,5`` say plainly what
they mean, so they are read (and warned about), not refused. Only the unit the setting is in
is taken (``20kWh`` for a kWh setting, ``16 A`` for amps, ``30min`` for minutes); any other
unit (``18ct`` for a EUR/kWh setting, ``7h`` for a count of minutes) is still refused, with a
hint saying how to write it, because the number would have to be converted or guessed. A
decimal comma is taken for decimal settings only, and only in its plain form (``0,21``): a
whole-number setting has no decimals to write, and ``1,234.5`` is a thousands separator.

Pure text handling: no settings, no I/O.
"""

from __future__ import annotations

import re
from typing import Any, NamedTuple


class Unit(NamedTuple):
    """The unit a setting is in, and how people write it after a number (lower case)."""

    name: str
    spellings: tuple[str, ...]


# The unit each number setting is written in, from the end of its variable name (the longer
# ending first: _EUR_KWH before _KWH).
_UNITS = (
    ("_EUR_KWH", Unit("EUR/kWh", ("eur/kwh", "/kwh", "eur", "€", "€/kwh"))),
    ("_KWH", Unit("kWh", ("kwh",))),
    ("_PERCENT", Unit("percent", ("%", "percent", "pct"))),
    ("_A", Unit("amps", ("a", "amp", "amps"))),
    ("_V", Unit("volts", ("v", "volt", "volts"))),
    ("_S", Unit("seconds", ("s", "sec", "secs", "seconds"))),
    ("_MIN", Unit("minutes", ("m", "min", "mins", "minutes"))),
)

# A number, then (after optional spaces) something that is not part of a number.
_WITH_SUFFIX = re.compile(r"([-+]?\d+(?:[.,]\d+)?)\s*([^\d\s.,].*)")
_PLAIN_INT = re.compile(r"[-+]?\d+")
_PLAIN_FLOAT = re.compile(r"[-+]?\d+(?:\.\d+)?")
_COMMA_FLOAT = re.compile(r"[-+]?\d+,\d+")
_FRACTION = re.compile(r"[-+]?\d+[.,]\d")


class Slip(NamedTuple):
    """A number read from text with a slip: what it was read as, and what to say about it."""

    number: str  # the plain number, e.g. "20" or "0.21"
    unit: str | None  # the setting's unit when one was written after the number
    has_decimal_comma: bool

    def advice(self) -> str:
        """Return what the warning says after ``VAR=value``: how it was read, what to write."""
        unit = f" ({self.unit})" if self.unit else ""
        fixes = []
        if self.unit:
            fixes.append("write the number only")
        if self.has_decimal_comma:
            fixes.append("use a decimal point")
        return f"read as {self.number}{unit}; {' and '.join(fixes)}"


def unit_of(var: str) -> Unit | None:
    """Return the unit of setting ``var`` (``SMARTCHARGE_TARGET_KWH`` -> kWh), None without one."""
    return next((unit for suffix, unit in _UNITS if var.upper().endswith(suffix)), None)


def read_slip(var: str, text: str, *, is_float: bool) -> Slip | None:
    """Return how ``text`` reads as a number for setting ``var`` when it has a slip we accept.

    Args:
        var: the variable's name, which gives the setting's unit.
        text: the value as typed.
        is_float: whether the setting takes decimals (else whole numbers only).

    Returns:
        The slip (the plain number, the unit written, whether a decimal comma was used), or None
        when ``text`` is a plain number or not an accepted slip (then it is validated as it is).
    """
    stripped = text.strip()
    unit: str | None = None
    match = _WITH_SUFFIX.fullmatch(stripped)
    if match is not None:
        own = unit_of(var)
        if own is None or match.group(2).strip().lower() not in own.spellings:
            return None
        stripped, unit = match.group(1), own.name
    if (_PLAIN_FLOAT if is_float else _PLAIN_INT).fullmatch(stripped):
        return Slip(stripped, unit, has_decimal_comma=False) if unit else None
    if is_float and _COMMA_FLOAT.fullmatch(stripped):
        return Slip(stripped.replace(",", "."), unit, has_decimal_comma=True)
    return None


def number_hint(kind: str, value: Any, var: str) -> str:
    """Return a hint for a number that was refused: how to write it (empty when none fits).

    Args:
        kind: pydantic's error type, ``float_parsing`` or ``int_parsing``.
        value: the value that was refused.
        var: the variable's name, which gives the setting's unit.
    """
    text = str(value).strip()
    if kind == "int_parsing" and _FRACTION.match(text):
        unit = unit_of(var)
        return (
            f"; write a whole number{f' of {unit.name}' if unit else ''}, without a point or comma"
        )
    if kind == "float_parsing" and _COMMA_FLOAT.fullmatch(text):
        return f"; use a decimal point, e.g. {text.replace(',', '.')}"
    match = _WITH_SUFFIX.fullmatch(text)
    if match is None:
        return ""
    unit = unit_of(var)
    number = match.group(1).replace(",", ".")
    written = match.group(2).strip()
    if unit is None:
        return f"; write the number only, without {written!r}"
    if written.lower() in unit.spellings:
        return f"; write the number only (in {unit.name}), e.g. {number}"
    return f"; write the number only, in {unit.name}"
