"""Crash safety: kills at 50 random instants of a session, torn state files, real SIGKILLs.

1. In process, one simulated night of the daemon's real code: at 50 seeded instants the
   daemon's jobs run on and are cancelled after a random number of event-loop steps, so it dies
   at an arbitrary ``await`` (mid-request, after a command reached the charger but before its
   answer, between a command and the state write). The daemon object is dropped without
   shutdown, sometimes the state file is torn at a random byte (as if the write had not been
   atomic), and a new daemon starts on the same state dir. After each restart the state loads
   and the session goes on. At the end no command was applied twice (no applied write left the
   charger unchanged), the ledger has the one session with its target met, and every torn file
   was detected and logged.
2. A real process writing state documents in a loop is SIGKILLed 50 times at a random point
   of a write (it reports each finished write; we kill after a random number of them): the
   document always loads, and never older than the last write that finished.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import shutil
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest

from smartcharge.daemon import run_simulated
from smartcharge.ledger import LedgerEntry
from smartcharge.state import STATE_FILE
from smartcharge.storage import load_document
from tests.resilience.night import Car
from tests.resilience.report import write_figures
from tests.resilience.secrets import scan_for_secrets
from tests.resilience.soak import local, private_tmp, soak_world

KILLS = 50
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
    """50 kills; after each the state loads and the same session continues."""
    assert KILLS == crash.kills
    assert crash.kills_mid_tick >= 10
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
    """Through 50 crashes, no secret reached a log line or a file outside the token store."""
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
    """50 SIGKILLs at random points of a write: the file loads, never older than the last ack."""
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
