"""A Wallbox outage is logged twice in all: once when it starts, once when it ends.

The daemon is the one place that logs it (issue 13 item 2); the client logs each failed try
as wire detail at debug level only. The daemon runs against the simulated cloud on a simulated
clock; the cloud answers every status read with a 500 for a while.
"""

from __future__ import annotations

from datetime import time, timedelta
from pathlib import Path

from structlog.testing import capture_logs

from smartcharge.demo import DEMO_DAY, local, simulated_world
from smartcharge.runtime.jobs import run_simulated
from smartcharge.simulator.wallbox_cloud import Fault

START = local(DEMO_DAY, time(17, 45))


async def test_an_outage_over_many_ticks_is_logged_once_at_its_start_and_once_at_its_end(
    tmp_path: Path,
):
    """Ten status reads fail in a row (several ticks): one wallbox_unavailable, one recovered."""
    async with simulated_world(tmp_path, START) as world:
        await world.daemon.start()
        world.cloud.inject(Fault.SERVER_ERROR, count=10, path_contains="/chargers/status/")
        with capture_logs() as logs:
            await run_simulated(world.daemon, world.clock, local(DEMO_DAY, time(20, 0)))
        failed = [r for r in world.cloud.requests if r.status == 500]
    names = [e["event"] for e in logs]
    outage = [n for n in names if n in ("wallbox_unavailable", "wallbox_recovered")]

    assert 10 == len(failed)
    assert ["wallbox_unavailable", "wallbox_recovered"] == outage
    assert 10 == names.count("wallbox_request_failed")
    assert all(e["log_level"] == "debug" for e in logs if e["event"] == "wallbox_request_failed")
    assert failed[-1].at - failed[0].at > timedelta(minutes=5)  # several ticks, not one
