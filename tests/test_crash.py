"""Crash safety: kills at random instants of a session, torn state files, real SIGKILLs.

Each part kills 20 times by default (``SMARTCHARGE_CRASH_KILLS=50`` for more).

1. In process, one simulated night of the daemon's real code: at seeded instants the
   daemon's jobs run on and are cancelled after a random number of event-loop steps, so it dies
   at an arbitrary ``await`` (mid-request, after a command reached the charger but before its
   answer, between a command and the state write). The daemon object is dropped without
   shutdown, sometimes the state file is torn at a random byte (as if the write had not been
   atomic), and a new daemon starts on the same state dir. After each restart the state loads
   and the session goes on. At the end no command was applied twice (no applied write left the
   charger unchanged), the ledger has the one session with its target met, and every torn file
   was detected and logged.
2. A real process writing state documents in a loop is SIGKILLed at a random point
   of a write (it reports each finished write; we kill after a random number of them): the
   document always loads, and never older than the last write that finished.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.web import Response as web_response
from aiohttp.web import middleware as web_middleware

from smartcharge.ledger import LedgerEntry
from smartcharge.logsetup import register_secret
from smartcharge.runtime.jobs import run_simulated
from smartcharge.state import STATE_FILE
from smartcharge.storage import load_document
from tests.resilience.night import Car
from tests.resilience.report import write_figures
from tests.resilience.secrets import scan_for_secrets
from tests.resilience.soak import local, private_tmp, soak_world

KILLS = int(os.environ.get("SMARTCHARGE_CRASH_KILLS", "20"))
# A night with a restart at every kill, and a Python process started for every real SIGKILL:
# longer than the suite-wide 60 s on a loaded machine (91 s beside two busy loops), still bounded.
pytestmark = pytest.mark.timeout(max(180, 9 * KILLS))
SEED = 4242
FIGURES: dict[str, object] = {}


@dataclass
class CrashResult:
    """What the crash night left behind."""

    kills: int
    kills_mid_tick: int
    torn: int
    corrupt_logged: int
    session_lost: int
    entries: list[LedgerEntry]
    duplicates: list[tuple[datetime, str, object]]
    applied_writes: int
    secrets_found: list[str]


def _tear(path: Path, rng: random.Random) -> bool:
    """Cut ``path`` at a random byte, in place (a write that was not atomic)."""
    if not path.exists():
        return False
    data = path.read_bytes()
    path.write_bytes(data[: rng.randrange(1, max(2, len(data) - 1))])
    return True


async def _crash_night() -> CrashResult:
    rng = random.Random(SEED)
    evening = date(2025, 10, 12)
    morning = evening + timedelta(days=1)
    plug, unplug = local(evening, time(18)), local(morning, time(7, 30))
    end = local(morning, time(7, 45))
    first, last = local(evening, time(18, 5)), local(morning, time(6, 55))
    span = (last - first).total_seconds()
    kills = sorted(first + timedelta(seconds=rng.uniform(0, span)) for _ in range(KILLS))
    folder = private_tmp()
    torn = mid_tick = lost = 0
    try:
        async with soak_world(folder / "state", local(evening, time(17, 30)), end) as world:
            car = Car(world, plug, unplug)
            await world.daemon.start()
            for at in kills:
                await run_simulated(world.daemon, world.clock, at, between=car)
                # Run on for up to 3 simulated hours and die after a random number of
                # event-loop steps: at whatever await the daemon happens to be in.
                task = asyncio.create_task(
                    run_simulated(
                        world.daemon,
                        world.clock,
                        max(at, world.clock.now()) + timedelta(hours=3),
                        between=car,
                    )
                )
                for _ in range(rng.randrange(1, 400)):
                    await asyncio.sleep(0)
                if not task.done():
                    mid_tick += 1
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
                before = (
                    world.daemon.state.session if world.cloud.charger.is_car_connected else None
                )
                if rng.random() < 0.3 and _tear(world.settings.state_dir / STATE_FILE, rng):
                    torn += 1
                daemon = world.new_daemon()
                after = daemon.state.session
                if before is not None and (after is None or after.session_id != before.session_id):
                    lost += 1
                await daemon.start()
            await run_simulated(world.daemon, world.clock, end, between=car)
            await world.daemon.shutdown()
            return CrashResult(
                kills=len(kills),
                kills_mid_tick=mid_tick,
                torn=torn,
                corrupt_logged=world.log.getvalue().count('"event": "state_file_corrupt"'),
                session_lost=lost,
                entries=world.daemon.ledger.entries(),
                duplicates=list(world.duplicates),
                applied_writes=len(world.applied_writes),
                secrets_found=scan_for_secrets(
                    world.secrets(), logs=world.log.getvalue(), folder=world.settings.state_dir
                ),
            )
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def crash() -> CrashResult:
    """Run the crash night once for the module."""
    result = asyncio.run(_crash_night())
    FIGURES.update(
        kills_survived=result.kills,
        kills_mid_tick=result.kills_mid_tick,
        torn_state_files=result.torn,
        torn_detected_and_logged=result.corrupt_logged,
        duplicate_commands=len(result.duplicates),
        applied_writes=result.applied_writes,
        secrets_found=len(result.secrets_found),
    )
    return result


def test_every_kill_is_survived_and_the_session_goes_on(crash: CrashResult):
    """Every kill; after each the state loads and the same session continues."""
    assert KILLS == crash.kills
    assert crash.kills_mid_tick >= KILLS // 5
    assert 0 == crash.session_lost


def test_no_command_is_repeated_that_the_charger_already_reflects(crash: CrashResult):
    """No applied write left the charger unchanged, across all the restarts."""
    assert crash.applied_writes > 0
    assert [] == crash.duplicates


def test_the_night_ends_in_one_ledger_session_with_its_target_met(crash: CrashResult):
    """One session in the ledger, target met by 07:00, the energy all counted."""
    assert 1 == len(crash.entries)
    assert crash.entries[0].target_met
    assert crash.entries[0].energy_kwh >= 19.8


def test_no_secret_in_logs_or_files_after_the_crashes(crash: CrashResult):
    """Through every crash, no secret reached a log line or a file outside the token store."""
    assert [] == crash.secrets_found


def test_torn_state_files_are_detected_and_logged(crash: CrashResult):
    """Every torn state file was detected (checksum/parse), moved aside and logged."""
    assert crash.torn >= 5
    assert crash.torn == crash.corrupt_logged


# --- real SIGKILLs -----------------------------------------------------------------------------

_WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from smartcharge.storage import save_document

    path = Path(sys.argv[1])
    i = int(sys.argv[2])
    while True:
        i += 1
        save_document(path, "state", 1, {"i": i, "pad": "x" * (i * 37 % 5000)})
        print(i, flush=True)
    """
)


