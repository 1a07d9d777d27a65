"""``smartcharge run`` as a real process: the one harness every such test starts it with.

``running_daemon(env, cwd)`` starts ``python -m smartcharge run`` with exactly the environment
given (``run_environment`` builds one from a test's settings, without the developer's own),
reads its output as it comes (a pipe nobody reads fills up, and a daemon writing its log to it
then stands still), keeps every line and every JSON log event, and kills the process on the way
out, whatever happened. Every wait is for something the daemon says or does, against a
deadline; one that runs out fails naming what it waited for, the exit status if the process
has ended, and the last lines of its log.

Ports: neither the HTTP server nor the OCPP endpoint can be asked for port 0 (for the first,
``SMARTCHARGE_HEALTH_PORT=0`` means no server; the second's setting refuses it). So
``listen=HTTP`` (or ``OCPP``) picks a free port, waits until the daemon says it listens there,
and when something else took the port between the pick and the daemon's bind (the daemon then
exits saying "address already in use"), starts the daemon again on another one.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
from aiohttp import web

from smartcharge.simulator.entsoe_server import EntsoeFakeServer
from tests.resilience.ports import free_port

# A start on a loaded 2-core machine (two other suites beside it) takes far longer than alone.
START_S = 60.0
STOP_S = 15.0
HTTP_S = 5.0
TAIL_LINES = 20
# A log line may be long (a plan with its slots); asyncio's default limit is 64 KiB.
LINE_LIMIT = 16 * 1024 * 1024
BIND_ATTEMPTS = 5
_IN_USE = "address already in use"
TZ = ZoneInfo("Europe/Amsterdam")


@dataclass(frozen=True)
class Listener:
    """A server of the daemon: the setting that names its port, the event saying it listens."""

    setting: str
    event: str


HTTP = Listener("SMARTCHARGE_HEALTH_PORT", "http_server_started")
OCPP = Listener("SMARTCHARGE_OCPP_PORT", "ocpp_endpoint_listening")


def run_environment(settings: Mapping[str, str]) -> dict[str, str]:
    """Return this process's environment without SMARTCHARGE_/ENTSOE_ names, and ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SMARTCHARGE_", "ENTSOE_"))}
    env.update(settings)
    return env


def cloud_settings(
    url: str, username: str, password: str, charger_id: int = 999001
) -> dict[str, str]:
    """Return the settings of a Wallbox account on the simulated cloud at ``url``."""
    return {
        "SMARTCHARGE_WALLBOX_USERNAME": username,
        "SMARTCHARGE_WALLBOX_PASSWORD": password,
        "SMARTCHARGE_WALLBOX_API_URL": url,
        "SMARTCHARGE_WALLBOX_AUTH_URL": url,
        "SMARTCHARGE_WALLBOX_CHARGER_ID": str(charger_id),
    }


def entsoe_settings(url: str, key: str) -> dict[str, str]:
    """Return the settings that take prices from the fake ENTSO-E at ``url`` only."""
    return {
        "SMARTCHARGE_ENTSOE_API_KEY": key,
        "SMARTCHARGE_ENTSOE_API_URL": f"{url}/api",
        "SMARTCHARGE_PRICE_SOURCES": "entsoe",
    }


def ready_by(now: datetime, within: timedelta) -> str:
    """Return ``SMARTCHARGE_READY_BY`` (Amsterdam's HH:MM) for ``within`` from ``now``."""
    return (now + within).astimezone(TZ).strftime("%H:%M")


def need_settings(
    state_dir: Path, now: datetime, within: timedelta = timedelta(hours=1), kwh: int = 20
) -> dict[str, str]:
    """Return a state dir, JSON logs, and a need of ``kwh`` by ``within`` from ``now``."""
    return {
        "SMARTCHARGE_STATE_DIR": str(state_dir),
        "SMARTCHARGE_LOG_FORMAT": "json",
        "SMARTCHARGE_TARGET_KWH": str(kwh),
        "SMARTCHARGE_READY_BY": ready_by(now, within),
    }


def flat_entsoe(key: str, now: datetime, eur_per_mwh: float = 100.0) -> EntsoeFakeServer:
    """Return a fake ENTSO-E with one price for yesterday to three days from now (15 min)."""
    entsoe = EntsoeFakeServer(valid_keys=[key])
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    points = [(day + timedelta(minutes=15 * i), eur_per_mwh) for i in range(-96, 4 * 96)]
    entsoe.serve_points("NL", points, 15)
    return entsoe


@asynccontextmanager
async def served(app: web.Application) -> AsyncIterator[str]:
    """Serve ``app`` on 127.0.0.1 (a port of its own); yield its base URL."""
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        host, port = runner.addresses[0][:2]
        yield f"http://{host}:{port}"
    finally:
        await runner.cleanup()


