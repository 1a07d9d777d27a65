"""The optimiser's answer and the tolerances every step shares."""

from __future__ import annotations

from dataclasses import dataclass

#: Plans whose costs differ by at most this (EUR) are ties: fewer blocks, then the earlier finish.
TIE_EUR = 1e-4

#: Energies (kWh) and costs (EUR) closer than this are equal inside the optimiser.
TOL = 1e-9


@dataclass(frozen=True, slots=True)
class Solution:
    """The optimiser's answer.

    Attributes:
        energies: kWh per slot.
        blocks: the blocks ``(first, last)`` the energies are planned in.
        cost: ``sum(price * energy)`` with the prices the optimiser was given.
    """

    energies: tuple[float, ...]
    blocks: tuple[tuple[int, int], ...]
    cost: float
