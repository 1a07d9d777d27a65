"""Frozen value types shared by the core and the shell.

Every datetime here is timezone-aware UTC; every quantity carries its unit in its name.
A slot is the half-open interval ``[start, end)``.
"""

from __future__ import annotations

import bisect
import enum
import operator
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta


def _require_utc(name: str, value: datetime) -> None:
    if value.tzinfo is None or value.utcoffset() != timedelta(0):
        raise ValueError(f"{name} must be a timezone-aware UTC datetime, got {value!r}")


@dataclass(frozen=True, slots=True)
class PriceSlot:
    """The price of one market time unit.

    Attributes:
        start: first instant of the slot (UTC).
        end: first instant after the slot (UTC).
        spot_eur_per_mwh: the day-ahead price as published.
        price_eur_per_kwh: the all-in price a household pays (tariff applied).
        source: where the price came from, e.g. ``entsoe``, ``entsoe:BE``, ``energyzero``.
    """

    start: datetime
    end: datetime
    spot_eur_per_mwh: float
    price_eur_per_kwh: float
    source: str = "entsoe"

    def __post_init__(self) -> None:
        _require_utc("PriceSlot.start", self.start)
        _require_utc("PriceSlot.end", self.end)
        if self.end <= self.start:
            raise ValueError(f"PriceSlot ends ({self.end}) before it starts ({self.start})")

    @property
    def duration(self) -> timedelta:
        """Return the length of the slot."""
        return self.end - self.start

    def contains(self, instant: datetime) -> bool:
        """Return whether ``instant`` lies in ``[start, end)``."""
        return self.start <= instant < self.end


@dataclass(frozen=True, slots=True)
class PriceCurve:
    """An ordered run of price slots of any resolution, possibly with gaps, never overlapping.

    The constructor sorts the slots and rejects overlaps, so every curve is valid.
    """

    slots: tuple[PriceSlot, ...] = ()
    _starts: tuple[datetime, ...] = field(init=False, repr=False, compare=False)
    # Derived once, for the planner's fast path (``strategies._slots.build_window``).
    _ends: tuple[datetime, ...] = field(init=False, repr=False, compare=False)
    _durations: tuple[timedelta, ...] = field(init=False, repr=False, compare=False)

    def __init__(self, slots: Iterable[PriceSlot] = ()) -> None:
        ordered = tuple(sorted(slots, key=lambda s: s.start))
        for before, after in zip(ordered, ordered[1:], strict=False):
            if after.start < before.end:
                raise ValueError(
                    f"price slots overlap: {before.start.isoformat()}-{before.end.isoformat()}"
                    f" and {after.start.isoformat()}-{after.end.isoformat()}"
                )
        object.__setattr__(self, "slots", ordered)
        object.__setattr__(self, "_starts", tuple(s.start for s in ordered))
        ends = tuple([s.end for s in ordered])
        object.__setattr__(self, "_ends", ends)
        object.__setattr__(self, "_durations", tuple(map(operator.sub, ends, self._starts)))

    def __len__(self) -> int:
        return len(self.slots)

    def __iter__(self) -> Iterator[PriceSlot]:
        return iter(self.slots)

    def __bool__(self) -> bool:
        return bool(self.slots)

    @property
    def known_from(self) -> datetime | None:
        """Return the start of the first slot, or None for an empty curve."""
        return self.slots[0].start if self.slots else None

    @property
    def known_until(self) -> datetime | None:
        """Return the end of the last slot, or None for an empty curve."""
        return self.slots[-1].end if self.slots else None

    def known_until_from(self, instant: datetime) -> datetime:
        """Return up to when prices are known without a gap, starting at ``instant``.

        Returns ``instant`` itself when the price at ``instant`` is unknown.
        """
        slot = self.slot_at(instant)
        if slot is None:
            return instant
        i = self._starts.index(slot.start)
        end = slot.end
        for nxt in self.slots[i + 1 :]:
            if nxt.start != end:
                break
            end = nxt.end
        return end

    def slot_at(self, instant: datetime) -> PriceSlot | None:
        """Return the slot that contains ``instant``, or None where the price is unknown."""
        i = bisect.bisect_right(self._starts, instant) - 1
        if i >= 0 and self.slots[i].contains(instant):
            return self.slots[i]
        return None

    def price_at(self, instant: datetime) -> float | None:
        """Return the all-in EUR/kWh at ``instant``, or None where unknown."""
        slot = self.slot_at(instant)
        return slot.price_eur_per_kwh if slot else None

    def between(self, start: datetime, end: datetime) -> PriceCurve:
        """Return the slots that overlap ``[start, end)``, unclipped."""
        lo = max(0, bisect.bisect_right(self._starts, start) - 1)
        hi = bisect.bisect_left(self._starts, end)
        return PriceCurve(s for s in self.slots[lo:hi] if s.end > start and s.start < end)

    def split(self, minutes: int = 15) -> PriceCurve:
        """Cut every slot into pieces of ``minutes`` (a 60-minute price becomes four slots).

        Slots that are already that short, or not a whole multiple of it, are kept as they are.
        """
        step = timedelta(minutes=minutes)
        out: list[PriceSlot] = []
        for s in self.slots:
            n, rest = divmod(s.duration, step)
            if n <= 1 or rest:
                out.append(s)
                continue
            out.extend(
                PriceSlot(
                    s.start + k * step,
                    s.start + (k + 1) * step,
                    s.spot_eur_per_mwh,
                    s.price_eur_per_kwh,
                    s.source,
                )
                for k in range(n)
            )
        return PriceCurve(out)

    def merged(self, newer: Sequence[PriceSlot]) -> PriceCurve:
        """Return this curve with ``newer`` slots replacing any they overlap."""
        if not newer:
            return self
        fresh = PriceCurve(newer)
        kept = [
            s
            for s in self.slots
            if not any(s.start < n.end and n.start < s.end for n in fresh.between(s.start, s.end))
        ]
        return PriceCurve([*kept, *fresh.slots])


