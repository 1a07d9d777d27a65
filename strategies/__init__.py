"""Planning strategies: a registry of the built-in ones and the one door for a user's own.

``SMARTCHARGE_STRATEGY`` names a built-in strategy (``cheapest``, ``contiguous``, ``threshold``,
``immediate``), a strategy registered by an installed package under the entry-point group
``smartcharge.strategies``, or a ``package.module:ClassName`` path. Whatever it names is resolved
once, at start-up, by ``get_strategy``; it must satisfy the ``Strategy`` protocol
(``strategies.base``) and the same guarantees as the built-in ones.

A ``module:ClassName`` path is looked up first in the strategy folder
(``SMARTCHARGE_STRATEGY_PATH``, by default the state dir's ``strategies/``), then among the
installed packages, so a user's own file needs no ``PYTHONPATH``.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import sys
from collections.abc import Callable, Mapping, Sequence
from importlib.metadata import entry_points
from pathlib import Path
from types import MappingProxyType
from typing import Any

from smartcharge.errors import ConfigError
from strategies.base import Plan, PlanRequest, PlanSlot, Strategy
from strategies.cheapest import CheapestStrategy
from strategies.contiguous import ContiguousStrategy
from strategies.immediate import ImmediateStrategy
from strategies.threshold import ThresholdStrategy

__all__ = [
    "ENTRY_POINT_GROUP",
    "STRATEGIES",
    "Plan",
    "PlanRequest",
    "PlanSlot",
    "Strategy",
    "available_strategies",
    "get_strategy",
]

#: The entry-point group through which installed packages add strategies.
ENTRY_POINT_GROUP = "smartcharge.strategies"

#: The built-in strategies: ``.env`` name -> factory taking the ``max_price`` setting.
STRATEGIES: Mapping[str, Callable[[str | None], Strategy]] = MappingProxyType(
    {
        "cheapest": lambda _max_price: CheapestStrategy(),
        "contiguous": lambda _max_price: ContiguousStrategy(),
        "threshold": lambda max_price: ThresholdStrategy(max_price),
        "immediate": lambda _max_price: ImmediateStrategy(),
    }
)


def _entry_point_names() -> list[str]:
    return sorted({ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)})


def available_strategies() -> list[str]:
    """Return the names ``SMARTCHARGE_STRATEGY`` accepts: built-in, then installed plug-ins."""
    plugins = [n for n in _entry_point_names() if n not in STRATEGIES]
    return [*STRATEGIES, *plugins]


def _problem(name: str, why: str) -> ConfigError:
    return ConfigError(
        f"SMARTCHARGE_STRATEGY={name!r}: {why}; expected one of "
        f"{', '.join(available_strategies())}, or package.module:ClassName"
    )


def _instantiate(name: str, factory: Any) -> Strategy:
    try:
        strategy = factory()
    except Exception as err:  # a user's plug-in may fail in any way: report it as config
        raise _problem(name, f"could not be created ({type(err).__name__}: {err})") from err
    plan = getattr(strategy, "plan", None)
    if not callable(plan) or not isinstance(getattr(strategy, "name", None), str):
        raise _problem(name, "is not a strategy (it needs a str `name` and a `plan(request)`)")
    return strategy  # type: ignore[no-any-return]  # checked structurally just above


def _import(module_name: str, folders: Sequence[Path]) -> Any:
    """Import ``module_name``, its top-level package or module found in ``folders`` first.

    Only the named top-level module is taken from a folder (and only when it is not imported
    yet); ``sys.path`` is left as it is, so nothing else in the process can pick up a user's
    file by accident.
    """
    top = module_name.partition(".")[0]
    if top and top not in sys.modules:
        for folder in folders:
            spec = importlib.machinery.PathFinder.find_spec(top, [str(folder)])
            if spec is None or spec.loader is None:
                continue
            module = importlib.util.module_from_spec(spec)
            sys.modules[top] = module
            try:
                spec.loader.exec_module(module)
            except BaseException:
                del sys.modules[top]
                raise
            break
    return importlib.import_module(module_name)


def get_strategy(
    name: str, *, max_price: str | None = None, search_path: Sequence[Path] = ()
) -> Strategy:
    """Resolve ``SMARTCHARGE_STRATEGY`` once, at start-up.

    Args:
        name: a built-in name, an entry-point name, or ``package.module:ClassName``.
        max_price: ``SMARTCHARGE_MAX_PRICE``, used by ``threshold``.
        search_path: folders where a ``package.module:ClassName`` path is looked up first
            (``SMARTCHARGE_STRATEGY_PATH``).

    Raises:
        ConfigError: the name is unknown or does not load as a strategy; the message names
            SMARTCHARGE_STRATEGY and lists the valid names (SMARTCHARGE_MAX_PRICE for a bad
            threshold limit).
    """
    key = name.strip()
    factory = STRATEGIES.get(key.lower())
    if factory is not None:
        return factory(max_price)
    if ":" in key:
        module_name, _, attr = key.partition(":")
        try:
            target = getattr(_import(module_name, search_path), attr)
        except Exception as err:  # a user's module may fail in any way: report it as config
            where = ", ".join(str(f) for f in search_path)
            looked = f"; looked in {where} (SMARTCHARGE_STRATEGY_PATH) first" if where else ""
            raise _problem(
                key, f"cannot be imported ({type(err).__name__}: {err}){looked}"
            ) from err
        return _instantiate(key, target)
    for ep in entry_points(group=ENTRY_POINT_GROUP, name=key):
        try:
            target = ep.load()
        except Exception as err:  # a broken plug-in package: report it as config
            raise _problem(key, f"cannot be loaded ({type(err).__name__}: {err})") from err
        return _instantiate(key, target)
    raise _problem(key, "unknown strategy")
