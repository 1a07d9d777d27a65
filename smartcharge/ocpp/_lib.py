"""The ``ocpp`` package behind typed names (it ships no type information)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

from ocpp.exceptions import OCPPError
from ocpp.routing import after as _after
from ocpp.routing import on as _on
from ocpp.v16 import ChargePoint as _ChargePoint
from ocpp.v16 import call, call_result

Handler = TypeVar("Handler", bound=Callable[..., Any])

__all__ = ["OCPPError", "ChargePointBase", "Handler", "after", "call", "call_result", "on"]


def on(action: str, *, skip_schema_validation: bool = False) -> Callable[[Handler], Handler]:
    """Mark a method as the handler of ``action`` (``ocpp.routing.on``, typed)."""
    return cast(
        Callable[[Handler], Handler], _on(action, skip_schema_validation=skip_schema_validation)
    )


def after(action: str) -> Callable[[Handler], Handler]:
    """Mark a method to run once the answer to ``action`` is sent (``ocpp.routing.after``)."""
    return cast(Callable[[Handler], Handler], _after(action))


class ChargePointBase(_ChargePoint):  # type: ignore[misc]  # ocpp ships no type information
    """``ocpp.v16.ChargePoint`` (either side of the link)."""
