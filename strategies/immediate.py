"""``immediate``: full power from now until the energy is delivered (what a plain charger does)."""

from __future__ import annotations

from strategies._slots import build_window, full_power, realise, trivial_plan
from strategies.base import Plan, PlanRequest


class ImmediateStrategy:
    """Charge at full power from ``now`` until the target is met: the baseline."""

    name = "immediate"

    def plan(self, request: PlanRequest) -> Plan:
        """Return the full-power plan for ``request``."""
        window = build_window(request)
        energy = request.energy_needed_kwh
        done = trivial_plan(window, self.name, energy)
        if done is not None:
            return done
        return realise(window, self.name, full_power(window, energy), None, is_reachable=True)
