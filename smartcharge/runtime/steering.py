"""The user's override in the running daemon: which strategy plans a session, and ``steer``.

The override itself is the session core's (``session.steer``: validated, applied to the state,
taken at plug-in, ended at unplug). Here: a session in ``now`` is planned by the ``immediate``
strategy (full power from now until the need is met), one in ``off`` by a plan that charges
nothing (every slot paused, named ``off``), any other by the configured strategy. And
``steer_daemon``, the body of ``Daemon.steer``: apply under the tick lock, save, log, then one
tick that plans again at once when a car is plugged in (it reads the charger once, as any tick,
and sends only what the policy asks for). And ``link_on_exit``: over OCPP the on-exit rule
clears the daemon's charging profile, which lets the car charge; a session the user switched
``off`` keeps it (the user's no stands, as on the cloud, where ``off`` is not resumed).
"""

from __future__ import annotations

from dataclasses import replace

from smartcharge.config import OnExit
from smartcharge.session.accounting import TARGET_TOLERANCE_KWH
from smartcharge.session.model import DaemonState, SessionState
from smartcharge.session.steering import SteerMode
from strategies.base import Plan, PlanRequest, Strategy
from strategies.immediate import ImmediateStrategy

OFF_STRATEGY = "off"


def plan_for(session: SessionState, strategy: Strategy, request: PlanRequest) -> Plan:
    """Return the plan for ``session``: by its override's mode, else by ``strategy``.

    ``request`` is ``planning.plan_request``'s, which already asks for the override's need (for
    ``off``: none) and, for ``now``, a window just long enough for it at full power.
    """
    if session.mode is SteerMode.NOW:
        return ImmediateStrategy().plan(request)
    if session.mode is SteerMode.OFF:
        nothing = ImmediateStrategy().plan(replace(request, energy_needed_kwh=0.0))
        met = session.remaining_kwh <= TARGET_TOLERANCE_KWH
        return replace(nothing, strategy=OFF_STRATEGY, is_reachable=met)
    return strategy.plan(request)


def link_on_exit(state: DaemonState, on_exit: OnExit) -> OnExit:
    """Return what the OCPP link does with its profile on exit: kept for a session ``off``."""
    if state.session is not None and state.session.mode is SteerMode.OFF:
        return OnExit.LEAVE
    return on_exit
