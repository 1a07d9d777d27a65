"""Energy and cost attribution: which price slot each measured kWh was delivered in.

Energy is measured, not assumed: between two readings of the charger the session's energy
counter rose by some kWh; that delta is attributed to the price slots the interval covers, in
proportion to the time spent in each (``attribute_energy``). The daemon reads at every slot
boundary, so in practice each delta falls within one slot and the attribution is exact. The
session's cost is the sum over slots of energy times all-in price; immediate charging is what
the same energy would have cost charged at full power from plug-in (``immediate_cost``).

Pure: no I/O, no clock, no logging.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from smartcharge.domain import PriceCurve
from smartcharge.session.model import SlotEnergy

# Energy below this (a rounding of the charger's counter) is no energy.
_EPSILON_KWH = 1e-9
# The need counts as met when at most this much is missing (the counter has 3 decimals).
TARGET_TOLERANCE_KWH = 0.01


def attribute_energy(
    start: datetime, end: datetime, energy_kwh: float, prices: PriceCurve, slot_minutes: int = 15
) -> tuple[SlotEnergy, ...]:
    """Split ``energy_kwh`` delivered in ``[start, end)`` over the price slots it covers.

    Each slot gets a share in proportion to its overlap with the interval. Parts of the
    interval without a known price are cut at ``slot_minutes`` boundaries and get price None.
    """
    if energy_kwh <= _EPSILON_KWH:
        return ()
    if end <= start:
        end = start + timedelta(seconds=1)
    total_s = (end - start).total_seconds()
    step = timedelta(minutes=slot_minutes)
    out: list[SlotEnergy] = []
    t = start
    while t < end:
        slot = prices.slot_at(t)
        if slot is not None:
            piece_start, piece_end, price = slot.start, slot.end, slot.price_eur_per_kwh
            if slot.duration > step:
                # Hourly prices: keep the ledger's rows at the planner's resolution.
                k = (t - slot.start) // step
                piece_start = slot.start + k * step
                piece_end = min(piece_start + step, slot.end)
        else:
            epoch = datetime(2000, 1, 1, tzinfo=t.tzinfo)
            piece_start = epoch + ((t - epoch) // step) * step
            piece_end = piece_start + step
            nxt = prices.between(t, piece_end)
            if nxt:
                piece_end = min(piece_end, nxt.slots[0].start)
            price = None
        seg_end = min(end, piece_end)
        share = energy_kwh * (seg_end - t).total_seconds() / total_s
        out.append(SlotEnergy(piece_start, piece_end, share, price))
        t = seg_end
    return tuple(out)


def merge_slot_energy(
    existing: Sequence[SlotEnergy], new: Sequence[SlotEnergy]
) -> tuple[SlotEnergy, ...]:
    """Return ``existing`` with ``new`` added (same slot start: energies summed), in order."""
    by_start: dict[datetime, SlotEnergy] = {s.start: s for s in existing}
    for s in new:
        old = by_start.get(s.start)
        if old is None:
            by_start[s.start] = s
        else:
            price = (
                old.price_eur_per_kwh if old.price_eur_per_kwh is not None else s.price_eur_per_kwh
            )
            by_start[s.start] = SlotEnergy(old.start, old.end, old.energy_kwh + s.energy_kwh, price)
    return tuple(by_start[k] for k in sorted(by_start))


def slot_cost_eur(slots: Sequence[SlotEnergy]) -> tuple[float, float]:
    """Return (cost of the priced energy, energy without a known price)."""
    cost = sum(s.energy_kwh * s.price_eur_per_kwh for s in slots if s.price_eur_per_kwh is not None)
    unpriced = sum(s.energy_kwh for s in slots if s.price_eur_per_kwh is None)
    return cost, unpriced


def immediate_cost(
    plugged_in_at: datetime, energy_kwh: float, power_kw: float, prices: PriceCurve
) -> float | None:
    """Return what ``energy_kwh`` costs charged at ``power_kw`` from ``plugged_in_at`` on.

    None when the power is unknown or a price of that stretch is unknown.
    """
    if energy_kwh <= _EPSILON_KWH:
        return 0.0
    if power_kw <= 0:
        return None
    end = plugged_in_at + timedelta(hours=energy_kwh / power_kw)
    slots = attribute_energy(plugged_in_at, end, energy_kwh, prices)
    cost, unpriced = slot_cost_eur(slots)
    return None if unpriced > _EPSILON_KWH else cost
