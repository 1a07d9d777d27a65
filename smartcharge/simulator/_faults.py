"""A switch that serves one fault to the next N requests of a fake server (or to all)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from aiohttp import web

F = TypeVar("F")


class FaultSwitch(Generic[F]):
    """The fault a fake server answers with next, and the gate that holds hanging requests."""

    def __init__(self) -> None:
        self._fault: F | None = None
        self._left: int | None = None
        self._release = asyncio.Event()

    def fail(self, fault: F | None, times: int | None = None) -> None:
        """Answer the next ``times`` requests (all, when None) with ``fault``; None heals."""
        self._fault = fault
        self._left = times

    def take(self) -> F | None:
        """Return the fault for this request, counting it down."""
        fault = self._fault
        if fault is not None and self._left is not None:
            self._left -= 1
            if self._left <= 0:
                self._fault = None
        return fault

    def release_hangs(self) -> None:
        """Let hanging requests finish."""
        self._release.set()

    async def hang(self) -> None:
        """Wait until ``release_hangs()`` (a hang ends when the server shuts down)."""
        await self._release.wait()

    def app_with(
        self, path: str, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.Application:
        """Return an application serving ``GET path`` that releases hangs on shutdown."""
        application = web.Application()
        application.router.add_get(path, handler)

        async def _on_shutdown(_: web.Application) -> None:
            self.release_hangs()

        application.on_shutdown.append(_on_shutdown)
        return application
