"""One codec for saved values: frozen dataclasses to JSON data and back, driven by their types.

``to_data(value)`` walks a dataclass by its fields; ``from_data(cls, data)`` builds one from the
type hints of ``cls``. Between them every saved type (the state, the charger snapshot the read
budget keeps, ...) is written one way, with its field names as keys: no hand-written pair of
functions per type. The types it knows:

==========================  ===========================================================
type                        JSON
==========================  ===========================================================
a dataclass                 an object, one key per field (a missing key: the default)
``datetime``                ISO 8601 with its offset; a naive one is refused
``enum.Enum``               its value
``str``, ``bool``           as is (a bool is checked, never coerced)
``int``, ``float``          a number (an int field refuses a fraction)
``X | None``                null or X
``tuple[X, ...]``           an array
==========================  ===========================================================

Anything else is a programming error (``TypeError`` at the first use). Data that does not fit
raises ``ValueError`` (or ``KeyError``/``TypeError``), which the callers treat as a corrupt file.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import types
import typing
from datetime import datetime
from typing import Any, TypeVar

T = TypeVar("T")

# JSON-able data: what json.dumps takes.
Data = Any


def to_data(value: object) -> Data:
    """Return ``value`` (a dataclass, or anything in the table above) as JSON-able data."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"naive datetime: {value!r}")
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, tuple | list):
        return [to_data(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_data(getattr(value, f.name)) for f in dataclasses.fields(value)}
    raise TypeError(f"the codec cannot write a {type(value).__name__}")


def from_data(cls: type[T], data: Data) -> T:
    """Build a ``cls`` (a dataclass) from what ``to_data`` wrote.

    Raises:
        ValueError, KeyError, TypeError: ``data`` does not fit ``cls``.
    """
    value: T = _read(cls, data, cls.__name__)
    return value


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _read(tp: Any, data: Data, where: str) -> Any:
    origin = typing.get_origin(tp)
    if origin is typing.Union or origin is types.UnionType:
        args = typing.get_args(tp)
        if data is None and type(None) in args:
            return None
        rest = [a for a in args if a is not type(None)]
        if len(rest) != 1:
            raise TypeError(f"the codec reads only X | None, not {tp}")
        return _read(rest[0], data, where)
    if origin is tuple:
        args = typing.get_args(tp)
        if len(args) != 2 or args[1] is not Ellipsis:
            raise TypeError(f"the codec reads only tuple[X, ...], not {tp}")
        if not isinstance(data, list):
            raise ValueError(f"{where}: expected a list, got {data!r}")
        return tuple(_read(args[0], v, f"{where}[{i}]") for i, v in enumerate(data))
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return _read_dataclass(tp, data, where)
    return _read_scalar(tp, data, where)


def _read_dataclass(cls: type, data: Data, where: str) -> Any:
    if not isinstance(data, dict):
        raise ValueError(f"{where}: expected an object, got {data!r}")
    hints = _hints(cls)
    kwargs = {}
    for f in dataclasses.fields(cls):
        if f.name in data:
            kwargs[f.name] = _read(hints[f.name], data[f.name], f"{where}.{f.name}")
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise KeyError(f"{where}.{f.name} is missing")
    return cls(**kwargs)


def _read_scalar(tp: Any, data: Data, where: str) -> Any:
    if tp is datetime:
        parsed = datetime.fromisoformat(_expect(str, data, where))
        if parsed.tzinfo is None:
            raise ValueError(f"{where}: naive datetime {data!r}")
        return parsed
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return tp(data)
    if tp is bool:
        return _expect(bool, data, where)
    if tp is str:
        return _expect(str, data, where)
    if tp is int:
        if isinstance(data, bool) or not isinstance(data, int | float) or data != int(data):
            raise ValueError(f"{where}: expected a whole number, got {data!r}")
        return int(data)
    if tp is float:
        if isinstance(data, bool) or not isinstance(data, int | float):
            raise ValueError(f"{where}: expected a number, got {data!r}")
        return float(data)
    raise TypeError(f"the codec cannot read a {tp}")


def _expect(tp: type[T], data: Data, where: str) -> T:
    if not isinstance(data, tp):
        raise ValueError(f"{where}: expected {tp.__name__}, got {data!r}")
    return data
