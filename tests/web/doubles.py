"""A double of ``DaemonView`` for the HTTP layer's own tests, and the facts it hands out.

The documents' content against a real daemon is tested in ``test_api_daemon.py``; here the
facts are built by hand, so every value in a document is known.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from smartcharge.carprofile import CarProfile
from smartcharge.config import EnergyCostInApp
from smartcharge.domain import CommandKind, PriceCurve, PriceSlot
from smartcharge.ledger import LedgerEntry
from smartcharge.session.model import (
    DaemonState,
    NextAction,
    PlanRecord,
    ReplanReason,
    SessionState,
)
from smartcharge.session.steering import (
    SessionOverride,
    SteerMode,
    SteerOutcome,
    SteerRequest,
    SteerSource,
    SteerTarget,
)
from smartcharge.web.health import Health, HealthFacts
from smartcharge.web.view import ApiFacts, CarFigures
from strategies.base import Plan, PlanSlot

NOW = datetime(2026, 12, 7, 17, 30, tzinfo=UTC)  # 18:30 in Amsterdam
AMSTERDAM = ZoneInfo("Europe/Amsterdam")
HOUR = timedelta(hours=1)


def prices(
    start: datetime = datetime(2026, 12, 6, 23, 0, tzinfo=UTC), hours: int = 50
) -> PriceCurve:
    """Hourly all-in prices: 0.20 + 0.01 x (UTC hour of day), from entsoe.

    By default local 2026-12-07 and 12-08 whole (Amsterdam), and one hour of 12-09.
    """
    return PriceCurve(
        PriceSlot(
            start + i * HOUR,
            start + (i + 1) * HOUR,
            100.0,
            round(0.20 + 0.01 * (start + i * HOUR).hour, 2),
        )
        for i in range(hours)
    )


OVERRIDE = SessionOverride(
    SteerMode.PLAN, 35.0, datetime(2026, 12, 8, 5, 30, tzinfo=UTC), SteerSource.CLI, NOW
)


def session(plan: bool = True) -> SessionState:
    """A session plugged in at 17:00Z, 20 kWh by 06:00Z, 2.5 kWh delivered, charging 01-03Z."""
    start = NOW.replace(minute=0)
    slots = (
        PlanSlot(start, start + HOUR, 0.0, 0.0, 0.37),
        PlanSlot(start + 8 * HOUR, start + 10 * HOUR, 16.0, 22.08, 0.21),
    )
    record = PlanRecord(
        plan_id="p#1",
        plan=Plan("cheapest", slots, 4.6368, 22.08, True),
        made_at=NOW - timedelta(minutes=29),
        reason=ReplanReason.SESSION_STARTED,
        delivered_kwh=0.0,
        immediate_cost_eur=6.12345,
    )
    return SessionState(
        session_id="2026-12-07T17:00:00+00:00",
        plugged_in_at=NOW - timedelta(minutes=30),
        ready_by=datetime(2026, 12, 8, 6, 0, tzinfo=UTC),
        target_kwh=20.0,
        delivered_kwh=2.5,
        plan=record if plan else None,
        override=OVERRIDE,
    )


def entry(day: int, cost: float, immediate: float | None) -> LedgerEntry:
    at = datetime(2026, 12, day, 17, 0, tzinfo=UTC)
    return LedgerEntry(
        session_id=at.isoformat(),
        plugged_in_at=at,
        plugged_out_at=at + 14 * HOUR,
        ready_by=at + 13 * HOUR,
        target_kwh=20.0,
        energy_kwh=20.0,
        cost_eur=cost,
        unpriced_kwh=0.0,
        immediate_cost_eur=immediate,
        target_met=True,
        target_met_at=at + 11 * HOUR,
        commands=4,
    )


def health_facts(state_dir: Path = Path("/tmp/state")) -> HealthFacts:  # noqa: S108
    return HealthFacts(
        read_at=NOW,
        read_mono=1000.0,
        poll_interval=timedelta(seconds=90),
        started_mono=0.0,
        last_poll_mono=990.0,
        last_poll_at=NOW - timedelta(seconds=10),
        last_price_fetch_at=NOW - HOUR,
        prices=prices(),
        problems=(),
        state_dir=state_dir,
    )


def facts(**changes: object) -> ApiFacts:
    """Facts with a plugged-in session and its plan, a learnt car and two ledger entries."""
    values: dict[str, object] = {
        "now": NOW,
        "link": "cloud",
        "timezone": AMSTERDAM,
        "state": DaemonState(
            session=session(),
            next_action=NextAction(NOW.replace(minute=0) + 8 * HOUR, CommandKind.RESUME),
            last_poll_at=NOW - timedelta(seconds=10),
            last_price_fetch_at=NOW - HOUR,
        ),
        "prices": prices(),
        "health": Health(True, ()),
        "energy_cost_in_app": EnergyCostInApp(True, "cloud", (), None, None),
        "car": CarFigures(CarProfile(0.31, 0.45, ((16, 3.42),), 40, 2, NOW - 24 * HOUR), 16, 0.69),
        "ledger": (entry(5, 4.0, 6.0), entry(6, 3.5, None)),
    }
    values.update(changes)
    return ApiFacts(**values)  # type: ignore[arg-type]


@dataclass
class ViewDouble:
    """A ``DaemonView`` whose facts and steer answers are set by the test.

    ``gate``: when set, ``steer`` waits for it (a daemon busy with a slow charger).
    """

    current: ApiFacts = field(default_factory=facts)
    healthy: HealthFacts = field(default_factory=health_facts)
    answer: SteerOutcome = field(
        default_factory=lambda: SteerOutcome(None, OVERRIDE, SteerTarget.SESSION)
    )
    gate: asyncio.Event | None = None
    calls: list[tuple[SteerRequest, SteerSource]] = field(default_factory=list)
    done: list[tuple[SteerRequest, SteerSource]] = field(default_factory=list)

    def health(self) -> HealthFacts:
        return self.healthy

    def facts(self) -> ApiFacts:
        return self.current

    async def steer(self, request: SteerRequest, source: SteerSource) -> SteerOutcome:
        self.calls.append((request, source))
        if self.gate is not None:
            await self.gate.wait()
        self.done.append((request, source))
        return self.answer
