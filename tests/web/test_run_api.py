"""Black box: ``smartcharge run`` as a subprocess listening beyond loopback with a token.

The fakes (Wallbox cloud, ENTSO-E) run in the test process on the real clock, as in
``tests/test_daemon_run.py``. The daemon listens on 0.0.0.0; the test connects to 127.0.0.1,
and still: ``/healthz`` answers without the token (the container's HEALTHCHECK), the API asks
for it (401), answers with it (Bearer, and Basic as a browser sends it), a POST steers the real
charger, and the token appears in none of the daemon's output.

Waiting here is for another process, bounded by deadlines; no simulated time is involved.
"""

from __future__ import annotations

import base64
import signal
from pathlib import Path

from smartcharge.clock import SystemClock
from tests.resilience.daemon_process import (
    HTTP,
    START_S,
    need_settings,
    run_environment,
    running_daemon,
)
from tests.test_daemon_run import paused_car

TOKEN = "run-api-token-Zx8Qm2Lr5Vb7Nc1Kd4"  # noqa: S105 - the test's own token


async def test_run_beyond_loopback_asks_for_the_token_and_is_steered_with_it(tmp_path: Path):
    now = SystemClock().now()
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    basic = {"Authorization": "Basic " + base64.b64encode(f"me:{TOKEN}".encode()).decode()}
    async with paused_car(now) as (cloud, _, fakes):

        def remote_actions() -> list[object]:
            return [
                r.body for r in cloud.requests if r.method != "GET" and "remote-action" in r.path
            ]

        env = run_environment(
            {
                **fakes,
                **need_settings(tmp_path / "state", now),
                "SMARTCHARGE_HTTP_HOST": "0.0.0.0",  # noqa: S104
                "SMARTCHARGE_API_TOKEN": TOKEN,
                "SMARTCHARGE_LOG_LEVEL": "DEBUG",
            }
        )
        async with running_daemon(env, tmp_path, listen=HTTP) as daemon:
            await daemon.wait_for(
                "the resume", lambda: remote_actions() == [{"action": 1}], START_S
            )
            health = await daemon.wait_answer(
                "a healthy daemon", "/healthz", lambda status, _: status == 200, 20
            )
            without = await daemon.call("GET", "/api/status")
            wrong = await daemon.call("GET", "/api/status", {"Authorization": "Bearer nope"})
            status = await daemon.call("GET", "/api/status", bearer)
            steered = await daemon.call("POST", "/api/plan", basic, json={"mode": "off"})
            await daemon.wait_for("the pause", lambda: {"action": 2} in remote_actions(), 30)
            plan = await daemon.call("GET", "/api/plan", basic)
            daemon.send(signal.SIGTERM)
            code, _ = await daemon.exited()
    output = daemon.output

    assert 200 == health[0], output[-3000:]
    assert (401, 401) == (without[0], wrong[0])
    assert without[1] == wrong[1]
    assert 200 == status[0]
    assert status[1]["session"] is not None
    assert "cloud" == status[1]["link"]
    assert 200 == steered[0], steered
    assert ("session", "off", "api") == (
        steered[1]["applies_to"],
        steered[1]["override"]["mode"],
        steered[1]["override"]["set_by"],
    )
    assert "off" == plan[1]["plan"]["strategy"]
    assert [{"action": 1}, {"action": 2}] == remote_actions()
    assert 0 == code, output[-3000:]
    assert '"event": "http_server_started"' in output
    assert '"event": "session_override_set"' in output
    assert TOKEN not in output
    assert TOKEN[:12] not in output
