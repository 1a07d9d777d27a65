"""One door for every write (``POST /api/plan`` and the page's ``POST /plan``): limited, bounded.

``Writes.steer`` counts the write against the limit (``auth.WriteLimiter``: 429 past it), then
hands the request to the daemon (``DaemonView.steer``), which waits for its tick lock: a tick
that is talking to a slow charger holds it up to the Wallbox timeout. The answer is bounded by
``timeout_s``: past it the caller gets ``Pending`` (the API answers 202) and the steer runs on
to its end in the background, shielded, so a timeout never cuts it in half: it is applied whole
(and logged, and shown by ``GET /api/status``) or refused whole (logged).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import structlog

from smartcharge.session.steering import SteerOutcome, SteerRequest, SteerSource
from smartcharge.web.auth import WriteLimiter
from smartcharge.web.view import DaemonView

log = structlog.get_logger(__name__)

# How long a write waits for the daemon before answering 202: below the CLI's own request
# timeout, and long enough for a tick on a healthy cloud (a few seconds) to finish first.
STEER_TIMEOUT_S = 10.0


@dataclass(frozen=True, slots=True)
class Limited:
    """Refused by the write limit; nothing was asked of the daemon.

    Attributes:
        retry_after_s: whole seconds until a write is allowed again.
    """

    retry_after_s: int


@dataclass(frozen=True, slots=True)
class Pending:
    """The daemon had not answered within the bound; the request goes on in the background."""

    timeout_s: float


class Writes:
    """Every write of the HTTP server, through the write limit and within a bounded time.

    Args:
        view: the daemon.
        limiter: the write limit (shared by the API and the page).
        timeout_s: the bound on an answer (``STEER_TIMEOUT_S``).
    """

    def __init__(
        self, view: DaemonView, limiter: WriteLimiter, timeout_s: float = STEER_TIMEOUT_S
    ) -> None:
        self.view = view
        self.limiter = limiter
        self.timeout_s = timeout_s
        self._background: set[asyncio.Task[SteerOutcome]] = set()

    async def steer(
        self, request: SteerRequest, source: SteerSource
    ) -> SteerOutcome | Limited | Pending:
        """Return the daemon's outcome, ``Limited`` or ``Pending`` (see the module docstring)."""
        wait_s = self.limiter.take()
        if wait_s is not None:
            log.info("steer_rate_limited", source=source.value, retry_after_s=round(wait_s, 1))
            return Limited(max(1, int(wait_s + 0.999)))
        task = asyncio.create_task(self.view.steer(request, source))
        # Held until done: a caller that goes away (or a timeout) never cuts the steer short.
        self._background.add(task)
        task.add_done_callback(self._finished)
        try:
            return await asyncio.wait_for(asyncio.shield(task), self.timeout_s)
        except TimeoutError:
            log.warning("steer_answer_pending", source=source.value, timeout_s=self.timeout_s)
            return Pending(self.timeout_s)

    def _finished(self, task: asyncio.Task[SteerOutcome]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("steer_failed", error=repr(task.exception()))

    async def wait_background(self) -> None:
        """Wait for the writes still running in the background (the server's stop)."""
        if self._background:
            await asyncio.wait(set(self._background))
