"""A ``smartcharge run``-like process on a simulated clock shared through a file.

Run as ``python -m tests.resilience.daemon_child STATE_DIR CLOCK_FILE CLOUD_URL ENTSOE_URL
UNTIL LOG_FILE``: builds the daemon's real code as ``smartcharge run`` does (``runtime.compose``:
the real Wallbox client, price feed, strategy, state and ledger) against the fakes the parent
serves, and drives its jobs with ``run_simulated`` on a ``FileClock``, so the parent's fakes and
this process share one simulated time. The parent kills it with SIGKILL at random instants and
starts it again on the same state dir.

It prints ``started session=<id or none>`` once the daemon has loaded its state and started.
"""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import datetime
from pathlib import Path

from smartcharge.config import LogLevel
from smartcharge.demo import demo_settings
from smartcharge.logsetup import configure_logging
from smartcharge.runtime.compose import build_daemon, open_http
from smartcharge.runtime.jobs import run_simulated


class FileClock:
    """A simulated clock whose instant lives in a file, shared by several processes."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def now(self) -> datetime:
        """Return the instant in the file."""
        return datetime.fromisoformat(self.path.read_text(encoding="utf-8").strip())

    def monotonic(self) -> float:
        """Return the shared instant in seconds (a simulated clock that never steps)."""
        return self.now().timestamp()

    def set(self, instant: datetime) -> None:
        """Move the shared instant (atomically: readers never see half a line)."""
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}")
        tmp.write_text(instant.isoformat(), encoding="utf-8")
        os.replace(tmp, self.path)

    async def sleep(self, seconds: float) -> None:
        """Jump ahead by ``seconds`` (an auto-advancing simulated clock)."""
        await asyncio.sleep(0)
        if seconds > 0:
            from datetime import timedelta  # noqa: PLC0415

            self.set(self.now() + timedelta(seconds=seconds))


async def _main(argv: list[str]) -> int:
    state_dir, clock_file, cloud_url, entsoe_url, until, log_file = argv
    clock = FileClock(Path(clock_file))
    settings = demo_settings(
        Path(state_dir),
        cloud_url,
        entsoe_url,
        log_level=LogLevel.DEBUG,
        # No hang is injected here: a timeout only guards against a stuck parent, and a short
        # one would turn a slow answer on a loaded machine into an outage (fewer requests per
        # simulated hour, so fewer kills fit in the night).
        wallbox_timeout_s=20.0,
    )
    with open(log_file, "a", encoding="utf-8") as log:  # noqa: PTH123, ASYNC230
        configure_logging(settings, stream=log)
        async with open_http(settings) as http:
            daemon = build_daemon(settings, clock, http, price_timeout_s=20.0)
            session = daemon.state.session
            print(f"loaded session={session.session_id if session else 'none'}", flush=True)
            await daemon.start()
            print("started", flush=True)
            await run_simulated(daemon, clock, datetime.fromisoformat(until))
            await daemon.shutdown()
    print("finished", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(_main(sys.argv[1:])))
