"""``contiguous``: the cheapest single window long enough, charged at full power without a pause.

The window lasts exactly ``energy / P_max`` hours. Its cost is piecewise linear in its start, so
the cheapest one starts or ends on a planner-slot boundary; every such candidate is tried and
ties go to the earliest. Unknown-price time counts at the stand-in price of ``strategies._slots``
(used first), so a window reaching into unpublished hours is preferred, as the rule requires.
"""

from __future__ import annotations

import bisect

from strategies._slots import TOL_KWH, build_window, realise, trivial_plan
from strategies.base import Plan, PlanRequest


class ContiguousStrategy:
    """One block at full power: the cheapest window of the needed length before the deadline."""

    name = "contiguous"

    def plan(self, request: PlanRequest) -> Plan:
        """Return the cheapest single-block full-power plan for ``request``."""
        window = build_window(request)
        energy = request.energy_needed_kwh
        done = trivial_plan(window, self.name, energy)
        if done is not None:
            return done
        caps = window.caps
        prices = window.effective_prices()
        n = len(caps)
        # Cumulative energy and cost at full power, at each slot boundary.
        cum_e = [0.0] * (n + 1)
        cum_c = [0.0] * (n + 1)
        for i in range(n):
            cum_e[i + 1] = cum_e[i] + caps[i]
            cum_c[i + 1] = cum_c[i] + caps[i] * prices[i]
        total = cum_e[n]

        def cost_from(x: float) -> float:
            """Cost of full power over the energy interval [x, x + energy) of the timeline."""
            return _cost_at(x + energy) - _cost_at(x)

        def _cost_at(x: float) -> float:
            i = min(bisect.bisect_right(cum_e, x) - 1, n - 1)
            return cum_c[i] + (x - cum_e[i]) * prices[i]

        # Energy positions are proportional to time at constant power, so boundaries in time are
        # boundaries in cum_e. Candidates: starts on a boundary and ends on a boundary.
        candidates = sorted(
            {x for x in cum_e if x + energy <= total + TOL_KWH}
            | {x - energy for x in cum_e if x - energy >= -TOL_KWH}
        )
        best_x = 0.0
        best_cost = float("inf")
        for x in candidates:
            x = min(max(x, 0.0), total - energy)
            c = cost_from(x)
            if c < best_cost - 1e-12:
                best_cost, best_x = c, x
        energies = [
            max(0.0, min(cum_e[i + 1], best_x + energy) - max(cum_e[i], best_x)) for i in range(n)
        ]
        runs = [(i, i) for i in range(n) if energies[i] > TOL_KWH]
        block = [(runs[0][0], runs[-1][0])] if runs else []
        return realise(window, self.name, energies, block, is_reachable=True)
