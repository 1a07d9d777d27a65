"""A tick on a charger's own report (issue 15 item 3): only when it matters, rate-bounded.

The daemon is built through ``runtime.compose`` with an ``OcppCharger`` that no charge point
has connected to (it reads OFFLINE; nothing goes on the wire); the reports are handed to the
charger's ``on_report`` as its messages would. The night on the OCPP link
(``tests/test_ocpp_night.py``) shows the effect: a lower car power re-planned for at the
reading that shows it.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from smartcharge.domain import ChargerStatus
from smartcharge.ocpp import OcppCharger
from smartcharge.runtime.compose import build_daemon, open_http
from smartcharge.runtime.report_tick import REPORT_TICK_GAP_S, ReportTicks
from smartcharge.simulator.clock import SimulatedClock
from tests.runtime.test_ocpp_link import ocpp_settings


async def test_a_report_ticks_only_when_it_matters_and_at_most_once_per_gap(
    tmp_path: Path, clock: SimulatedClock
):
    """Another status than the last reading's ticks, once per gap; the same status does not;
    nor does anything before the daemon has started or once it is stopping."""
    settings = ocpp_settings(tmp_path)
    charger = OcppCharger("WB-REPORT-1", clock)
    async with open_http(settings) as http:
        daemon = build_daemon(settings, clock, http, charger=charger)
        ticks = charger.on_report
        assert isinstance(ticks, ReportTicks)
        offline = await charger.status()
        ready = replace(offline, status=ChargerStatus.READY)

        ticks(offline)  # the daemon has not started: its first tick is start()'s
        unstarted = ticks.ticks
        daemon.started_mono = clock.monotonic()
        ticks(offline)  # nothing read yet: any report is news
        await daemon.work.settle()
        first = daemon.last_poll_mono
        ticks(ready)  # news, but a tick just ran
        await clock.advance(REPORT_TICK_GAP_S - 1)
        ticks(ready)
        await clock.advance(2)
        ticks(offline)  # what the last tick read: no news
        counted = ticks.ticks
        ticks(ready)  # news, after the gap
        await daemon.work.settle()
        second = daemon.last_poll_mono
        await clock.advance(REPORT_TICK_GAP_S + 1)
        daemon.work.stopping = True
        ticks(ready)

    assert 0 == unstarted
    assert 0.0 == first
    assert 1 == counted
    assert 2 == ticks.ticks
    assert REPORT_TICK_GAP_S + 1 == second
