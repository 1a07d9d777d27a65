"""The simulated charger behind the simulated Wallbox cloud: a small state machine on a clock.

Status codes and transitions follow wallbox-api.md §4.4 and §5. Energy is integrated from the
clock (power x elapsed time) only while the charger is charging (193/194/195); the power is what
the plugged-in ``Car`` draws from what the charger offers (``_car.py``).

With ``command_lag_s`` a pause, resume or current change through the cloud is accepted at once
but takes effect a seeded 20-60 s (or any range) later, as on a real charger that syncs with the
cloud every ~30 s (``live_refresh_time``, wallbox-api.md §4.2); reads in between show the old
state. Without it (the default) commands take effect at once.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from smartcharge.clock import Clock
from smartcharge.simulator._car import Car

# Status codes used by the simulator (wallbox-api.md §5, HA "CHARGER_STATUS").
STATUS_DISCONNECTED = 0  # charger offline from the cloud (second phase of a restart)
STATUS_ERROR = 14
STATUS_READY = 161  # no car
STATUS_UPDATING = 166
STATUS_SCHEDULED = 179  # waiting for the next schedule
STATUS_WAITING_FOR_CAR_DEMAND = 181  # car connected but not drawing (full)
STATUS_PAUSED = 182  # paused by the user
STATUS_CHARGING = 194
STATUS_LOCKED = 209
STATUS_LOCKED_CAR_CONNECTED = 210

CHARGING_STATUSES = frozenset({193, 194, 195})

# Action 3 (restart): "Ready (~10 s) -> Disconnected (~90 s) -> Ready" (wallbox-api.md §4.4).
RESTART_READY_S = 10.0
RESTART_OFFLINE_S = 90.0

# Range the cloud reports per kWh: the fixtures show 27 km for 4.215 kWh and 98 km for 15.06 kWh.
KM_PER_KWH = 6.5
# While a car tapers its power changes with every kWh: integrate in steps this long (the
# power falls by well under 1 % over one step).
TAPER_STEP = timedelta(seconds=15)


@dataclass(frozen=True, slots=True)
class FinishedSession:
    """One charging session from plug-in to unplug, as the cloud stores it.

    Attributes:
        session_id: the cloud's id (a string of digits, as in sessions_stats.json).
        charger_id: the charger it ran on.
        started_at: plug-in instant (UTC).
        ended_at: unplug instant (UTC).
        energy_kwh: energy delivered.
        charging_time_s: seconds spent charging.
        energy_cost_eur_per_kwh: the charger's energy cost when the session ended.
        cost_eur: ``energy_kwh * energy_cost_eur_per_kwh``.
    """

    session_id: str
    charger_id: int
    started_at: datetime
    ended_at: datetime
    energy_kwh: float
    charging_time_s: int
    energy_cost_eur_per_kwh: float
    cost_eur: float


class SimulatedCharger:
    """A Wallbox Pulsar as the cloud sees it.

    Every public property first integrates energy up to the clock's ``now()``, so reading it
    always gives the live value. Mutators (``plug_in()``, ``user_pause()``, ...) act at the
    clock's ``now()``.

    Args:
        clock: the simulated clock.
        charger_id: the charger's integer id (equal to its serial number).
        max_available_current_a: the installer's ceiling for the current (A).
        phases: number of phases the car charges on.
        voltage_v: phase voltage.
        max_charging_current_a: the current set point at start (A).
        energy_cost_eur_per_kwh: the energy price configured at start.
        command_lag_s: ``(shortest, longest)`` seconds after which a remote pause, resume or
            current change takes effect (drawn uniformly, seeded); None = at once.
        seed: seeds the lag.
    """

    def __init__(
        self,
        clock: Clock,
        charger_id: int,
        *,
        max_available_current_a: int = 32,
        phases: int = 3,
        voltage_v: float = 230.0,
        max_charging_current_a: int = 16,
        energy_cost_eur_per_kwh: float = 0.25,
        command_lag_s: tuple[float, float] | None = None,
        seed: int = 0,
    ) -> None:
        if command_lag_s is not None and not 0 <= command_lag_s[0] <= command_lag_s[1]:
            raise ValueError(f"command_lag_s must be (shortest, longest), got {command_lag_s}")
        self._clock = clock
        self.charger_id = charger_id
        self.max_available_current_a = max_available_current_a
        self.phases = phases
        self.voltage_v = voltage_v
        self.energy_cost_eur_per_kwh = energy_cost_eur_per_kwh
        self.icp_max_current_a = 0
        self._max_charging_current_a = max_charging_current_a
        self._last_at = clock.now()
        self._car_connected = False
        self._car: Car | None = None
        self._car_full = False
        self.command_lag_s = command_lag_s
        self._random = random.Random(seed)  # noqa: S311 - a simulation, not security
        self._pending: list[tuple[datetime, int, Callable[[], None]]] = []
        self._pending_seq = itertools.count()
        self._paused = False
        self._locked = False
        self._error = False
        self._updating = False
        self._offline = False
        self._schedule_hold = False
        self._schedule_overridden = False
        self._restart_at: datetime | None = None
        self._added_energy_kwh = 0.0
        self._charging_time_s = 0.0
        self._session_started_at: datetime | None = None
        self.sessions: list[FinishedSession] = []
        self._next_session_number = 1
        # Last time the charger talked to the cloud: frozen while it is offline (status 0).
        self.last_connection_at = self._last_at

    # -- integration -------------------------------------------------------------------

    def advance(self, now: datetime) -> None:
        """Integrate energy and run timed transitions up to ``now``.

        Called before every request is answered; idempotent; a ``now`` earlier than the last
        one (a clock set backwards) changes nothing. Segments end at every instant where
        something changes: a restart phase, a lagging command taking effect, the car's taper
        beginning, the car getting full (and every ``TAPER_STEP`` while it tapers).
        """
        while self._last_at < now:
            segment_end = now
            restart_boundary = self._restart_boundary()
            if restart_boundary is not None and restart_boundary < segment_end:
                segment_end = restart_boundary
            effect_at = self._pending[0][0] if self._pending else None
            if effect_at is not None and effect_at < segment_end:
                segment_end = max(effect_at, self._last_at)
            is_online = self._status_at() != STATUS_DISCONNECTED
            power_kw = self._power_kw()
            full_kwh: float | None = None
            car = self._car
            if power_kw > 0 and car is not None:
                tapering = car.is_tapering(self._added_energy_kwh)
                taper_kwh = car.taper_starts_kwh()
                if taper_kwh is not None and self._added_energy_kwh < taper_kwh:
                    taper_at = self._last_at + timedelta(
                        hours=(taper_kwh - self._added_energy_kwh) / power_kw
                    )
                    if taper_at > self._last_at:
                        segment_end = min(segment_end, taper_at)
                    else:  # within a microsecond of it: the taper has begun
                        tapering = True
                if tapering:
                    segment_end = min(segment_end, self._last_at + TAPER_STEP)
                room_kwh = car.room_kwh
                if room_kwh is not None:
                    remaining_kwh = room_kwh - self._added_energy_kwh
                    full_at = self._last_at + timedelta(hours=max(remaining_kwh, 0.0) / power_kw)
                    if full_at <= segment_end:
                        segment_end = max(full_at, self._last_at)
                        full_kwh = room_kwh
            elapsed_s = (segment_end - self._last_at).total_seconds()
            if power_kw > 0:
                self._added_energy_kwh += power_kw * elapsed_s / 3600.0
                self._charging_time_s += elapsed_s
            if full_kwh is not None:
                self._added_energy_kwh = full_kwh
                self._car_full = True
            self._last_at = segment_end
            if is_online:
                self.last_connection_at = segment_end
            if restart_boundary is not None and segment_end >= restart_boundary:
                self._finish_restart_phase()
            while self._pending and self._pending[0][0] <= self._last_at:
                _, _, effect = heapq.heappop(self._pending)
                effect()
        if self._status_at() != STATUS_DISCONNECTED:
            self.last_connection_at = max(self.last_connection_at, self._last_at)

    def _now(self) -> datetime:
        now = self._clock.now()
        self.advance(now)
        return max(now, self._last_at)

    def _restart_boundary(self) -> datetime | None:
        if self._restart_at is None:
            return None
        ready_end = self._restart_at + timedelta(seconds=RESTART_READY_S)
        if self._last_at < ready_end:
            return ready_end
        return ready_end + timedelta(seconds=RESTART_OFFLINE_S)

    def _finish_restart_phase(self) -> None:
        assert self._restart_at is not None
        done_at = self._restart_at + timedelta(seconds=RESTART_READY_S + RESTART_OFFLINE_S)
        if self._last_at >= done_at:
            self._restart_at = None

    def _status_at(self) -> int:
        if self._restart_at is not None:
            elapsed_s = (self._last_at - self._restart_at).total_seconds()
            return STATUS_READY if elapsed_s < RESTART_READY_S else STATUS_DISCONNECTED
        if self._offline:
            return STATUS_DISCONNECTED
        if self._updating:
            return STATUS_UPDATING
        if self._error:
            return STATUS_ERROR
        if self._locked:
            return STATUS_LOCKED_CAR_CONNECTED if self._car_connected else STATUS_LOCKED
        if not self._car_connected:
            return STATUS_READY
        if self._paused:
            return STATUS_PAUSED
        if self._schedule_hold and not self._schedule_overridden:
            return STATUS_SCHEDULED
        if self._car_full or self._car is None or self._car.max_power_kw <= 0:
            return STATUS_WAITING_FOR_CAR_DEMAND
        return STATUS_CHARGING

    def _power_kw(self) -> float:
        if self._status_at() not in CHARGING_STATUSES or self._car is None:
            return 0.0
        return self._car.draw_kw(
            self._max_charging_current_a, self.phases, self.voltage_v, self._added_energy_kwh
        )

    def _later(self, effect: Callable[[], None]) -> None:
        """Run ``effect`` now, or after the command lag (seeded) when there is one."""
        now = self._now()
        if self.command_lag_s is None:
            effect()
            return
        lag_s = self._random.uniform(*self.command_lag_s)
        heapq.heappush(
            self._pending, (now + timedelta(seconds=lag_s), next(self._pending_seq), effect)
        )

    # -- live readings -------------------------------------------------------------------

    @property
    def status_id(self) -> int:
        """Return the live status code (wallbox-api.md §5)."""
        self._now()
        return self._status_at()

    @property
    def charging_power_kw(self) -> float:
        """Return the instantaneous charging power in kW (0 unless charging)."""
        self._now()
        return self._power_kw()

    @property
    def added_energy_kwh(self) -> float:
        """Return the energy of the current (or last) session in kWh."""
        self._now()
        return self._added_energy_kwh

    @property
    def charging_time_s(self) -> int:
        """Return the seconds spent charging in the current (or last) session."""
        self._now()
        return int(self._charging_time_s)

    @property
    def max_charging_current_a(self) -> int:
        """Return the current set point (A)."""
        return self._max_charging_current_a

    @max_charging_current_a.setter
    def max_charging_current_a(self, value: int) -> None:
        self._now()
        self._max_charging_current_a = value

    @property
    def locked(self) -> bool:
        """Return whether the charger is locked."""
        return self._locked

    @locked.setter
    def locked(self, value: bool) -> None:
        self._now()
        self._locked = value

    @property
    def is_car_connected(self) -> bool:
        """Return whether a car is plugged in."""
        return self._car_connected

    @property
    def is_paused(self) -> bool:
        """Return whether the session is paused (by the app or the API)."""
        return self._paused

    @property
    def is_updating(self) -> bool:
        """Return whether a firmware update is running."""
        return self._updating

    @property
    def is_restarting(self) -> bool:
        """Return whether a restart (action 3) is still in progress."""
        self._now()
        return self._restart_at is not None

    @property
    def car(self) -> Car | None:
        """Return the car plugged in, if any."""
        return self._car

    @property
    def pending_commands(self) -> int:
        """Return how many accepted commands have not taken effect yet (command lag)."""
        self._now()
        return len(self._pending)

    @property
    def session_started_at(self) -> datetime | None:
        """Return when the car was plugged in, or None without a car."""
        return self._session_started_at

    # -- the physical world and the app ---------------------------------------------------

    def plug_in(
        self,
        *,
        car_max_power_kw: float = 11.0,
        car_needs_kwh: float | None = None,
        car: Car | None = None,
    ) -> None:
        """Connect a car; it starts charging unless paused, locked or held by a schedule.

        Args:
            car_max_power_kw: the most the car's on-board charger accepts (without ``car``).
            car_needs_kwh: energy after which the car stops drawing (status 181); None = never
                (without ``car``).
            car: the car, when it is more than a power limit (``realistic_car``).

        Raises:
            ValueError: a car is already connected.
        """
        now = self._now()
        if self._car_connected:
            raise ValueError(f"charger {self.charger_id}: a car is already plugged in")
        if car is None:
            car = Car(max_power_kw=car_max_power_kw, needs_kwh=car_needs_kwh)
        self._car_connected = True
        self._car = car
        room_kwh = car.room_kwh
        self._car_full = room_kwh is not None and room_kwh <= 0
        self._added_energy_kwh = 0.0
        self._charging_time_s = 0.0
        self._session_started_at = now
        self._schedule_overridden = False

    def unplug(self) -> None:
        """Disconnect the car: status 161; the session is recorded; ``added_energy`` is kept.

        Raises:
            ValueError: no car is connected.
        """
        now = self._now()
        if not self._car_connected:
            raise ValueError(f"charger {self.charger_id}: no car is plugged in")
        started_at = self._session_started_at or now
        energy_kwh = self._added_energy_kwh
        price = self.energy_cost_eur_per_kwh
        self.sessions.append(
            FinishedSession(
                session_id=str(900000000 + self._next_session_number),
                charger_id=self.charger_id,
                started_at=started_at,
                ended_at=now,
                energy_kwh=energy_kwh,
                charging_time_s=int(self._charging_time_s),
                energy_cost_eur_per_kwh=price,
                cost_eur=energy_kwh * price,
            )
        )
        self._next_session_number += 1
        self._pending.clear()  # a command still on its way finds no car
        self._car_connected = False
        self._car = None
        self._car_full = False
        self._paused = False
        self._schedule_overridden = False
        self._session_started_at = None

    def user_pause(self) -> None:
        """Pause as if pressed in the Wallbox app (not through the API)."""
        self._now()
        self._paused = True

    def user_resume(self) -> None:
        """Resume as if pressed in the Wallbox app; overrides a schedule hold, like action 1."""
        self._now()
        self._paused = False
        self._schedule_overridden = True

    def set_error(self, on: bool) -> None:
        """Put the charger in (or out of) error, status 14."""
        self._now()
        self._error = on

    def set_updating(self, on: bool) -> None:
        """Start (or finish) a firmware update, status 166."""
        self._now()
        self._updating = on

    def set_offline(self, on: bool) -> None:
        """Drop the charger off the network (status 0, ``last_sync`` frozen) or bring it back.

        The simulator keeps it simple: an offline charger does not charge either.
        """
        self._now()
        self._offline = on

    def set_schedule_hold(self, on: bool) -> None:
        """Say whether the charger's own schedule currently holds charging (status 179)."""
        self._now()
        self._schedule_hold = on

    # -- remote actions (v3/chargers/{id}/remote-action) -----------------------------------

    def can_pause_or_resume(self) -> bool:
        """Return whether pause/resume make sense now (a car present, nothing blocking)."""
        return self.status_id not in {
            STATUS_DISCONNECTED,
            STATUS_ERROR,
            STATUS_READY,
            STATUS_UPDATING,
            STATUS_LOCKED,
            STATUS_LOCKED_CAR_CONNECTED,
        }

    def remote_resume(self) -> None:
        """Action 1: resume charging, overriding a schedule hold (after the command lag)."""

        def effect() -> None:
            self._paused = False
            self._schedule_overridden = True

        self._later(effect)

    def remote_pause(self) -> None:
        """Action 2: pause charging (after the command lag)."""

        def effect() -> None:
            self._paused = True

        self._later(effect)

    def remote_resume_schedule(self) -> None:
        """Action 9: leave the manual pause, follow the schedule again (182 -> 179), lagged."""

        def effect() -> None:
            self._paused = False
            self._schedule_overridden = False

        self._later(effect)

    def remote_set_current(self, current_a: int) -> None:
        """``PUT v2/charger`` ``maxChargingCurrent``: the new set point, after the lag."""

        def effect() -> None:
            self._max_charging_current_a = current_a

        self._later(effect)

    def remote_restart(self) -> None:
        """Action 3: reboot; Ready ~10 s, then Disconnected ~90 s, then back."""
        now = self._now()
        self._restart_at = now
