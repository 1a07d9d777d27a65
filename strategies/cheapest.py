"""``cheapest`` (the default): the exact lowest-cost plan under the block limit and the margin.

New strategies start from a copy of this file: build the window, handle the trivial cases, plan
energies per planner slot, realise them.
"""

from __future__ import annotations

from strategies._optimiser import optimise
from strategies._slots import build_window, realise, trivial_plan
from strategies.base import Plan, PlanRequest


class CheapestStrategy:
    """The cheapest slots before the deadline, not necessarily contiguous.

    Full power in all but the marginal slot, which runs at a reduced current (never below the
    minimum) or for part of the slot; at most ``max_interruptions`` blocks; among plans within
    0.01 ct of the optimum, the one with fewer blocks, then the earlier finish. Unknown-price time
    follows the rule in ``strategies._slots``.
    """

    name = "cheapest"

    def plan(self, request: PlanRequest) -> Plan:
        """Return the exact optimum for ``request``."""
        window = build_window(request)
        energy = request.energy_needed_kwh
        done = trivial_plan(window, self.name, energy)
        if done is not None:
            return done
        solution = optimise(
            window.effective_prices(),
            window.caps,
            window.los,
            energy,
            max(1, request.max_interruptions),
        )
        return realise(window, self.name, solution.energies, solution.blocks, is_reachable=True)
