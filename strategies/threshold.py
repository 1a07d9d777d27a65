"""``threshold``: charge whenever the price is at or below a limit, plus what the deadline needs.

The limit (``SMARTCHARGE_MAX_PRICE``) is absolute, ``0.18`` (EUR/kWh all-in), or relative,
``p30``: the price of the cheapest 30 % of the window's planner slots with a known price (the
``ceil(30 % of n)``-th cheapest; ``p0`` selects nothing, ``p100`` everything known).

How it plans: every known slot at or below the limit counts as equally good ("start below the
price, stop above it"), so the target is taken from those slots first, with the fewest blocks and
the earliest finish among them; only the energy they cannot carry is bought in the cheapest other
slots (unknown-price time first, see ``strategies._slots``). When the slots below the limit form
more runs than ``max_interruptions`` allows, the plan keeps the blocks that carry the most of
that energy (then the earliest), and the exact optimiser of ``cheapest`` places the rest: the
block limit, the minimum current and the deadline always hold. Costs are reported at the real
prices.
"""

from __future__ import annotations

import math
import re

from smartcharge.errors import ConfigError
from strategies._optimiser import optimise
from strategies._slots import UNKNOWN_PRICE, build_window, realise, trivial_plan
from strategies.base import Plan, PlanRequest

# The one parser of SMARTCHARGE_MAX_PRICE (config validates with it, the strategy reads with it).
_LIMIT = re.compile(r"^(?:(?P<abs>-?\d+(?:\.\d+)?)|p(?P<pct>100|[1-9]?\d))$", re.ASCII)
#: What a limit may be, for messages (smartcharge.config prefixes the variable itself).
LIMIT_ACCEPTED = (
    "expected an all-in price in EUR/kWh between -5 and 5 (e.g. 0.18) or a share of the "
    "cheapest known prices in the window, p0..p100 (e.g. p30)"
)

#: Stand-in price of a slot at or below the limit: below everything, unknown time included.
_BELOW_LIMIT_PRICE = 2 * UNKNOWN_PRICE


def parse_limit(value: str | None) -> tuple[str, float]:
    """Parse ``SMARTCHARGE_MAX_PRICE`` (surrounding blanks and the case of ``p`` do not matter).

    Returns:
        ``("abs", eur_per_kwh)`` or ``("pct", percent)``.

    Raises:
        ConfigError: the value is missing, or neither a price nor ``p0``..``p100``.
    """
    if value is None or not value.strip():
        raise ConfigError(
            "SMARTCHARGE_MAX_PRICE is not set: the threshold strategy needs a limit, "
            "e.g. 0.18 (EUR/kWh all-in) or p30 (the cheapest 30 % of the known prices)"
        )
    m = _LIMIT.match(value.strip().lower())
    if m is not None:
        if m.group("pct") is not None:
            return "pct", float(m.group("pct"))
        price = float(m.group("abs"))
        if abs(price) <= 5:
            return "abs", price
    raise ConfigError(f"SMARTCHARGE_MAX_PRICE={value!r}: {LIMIT_ACCEPTED}")


class ThresholdStrategy:
    """Charge in the slots at or below a price limit, plus the cheapest extra slots needed.

    Args:
        max_price: the limit, e.g. ``"0.18"`` or ``"p30"``.

    Raises:
        ConfigError: ``max_price`` is missing or malformed (names SMARTCHARGE_MAX_PRICE).
    """

    name = "threshold"

    def __init__(self, max_price: str | None) -> None:
        self._kind, self._value = parse_limit(max_price)
        self.max_price = (max_price or "").strip()

    def limit_for(self, known_prices: list[float]) -> float | None:
        """Return the absolute limit for a window's known prices (None: no slot qualifies)."""
        if self._kind == "abs":
            return self._value
        count = math.ceil(self._value / 100.0 * len(known_prices) - 1e-9)
        if count <= 0:
            return None
        return sorted(known_prices)[count - 1]

    def plan(self, request: PlanRequest) -> Plan:
        """Return the threshold plan for ``request``."""
        window = build_window(request)
        energy = request.energy_needed_kwh
        done = trivial_plan(window, self.name, energy)
        if done is not None:
            return done
        known = [p for p in window.prices if p is not None]
        limit = self.limit_for(known)
        prices = [
            UNKNOWN_PRICE
            if p is None
            else (_BELOW_LIMIT_PRICE if limit is not None and p <= limit else p)
            for p in window.prices
        ]
        solution = optimise(
            prices, window.caps, window.los, energy, max(1, request.max_interruptions)
        )
        return realise(window, self.name, solution.energies, solution.blocks, is_reachable=True)
