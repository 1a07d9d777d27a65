"""Backtest: one charging session a day over historical prices, for every strategy.

Pure simulation, no clock and no network. For each local day ``D`` of the price file:

* the car is plugged in at ``plug_in`` local time on ``D`` and must be ready at the next
  ``ready_by`` local time (the next morning for the defaults), needing ``energy_kwh`` at
  ``power_kw`` (the power at full current, taken exactly as given: the maximum current is derived
  from it, ``power_kw * 1000 / (phases * voltage_v)``);
* prices are known as the daemon would have known them: the day-ahead auction for ``D + 1`` is
  published at about 12:45 CET on ``D`` (SDAC) and the daemon counts it as known from
  :data:`smartcharge.prices.feed.PUBLICATION_TIME` (13:00 Brussels time), so a session plugged in
  at 18:00 knows ``D`` and ``D + 1``. When a publication falls inside the session, the strategy
  plans again at that instant with the energy still needed;
* the plan is executed at the true all-in prices, slot by slot, at the power its currents give;
  the car stops drawing once the target is reached;
* ``immediate`` (full power from plug-in until the target or the deadline) and the exact optimum
  (HiGHS, :mod:`smartcharge.tools.optimum`, with perfect knowledge of the window's prices) are
  computed independently of the strategies, once per session.

Reported per strategy: total cost, cost of ``immediate`` and of the optimum, missed deadlines
(less than the target delivered by ``ready_by``), charging blocks started per session
("switches"), the planning time per session (p50, p99; a session may plan more than once), and
the **whole-amp effect**: the same plans re-run with every current strictly between 0 and the
maximum rounded **up** to the next whole amp (capped at the maximum; full-current slots stay at
the full power given), the daemon stopping when the target is reached. Its cost gap is reported
beside the float-current cost, not folded into it.

The module is over 500 lines because the session simulation, the price knowledge at each
publication and the report are one computation that reads best in one place; it is a tool beside
the product (nothing on the daemon's path imports it).
"""

from __future__ import annotations

import bisect
import csv
import math
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from zoneinfo import ZoneInfo

from smartcharge.domain import PriceCurve, PriceSlot
from smartcharge.errors import SmartchargeError
from smartcharge.prices.feed import PUBLICATION_TIME, PUBLICATION_TZ
from smartcharge.pricing import Tariff
from smartcharge.tools.optimum import optimal_cost
from strategies.base import Plan, PlanRequest, PlanSlot, Strategy

HEADER = ("start_utc", "price_eur_per_mwh")
# The market time units a price file may hold (hourly before 2025-10-01, quarter-hours since).
_MTU_STEPS = (timedelta(minutes=15), timedelta(hours=1))
_ENERGY_TOLERANCE_KWH = 1e-6
_CURRENT_TOLERANCE_A = 1e-6
# Two charging stretches less than this apart are one block (float noise on slot boundaries).
_SAME_BLOCK_GAP = timedelta(seconds=1)


class PriceFileError(SmartchargeError):
    """A price CSV cannot be read: the message names the file, the line and what is expected."""


# --- Reading the price file.


def _parse_start(text: str) -> datetime:
    if not text.endswith("Z"):
        raise ValueError("no Z")
    parsed = datetime.fromisoformat(text[:-1])
    if parsed.tzinfo is not None:
        raise ValueError("offset and Z")
    return parsed.replace(tzinfo=UTC)


