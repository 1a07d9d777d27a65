"""Bad command lines: exit 2 with a readable message, never a traceback, and nothing sent.

Two layers:

- The parser: Hypothesis builds argument lists from the real command names, options and junk.
  The settings are made invalid on purpose, so every command that parses stops at the
  configuration check before any I/O: the only outcomes allowed are exit 0 (help/version) and
  exit 2, with no traceback.
- The numbers: ``charger current`` and ``charger energy-cost`` with bad numbers run against the
  simulated Wallbox cloud (a real HTTP server on 127.0.0.1, in its own thread, because the CLI
  runs its own event loop): exit 2, a message saying nothing was sent, and the simulator
  records no write. ``backtest`` and ``charger history`` get bad values for each option.
"""

from __future__ import annotations

import asyncio
import collections
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smartcharge.clock import SystemClock
from smartcharge.simulator.wallbox_cloud import WallboxCloudSimulator
from tests.resilience.cli import CliResult, run_cli, scoped_environ
from tests.resilience.report import write_figures

BAD_INPUTS: collections.Counter[str] = collections.Counter()

_WORDS = [
    "check-config",
    "charger",
    "status",
    "pause",
    "resume",
    "lock",
    "unlock",
    "restart",
    "current",
    "energy-cost",
    "history",
    "prices",
    "backtest",
    "run",
    "sessions",
    "--json",
    "--date",
    "--from",
    "--to",
    "--prices",
    "--strategy",
    "--plug-in",
    "--ready-by",
    "--energy-kwh",
    "--power-kw",
    "--tz",
    "-h",
    "--help",
    "--version",
    "--",
    "-",
    "16",
    "-1",
    "nan",
    "1e400",
    "2025-13-45",
    "07:00",
    "25:99",
    "all",
    "",
    "ｃｈａｒｇｅｒ",
    "\u202erun",
]
_JUNK = st.text(
    alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00"), max_size=12
)
_LEAKS = ("Traceback", "Error:", 'File "')


def _assert_clean(result: CliResult) -> None:
    for marker in _LEAKS:
        assert marker not in result.err, result.err
        assert marker not in result.out, result.out


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(argv=st.lists(st.one_of(st.sampled_from(_WORDS), _JUNK), min_size=0, max_size=6))
def test_any_argument_list_exits_0_or_2_without_traceback(argv: list[str]):
    """Whatever the arguments, the CLI answers help (0) or a usage/config error (2)."""
    if argv[:1] == ["demo"] and len(argv) == 1:
        argv = ["demo", "--bogus"]
    # Invalid on purpose: every command that parses stops at the settings check, before I/O.
    with scoped_environ({"SMARTCHARGE_PHASES": "2"}):
        result = run_cli(argv)
    BAD_INPUTS["argv:random"] += 1

    _assert_clean(result)
    assert result.status in (0, 2), (argv, result.status, result.err)
    if result.status == 0:
        assert {"-h", "--help", "--version"} & set(argv), argv
    else:
        said = (result.err or result.out).strip()
        assert said, argv
        assert "usage:" in said or said.splitlines()[-1].startswith("smartcharge: "), said


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["frobnicate"],
        ["charger"],
        ["charger", "explode"],
        ["charger", "current"],
        ["charger", "current", "16", "17"],
        ["charger", "energy-cost"],
        ["prices", "--date", "yesterday"],
        ["prices", "--date", "2025-02-30"],
        ["backtest"],
        ["sessions", "--csv"],
        ["status", "--json", "extra"],
        ["run", "--now"],
        ["--verbose"],
    ],
)
def test_unknown_commands_and_missing_arguments_exit_2(argv: list[str]):
    """Unknown commands, missing or extra arguments: exit 2 with usage, no traceback."""
    result = run_cli(argv)
    BAD_INPUTS["argv:usage"] += 1

    _assert_clean(result)
    assert 2 == result.status
    assert "usage:" in result.err + result.out


# --- against the simulated cloud --------------------------------------------------------------


