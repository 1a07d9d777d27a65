"""A frozen copy of ``strategies._slots`` ``build_window`` and ``realise`` before the fast paths.

Kept only as the oracle of ``test_slots_fast.py``: the fast code must return exactly what this
returns. Do not edit (copied from commit c0db3df).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from smartcharge.domain import PriceSlot
from strategies.base import Plan, PlanRequest, PlanSlot

#: Energies closer than this (kWh) are equal.
TOL_KWH = 1e-9

#: The stand-in price of unknown-price time (EUR/kWh): below every real price, so unknown time
#: is used first; large enough to dominate, small enough to keep costs exact in a double.
UNKNOWN_PRICE = -1000.0


@dataclass(frozen=True, slots=True)
class Window:
    """The planner slots of one request, as plain numbers.

    Attributes:
        now: the window's first instant.
        deadline: the window's end.
        bounds_s: slot boundaries in seconds after ``now`` (``len(hours) + 1`` values).
        starts: the first instant of each slot (the last slot ends at ``deadline``).
        hours: the length of each slot in hours.
        prices: the all-in EUR/kWh of each slot, None where unknown.
        p_max_kw: power at full current (capped at the measured power).
        p_min_kw: the lowest power while charging: ``min(P(min_current_a), p_max_kw)``.
        kw_per_amp: ``phases * voltage_v / 1000``.
        max_current_a: the current meaning "full power".
        min_current_a: the lowest current allowed while charging.
        caps: ``p_max_kw * hours`` per slot.
        los: ``p_min_kw * hours`` per slot (the interior-slot minimum).
    """

    now: datetime
    deadline: datetime
    bounds_s: tuple[float, ...]
    starts: tuple[datetime, ...]
    hours: tuple[float, ...]
    prices: tuple[float | None, ...]
    p_max_kw: float
    p_min_kw: float
    kw_per_amp: float
    max_current_a: float
    min_current_a: float
    caps: tuple[float, ...]
    los: tuple[float, ...]

    @property
    def capacity_kwh(self) -> float:
        """Return the energy one block at full power over the whole window delivers."""
        return math.fsum(self.caps)

    def effective_prices(self) -> list[float]:
        """Return the prices to optimise with: unknown slots at ``UNKNOWN_PRICE``."""
        return [UNKNOWN_PRICE if p is None else p for p in self.prices]


_new = object.__new__
_SET_START, _SET_END, _SET_CURRENT, _SET_ENERGY, _SET_PRICE = (
    getattr(PlanSlot, name).__set__
    for name in ("start", "end", "current_a", "energy_kwh", "price_eur_per_kwh")
)


def _plan_slot(
    start: datetime, end: datetime, current_a: float, energy_kwh: float, price: float | None
) -> PlanSlot:
    """Return ``PlanSlot(start, end, current_a, energy_kwh, price)``, built in half the time.

    The frozen dataclass's ``__init__`` goes through ``object.__setattr__`` per field; this
    writes the slots directly (same object, same equality and hash; it stays immutable).
    """
    slot: PlanSlot = _new(PlanSlot)
    _SET_START(slot, start)
    _SET_END(slot, end)
    _SET_CURRENT(slot, current_a)
    _SET_ENERGY(slot, energy_kwh)
    _SET_PRICE(slot, price)
    return slot


def _slot_start(slot: PriceSlot) -> datetime:
    return slot.start


def power_kw(current_a: float, phases: int, voltage_v: float) -> float:
    """Return the power ``P(I) = I * phases * voltage_v / 1000`` in kW."""
    return current_a * phases * voltage_v / 1000.0


def build_window(request: PlanRequest) -> Window:
    """Cut the request's window into planner slots (see the module docstring)."""
    now = request.now
    deadline = request.deadline
    kw_per_amp = request.phases * request.voltage_v / 1000.0
    p_max = request.max_current_a * kw_per_amp
    measured = request.measured_power_kw
    if measured is not None and 0 < measured < p_max:
        p_max = measured
    p_min = min(request.min_current_a * kw_per_amp, p_max)
    width = (deadline - now).total_seconds()
    bounds: list[float] = [0.0]
    starts: list[datetime] = []
    prices: list[float | None] = []
    if width > 0:
        step = request.slot_minutes * 60.0
        step_td = timedelta(seconds=step)
        now_ts = now.timestamp()

        def fill_unknown(upto: float) -> None:
            at = bounds[-1]
            while at < upto:
                grid = (math.floor((now_ts + at) / step) + 1) * step - now_ts
                nxt = min(grid, upto)
                starts.append(now + timedelta(seconds=at))
                bounds.append(nxt)
                prices.append(None)
                at = nxt

        curve = request.prices.slots
        first = max(0, bisect.bisect_right(curve, now, key=_slot_start) - 1)
        prev_end: datetime | None = None  # the previous slot's end, and its offset ``prev_e``
        prev_e = 0.0
        for slot in curve[first:]:
            start = slot.start
            if start >= deadline:
                break
            end = slot.end
            if end <= now:
                continue
            # Contiguous slots (the common case) start where the previous one ended.
            s = prev_e if start == prev_end else (start - now).total_seconds()
            e = (end - now).total_seconds()
            prev_end = end
            prev_e = e
            last = bounds[-1]
            if s > last:
                fill_unknown(min(s, width))
                last = bounds[-1]
            dur = e - s
            price = slot.price_eur_per_kwh
            if dur < 2 * step:
                # One planner slot (the common case: the price slot is one step long).
                if e > last:
                    starts.append(start if s >= 0 else now)
                    bounds.append(e if e < width else width)
                    prices.append(price)
                continue
            pieces = int(dur // step)
            at = start
            cut = s
            for k in range(1, pieces if pieces * step == dur else 1):
                cut = s + k * step
                if cut > bounds[-1]:
                    starts.append(at if at >= now else now)
                    bounds.append(min(cut, width))
                    prices.append(price)
                at = start + k * step_td
                if cut >= width:
                    break
            if cut < width and e > bounds[-1]:
                starts.append(at if at >= now else now)
                bounds.append(min(e, width))
                prices.append(price)
        fill_unknown(width)
    hours = tuple([(b - a) / 3600.0 for a, b in zip(bounds, bounds[1:], strict=False)])
    return Window(
        now=now,
        deadline=deadline,
        bounds_s=tuple(bounds),
        starts=tuple(starts),
        hours=hours,
        prices=tuple(prices),
        p_max_kw=p_max,
        p_min_kw=p_min,
        kw_per_amp=kw_per_amp,
        max_current_a=float(request.max_current_a),
        min_current_a=float(request.min_current_a),
        caps=tuple([p_max * h for h in hours]),
        los=tuple([p_min * h for h in hours]),
    )


def full_power(window: Window, energy_kwh: float) -> list[float]:
    """Return the energies of charging at full power from the start until ``energy_kwh``."""
    out: list[float] = []
    left = energy_kwh
    for cap in window.caps:
        take = cap if left > cap else max(left, 0.0)
        out.append(take)
        left -= take
    return out


def runs(energies: Sequence[float]) -> list[tuple[int, int]]:
    """Return the maximal runs ``(first, last)`` of slots with energy."""
    out: list[tuple[int, int]] = []
    start = -1
    for i, e in enumerate(energies):
        if e > TOL_KWH:
            if start < 0:
                start = i
        elif start >= 0:
            out.append((start, i - 1))
            start = -1
    if start >= 0:
        out.append((start, len(energies) - 1))
    return out


def realise(
    window: Window,
    strategy: str,
    energies: Sequence[float],
    blocks: Sequence[tuple[int, int]] | None,
    *,
    is_reachable: bool,
) -> Plan:
    """Turn per-slot energies into a Plan covering the whole window.

    Within a block, an edge slot charges at full current for the part of the slot adjacent to
    the block's interior (a first slot at its end, a last or lone slot at its start); an
    interior slot runs the whole slot, at a reduced current when its energy is below full.

    Args:
        window: the planner slots.
        strategy: the name written into the plan.
        energies: kWh per planner slot.
        blocks: the blocks ``(first, last)`` the energies were planned in; None means the
            maximal runs of charged slots.
        is_reachable: whether the target is met.
    """
    if blocks is None:
        blocks = runs(energies)
    hours_all = window.hours
    n = len(hours_all)
    # 0 lone, 1 first, 2 last, 3 middle (a charged slot outside every block counts as lone).
    role = [0] * n
    for a, b in blocks:
        if a == b:
            role[a] = 0
            continue
        role[a] = 1
        role[b] = 2
        for i in range(a + 1, b):
            role[i] = 3
    starts = window.starts
    prices = window.prices
    deadline = window.deadline
    p_max = window.p_max_kw
    i_max = window.max_current_a
    i_min = window.min_current_a
    kw_per_amp = window.kw_per_amp
    out: list[PlanSlot] = []
    # The pending piece (start, end, current, energy, price): equal neighbours are merged.
    p_start: datetime | None = None
    p_end = deadline
    p_cur = 0.0
    p_e = 0.0
    p_price: float | None = None
    cost = 0.0
    total = 0.0
    for i in range(n):
        e = energies[i]
        price = prices[i]
        start = starts[i]
        end = starts[i + 1] if i + 1 < n else deadline
        if e <= TOL_KWH:
            # Paused: the common case, merged or flushed without building pieces.
            if p_start is not None and p_cur == 0.0 and price == p_price:
                p_end = end
                continue
            if p_start is not None:
                # ``_plan_slot`` inlined (the hot path: one flush per paused slot).
                slot: PlanSlot = _new(PlanSlot)
                _SET_START(slot, p_start)
                _SET_END(slot, p_end)
                _SET_CURRENT(slot, p_cur)
                _SET_ENERGY(slot, p_e)
                _SET_PRICE(slot, p_price)
                out.append(slot)
            p_start, p_end, p_cur, p_e, p_price = start, end, 0.0, 0.0, price
            continue
        total += e
        if price is not None:
            cost += price * e
        hours = hours_all[i]
        r = role[i]
        pieces: tuple[tuple[datetime, datetime, float, float], ...]
        if e >= p_max * hours - TOL_KWH:
            pieces = ((start, end, i_max, e),)
        elif r == 3:
            current = min(max(e / hours / kw_per_amp, i_min), i_max)
            pieces = ((start, end, current, e),)
        elif r == 1:
            cut = end - timedelta(hours=e / p_max)
            if cut > start:
                pieces = ((start, cut, 0.0, 0.0), (cut, end, i_max, e))
            else:
                pieces = ((cut, end, i_max, e),)
        else:
            cut = start + timedelta(hours=e / p_max)
            if cut < end:
                pieces = ((start, cut, i_max, e), (cut, end, 0.0, 0.0))
            else:
                pieces = ((start, cut, i_max, e),)
        for a_start, a_end, a_cur, a_e in pieces:
            if p_start is not None and a_cur == p_cur and price == p_price:
                p_end = a_end
                p_e += a_e
                continue
            if p_start is not None:
                out.append(_plan_slot(p_start, p_end, p_cur, p_e, p_price))
            p_start, p_end, p_cur, p_e, p_price = a_start, a_end, a_cur, a_e, price
    if p_start is not None:
        out.append(_plan_slot(p_start, p_end, p_cur, p_e, p_price))
    return Plan(
        strategy=strategy,
        slots=tuple(out),
        cost_eur=cost,
        energy_kwh=total,
        is_reachable=is_reachable,
    )
