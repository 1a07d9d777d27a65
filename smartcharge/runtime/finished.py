"""A finished session's bookkeeping: its ledger entry, and what the car profile learns.

A ledger entry the disk cannot take yet (a full disk) waits and is written at the next save.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import structlog

from smartcharge.carprofile import CarProfile, DrawReading, learn
from smartcharge.carstore import CarProfileStore
from smartcharge.clock import Clock
from smartcharge.domain import PriceCurve
from smartcharge.errors import SmartchargeError, StateError
from smartcharge.ledger import Ledger, LedgerEntry, finish_session
from smartcharge.session.events import Event, event
from smartcharge.session.model import SessionState
from smartcharge.session.rules import Rules
from smartcharge.storage import StateDisk

log = structlog.get_logger(__name__)


class FinishedSessions:
    """Records finished sessions in the ledger and learns the car from them.

    Args:
        state_dir: ``SMARTCHARGE_STATE_DIR`` (the ledger and the car profile live there).
        clock: for the files' stamps.
        disk: the state folder's file system.
    """

    def __init__(self, state_dir: Path, clock: Clock, disk: StateDisk) -> None:
        self.ledger = Ledger(state_dir, clock, disk)
        self.car_store = CarProfileStore(state_dir, clock, disk)
        self.car_profile: CarProfile | None = self._load_car_profile()
        # Finished sessions the ledger could not take yet (a full disk): retried every save.
        self._unrecorded: list[LedgerEntry] = []

    @property
    def car_draw_share(self) -> float | None:
        """Return the learnt car's draw share, if anything was learnt."""
        return None if self.car_profile is None else self.car_profile.draw_share

    def finish(
        self, session: SessionState, now: datetime, prices: PriceCurve, rules: Rules
    ) -> list[Event]:
        """Record ``session``, ended at ``now``; learn the car from it. Return what to log."""
        full_kw = session.max_power_seen_kw or rules.power_kw(rules.max_current_a)
        entry = finish_session(session, now, prices, full_kw)
        events = self._learn_car(session, now, rules)
        self._unrecorded.append(entry)
        self.record_waiting()
        events.append(
            event(
                "session_finished",
                session=entry.session_id,
                energy_kwh=round(entry.energy_kwh, 3),
                cost_eur=round(entry.cost_eur, 4),
                immediate_cost_eur=None
                if entry.immediate_cost_eur is None
                else round(entry.immediate_cost_eur, 4),
                saving_eur=None if entry.saving_eur is None else round(entry.saving_eur, 4),
                target_met=entry.target_met,
            )
        )
        return events

    def record_waiting(self) -> None:
        """Write the finished sessions waiting for the ledger; keep them if it cannot be written."""
        while self._unrecorded:
            try:
                self.ledger.record(self._unrecorded[0])
            except StateError:
                return  # logged once by the disk (or by the ledger); retried on the next save
            self._unrecorded.pop(0)

    def _load_car_profile(self) -> CarProfile | None:
        try:
            return self.car_store.load()
        except SmartchargeError as exc:
            log.error("car_profile_load_failed", error=str(exc))
            return None

    def _learn_car(self, session: SessionState, now: datetime, rules: Rules) -> list[Event]:
        """Learn the car from the session's readings; save what was learnt."""
        readings = [DrawReading(s.current_a, s.power_kw) for s in session.draw_samples]
        nominal = rules.power_kw(1.0)
        profile = learn(readings, nominal, now, self.car_profile)
        if profile is None:
            return []
        self.car_profile = profile
        try:
            self.car_store.save(profile)
        except SmartchargeError as exc:
            log.error("car_profile_save_failed", error=str(exc))
        top = float(rules.max_current_a)
        return [
            event(
                "car_profile_learned",
                session=session.session_id,
                draw_share=round(profile.draw_share, 3),
                full_power_kw=round(profile.full_power_kw(top, nominal), 2),
                at_current_a=top,
                taper_share=profile.taper_share,
                power_by_current_kw={str(a): kw for a, kw in profile.power_by_current_kw},
                readings=profile.readings,
                sessions=profile.sessions,
            )
        ]
