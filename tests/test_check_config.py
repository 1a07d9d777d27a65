"""``check-config`` tells the truth about ``run``; ``--online`` tries each thing once; ``status``
names its state dir and the daemon on it.

The online checks run against the simulated Wallbox cloud, ENTSO-E and EnergyZero over real
HTTP on 127.0.0.1 (served from background threads, since the CLI runs its own event loop).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Iterator
from datetime import UTC, datetime, time
from pathlib import Path

import pytest
from aiohttp import web

from smartcharge.cli import main
from smartcharge.cli.configcmd import check_online
from smartcharge.config import load_settings
from smartcharge.demo import DEMO_DAY, local, simulated_world
from smartcharge.runtime.compose import daemon_view
from smartcharge.simulator.clock import SimulatedClock
from smartcharge.simulator.energyzero_server import EnergyZeroFakeServer
from smartcharge.simulator.entsoe_server import EntsoeFakeServer
from smartcharge.statedir import InstanceLock, InstanceLockedError
from smartcharge.web.server import HttpServer
from tests.test_cli_charger import CID, PASSWORD, USER, ThreadedCloud
from tests.test_prices_cli import ThreadedServer

FIXTURES = Path(__file__).parent / "fixtures"
EZ_RECORDING = FIXTURES / "energyzero" / "rest_electricity_quarter_2025-12-16_to_2025-12-18.json"
KEY = "check-config-key-0123456789"


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """The CLI configures the root logger; put it back. The fakes' access logs stay quiet."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    access = logging.getLogger("aiohttp.access")
    access.disabled = True
    yield
    access.disabled = False
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def fakes(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> Iterator[tuple[ThreadedCloud, EntsoeFakeServer, EnergyZeroFakeServer]]:
    """The three fakes running, and the environment pointing a ready configuration at them."""
    cloud = ThreadedCloud()
    cloud.sim.charger.plug_in(car_max_power_kw=11.0)
    entsoe = EntsoeFakeServer(valid_keys=[KEY])
    energyzero = EnergyZeroFakeServer()
    energyzero.add_recording_file(EZ_RECORDING)
    entsoe_server = ThreadedServer(entsoe.app()).start()
    ez_server = ThreadedServer(energyzero.app()).start()
    for name, value in {
        "SMARTCHARGE_WALLBOX_USERNAME": USER,
        "SMARTCHARGE_WALLBOX_PASSWORD": PASSWORD,
        "SMARTCHARGE_WALLBOX_CHARGER_ID": str(CID),
        "SMARTCHARGE_WALLBOX_API_URL": cloud.url,
        "SMARTCHARGE_WALLBOX_AUTH_URL": cloud.url,
        "SMARTCHARGE_WALLBOX_TIMEOUT_S": "5",
        "SMARTCHARGE_ENTSOE_API_KEY": KEY,
        "SMARTCHARGE_ENTSOE_API_URL": f"http://127.0.0.1:{entsoe_server.port}/api",
        "SMARTCHARGE_ENERGYZERO_API_URL": f"http://127.0.0.1:{ez_server.port}",
        "SMARTCHARGE_STATE_DIR": str(tmp_path / "state"),
        "SMARTCHARGE_HEALTH_PORT": "0",
    }.items():
        monkeypatch.setenv(name, value)
    yield cloud, entsoe, energyzero
    ez_server.stop()
    entsoe_server.stop()
    cloud.close()


def _status_reads(cloud: ThreadedCloud) -> int:
    return sum(1 for r in cloud.sim.requests if r.method == "GET" and "status" in r.path)


# --- offline: what run will refuse ------------------------------------------------------


def test_no_account_exits_1_saying_what_run_refuses(capsys: pytest.CaptureFixture[str]):
    """Valid values but no account: exit 1, one line per refusal; once said "settings OK"."""
    status = main(["check-config"])
    captured = capsys.readouterr()

    assert 1 == status
    assert "settings OK" not in captured.out
    assert "would refuse to start" in captured.out.splitlines()[0]
    assert [
        "smartcharge: run would refuse: SMARTCHARGE_WALLBOX_USERNAME is not set: expected the "
        "e-mail address of your Wallbox account",
        "smartcharge: run would refuse: SMARTCHARGE_WALLBOX_PASSWORD is not set: expected the "
        "password of your Wallbox account",
    ] == captured.err.strip().splitlines()


def test_run_refuses_exactly_what_check_config_says(capsys: pytest.CaptureFixture[str]):
    """`run` stops before doing anything, naming the same problems (exit 2, a setting)."""
    status = main(["run"])
    err = capsys.readouterr().err.strip().splitlines()

    assert 2 == status
    assert 2 == len(err)
    assert err[0].startswith("smartcharge: SMARTCHARGE_WALLBOX_USERNAME is not set")


def test_no_price_source_for_the_zone_is_a_refusal(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    """BE without an ENTSO-E key: EnergyZero has NL prices only, so no source can work."""
    monkeypatch.setenv("SMARTCHARGE_WALLBOX_USERNAME", USER)
    monkeypatch.setenv("SMARTCHARGE_WALLBOX_PASSWORD", PASSWORD)
    monkeypatch.setenv("SMARTCHARGE_BIDDING_ZONE", "BE")

    status = main(["check-config"])
    err = capsys.readouterr().err

    assert 1 == status
    assert (
        "smartcharge: run would refuse: no price source can deliver BE prices "
        "(SMARTCHARGE_PRICE_SOURCES=entsoe,energyzero): entsoe needs SMARTCHARGE_ENTSOE_API_KEY"
    ) in err
    assert "energyzero has NL prices only" in err


def test_ready_configuration_exits_0(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    """An account, and NL with EnergyZero (no key needed): run can start; exit 0."""
    monkeypatch.setenv("SMARTCHARGE_WALLBOX_USERNAME", USER)
    monkeypatch.setenv("SMARTCHARGE_WALLBOX_PASSWORD", PASSWORD)

    status = main(["check-config"])
    captured = capsys.readouterr()

    assert 0 == status, captured.err
    assert "settings OK" in captured.out
    assert "" == captured.err


def test_invalid_values_still_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    """An invalid value is exit 2, whatever else is missing."""
    monkeypatch.setenv("SMARTCHARGE_PHASES", "2")

    assert 2 == main(["check-config"])
    assert "run would refuse" not in capsys.readouterr().err


# --- offline: likely slips --------------------------------------------------------------


def test_slips_are_warned_not_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    """VAT as a fraction and names without the prefix are warnings; the exit status stays 0."""
    env = tmp_path / ".env"
    env.write_text(
        "SMARTCHARGE_WALLBOX_USERNAME=a@example.com\nSMARTCHARGE_WALLBOX_PASSWORD=pw-123456\n"
        "ENTSOE_API_KEY=abc\nSMARTCHARGE_TARIFF_VAT_PERCENT=0.21\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("SMARTCHARGE_ENV_FILE", str(env))
    monkeypatch.setenv("TARGET_KWH", "30")

    status = main(["check-config"])
    warnings = capsys.readouterr().err.strip().splitlines()

    assert 0 == status
    assert [
        f"smartcharge: warning: ENTSOE_API_KEY ({env}:3): not read without the prefix; did you "
        "mean SMARTCHARGE_ENTSOE_API_KEY?",
        "smartcharge: warning: TARGET_KWH (the environment): not read without the prefix; did "
        "you mean SMARTCHARGE_TARGET_KWH?",
        f"smartcharge: warning: SMARTCHARGE_TARIFF_VAT_PERCENT=0.21 ({env}:4): a percentage, "
        "not a fraction; did you mean 21?",
    ] == warnings


@pytest.mark.parametrize(
    ("var", "value", "warning"),
    [
        ("SMARTCHARGE_TARGET_KWH", "20kWh", "read as 20 (kWh); write the number only"),
        ("SMARTCHARGE_TARGET_KWH", "20 kwh", "read as 20 (kWh); write the number only"),
        ("SMARTCHARGE_MAX_CURRENT_A", "16A", "read as 16 (amps); write the number only"),
        ("SMARTCHARGE_MAX_CURRENT_A", "16 A", "read as 16 (amps); write the number only"),
        ("SMARTCHARGE_DEADLINE_MARGIN_MIN", "30min", "read as 30 (minutes); write the number only"),
        ("SMARTCHARGE_TARIFF_VAT_PERCENT", "0,21", "read as 0.21; use a decimal point"),
        ("SMARTCHARGE_TARIFF_VAT_PERCENT", "21%", "read as 21 (percent); write the number only"),
        (
            "SMARTCHARGE_TARGET_KWH",
            "12,5 kWh",
            "read as 12.5 (kWh); write the number only and use a decimal point",
        ),
    ],
)
def test_own_units_and_decimal_commas_are_read_with_a_warning(
    var: str,
    value: str,
    warning: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
):
    """The setting's own unit after a number, or a decimal comma: read, and warned about."""
    monkeypatch.setenv(var, value)

    status = main(["check-config"])
    captured = capsys.readouterr()

    assert 1 == status  # valid; only the missing account makes `run` refuse
    assert (
        f"smartcharge: warning: {var}={value} (from the environment): {warning}"
        in captured.err.splitlines()
    )
    shown = next(x for x in captured.out.splitlines() if x.startswith(f"{var} "))
    assert float(warning.split(" ")[2].rstrip(";")) == float(shown.split("= ")[1])


def test_a_slip_in_the_env_file_is_warned_with_its_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    """A unit or a decimal comma in .env: the warning names the file and line."""
    env = tmp_path / ".env"
    env.write_text(
        "# mine\nSMARTCHARGE_TARGET_KWH=25 kWh\nsmartcharge_tariff_tax_eur_kwh=0,1\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("SMARTCHARGE_ENV_FILE", str(env))

    status = main(["check-config"])
    warnings = [x for x in capsys.readouterr().err.splitlines() if "warning" in x]

    assert 1 == status
    assert [
        f"smartcharge: warning: SMARTCHARGE_TARGET_KWH=25 kWh ({env}:2): read as 25 (kWh); "
        "write the number only",
        f"smartcharge: warning: SMARTCHARGE_TARIFF_TAX_EUR_KWH=0,1 ({env}:3): read as 0.1; "
        "use a decimal point",
    ] == warnings
    assert 25.0 == load_settings({"SMARTCHARGE_ENV_FILE": str(env)}).target_kwh


@pytest.mark.parametrize(
    ("var", "value", "hint"),
    [
        ("SMARTCHARGE_DEADLINE_MARGIN_MIN", "1h", "write the number only, in minutes"),
        ("SMARTCHARGE_TARIFF_TAX_EUR_KWH", "18ct", "write the number only, in EUR/kWh"),
        ("SMARTCHARGE_TARIFF_TAX_EUR_KWH", "0.1kWh", "write the number only, in EUR/kWh"),
        ("SMARTCHARGE_MAX_INTERRUPTIONS", "7h", "write the number only, without 'h'"),
        ("SMARTCHARGE_TARGET_KWH", "20 kW", "write the number only, in kWh"),
        (
            "SMARTCHARGE_MAX_CURRENT_A",
            "16,5",
            "expected a whole number; write a whole number of amps, without a point or comma",
        ),
        (
            "SMARTCHARGE_MAX_CURRENT_A",
            "16.5A",
            "expected a whole number; write a whole number of amps, without a point or comma",
        ),
        ("SMARTCHARGE_TARGET_KWH", "1,234.5", "expected a number"),
        ("SMARTCHARGE_TARGET_KWH", "1.234,5", "expected a number"),
        ("SMARTCHARGE_TARGET_KWH", "300kWh", "must be at most 200"),
    ],
)
def test_other_units_and_unclear_numbers_are_refused_with_a_hint(
    var: str,
    value: str,
    hint: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
):
    """Another unit, a fraction for a whole number, a thousands separator: refused with a hint."""
    monkeypatch.setenv(var, value)

    status = main(["check-config"])
    err = capsys.readouterr().err

    assert 2 == status
    assert f"smartcharge: {var}={value!r} (from the environment): " in err
    assert hint in err
    assert "warning" not in err


@pytest.mark.parametrize(
    ("var", "example"),
    [
        ("SMARTCHARGE_WALLBOX_API_URL", "https://api.wall-box.com"),
        ("SMARTCHARGE_WALLBOX_AUTH_URL", "https://user-api.wall-box.com"),
        ("SMARTCHARGE_ENTSOE_API_URL", "https://web-api.tp.entsoe.eu/api"),
        ("SMARTCHARGE_ENERGYZERO_API_URL", "https://public.api.energyzero.nl"),
    ],
)
def test_each_url_error_shows_its_own_example(
    var: str, example: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    """The ENTSO-E URL's error once showed the Wallbox URL as its example."""
    monkeypatch.setenv(var, "web-api.example")

    assert 2 == main(["check-config"])
    assert capsys.readouterr().err.strip().endswith(f"expected an http(s) URL, e.g. {example}")


# --- online ------------------------------------------------------------------------------


def test_online_tries_account_and_sources_once_then_reuses(
    fakes: tuple[ThreadedCloud, EntsoeFakeServer, EnergyZeroFakeServer],
    capsys: pytest.CaptureFixture[str],
):
    """One sign-in and one status read; a second run signs in no more and reads no more."""
    cloud, entsoe, energyzero = fakes

    first = main(["check-config", "--online"])
    out1 = capsys.readouterr().out
    reads1, signins1 = _status_reads(cloud), cloud.sim.signins
    second = main(["check-config", "--online"])
    out2 = capsys.readouterr().out

    assert (0, 0) == (first, second)
    assert (
        f"Wallbox account {USER}: works (signed in; the token is kept in the state dir); " in out1
    )
    assert f"charger {CID}: charging" in out1
    assert (1, 1) == (signins1, reads1)
    assert (1, 1) == (cloud.sim.signins, _status_reads(cloud))
    assert "read budget has no free slot, stored status" in out2
    assert "price source entsoe: works" in out1
    assert "price source energyzero: works" in out1
    assert 2 == len(entsoe.requests)
    assert 2 == len(energyzero.requests)
    assert KEY not in out1 + out2


def test_online_with_a_wrong_password_says_so_once(
    fakes: tuple[ThreadedCloud, EntsoeFakeServer, EnergyZeroFakeServer],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
):
    """A refused sign-in: one attempt, a line naming the password setting, exit 1."""
    cloud, _, _ = fakes
    monkeypatch.setenv("SMARTCHARGE_WALLBOX_PASSWORD", "not-the-password")

    status = main(["check-config", "--online"])
    out = capsys.readouterr().out

    assert 1 == status
    account = next(line for line in out.splitlines() if line.startswith("Wallbox account"))
    assert "failed" in account
    assert "SMARTCHARGE_WALLBOX_PASSWORD" in account
    assert "not-the-password" not in out
    assert 1 == sum(1 for r in cloud.sim.requests if r.path.endswith("/signin"))


async def test_online_prices_count_the_slots_of_today(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """On a day the source has, it counts the prices; without a key, ENTSO-E is not tried."""
    energyzero = EnergyZeroFakeServer()
    energyzero.add_recording_file(EZ_RECORDING)
    runner = web.AppRunner(energyzero.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    monkeypatch.setenv("SMARTCHARGE_ENERGYZERO_API_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("SMARTCHARGE_STATE_DIR", str(tmp_path))
    lines: list[str] = []
    try:
        ok = await check_online(
            load_settings(), SimulatedClock(datetime(2025, 12, 17, 12, tzinfo=UTC)), lines.append
        )
    finally:
        await runner.cleanup()

    assert not ok  # no account
    assert [
        "Wallbox account: not tried (SMARTCHARGE_WALLBOX_USERNAME/PASSWORD not set)",
        "price source entsoe: not tried (SMARTCHARGE_ENTSOE_API_KEY is not set)",
        "price source energyzero: works, 96 prices for 2025-12-17",
    ] == lines


# --- status -------------------------------------------------------------------------------


def test_status_names_the_state_dir_and_that_no_daemon_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    """A folder no daemon ever used is not reported as "no car plugged in"."""
    server = ThreadedServer(web.Application()).start()
    port = server.port
    server.stop()  # a port nothing listens on
    monkeypatch.setenv("SMARTCHARGE_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("SMARTCHARGE_HEALTH_PORT", str(port))

    assert 0 == main(["status"])
    lines = capsys.readouterr().out.splitlines()

    assert f"state dir: {tmp_path / 'state'} (SMARTCHARGE_STATE_DIR)" == lines[0]
    assert "daemon: none running on this state dir (its daemon.lock is not held)" == lines[1]
    assert "charger link: cloud (SMARTCHARGE_CHARGER_LINK)" == lines[2]
    assert "nothing saved" in lines[3]
    assert "no car plugged in" not in "\n".join(lines)


async def test_status_tells_a_daemon_on_this_state_dir_from_one_on_another(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    """The real health endpoint names its state dir; status compares it with its own."""
    async with simulated_world(tmp_path / "daemon", local(DEMO_DAY, time(17, 45))) as world:
        await world.daemon.start()
        server = HttpServer(daemon_view(world.daemon), "127.0.0.1", 0, world.clock)
        await server.start()
        monkeypatch.setenv("SMARTCHARGE_HEALTH_PORT", str(server.port))
        try:
            monkeypatch.setenv("SMARTCHARGE_STATE_DIR", str(tmp_path / "daemon"))
            capsys.readouterr()
            same = await asyncio.to_thread(main, ["status", "--json"])
            same_doc = json.loads(capsys.readouterr().out)
            monkeypatch.setenv("SMARTCHARGE_STATE_DIR", str(tmp_path / "elsewhere"))
            other = await asyncio.to_thread(main, ["status"])
            other_text = capsys.readouterr().out
        finally:
            await server.stop()

    assert (0, 0) == (same, other)
    assert {
        "running": True,
        "lock_held": False,  # the simulated world's daemon is not started by `run`
        "pid": None,
        "health_port": server.port,
        "health": "ok",
        "reasons": [],
        "settings_problems": [],
        "health_state_dir": str((tmp_path / "daemon").resolve()),
        "health_same_state_dir": True,
    } == same_doc["daemon"]
    assert str((tmp_path / "daemon").resolve()) == same_doc["state_dir"]
    assert "daemon: none running on this state dir" in other_text
    assert "uses ANOTHER state dir" in other_text


def test_status_sees_the_instance_lock_of_a_daemon(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    """The lock `smartcharge run` holds says a daemon runs here; status does not take it."""
    state_dir = tmp_path / "state"
    monkeypatch.setenv("SMARTCHARGE_STATE_DIR", str(state_dir))
    monkeypatch.setenv("SMARTCHARGE_HEALTH_PORT", "0")
    lock = InstanceLock(state_dir)
    lock.acquire()
    try:
        held = main(["status"])
        held_text = capsys.readouterr().out
    finally:
        lock.release()
    again = InstanceLock(state_dir)
    try:
        again.acquire()  # raises if status had left a lock of its own behind
    except InstanceLockedError:
        pytest.fail("status left a lock on the state dir")
    finally:
        again.release()
    free = main(["status"])
    free_text = capsys.readouterr().out

    assert (0, 0) == (held, free)
    assert f"daemon: running on this state dir (pid {os.getpid()})" in held_text
    assert "daemon: none running on this state dir (its daemon.lock is not held)" in free_text


def test_output_cut_short_by_a_pipe_is_no_traceback(tmp_path: Path):
    """`smartcharge check-config | head -1`: the reader leaves early; no traceback follows.

    The reading end is closed before the command has started up, so its first write fails.
    """
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415

    env = {k: v for k, v in os.environ.items() if not k.startswith(("SMARTCHARGE_", "ENTSOE_"))}
    proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [sys.executable, "-m", "smartcharge", "check-config"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    proc.stdout.close()
    _, err = proc.communicate(timeout=60)

    assert 141 == proc.returncode, err
    assert "Traceback" not in err
