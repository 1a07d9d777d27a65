"""The simulated car behind the simulated charger: what it draws from what it is offered.

The default ``Car()`` is the simulator's original car: it charges on every phase the charger
offers, draws exactly the current set, up to its on-board charger's power, and never gets full
(unless ``needs_kwh`` says when). A realistic car (``realistic_car``) adds what real cars do:

- a battery (``capacity_kwh``, ``start_soc``) that is full at 100 % (status 181 from then on);
- a taper: the power it accepts falls linearly from full at ``TAPER_FROM_SOC`` (80 %) to
  ``TAPER_END_SHARE`` (30 %) of full at 100 % state of charge;
- its own phase count and current limit: a one-phase car behind a three-phase charger draws on
  one phase only, a third of what the charger offers;
- a draw a few per cent below the set current (``draw_shortfall``; 5-10 % in real cars, the
  on-board charger's own margin).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

# The taper (issue 16 §3): full power up to 80 % state of charge, 30 % of it at 100 %.
TAPER_FROM_SOC = 0.8
TAPER_END_SHARE = 0.3
# Real cars draw 5-10 % below the current the charger offers (issue 16 §3).
SHORTFALL_RANGE = (0.05, 0.10)


@dataclass(frozen=True, slots=True)
class Car:
    """A car as the charger sees it.

    Attributes:
        max_power_kw: the most its on-board charger accepts (kW).
        needs_kwh: energy after which it stops drawing (status 181); None = never (or when the
            battery is full, with ``capacity_kwh``).
        capacity_kwh: the usable battery capacity; None = no battery model (never full).
        start_soc: state of charge at plug-in, 0 to 1 (with ``capacity_kwh``).
        phases: the phases it charges on; None = as many as the charger offers.
        max_current_a: the most current per phase it takes; None = no limit of its own.
        tapers: whether the accepted power falls between 80 % and 100 % state of charge.
        draw_shortfall: the share below the set current it really draws (0.05 = 5 % less).
    """

    max_power_kw: float = 11.0
    needs_kwh: float | None = None
    capacity_kwh: float | None = None
    start_soc: float = 0.0
    phases: int | None = None
    max_current_a: float | None = None
    tapers: bool = False
    draw_shortfall: float = 0.0

    def __post_init__(self) -> None:
        if self.capacity_kwh is not None and self.capacity_kwh <= 0:
            raise ValueError(f"capacity_kwh must be positive, got {self.capacity_kwh}")
        if not 0.0 <= self.start_soc <= 1.0:
            raise ValueError(f"start_soc must be from 0 to 1, got {self.start_soc}")
        if self.phases is not None and self.phases not in (1, 2, 3):
            raise ValueError(f"phases must be 1, 2 or 3, got {self.phases}")
        if not 0.0 <= self.draw_shortfall < 1.0:
            raise ValueError(f"draw_shortfall must be from 0 to 1, got {self.draw_shortfall}")

    @property
    def room_kwh(self) -> float | None:
        """Return the energy it takes before it stops drawing, or None for never."""
        room = None
        if self.capacity_kwh is not None:
            room = self.capacity_kwh * (1.0 - self.start_soc)
        if self.needs_kwh is not None:
            room = self.needs_kwh if room is None else min(room, self.needs_kwh)
        return room

    def soc(self, added_kwh: float) -> float | None:
        """Return the state of charge after ``added_kwh``, or None without a battery model."""
        if self.capacity_kwh is None:
            return None
        return min(1.0, self.start_soc + added_kwh / self.capacity_kwh)

    def taper_starts_kwh(self) -> float | None:
        """Return the added energy at which the taper begins, if it is still ahead."""
        if not self.tapers or self.capacity_kwh is None or self.start_soc >= TAPER_FROM_SOC:
            return None
        return (TAPER_FROM_SOC - self.start_soc) * self.capacity_kwh

    def is_tapering(self, added_kwh: float) -> bool:
        """Return whether the accepted power is falling (above 80 % with a taper)."""
        soc = self.soc(added_kwh)
        return self.tapers and soc is not None and soc > TAPER_FROM_SOC

    def accepted_kw(self, added_kwh: float) -> float:
        """Return the most it accepts after ``added_kwh`` (its taper applied)."""
        soc = self.soc(added_kwh)
        if not self.tapers or soc is None or soc <= TAPER_FROM_SOC:
            return self.max_power_kw
        share = 1.0 - (1.0 - TAPER_END_SHARE) * (soc - TAPER_FROM_SOC) / (1.0 - TAPER_FROM_SOC)
        return self.max_power_kw * max(TAPER_END_SHARE, share)

    def draw_kw(
        self, set_current_a: float, charger_phases: int, voltage_v: float, added_kwh: float
    ) -> float:
        """Return the power it draws when offered ``set_current_a`` on ``charger_phases``."""
        phases = charger_phases if self.phases is None else min(self.phases, charger_phases)
        current_a = set_current_a
        if self.max_current_a is not None:
            current_a = min(current_a, self.max_current_a)
        offered_kw = phases * voltage_v * current_a * (1.0 - self.draw_shortfall) / 1000.0
        return max(0.0, min(offered_kw, self.accepted_kw(added_kwh)))


def realistic_car(
    *,
    capacity_kwh: float = 60.0,
    start_soc: float = 0.6,
    phases: int = 3,
    max_current_a: float = 16.0,
    tapers: bool = True,
    shortfall: bool = True,
    voltage_v: float = 230.0,
    seed: int = 0,
) -> Car:
    """Return a car with a battery, a taper and a seeded draw 5-10 % below the set current.

    Args:
        capacity_kwh: usable battery capacity.
        start_soc: state of charge at plug-in (0 to 1).
        phases: the phases its on-board charger uses (1 for many compact cars).
        max_current_a: its on-board charger's current limit per phase.
        tapers: the 80-100 % taper.
        shortfall: draw 5-10 % below the set current (seeded); False draws it exactly.
        voltage_v: phase voltage (sets its on-board charger's power).
        seed: picks the shortfall.
    """
    draw_shortfall = random.Random(seed).uniform(*SHORTFALL_RANGE) if shortfall else 0.0  # noqa: S311 - a simulation, not security
    return Car(
        max_power_kw=phases * max_current_a * voltage_v / 1000.0,
        capacity_kwh=capacity_kwh,
        start_soc=start_soc,
        phases=phases,
        max_current_a=max_current_a,
        tapers=tapers,
        draw_shortfall=draw_shortfall,
    )