class _CloudThread:
    """The simulated Wallbox cloud served from a background thread's event loop."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.sim = WallboxCloudSimulator(SystemClock())
        self.url = ""
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> _CloudThread:
        self._thread.start()
        self.url = asyncio.run_coroutine_threadsafe(self.sim.start(), self.loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.sim.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()

    def writes(self) -> int:
        return len([r for r in self.sim.requests if r.method in ("PUT", "POST")])


@pytest.fixture(scope="module")
def cloud() -> Iterator[_CloudThread]:
    """A simulated cloud with a car plugged in, on 127.0.0.1."""
    with _CloudThread() as c:
        c.sim.charger.plug_in()
        yield c


@pytest.fixture
def cloud_env(cloud: _CloudThread, tmp_path: Path) -> dict[str, str]:
    """Settings pointing the CLI at the simulated cloud."""
    return {
        "SMARTCHARGE_WALLBOX_USERNAME": "test.user@example.com",
        "SMARTCHARGE_WALLBOX_PASSWORD": "correct-horse-battery-staple",
        "SMARTCHARGE_WALLBOX_CHARGER_ID": "999001",
        "SMARTCHARGE_WALLBOX_API_URL": cloud.url,
        "SMARTCHARGE_WALLBOX_AUTH_URL": cloud.url,
        "SMARTCHARGE_STATE_DIR": str(tmp_path / "state"),
        "SMARTCHARGE_LOG_LEVEL": "DEBUG",
    }


_BAD_AMPS = {
    "wrong_type": ["abc", "sixteen", "16.5", "1,6", "0x10", "[16]", "true", ""],
    "unit": ["16A", "16 A", "16amps"],
    "out_of_range": ["5", "0", "-1", "-16", "33", "80", "1000"],
    "huge": ["1e400", "9" * 40, "9" * 4300, "9" * 5000],
    "unicode": ["16\u200b", "⑯", "\u221216"],
    "special": ["nan", "inf", "-inf"],
}
_BAD_PRICES = {
    "wrong_type": ["abc", "0,25", "[0.25]", "", "0.2.5", "true"],
    "unit": ["0.25EUR", "25ct", "0.25€", "25%"],
    "out_of_range": ["-0.01", "-5", "2.01", "25", "1000"],
    "huge": ["1e400", "-1e400", "9" * 400],
    "unicode": ["0.25\u200b", "٠٫٢٥", "①"],
    "special": ["nan", "inf", "-inf", "NaN"],
}


@pytest.mark.parametrize(
    ("action", "catalogue"), [("current", _BAD_AMPS), ("energy-cost", _BAD_PRICES)]
)
def test_bad_numbers_exit_2_and_send_nothing(
    action: str, catalogue: dict[str, list[str]], cloud: _CloudThread, cloud_env: dict[str, str]
):
    """Every bad number is refused with exit 2, a clear line, and no write reaches the cloud."""
    writes_before = cloud.writes()
    for kind, values in catalogue.items():
        for value in values:
            argv = ["charger", action, "--", value] if value.startswith("-") else None
            with scoped_environ(cloud_env):
                result = run_cli(argv or ["charger", action, value])
            BAD_INPUTS[f"{action}:{kind}"] += 1

            _assert_clean(result)
            assert 2 == result.status, (action, value, result.err)
            assert "nothing was sent" in result.err, (action, value, result.err)
            assert writes_before == cloud.writes(), (action, value)
            assert cloud_env["SMARTCHARGE_WALLBOX_PASSWORD"] not in result.err + result.out


def test_amps_with_more_digits_than_python_converts_exit_2(cloud_env: dict[str, str]):
    """AMPS with 5000 digits is a bad number like any other (exit 2), not a traceback."""
    with scoped_environ(cloud_env):
        result = run_cli(["charger", "current", "9" * 5000])

    assert 2 == result.status


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(value=st.text(max_size=12).filter(lambda s: "\x00" not in s))
def test_random_text_as_amps_never_writes_unless_valid(
    value: str, cloud: _CloudThread, cloud_env: dict[str, str]
):
    """Random text as AMPS: a whole number 6..32 may be sent once; anything else exits 2."""
    before = cloud.writes()
    with scoped_environ(cloud_env):
        result = run_cli(["charger", "current", "--", value])
    BAD_INPUTS["current:random"] += 1
    stripped = value.strip()
    valid = stripped.isascii() and stripped.isdigit() and 6 <= int(stripped) <= 32

    _assert_clean(result)
    if not valid:
        assert 2 == result.status, (value, result.err)
        assert before == cloud.writes()
    else:
        assert result.status in (0, 1), (value, result.err)
        assert cloud.writes() - before <= 1


@pytest.mark.parametrize(
    "argv",
    [
        ["charger", "history", "--from", "yesterday"],
        ["charger", "history", "--from", "2025-02-30"],
        ["charger", "history", "--to", "2025-13-01"],
        ["charger", "history", "--from", "2025-03-10", "--to", "2025-03-01"],
        ["charger", "history", "--from", "9999-12-31"],
        ["charger", "history", "--from", "２０２５-01-01"],
    ],
)
def test_bad_history_dates_exit_2_and_send_nothing(
    argv: list[str], cloud: _CloudThread, cloud_env: dict[str, str]
):
    """Bad or reversed dates for history are refused before any session query."""
    before = len(cloud.sim.requests_to("GET", "/v4/sessions"))
    with scoped_environ(cloud_env):
        result = run_cli(argv)
    BAD_INPUTS["history:date"] += 1

    _assert_clean(result)
    assert 2 == result.status, result.err
    assert before == len(cloud.sim.requests_to("GET", "/v4/sessions"))


_BACKTEST_BAD = {
    "--energy-kwh": ["-1", "abc", "1e400", "nan", "20kWh", "201"],
    "--power-kw": ["-1", "0x", "inf", "11kW", "101"],
    "--plug-in": ["18h", "25:00", "6pm", ""],
    "--ready-by": ["7", "07:60", "noon"],
    "--tz": ["Mars/Base", "../../etc/passwd", "CET+1"],
    "--strategy": ["nope", "all,cheapest", "Cheapest!"],
}


@pytest.mark.parametrize("option", sorted(_BACKTEST_BAD))
def test_backtest_bad_options_exit_2(option: str, tmp_path: Path):
    """Each bad backtest option value gives exit 2 and names the option; no traceback."""
    prices = tmp_path / "p.csv"
    rows = [f"2025-01-{1 + h // 24:02d}T{h % 24:02d}:00:00Z,{50 + h % 7}" for h in range(72)]
    prices.write_text("start_utc,price_eur_per_mwh\n" + "\n".join(rows) + "\n", encoding="utf-8")
    for value in _BACKTEST_BAD[option]:
        result = run_cli(["backtest", "--prices", str(prices), f"{option}={value}"])
        BAD_INPUTS[f"backtest:{option}"] += 1

        _assert_clean(result)
        assert 2 == result.status, (option, value, result.err)
        assert option in result.err or "strategy" in result.err, result.err


@pytest.mark.parametrize(
    "content",
    [
        None,  # no such file
        b"",
        b"start_utc,price_eur_per_mwh\n",
        b"when,price\n2025-01-01,50\n",
        b"start_utc,price_eur_per_mwh\nyesterday,50\n",
        b"start_utc,price_eur_per_mwh\n2025-01-01T00:00:00Z,cheap\n",
        b"start_utc,price_eur_per_mwh\n2025-01-01T00:00:00Z,nan\n",
        b"\xff\xfe\x00garbage",
    ],
)
def test_backtest_bad_price_files_are_clear_errors(content: bytes | None, tmp_path: Path):
    """A missing, empty or malformed price file is a clear error (exit 1 or 2), no traceback."""
    prices = tmp_path / "p.csv"
    if content is not None:
        prices.write_bytes(content)
    result = run_cli(["backtest", "--prices", str(prices), "--strategy", "cheapest"])
    BAD_INPUTS["backtest:price_file"] += 1

    _assert_clean(result)
    assert result.status in (1, 2), result.err
    assert "smartcharge: " in result.err


@pytest.fixture(autouse=True, scope="module")
def _report_bad_inputs(request: pytest.FixtureRequest) -> Iterator[None]:
    """Print the inputs tried by kind once the module has run."""
    yield
    counts = dict(sorted(BAD_INPUTS.items()))
    write_figures(request, "CLI bad inputs tried", {**counts, "total": sum(counts.values())})
