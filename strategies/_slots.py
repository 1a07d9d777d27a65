"""Shared pure helpers: the planner's slot grid, power, and turning energies into PlanSlots.

The planning window is ``[request.now, request.deadline)``. It is cut into planner slots: every
price slot is split into ``slot_minutes`` pieces when it is a whole multiple of that length
(a 60-minute price becomes four 15-minute slots) and clipped to the window, so the first and the
last slot may be shorter.

**Unknown prices.** Where the curve has a gap or ends before the deadline (tomorrow's prices not
published yet), the time is cut on the UTC ``slot_minutes`` grid into slots whose price is
unknown (``None``). The rule every strategy follows: *the energy that the unknown-price time
could deliver at full power is left to it; the known slots buy only the remainder that the
unknown time cannot carry.* Unknown slots are therefore planned as if they were cheaper than any
known slot (``UNKNOWN_PRICE``); when the whole need fits into the unknown time, nothing is bought
at a known price and the unknown time is planned from its start (earliest first), at full power.
Because the plan delivers the full target before the deadline in every case, the deadline is
still met when the prices are published and the daemon re-plans, or when they never come and the
plan is simply executed. Plan slots with an unknown price carry ``price_eur_per_kwh=None`` and
count 0 in ``cost_eur``.

The module is over 500 lines because the fast paths (``_contiguous_grid``, the bulk merging of
paused runs in ``realise``) stay beside the general code they must equal, one job (the grid and
its plan) in one place; ``tests/strategies/test_slots_fast.py`` holds them to a frozen copy.
"""

from __future__ import annotations

import bisect
import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import compress, repeat
from operator import attrgetter, eq, mul, sub, truediv

from strategies.base import Plan, PlanRequest, PlanSlot

#: Energies closer than this (kWh) are equal.
TOL_KWH = 1e-9

#: The stand-in price of unknown-price time (EUR/kWh): below every real price, so unknown time
#: is used first; large enough to dominate, small enough to keep costs exact in a double.
UNKNOWN_PRICE = -1000.0


class BlockRole(enum.Enum):
    """Where a charged slot lies in its block: this says when in the slot it charges.

    A block runs at full power except in its interior, where a slot may run at a reduced
    current; its edges charge at full power for the part of the slot next to the interior.
    """

    LONE = "lone"  #: the block's only slot: full power from the slot's start
    FIRST = "first"  #: full power up to the slot's end
    MIDDLE = "middle"  #: the whole slot, at a reduced current when its energy is below full
    LAST = "last"  #: full power from the slot's start


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


def _paused_slots(
    starts: Sequence[datetime], ends: Sequence[datetime], prices: Sequence[float | None]
) -> list[PlanSlot]:
    """Return ``[PlanSlot(start, end, 0.0, 0.0, price), ...]``, one per entry of ``starts``."""
    return list(map(_plan_slot, starts, ends, repeat(0.0), repeat(0.0), prices))


_START = attrgetter("start")
_END = attrgetter("end")
_PRICE = attrgetter("price_eur_per_kwh")
_ZERO = timedelta(0)
_MICROSECOND = timedelta(microseconds=1)
_US_PER_S = 1_000_000
#: Offsets from ``now`` (us) below which the microsecond arithmetic in doubles is exact enough.
_MAX_OFFSET_US = 2**31 * 1_000_000


def power_kw(current_a: float, phases: int, voltage_v: float) -> float:
    """Return the power ``P(I) = I * phases * voltage_v / 1000`` in kW."""
    return current_a * phases * voltage_v / 1000.0


def _fill_unknown(
    bounds: list[float],
    starts: list[datetime],
    prices: list[float | None],
    now: datetime,
    step: float,
    upto: float,
) -> None:
    """Append unknown-price slots on the UTC ``step`` grid from ``bounds[-1]`` up to ``upto``."""
    at = bounds[-1]
    if at >= upto:
        return
    now_ts = now.timestamp()
    while at < upto:
        grid = (math.floor((now_ts + at) / step) + 1) * step - now_ts
        nxt = min(grid, upto)
        starts.append(now + timedelta(seconds=at))
        bounds.append(nxt)
        prices.append(None)
        at = nxt


#: A planner grid: slot boundaries (s after ``now``), slot starts, prices, and the slot lengths
#: (h) as ``head + [same] * count + tail`` (most slots of a regular curve are equally long).
_Grid = tuple[
    list[float], list[datetime], list[float | None], tuple[list[float], float, int, list[float]]
]


def _hours(bounds: list[float]) -> list[float]:
    """Return the lengths (h) of the slots between consecutive ``bounds`` (s)."""
    return list(map(truediv, map(sub, bounds[1:], bounds), repeat(3600.0)))


