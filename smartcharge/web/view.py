"""What the HTTP server sees of the daemon: ``DaemonView`` and the facts it hands out.

The server never touches the daemon: it asks a ``DaemonView`` (built by the composition root,
``runtime.compose.daemon_view``) for ``ApiFacts``, a frozen value taken at one instant, and
renders the JSON documents from it (``web.documents``, pure); a write goes through ``steer``
(the daemon validates it and applies it under its tick lock). Tests of the HTTP layer hand the
server a small double of this protocol; the daemon's own tests use the real view.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from zoneinfo import ZoneInfo

from smartcharge.carprofile import CarProfile
from smartcharge.config.readiness import EnergyCostInApp
from smartcharge.domain import PriceCurve
from smartcharge.ledger import LedgerEntry
from smartcharge.session.model import DaemonState
from smartcharge.session.steering import SteerOutcome, SteerRequest, SteerSource
from smartcharge.web.health import Health, HealthFacts


@dataclass(frozen=True, slots=True)
class CarFigures:
    """What was learnt about the car, with what its full power is judged at.

    Attributes:
        profile: the learnt profile.
        max_current_a: the settings' highest current (the full power is the draw there).
        kw_per_amp: the nominal power per ampere (phases x voltage).
    """

    profile: CarProfile
    max_current_a: int
    kw_per_amp: float


@dataclass(frozen=True, slots=True)
class ApiFacts:
    """Everything the API's documents and the page show, taken from the daemon at one instant.

    Attributes:
        now: when they were taken (UTC).
        link: the charger link, ``cloud`` or ``ocpp``.
        timezone: ``SMARTCHARGE_TIMEZONE`` (the price day and ready-by are local).
        state: the daemon's state (the session with its plan and override, the override
            waiting for the next session, the next action, the last contacts).
        prices: the known all-in prices.
        car: what was learnt about the car, or None.
        health: the health check's verdict now.
        energy_cost_in_app: whether the energy cost per kWh in the Wallbox app is kept
            (from the running daemon's settings).
        settings_problems: why the last edit of ``.env`` was refused, while it is in the file.
        ledger: the finished sessions, oldest first.
        ledger_problem: why the ledger could not be read (then ``ledger`` is empty), or None.
    """

    now: datetime
    link: str
    timezone: ZoneInfo
    state: DaemonState
    prices: PriceCurve
    health: Health
    energy_cost_in_app: EnergyCostInApp
    car: CarFigures | None = None
    settings_problems: tuple[str, ...] = ()
    ledger: tuple[LedgerEntry, ...] = ()
    ledger_problem: str | None = None


class DaemonView(Protocol):
    """The daemon as the HTTP server sees it.

    **Protocol:** ``health`` and ``facts`` are quick and never raise (they read memory and, for
    the ledger, one small file; a problem is reported inside the value); ``steer`` validates
    the request and either changes nothing (a refusal in the outcome) or applies it whole.
    """

    def health(self) -> HealthFacts:
        """Return what ``/healthz`` judges, now."""
        ...

    def facts(self) -> ApiFacts:
        """Return what the documents are built from, now."""
        ...

    async def steer(self, request: SteerRequest, source: SteerSource) -> SteerOutcome:
        """Apply ``request`` from ``source`` (``Daemon.steer``), or refuse it."""
        ...
