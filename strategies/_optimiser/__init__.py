"""The exact optimiser behind ``cheapest`` and ``threshold``: pure numbers in, energies out.

The model: slots with price ``p``, capacity ``cap`` and interior minimum ``lo``; at most
``max_blocks`` blocks; an interior slot of a block takes ``[lo, cap]``, an edge slot
``[0, cap]``; minimise ``sum(p * e)`` with ``sum(e) = energy``. Ties (cost within ``TIE_EUR``):
fewer blocks, then the earlier finish (at slot granularity: the earliest slot in which a plan
within the tie tolerance can end), then the lower cost. ``docs/planner.md`` draws the method.

The modules, in the order a plan meets them:

- ``model``: the answer (``Solution``) and the shared tolerances.
- ``solve``: ``optimise``, the three steps below in order.
- ``fast_path``: step 1, the LP's cheapest-first fill when it is provably the optimum.
- ``relaxation``: the Lagrangian relaxation at one price: its tables and a least-value plan.
- ``reduced``: the same relaxation on a window with runs of dear slots merged.
- ``search``: step 2, the search for the best price and the certificate it gives.
- ``bounds``: the relaxation run backwards, the bounds step 3 prunes with.
- ``states``: step 3's partial plans and the layer of them kept per slot.
- ``exact_dp``: step 3, the exact dynamic programme, and the tie rules on its plans.
"""

from strategies._optimiser.model import TIE_EUR, Solution
from strategies._optimiser.solve import optimise

__all__ = ["TIE_EUR", "Solution", "optimise"]