def _contiguous_grid(request: PlanRequest, width: float, step: float) -> _Grid | None:
    """Return the grid when the window's price slots need no cutting, else None.

    That is the common case: the price slots overlapping the window are contiguous, all but the
    first of one length, and each shorter than two steps, so each is one planner slot (unknown
    time before the first and after the last is still cut on the grid). The ``k``-th slot then
    ends ``first_end + k * span`` microseconds after ``now``, and ``that / 1e6`` is the same
    correctly rounded double as ``(end - now).total_seconds()``. Returns None where the general
    cut must run.
    """
    curve = request.prices
    now = request.now
    starts = curve._starts
    lo = max(0, bisect.bisect_right(starts, now) - 1)
    hi = bisect.bisect_left(starts, request.deadline, lo)
    if lo < hi and curve._ends[lo] <= now:
        lo += 1  # a gap at ``now``
    n = hi - lo
    if n <= 0 or starts[lo + 1 : hi] != curve._ends[lo : hi - 1]:  # nothing, or a gap
        return None
    durations = curve._durations[lo + 1 : hi]
    if durations.count(durations[0] if durations else _ZERO) != n - 1:
        return None  # price slots of different lengths
    first_us = (starts[lo] - now) // _MICROSECOND
    first_end_us = (curve._ends[lo] - now) // _MICROSECOND
    span_us = durations[0] // _MICROSECOND if durations else 0
    if first_us <= -_MAX_OFFSET_US or first_end_us + (n - 1) * span_us >= _MAX_OFFSET_US:
        return None
    whole = not (first_end_us % _US_PER_S or span_us % _US_PER_S)
    if whole:
        # Whole seconds: every offset is an integer below 2**31, exact in a double, and so is
        # every difference of two; the slots between the first and the last are ``span`` long.
        first_end = first_end_us // _US_PER_S
        span = span_us // _US_PER_S
        ends = (
            list(map(float, range(first_end, first_end + n * span, span)))
            if span
            else [float(first_end)]
        )
    else:
        # Below ``_MAX_OFFSET_US`` the int converts exactly, so ``x / 1e6`` is the correctly
        # rounded quotient, as ``total_seconds`` computes it; distinct microseconds stay
        # distinct doubles, more than 1 us minus two roundings (< 0.25 us each) apart.
        offsets = (
            range(first_end_us, first_end_us + n * span_us, span_us) if span_us else [first_end_us]
        )
        ends = list(map(truediv, offsets, repeat(1e6)))
    first_s = first_us / 1e6
    if not first_s < width or not 0.0 < ends[0] - first_s < 2 * step:
        return None
    if n > 1 and not (ends[-2] < width and span_us + 1 < 2e6 * step):
        # (Slots ``span_us`` long: their durations as doubles lie within 0.5 us of it.)
        return None
    bounds: list[float] = [0.0]
    out_starts: list[datetime] = []
    prices: list[float | None] = []
    if first_s > 0.0:
        _fill_unknown(bounds, out_starts, prices, now, step, first_s)
    head = len(bounds)  # the first known slot ends at ``bounds[head]``
    out_starts.append(starts[lo] if first_s >= 0.0 else now)
    out_starts.extend(starts[lo + 1 : hi])
    prices.extend(map(_PRICE, curve.slots[lo:hi]))
    if not ends[-1] < width:
        ends[-1] = width
    bounds.extend(ends)
    _fill_unknown(bounds, out_starts, prices, now, step, width)
    if whole and n > 2:
        # Known slots 1 .. n-2 lie between whole-second offsets ``span`` apart.
        hours = (_hours(bounds[: head + 1]), span / 3600.0, n - 2, _hours(bounds[head + n - 2 :]))
    else:
        hours = (_hours(bounds), 0.0, 0, [])
    return bounds, out_starts, prices, hours