class DaemonProcess:
    """One ``smartcharge run`` process, its output lines and its JSON log events."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.lines: list[str] = []
        self.events: list[dict[str, Any]] = []
        self.signalled_at: float | None = None
        self.port: int | None = None
        self._changed = asyncio.Event()
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def start(cls, env: Mapping[str, str], cwd: Path | str) -> DaemonProcess:
        """Start ``python -m smartcharge run`` with exactly ``env`` (stdout and stderr read)."""
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "smartcharge",
            "run",
            cwd=cwd,
            env=dict(env),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            limit=LINE_LIMIT,
        )
        return cls(proc)

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        try:
            while line := await self.proc.stdout.readline():
                text = line.decode("utf-8", "replace").rstrip("\n")
                self.lines.append(text)
                try:
                    event = json.loads(text)
                except ValueError:
                    event = None
                self.events.append(event if isinstance(event, dict) else {"raw": text})
                self._changed.set()
        finally:
            self._changed.set()

    @property
    def output(self) -> str:
        """Return everything the process wrote so far (stdout and stderr)."""
        return "\n".join(self.lines)

    @property
    def ended(self) -> bool:
        """Return whether the output is closed (the process has ended, or is ending)."""
        return self._reader.done()

    @property
    def gone(self) -> bool:
        """Return whether the process has exited and its output is read to the end."""
        return self.proc.returncode is not None and self.ended

    def tail(self, lines: int = TAIL_LINES) -> str:
        """Return the last ``lines`` lines of output, for a failure message."""
        return "\n".join(self.lines[-lines:])

    def named(self, name: str) -> list[dict[str, Any]]:
        """Return the logged events called ``name``."""
        return [e for e in self.events if e.get("event") == name]

    async def wait_for(self, what: str, condition: Callable[[], bool], timeout_s: float) -> None:
        """Wait until ``condition()`` holds (checked on every log line and every 50 ms)."""
        deadline = time.monotonic() + timeout_s
        while not condition():
            left = deadline - time.monotonic()
            if self.gone:
                raise AssertionError(
                    f"the daemon exited with {self.proc.returncode} while a test waited for "
                    f"{what}; its last lines:\n{self.tail()}"
                )
            if left <= 0:
                raise AssertionError(
                    f"timed out after {timeout_s:g} s waiting for {what} (the daemon still "
                    f"runs); its last lines:\n{self.tail()}"
                )
            self._changed.clear()
            with suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(left, 0.05))

    async def wait_event(self, name: str, timeout_s: float) -> dict[str, Any]:
        """Wait for the first log event ``name``; return it."""
        await self.wait_for(f"the log event {name!r}", lambda: bool(self.named(name)), timeout_s)
        return self.named(name)[0]

    async def call(
        self, method: str, path: str, headers: Mapping[str, str] | None = None, **kw: Any
    ) -> tuple[int, Any]:
        """Ask the daemon's HTTP server; return the status and the JSON body (0 if unreached)."""
        assert self.port is not None, "started without listen=HTTP"
        timeout = aiohttp.ClientTimeout(total=HTTP_S)
        try:
            async with (
                aiohttp.ClientSession(timeout=timeout) as http,
                http.request(
                    method, f"http://127.0.0.1:{self.port}{path}", headers=headers or {}, **kw
                ) as resp,
            ):
                body = await resp.json() if resp.content_type == "application/json" else None
                return resp.status, body
        except (aiohttp.ClientError, TimeoutError):
            return 0, None

    async def wait_answer(
        self,
        what: str,
        path: str,
        accept: Callable[[int, Any], bool],
        timeout_s: float,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[int, Any]:
        """GET ``path`` every 0.2 s until ``accept(status, body)``; return that answer."""
        answer: tuple[int, Any] = (0, None)
        deadline = time.monotonic() + timeout_s
        while not accept(*answer):
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"timed out after {timeout_s:g} s waiting for {what} at {path} (last "
                    f"answer {answer}); the daemon's last lines:\n{self.tail()}"
                )
            answer = await self.call("GET", path, headers)
            if not accept(*answer):
                await asyncio.sleep(0.2)
        return answer

    def send(self, sig: int) -> None:
        """Send ``sig`` to the process (the time is kept for the stop's duration)."""
        self.signalled_at = time.monotonic()
        self.proc.send_signal(sig)

    async def exited(self, timeout_s: float = STOP_S) -> tuple[int, float]:
        """Wait for the exit and the last line; return the status and seconds since the signal."""
        try:
            code = await asyncio.wait_for(self.proc.wait(), timeout_s)
        except TimeoutError:
            raise AssertionError(
                f"the daemon did not exit within {timeout_s:g} s; its last lines:\n{self.tail()}"
            ) from None
        since = time.monotonic() - (self.signalled_at or time.monotonic())
        await asyncio.wait_for(asyncio.shield(self._reader), timeout_s)
        return code, since

    async def close(self) -> None:
        """Kill the process if it still runs; read its output to the end."""
        if self.proc.returncode is None:
            with suppress(ProcessLookupError):
                self.proc.kill()
            await self.proc.wait()
        with suppress(TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(asyncio.shield(self._reader), STOP_S)
        self._reader.cancel()


async def start_daemon(
    env: Mapping[str, str], cwd: Path | str, *, listen: Listener | None = None
) -> DaemonProcess:
    """Start ``smartcharge run``; with ``listen``, return once that server listens.

    With ``listen`` the server gets a free port (``daemon.port``; ``env`` must not name one),
    and another when something else took that one before the daemon bound it.
    """
    if listen is None:
        return await DaemonProcess.start(env, cwd)
    assert listen.setting not in env, f"listen= picks {listen.setting}"
    for _ in range(BIND_ATTEMPTS):
        port = free_port()
        daemon = await DaemonProcess.start({**env, listen.setting: str(port)}, cwd)
        try:
            await daemon.wait_event(listen.event, START_S)
        except AssertionError:
            await daemon.close()
            if not daemon.gone or _IN_USE not in daemon.output:
                raise
            continue
        except BaseException:
            await daemon.close()
            raise
        daemon.port = port
        return daemon
    raise AssertionError(f"port taken {BIND_ATTEMPTS} times in a row; last:\n{daemon.tail()}")


@asynccontextmanager
async def running_daemon(
    env: Mapping[str, str], cwd: Path | str, *, listen: Listener | None = None
) -> AsyncIterator[DaemonProcess]:
    """Run ``smartcharge run`` for the block; it is killed on the way out if still running.

    With ``listen`` that server listens (on ``daemon.port``) before the block starts.
    """
    daemon = await start_daemon(env, cwd, listen=listen)
    try:
        yield daemon
    finally:
        await daemon.close()