def test_sigkill_during_state_writes_never_loses_a_finished_write(tmp_path: Path):
    """SIGKILLs at random points of a write: the file loads, never older than the last ack."""
    script = tmp_path / "writer.py"
    script.write_text(_WRITER, encoding="utf-8")
    path = tmp_path / "state" / "state.json"
    rng = random.Random(SEED)
    last_acked = 0
    loaded_from_backup = 0
    for _ in range(KILLS):
        proc = subprocess.Popen(  # noqa: S603 - our own script, fixed arguments
            [sys.executable, str(script), str(path), str(last_acked)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        for _ in range(rng.randint(1, 6)):
            last_acked = int(proc.stdout.readline())
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        proc.stdout.close()
        result = load_document(path, "state", datetime(2025, 1, 1, tzinfo=UTC))

        assert result.data is not None, result.problem
        assert result.data["i"] >= last_acked
        last_acked = max(last_acked, int(result.data["i"]))
        loaded_from_backup += result.used_backup
    debris = [p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")]
    FIGURES.update(sigkills_survived=KILLS, temp_files_left_behind=len(debris))

    assert 0 == loaded_from_backup
    assert json.loads(path.read_text(encoding="utf-8"))["data"]["i"] == last_acked


@pytest.fixture(autouse=True, scope="module")
def _report(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    write_figures(request, "crash safety", FIGURES)


# --- SIGKILL of a real daemon process -----------------------------------------------------------

PROCESS_KILLS = KILLS
ROOT = Path(__file__).resolve().parent.parent


async def _call(function: Callable[[], None]) -> None:
    function()


class _FakesThread:
    """The simulated cloud and ENTSO-E on a shared file clock, served from a thread."""

    def __init__(self, clock_file: Path, unplug_at: datetime, rng: random.Random) -> None:
        from smartcharge.demo import DEMO_KEY, DEMO_PASSWORD, DEMO_USER, PRICES_CSV
        from smartcharge.simulator.entsoe_server import EntsoeFakeServer
        from smartcharge.simulator.wallbox_cloud import WallboxCloudSimulator
        from tests.resilience.daemon_child import FileClock

        self.clock = FileClock(clock_file)
        self.rng = rng
        self.unplug_at = unplug_at
        self.loop = asyncio.new_event_loop()
        self.cloud = WallboxCloudSimulator(self.clock, username=DEMO_USER, password=DEMO_PASSWORD)
        self.entsoe = EntsoeFakeServer(valid_keys=[DEMO_KEY])
        now = self.clock.now()
        self.entsoe.serve_csv("NL", PRICES_CSV, now - timedelta(days=2), now + timedelta(days=3))
        self.cloud.app.middlewares.append(self._watch)
        self.duplicates: list[tuple[datetime, str, str]] = []
        self.applied = 0
        self.pid: int | None = None
        self.last_kill_at: datetime | None = None
        self.kill_after = 0
        self.kill_mode = ""
        self.kills_by_mode: collections.Counter[str] = collections.Counter()
        # Set while a "shortly_after" kill is on its way: the doomed process's next request is
        # held and dropped, so how far it gets does not depend on how fast this machine is.
        self._kill_pending: asyncio.Event | None = None
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.cloud_url = ""
        self.entsoe_url = ""
        self._runner: Any = None

    def __enter__(self) -> _FakesThread:
        from aiohttp import web

        self._thread.start()

        async def start() -> None:
            self.cloud_url = await self.cloud.start()
            runner = web.AppRunner(self.entsoe.app(), handle_signals=False, access_log=None)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            host, port = runner.addresses[0][:2]
            self.entsoe_url = f"http://{host}:{port}"
            self._runner = runner

        asyncio.run_coroutine_threadsafe(start(), self.loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        async def stop() -> None:
            self.entsoe.release_hangs()
            await self._runner.cleanup()
            await self.cloud.stop()

        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()

    def arm(self, pid: int) -> None:
        """Kill ``pid`` at the n-th request from now, before, after or shortly after it.

        Armed on the fakes' own thread, as every kill happens there: armed from the test's
        thread, a new process could be armed while the last kill was still being booked, and
        that booking would disarm it (a fresh clone's CI run saw 2 kills of 20 that way).
        """

        def arm_here() -> None:
            self.kill_after = self.rng.randint(1, 12)
            self.kill_mode = self.rng.choice(["before_handler", "after_handler", "shortly_after"])
            self.pid = pid

        asyncio.run_coroutine_threadsafe(_call(arm_here), self.loop).result(10)

    def _kill(self) -> None:
        pid, self.pid = self.pid, None
        if pid is not None:
            self.kills_by_mode[self.kill_mode] += 1
            self.last_kill_at = self.clock.now()
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        if self._kill_pending is not None:
            self._kill_pending.set()
            self._kill_pending = None

    @web_middleware
    async def _watch(self, request: Any, handler: Any) -> Any:
        pending = self._kill_pending
        if pending is not None:
            # The process is to die "shortly after" its last answer: it never gets further
            # than this request, however long the kill takes on a loaded machine.
            await pending.wait()
            request.transport.abort()
            return web_response(status=599)
        charger = self.cloud.charger
        if self.clock.now() >= self.unplug_at and charger.is_car_connected:
            charger.unplug()
        due = False
        if self.pid is not None and not request.path.startswith("/users/"):
            self.kill_after -= 1
            due = self.kill_after <= 0
        if due and self.kill_mode == "before_handler":
            self._kill()
        state = (charger.status_id, charger.max_charging_current_a,
                 round(charger.energy_cost_eur_per_kwh, 6), charger.locked)  # fmt: skip
        response = await handler(request)
        if request.method in ("PUT", "POST") and 200 <= response.status < 300:
            self.applied += 1
            after = (charger.status_id, charger.max_charging_current_a,
                     round(charger.energy_cost_eur_per_kwh, 6), charger.locked)  # fmt: skip
            if after == state:
                self.duplicates.append((self.clock.now(), request.path, await request.text()))
        if due and self.kill_mode == "after_handler":
            self._kill()
        if due and self.kill_mode == "shortly_after":
            self._kill_pending = asyncio.Event()
            asyncio.get_running_loop().call_later(self.rng.uniform(0.0, 0.05), self._kill)
        return response


def test_sigkill_of_a_running_daemon_process_at_random_instants(tmp_path: Path):
    """A daemon process SIGKILLed many times in a night: state loads, the session goes on,
    no command is applied twice, and the night ends in one ledger session, target met."""
    from smartcharge.ledger import Ledger
    from tests.resilience.daemon_child import FileClock

    rng = random.Random(SEED + 1)
    evening, morning = date(2025, 10, 19), date(2025, 10, 20)
    clock_file = tmp_path / "clock"
    FileClock(clock_file).set(local(evening, time(17, 55)))
    until = local(morning, time(7, 45))
    state_dir = private_tmp()
    logs = tmp_path / "daemon.log"
    loaded: list[str] = []
    kills = 0
    try:
        with _FakesThread(clock_file, local(morning, time(7, 30)), rng) as fakes:
            fakes.cloud.charger.plug_in(car_max_power_kw=11.0)
            argv = [str(state_dir / "state"), str(clock_file), fakes.cloud_url]
            argv += [fakes.entsoe_url, until.isoformat(), str(logs)]
            while True:
                proc = subprocess.Popen(  # noqa: S603 - our own module, fixed arguments
                    [sys.executable, "-m", "tests.resilience.daemon_child", *argv],
                    stdout=subprocess.PIPE,
                    text=True,
                    cwd=ROOT,
                )
                assert proc.stdout is not None
                if kills < PROCESS_KILLS:
                    fakes.arm(proc.pid)
                first = proc.stdout.readline().strip()
                if first:
                    loaded.append(first)
                proc.wait(120)
                proc.stdout.close()
                if proc.returncode == -signal.SIGKILL:
                    kills += 1
                    continue
                assert 0 == proc.returncode, logs.read_text(encoding="utf-8")[-3000:]
                break
            entries = Ledger(state_dir / "state", FileClock(clock_file)).entries()
            log_text = logs.read_text(encoding="utf-8")
            secrets = scan_for_secrets(
                [fakes.cloud._password, "demo-entsoe-key"],  # noqa: SLF001 - the fake's password
                logs=log_text,
                folder=state_dir / "state",
            )
            duplicates, applied, modes = fakes.duplicates, fakes.applied, fakes.kills_by_mode
            writes = [r for r in fakes.cloud.requests if r.method in ("PUT", "POST")]
            last_kill_at = fakes.last_kill_at
    finally:
        shutil.rmtree(state_dir, ignore_errors=True)
    sessions = [line.removeprefix("loaded session=") for line in loaded]
    after_first = sessions[sessions.index(next(s for s in sessions if s != "none")) :]
    FIGURES.update(
        process_sigkills=kills,
        **{f"process_kills_{k}": v for k, v in sorted(modes.items())},
        process_duplicates=len(duplicates),
        process_applied_writes=applied,
        process_writes_sent=len(writes),
        process_last_kill_at=last_kill_at.isoformat() if last_kill_at else None,
    )

    assert PROCESS_KILLS == kills
    assert 1 == len(set(after_first) - {"none"}), sessions
    # A kill after a write reached the charger but before its answer was stored must not lead
    # to the write again: the client forgets the stored status before every write.
    assert [] == duplicates, (duplicates, modes)
    assert applied > 0
    assert 1 == len(entries)
    assert entries[0].target_met
    assert [] == secrets


async def test_a_restart_after_a_write_whose_answer_was_lost_does_not_repeat_it(tmp_path: Path):
    """Energy cost applied, process dies before the answer: the restarted client must not
    believe the old cost (and so must not send the same cost again)."""
    import aiohttp
    from pydantic import SecretStr

    from smartcharge.simulator.clock import SimulatedClock
    from smartcharge.simulator.wallbox_cloud import Fault, WallboxCloudSimulator
    from smartcharge.wallbox import WallboxClient

    clock = SimulatedClock(datetime(2025, 10, 19, 17, 0, tzinfo=UTC), auto_advance=True)
    cloud = WallboxCloudSimulator(clock)
    cloud.charger.plug_in(car_max_power_kw=11.0)
    url = await cloud.start()

    def client(session: aiohttp.ClientSession) -> WallboxClient:
        return WallboxClient(
            session,
            register_secret=register_secret,
            api_url=url,
            auth_url=url,
            username="test.user@example.com",
            password=SecretStr("correct-horse-battery-staple"),
            clock=clock,
            state_dir=tmp_path,
            charger_id=999001,
            timeout_s=5.0,
        )

    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as first:
            await client(first).status(fresh=True)
            cloud.inject(Fault.HANG, path_contains="chargers/config", applied=True)
            task = asyncio.create_task(client(first).set_energy_cost(0.31))
            while not cloud.requests_to("POST", "chargers/config"):
                await asyncio.sleep(0)
            for _ in range(20):
                await asyncio.sleep(0)
            task.cancel()  # the process dies with the write applied and unanswered
            with contextlib.suppress(asyncio.CancelledError):
                await task
        assert 0.31 == cloud.charger.energy_cost_eur_per_kwh
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as second:
            snapshot = await client(second).status()  # the restarted daemon's first look
    finally:
        await cloud.stop()

    assert 0.31 == snapshot.energy_cost_eur_per_kwh, "the pre-write status was served"