def _general_grid(request: PlanRequest, width: float, step: float) -> _Grid:
    """Return the grid of any curve: gaps, long price slots cut into steps, partial slots."""
    now = request.now
    deadline = request.deadline
    bounds: list[float] = [0.0]
    starts: list[datetime] = []
    prices: list[float | None] = []
    step_td = timedelta(seconds=step)
    curve = request.prices.slots
    first = max(0, bisect.bisect_right(curve, now, key=_START) - 1)
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
            _fill_unknown(bounds, starts, prices, now, step, min(s, width))
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
    _fill_unknown(bounds, starts, prices, now, step, width)
    return bounds, starts, prices, (_hours(bounds), 0.0, 0, [])


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
    if width > 0:
        step = request.slot_minutes * 60.0
        grid = _contiguous_grid(request, width, step)
        if grid is None:
            grid = _general_grid(request, width, step)
        bounds, starts, prices, (head, same, count, tail) = grid
    else:
        bounds, starts, prices, (head, same, count, tail) = [0.0], [], [], ([], 0.0, 0, [])
    if count:
        hours = (*head, *[same] * count, *tail)
        caps = (
            *map(mul, repeat(p_max), head),
            *[p_max * same] * count,
            *map(mul, repeat(p_max), tail),
        )
        los = (
            *map(mul, repeat(p_min), head),
            *[p_min * same] * count,
            *map(mul, repeat(p_min), tail),
        )
    else:
        hours = tuple(head)
        caps = tuple(map(mul, repeat(p_max), head))
        los = tuple(map(mul, repeat(p_min), head))
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
        caps=caps,
        los=los,
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
    if len(energies) < n:
        raise IndexError(f"{len(energies)} energies for {n} slots")
    # A charged slot outside every block counts as lone.
    role = [BlockRole.LONE] * n
    for a, b in blocks:
        if a == b:
            role[a] = BlockRole.LONE
            continue
        role[a] = BlockRole.FIRST
        role[b] = BlockRole.LAST
        if 0 <= a < b:
            role[a + 1 : b] = [BlockRole.MIDDLE] * (b - a - 1)
        else:
            for i in range(a + 1, b):
                role[i] = BlockRole.MIDDLE
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
    # The charged slots (``not e <= TOL``, as NaN would be), then ``n`` to close the last run.
    charged = [i for i, e in enumerate(energies[:n]) if not e <= TOL_KWH]
    charged.append(n)
    i = 0
    for c in charged:
        if i < c:
            # The paused run ``[i, c)``: the first slot joins or flushes the pending piece; the
            # others are merged while the price stays equal (``==`` is transitive on floats
            # and None), and the finished pieces are built in bulk.
            price = prices[i]
            if p_start is None or p_cur != 0.0 or price != p_price:
                if p_start is not None:
                    out.append(_plan_slot(p_start, p_end, p_cur, p_e, p_price))
                p_start, p_cur, p_e, p_price = starts[i], 0.0, 0.0, price
            if c - i > 1:
                # The pieces start where the price changes: every slot after the first but the
                # few equal to their left neighbour.
                run_prices = prices[i:c]
                at = list(starts[i + 1 : c])
                cut_prices = list(run_prices[1:])
                if any(map(eq, cut_prices, run_prices)):
                    same = compress(range(c - i - 1), map(eq, cut_prices, run_prices))
                    for j in reversed(list(same)):
                        del at[j], cut_prices[j]
                if at:
                    out.append(_plan_slot(p_start, at[0], p_cur, p_e, p_price))
                    out += _paused_slots(at[:-1], at[1:], cut_prices[:-1])
                    p_start, p_cur, p_e, p_price = at[-1], 0.0, 0.0, cut_prices[-1]
            p_end = starts[c] if c < n else deadline
        if c == n:
            break
        i = c + 1
        e = energies[c]
        price = prices[c]
        start = starts[c]
        end = starts[i] if i < n else deadline
        total += e
        if price is not None:
            cost += price * e
        hours = hours_all[c]
        r = role[c]
        pieces: tuple[tuple[datetime, datetime, float, float], ...]
        if e >= p_max * hours - TOL_KWH:
            pieces = ((start, end, i_max, e),)
        elif r is BlockRole.MIDDLE:
            current = min(max(e / hours / kw_per_amp, i_min), i_max)
            pieces = ((start, end, current, e),)
        elif r is BlockRole.FIRST:
            cut = end - timedelta(hours=e / p_max)
            if cut > start:
                pieces = ((start, cut, 0.0, 0.0), (cut, end, i_max, e))
            else:
                pieces = ((cut, end, i_max, e),)
        else:  # lone or last: from the slot's start
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


def infeasible_plan(window: Window, strategy: str) -> Plan:
    """Return the fallback plan: full power over the whole window, target unreachable."""
    return realise(window, strategy, list(window.caps), None, is_reachable=False)


def trivial_plan(window: Window, strategy: str, energy_kwh: float) -> Plan | None:
    """Return the plan for the cases every strategy handles alike, or None.

    Those are: nothing needed (all paused, reachable), an empty window (nothing planned;
    reachable only when nothing is needed) and a target beyond the window's capacity (full power
    from now, unreachable).
    """
    if energy_kwh <= TOL_KWH:
        return realise(window, strategy, [0.0] * len(window.hours), [], is_reachable=True)
    if not window.hours or energy_kwh > window.capacity_kwh + TOL_KWH:
        return infeasible_plan(window, strategy)
    return None
