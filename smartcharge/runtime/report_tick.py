"""A tick when the charger reports something that matters, not only at the poll.

A charger on OCPP reports by itself: its StatusNotifications at once, its MeterValues every
10 s. The poll (at least a minute) would look at them only at its next run; here a report the
session core finds worth it (``policy.report_worth_a_tick``: another status, a draw it would
re-plan for) starts a tick at once (trigger ``charger_report``), so a lower car power is
re-planned for within seconds of the reading that shows it (issue 15 item 3).

Bounded: at most one such tick per ``REPORT_TICK_GAP_S``, and none that soon after any other
tick (a poll, a slot boundary); a report in between waits for the next report or the poll.
The tick is an ordinary one (the session core decides, reconcile is idempotent), so it sends
only what any tick would send then; nothing is sent for the report itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Protocol, runtime_checkable

from smartcharge.domain import ChargerSnapshot
from smartcharge.ports import Charger
from smartcharge.runtime.daemon import Daemon
from smartcharge.session import policy
from smartcharge.session.model import TickTrigger

# Half the shortest poll (60 s): a change is acted on within about half a minute, and a charger
# reporting every 10 s costs at most one extra tick in three of its readings.
REPORT_TICK_GAP_S = 30.0


@runtime_checkable
class ReportingCharger(Charger, Protocol):
    """A charger that tells its reports as they come (``OcppCharger.on_report``)."""

    on_report: Callable[[ChargerSnapshot], None] | None


class ReportTicks:
    """Starts a daemon tick for a charger report worth it, at most one per ``gap_s``.

    Args:
        daemon: the daemon whose tick runs (as its own work: a stop waits for it).
        gap_s: the least time between a tick and a report's tick (monotonic seconds).
    """

    def __init__(self, daemon: Daemon, gap_s: float = REPORT_TICK_GAP_S) -> None:
        self._daemon = daemon
        self._gap_s = gap_s
        self._last_mono: float | None = None
        self._task: asyncio.Task[None] | None = None
        self.ticks = 0

    def __call__(self, report: ChargerSnapshot) -> None:
        """Take in one report; start a tick if it matters and the gap allows."""
        daemon = self._daemon
        if daemon.started_mono is None or daemon.work.stopping:
            return  # not started yet (the endpoint listens first) or stopping
        if self._task is not None and not self._task.done():
            return
        now_mono = daemon.clock.monotonic()
        last = max(
            (m for m in (self._last_mono, daemon.last_poll_mono) if m is not None), default=None
        )
        if last is not None and now_mono - last < self._gap_s:
            return
        if not policy.report_worth_a_tick(daemon.state, report, daemon.clock.now(), daemon.rules):
            return
        self._last_mono = now_mono
        self.ticks += 1

        async def tick() -> None:
            await daemon.tick(TickTrigger.CHARGER_REPORT.value)

        self._task = daemon.spawn(tick)


def tick_on_reports(daemon: Daemon, charger: ReportingCharger) -> ReportTicks:
    """Have ``charger``'s reports start ticks of ``daemon`` (see ``ReportTicks``)."""
    ticks = ReportTicks(daemon)
    charger.on_report = ticks
    return ticks


__all__ = ["REPORT_TICK_GAP_S", "ReportTicks", "ReportingCharger", "tick_on_reports"]