def read_price_csv(path: Path, tariff: Tariff) -> PriceCurve:
    """Read ``start_utc,price_eur_per_mwh`` rows into a curve of all-in prices.

    Each row covers ``[start, next row's start)``: 15 minutes or one hour. Where the next row
    starts later than that (a gap), and for the last row, a row lasts as long as the row before
    it (one hour for a lone row); the rest is a gap of unknown prices.

    Raises:
        PriceFileError: the file is missing or unreadable, or a line is malformed, out of order,
            or not on a 15-minute grid; the message names the file and the line.
    """
    rows: list[tuple[int, datetime, float]] = []
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            if header is None or tuple(h.strip() for h in header) != HEADER:
                raise PriceFileError(
                    f"{path}:1: expected the header {','.join(HEADER)}, got "
                    f"{','.join(header) if header else 'an empty file'!r}"
                )
            for row in reader:
                line = reader.line_num
                if not row or not "".join(row).strip():
                    continue
                rows.append(_parse_row(path, line, row))
    except OSError as exc:
        raise PriceFileError(f"{path}: cannot read the price file: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise PriceFileError(f"{path}: not a UTF-8 text file; expected a CSV") from None
    if not rows:
        raise PriceFileError(f"{path}: no price rows after the header")
    return PriceCurve(_to_slots(path, rows, tariff))


def _parse_row(path: Path, line: int, row: list[str]) -> tuple[int, datetime, float]:
    expected = "expected start_utc,price_eur_per_mwh like 2025-01-01T00:00:00Z,85.3"
    if len(row) != 2:
        raise PriceFileError(f"{path}:{line}: {len(row)} fields; {expected}")
    try:
        start = _parse_start(row[0].strip())
    except ValueError:
        raise PriceFileError(
            f"{path}:{line}: bad start_utc {row[0]!r}; expected ISO-8601 UTC with a Z, "
            "e.g. 2025-01-01T00:00:00Z"
        ) from None
    try:
        price = float(row[1])
    except ValueError:
        raise PriceFileError(
            f"{path}:{line}: bad price_eur_per_mwh {row[1]!r}; expected a number with a dot, "
            "e.g. 85.3"
        ) from None
    if not math.isfinite(price):
        raise PriceFileError(f"{path}:{line}: price_eur_per_mwh {row[1]!r} is not a finite number")
    if start.second or start.microsecond or start.minute % 15:
        raise PriceFileError(
            f"{path}:{line}: start_utc {row[0]!r} is not on a quarter-hour; expected the start "
            "of a 15-minute or hourly market time unit"
        )
    return line, start, price


def _to_slots(
    path: Path, rows: list[tuple[int, datetime, float]], tariff: Tariff
) -> list[PriceSlot]:
    slots: list[PriceSlot] = []
    step = timedelta(hours=1)
    for i, (line, start, spot) in enumerate(rows):
        if i + 1 < len(rows):
            gap = rows[i + 1][1] - start
            if gap <= timedelta(0):
                raise PriceFileError(
                    f"{path}:{rows[i + 1][0]}: start_utc {rows[i + 1][1]:%Y-%m-%dT%H:%M:%SZ} "
                    f"is not after line {line}'s; expected rows sorted by time, each once"
                )
            if gap in _MTU_STEPS:
                step = gap
            elif gap < step:
                raise PriceFileError(
                    f"{path}:{rows[i + 1][0]}: starts {gap} after line {line}; expected steps "
                    "of 15 minutes or one hour"
                )
        slots.append(tariff.slot(start, start + step, spot, "csv"))
    return slots


# --- Sessions and what was known when.


@dataclass(frozen=True, slots=True)
class BacktestConfig:
    """One session a day, as the command line describes it.

    Attributes:
        plug_in: local time the car is plugged in.
        ready_by: local time it must be ready (the next occurrence after plug-in).
        energy_kwh: energy needed per session.
        power_kw: the power at full current.
        tz: the local time zone.
        min_current_a: the charger's minimum current.
        phases: 1 or 3.
        voltage_v: phase voltage.
        max_interruptions: the most charging blocks per session.
        deadline_margin: finish this long before ``ready_by``.
        slot_minutes: the planner's resolution.
        first_day: the first plug-in day to simulate (default: the first the prices allow).
        last_day: the last plug-in day to simulate (default: the last the prices allow).
    """

    plug_in: dtime = dtime(18, 0)
    ready_by: dtime = dtime(7, 0)
    energy_kwh: float = 20.0
    power_kw: float = 11.0
    tz: ZoneInfo = field(default_factory=lambda: ZoneInfo("Europe/Amsterdam"))
    min_current_a: float = 6.0
    phases: int = 3
    voltage_v: float = 230.0
    max_interruptions: int = 3
    deadline_margin: timedelta = timedelta(minutes=30)
    slot_minutes: int = 15
    first_day: date | None = None
    last_day: date | None = None

    @property
    def kw_per_amp(self) -> float:
        """Return the power one amp gives: ``phases * voltage_v / 1000`` kW."""
        return self.phases * self.voltage_v / 1000.0

    @property
    def max_current_a(self) -> float:
        """Return the current at which the charger draws exactly ``power_kw``."""
        return self.power_kw / self.kw_per_amp


@dataclass(frozen=True, slots=True)
class Session:
    """One day's charging session (UTC instants)."""

    day: date
    plug_in_at: datetime
    ready_by_at: datetime
    deadline_at: datetime


def _local(day: date, at: dtime, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, at, tzinfo=tz).astimezone(UTC)


def sessions(curve: PriceCurve, config: BacktestConfig) -> tuple[list[Session], int]:
    """Return the sessions whose whole window has prices, and how many days were skipped."""
    known_from, known_to = curve.known_from, curve.known_until
    if known_from is None or known_to is None:
        return [], 0
    first = known_from.astimezone(config.tz).date()
    last = known_to.astimezone(config.tz).date()
    if config.first_day is not None:
        first = max(first, config.first_day)
    if config.last_day is not None:
        last = min(last, config.last_day)
    out: list[Session] = []
    skipped = 0
    for offset in range((last - first).days + 1):
        day = first + timedelta(days=offset)
        plug_in_at = _local(day, config.plug_in, config.tz)
        ready_day = day if config.ready_by > config.plug_in else day + timedelta(days=1)
        ready_by_at = _local(ready_day, config.ready_by, config.tz)
        deadline_at = ready_by_at - config.deadline_margin
        if plug_in_at < known_from or deadline_at > known_to:
            continue  # outside the file: not a session at all
        if curve.known_until_from(plug_in_at) < max(deadline_at, plug_in_at):
            skipped += 1  # a gap in the prices
            continue
        out.append(Session(day, plug_in_at, ready_by_at, deadline_at))
    return out, skipped


def known_until(instant: datetime) -> datetime:
    """Return the end of the prices known at ``instant`` (day-ahead from 13:00 CET, as the feed)."""
    local = instant.astimezone(PUBLICATION_TZ)
    days = 2 if local.time() >= PUBLICATION_TIME else 1
    return _local(local.date() + timedelta(days=days), dtime(0), PUBLICATION_TZ)


def publications_between(start: datetime, end: datetime) -> list[datetime]:
    """Return the day-ahead publication instants in the open interval ``(start, end)``."""
    out: list[datetime] = []
    day = start.astimezone(PUBLICATION_TZ).date()
    while True:
        at = _local(day, PUBLICATION_TIME, PUBLICATION_TZ)
        if at >= end:
            return out
        if at > start:
            out.append(at)
        day += timedelta(days=1)


# --- Executing plans.


def whole_amp_current(current_a: float, max_current_a: float) -> float:
    """Round a planned current the way the backtest's whole-amp variant does.

    0 stays 0 and the full current stays full (it is the power the user gave); any current in
    between goes up to the next whole amp, never above the maximum.
    """
    if current_a <= 0.0:
        return 0.0
    if current_a >= max_current_a - _CURRENT_TOLERANCE_A:
        return max_current_a
    return min(float(math.ceil(current_a - _CURRENT_TOLERANCE_A)), max_current_a)


@dataclass(slots=True)
class _Run:
    """Energy, cost and charging stretches of one simulated session."""

    target_kwh: float
    delivered_kwh: float = 0.0
    cost_eur: float = 0.0
    stretches: list[tuple[datetime, datetime]] = field(default_factory=list)
    limit_violations: int = 0

    @property
    def is_full(self) -> bool:
        return self.delivered_kwh >= self.target_kwh - 1e-12

    @property
    def blocks(self) -> int:
        count = 0
        last_end: datetime | None = None
        for start, end in sorted(self.stretches):
            if last_end is None or start - last_end > _SAME_BLOCK_GAP:
                count += 1
            last_end = end if last_end is None else max(last_end, end)
        return count


class _Truth:
    """The true prices, indexed for the many small look-ups of a simulation."""

    __slots__ = ("curve", "_slots", "_starts")

    def __init__(self, curve: PriceCurve) -> None:
        self.curve = curve
        self._slots = curve.slots
        self._starts = [s.start for s in curve.slots]

    def overlapping(self, start: datetime, end: datetime) -> Iterator[PriceSlot]:
        """Yield the slots that overlap ``[start, end)``, in order."""
        i = max(0, bisect.bisect_right(self._starts, start) - 1)
        while i < len(self._slots) and self._slots[i].start < end:
            if self._slots[i].end > start:
                yield self._slots[i]
            i += 1


def _charge(run: _Run, truth: _Truth, start: datetime, end: datetime, power_kw: float) -> None:
    """Charge at ``power_kw`` over ``[start, end)`` at the true prices, until the car is full."""
    if power_kw <= 0.0 or end <= start:
        return
    for price in truth.overlapping(start, end):
        if run.is_full:
            return
        seg_start, seg_end = max(price.start, start), min(price.end, end)
        hours = (seg_end - seg_start) / timedelta(hours=1)
        energy = power_kw * hours
        left = run.target_kwh - run.delivered_kwh
        if energy > left:
            seg_end = seg_start + timedelta(hours=left / power_kw)
            energy = left
        run.delivered_kwh += energy
        run.cost_eur += energy * price.price_eur_per_kwh
        run.stretches.append((seg_start, seg_end))


def _execute(
    run: _Run,
    truth: _Truth,
    plan_slots: Iterable[PlanSlot],
    start: datetime,
    end: datetime,
    config: BacktestConfig,
    rounding: Callable[[float], float] | None,
) -> None:
    """Run the part ``[start, end)`` of a plan."""
    max_a = config.max_current_a
    for slot in plan_slots:
        lo, hi = max(slot.start, start), min(slot.end, end)
        if hi <= lo:
            continue
        current = slot.current_a
        if current > max_a + _CURRENT_TOLERANCE_A or 0.0 < current < (
            config.min_current_a - _CURRENT_TOLERANCE_A
        ):
            run.limit_violations += 1
        if rounding is not None:
            current = rounding(current)
        power = min(current * config.kw_per_amp, config.power_kw)
        _charge(run, truth, lo, hi, power)


# --- The backtest.


@dataclass(frozen=True, slots=True)
class StrategyResult:
    """What one strategy did over all sessions.

    Attributes:
        strategy: its name.
        sessions: sessions simulated.
        cost_eur: total cost at float currents.
        immediate_cost_eur: total cost of charging at full power from plug-in.
        optimal_cost_eur: total of the exact optimum (HiGHS).
        missed_deadlines: sessions that ended with less than the target at ``ready_by``.
        switches_per_session: charging blocks started per session, on average.
        plan_ms_p50: median planning time per session, in milliseconds.
        plan_ms_p99: 99th percentile of the planning time per session, in milliseconds.
        whole_amp_cost_eur: total cost with currents rounded to whole amps.
        whole_amp_missed_deadlines: missed deadlines with whole amps.
        limit_violations: plan slots above the maximum or between 0 and the minimum current.
        energy_kwh: energy delivered in all.
    """

    strategy: str
    sessions: int
    cost_eur: float
    immediate_cost_eur: float
    optimal_cost_eur: float
    missed_deadlines: int
    switches_per_session: float
    plan_ms_p50: float
    plan_ms_p99: float
    whole_amp_cost_eur: float
    whole_amp_missed_deadlines: int
    limit_violations: int
    energy_kwh: float

    @property
    def cost_ratio(self) -> float:
        """Return cost / optimum (1.0 is optimal; nan without sessions)."""
        return self.cost_eur / self.optimal_cost_eur if self.optimal_cost_eur else math.nan

    @property
    def saving_eur(self) -> float:
        """Return what the strategy saved against ``immediate``."""
        return self.immediate_cost_eur - self.cost_eur

    @property
    def saving_percent(self) -> float:
        """Return the saving against ``immediate`` in percent of the immediate cost."""
        if not self.immediate_cost_eur:
            return math.nan
        return 100.0 * self.saving_eur / self.immediate_cost_eur

    @property
    def whole_amp_gap_eur(self) -> float:
        """Return what whole-amp currents add to the cost."""
        return self.whole_amp_cost_eur - self.cost_eur

    @property
    def whole_amp_gap_percent(self) -> float:
        """Return the whole-amp gap in percent of the float-current cost."""
        return 100.0 * self.whole_amp_gap_eur / self.cost_eur if self.cost_eur else math.nan

    def to_json(self) -> dict[str, float | int | str]:
        """Return the machine-readable summary (the ``--json`` keys, exactly)."""
        return {
            "sessions": self.sessions,
            "strategy": self.strategy,
            "cost_eur": round(self.cost_eur, 6),
            "immediate_cost_eur": round(self.immediate_cost_eur, 6),
            "optimal_cost_eur": round(self.optimal_cost_eur, 6),
            "missed_deadlines": self.missed_deadlines,
            "switches_per_session": round(self.switches_per_session, 4),
            "plan_ms_p50": round(self.plan_ms_p50, 4),
            "plan_ms_p99": round(self.plan_ms_p99, 4),
        }


@dataclass(frozen=True, slots=True)
class BacktestReport:
    """Every strategy's result over the same sessions."""

    config: BacktestConfig
    sessions: tuple[Session, ...]
    skipped_days: int
    results: tuple[StrategyResult, ...]


def percentile(values: Sequence[float], q: float) -> float:
    """Return the ``q``-th percentile (0-100), interpolating linearly between ranks."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def _request(
    config: BacktestConfig, now: datetime, session: Session, energy: float, prices: PriceCurve
) -> PlanRequest:
    return PlanRequest(
        now=now,
        ready_by=session.ready_by_at,
        energy_needed_kwh=energy,
        prices=prices,
        min_current_a=config.min_current_a,
        max_current_a=config.max_current_a,
        phases=config.phases,
        voltage_v=config.voltage_v,
        measured_power_kw=None,
        max_interruptions=config.max_interruptions,
        deadline_margin=config.deadline_margin,
        slot_minutes=config.slot_minutes,
    )


@dataclass(frozen=True, slots=True)
class _SessionOutcome:
    cost_eur: float
    delivered_kwh: float
    blocks: int
    plan_seconds: float
    limit_violations: int
    first_plan: Plan


def simulate_session(
    strategy: Strategy,
    session: Session,
    truth: _Truth,
    config: BacktestConfig,
    *,
    whole_amps: bool = False,
    first_plan: Plan | None = None,
) -> _SessionOutcome:
    """Plan at plug-in and at each publication, and execute the plans at the true prices.

    Args:
        strategy: the planner.
        session: the session.
        truth: every true all-in price.
        config: the session parameters.
        whole_amps: round the plans' currents to whole amps (see :func:`whole_amp_current`).
        first_plan: a plan already made at plug-in for this session (it is reused, untimed).
    """
    run = _Run(target_kwh=config.energy_kwh)
    events = [session.plug_in_at, *publications_between(session.plug_in_at, session.deadline_at)]
    rounding = (lambda a: whole_amp_current(a, config.max_current_a)) if whole_amps else None
    plan_seconds = 0.0
    made_first: Plan | None = None
    for i, at in enumerate(events):
        until = events[i + 1] if i + 1 < len(events) else session.ready_by_at
        if run.is_full:
            break
        if i == 0 and first_plan is not None:
            plan = first_plan
        else:
            known = truth.curve.between(at, known_until(at))
            request = _request(config, at, session, run.target_kwh - run.delivered_kwh, known)
            began = time.perf_counter()  # a measurement, not the program's clock
            plan = strategy.plan(request)
            plan_seconds += time.perf_counter() - began
        if i == 0:
            made_first = plan
        _execute(run, truth, plan.slots, at, until, config, rounding)
    assert made_first is not None
    return _SessionOutcome(
        cost_eur=run.cost_eur,
        delivered_kwh=run.delivered_kwh,
        blocks=run.blocks,
        plan_seconds=plan_seconds,
        limit_violations=run.limit_violations,
        first_plan=made_first,
    )


def immediate_cost(session: Session, truth: _Truth, config: BacktestConfig) -> float:
    """Return the cost of charging at full power from plug-in until full or the deadline."""
    run = _Run(target_kwh=config.energy_kwh)
    _charge(run, truth, session.plug_in_at, session.deadline_at, config.power_kw)
    return run.cost_eur


def optimum_cost(session: Session, truth: PriceCurve, config: BacktestConfig) -> float:
    """Return the exact optimum of the session, knowing every price of its window."""
    prices = truth.between(session.plug_in_at, session.deadline_at)
    request = _request(config, session.plug_in_at, session, config.energy_kwh, prices)
    return optimal_cost(request).cost_eur


def run_backtest(
    truth: PriceCurve, strategies: Sequence[Strategy], config: BacktestConfig
) -> BacktestReport:
    """Simulate every strategy over every day's session and sum up.

    Args:
        truth: the true all-in prices.
        strategies: the planners to compare.
        config: the session parameters.
    """
    days, skipped = sessions(truth, config)
    indexed = _Truth(truth)
    immediate = [immediate_cost(s, indexed, config) for s in days]
    optimum = [optimum_cost(s, truth, config) for s in days]
    results = []
    for strategy in strategies:
        cost = whole_cost = energy = 0.0
        missed = whole_missed = blocks = violations = 0
        plan_ms: list[float] = []
        for session in days:
            out = simulate_session(strategy, session, indexed, config)
            whole = simulate_session(
                strategy, session, indexed, config, whole_amps=True, first_plan=out.first_plan
            )
            cost += out.cost_eur
            whole_cost += whole.cost_eur
            energy += out.delivered_kwh
            missed += out.delivered_kwh < config.energy_kwh - _ENERGY_TOLERANCE_KWH
            whole_missed += whole.delivered_kwh < config.energy_kwh - _ENERGY_TOLERANCE_KWH
            blocks += out.blocks
            violations += out.limit_violations
            plan_ms.append(out.plan_seconds * 1000.0)
        results.append(
            StrategyResult(
                strategy=strategy.name,
                sessions=len(days),
                cost_eur=cost,
                immediate_cost_eur=math.fsum(immediate),
                optimal_cost_eur=math.fsum(optimum),
                missed_deadlines=missed,
                switches_per_session=blocks / len(days) if days else 0.0,
                plan_ms_p50=percentile(plan_ms, 50),
                plan_ms_p99=percentile(plan_ms, 99),
                whole_amp_cost_eur=whole_cost,
                whole_amp_missed_deadlines=whole_missed,
                limit_violations=violations,
                energy_kwh=energy,
            )
        )
    return BacktestReport(config, tuple(days), skipped, tuple(results))