class ChargerStatus(enum.Enum):
    """What a charger is doing, grouped from the cloud's many status ids (wallbox-api.md §5)."""

    OFFLINE = "offline"
    ERROR = "error"
    READY = "ready"  # no car connected
    WAITING = "waiting"  # car connected, waiting (power sharing, MID, queue, ...)
    LOCKED = "locked"  # locked, no car
    LOCKED_CAR_CONNECTED = "locked_car_connected"
    UPDATING = "updating"
    SCHEDULED = "scheduled"
    PAUSED = "paused"
    WAITING_FOR_CAR_DEMAND = "waiting_for_car_demand"
    CHARGING = "charging"
    DISCHARGING = "discharging"
    UNKNOWN = "unknown"  # handled like OFFLINE

    @property
    def is_car_connected(self) -> bool:
        """Return whether a car is plugged in, as far as the status says."""
        return self in _CAR_CONNECTED

    @property
    def is_charging(self) -> bool:
        """Return whether energy is flowing into the car."""
        return self is ChargerStatus.CHARGING

    @property
    def can_pause_or_resume(self) -> bool:
        """Return whether pause/resume is meaningful now (HA's switch availability)."""
        return self in _PAUSABLE


_CAR_CONNECTED = frozenset(
    {
        ChargerStatus.WAITING,
        ChargerStatus.LOCKED_CAR_CONNECTED,
        ChargerStatus.SCHEDULED,
        ChargerStatus.PAUSED,
        ChargerStatus.WAITING_FOR_CAR_DEMAND,
        ChargerStatus.CHARGING,
        ChargerStatus.DISCHARGING,
    }
)
_PAUSABLE = frozenset(
    {
        ChargerStatus.WAITING,
        ChargerStatus.SCHEDULED,
        ChargerStatus.PAUSED,
        ChargerStatus.WAITING_FOR_CAR_DEMAND,
        ChargerStatus.CHARGING,
        ChargerStatus.DISCHARGING,
    }
)


@dataclass(frozen=True, slots=True)
class ChargerSnapshot:
    """What the cloud said about a charger at ``fetched_at``.

    Attributes:
        charger_id: the cloud's charger id.
        status: the grouped state.
        status_id: the raw status id (None when the cloud sent none).
        charging_power_kw: instantaneous power.
        added_energy_kwh: energy of the current (or last) session.
        max_charging_current_a: the user limit currently set.
        max_available_current_a: the highest limit the installation allows.
        energy_cost_eur_per_kwh: the per-kWh price set on the charger, if known.
        locked: whether the charger is locked.
        fetched_at: when this was read (UTC).
    """

    charger_id: int
    status: ChargerStatus
    status_id: int | None
    charging_power_kw: float
    added_energy_kwh: float
    max_charging_current_a: int
    max_available_current_a: int
    energy_cost_eur_per_kwh: float | None
    locked: bool
    fetched_at: datetime


class CommandKind(enum.Enum):
    """A change the daemon or the CLI can ask of a charger."""

    RESUME = "resume"
    PAUSE = "pause"
    SET_MAX_CURRENT = "set_max_current"
    SET_ENERGY_COST = "set_energy_cost"
    LOCK = "lock"
    UNLOCK = "unlock"
    RESTART = "restart"


# The energy cost a charger is told is kept to the cent: the Wallbox app and Home Assistant show
# and set it in steps of 0.01 per kWh (wallbox-api.md §4.5: HA number, range -5...5, step 0.01).
# What is sent, and the check that the charger shows what was sent, both use this one rounding.
ENERGY_COST_DECIMALS = 2


def energy_cost_cents(price_eur_per_kwh: float) -> float:
    """Return an energy cost (EUR/kWh) as a charger keeps it: rounded to the cent."""
    return round(price_eur_per_kwh, ENERGY_COST_DECIMALS)


def same_energy_cost(a_eur_per_kwh: float, b_eur_per_kwh: float) -> bool:
    """Return whether two energy costs are the same to the cent (a cloud may store more digits)."""
    return energy_cost_cents(a_eur_per_kwh) == energy_cost_cents(b_eur_per_kwh)


@dataclass(frozen=True, slots=True)
class Command:
    """One change to send: ``value`` is amps for SET_MAX_CURRENT, EUR/kWh for SET_ENERGY_COST."""

    kind: CommandKind
    value: float | None = None

    def __str__(self) -> str:
        return self.kind.value if self.value is None else f"{self.kind.value}({self.value:g})"


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """Build a UTC datetime; a small convenience for tests and fixtures."""
    return datetime(year, month, day, hour, minute, tzinfo=UTC)
