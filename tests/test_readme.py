"""The README's commands work as printed.

Every command in a fenced ``sh`` block, and every ``smartcharge ...`` line of a synopsis block,
is either run here exactly as printed (in a temporary folder laid out like a clone, with the
installed ``smartcharge`` on PATH and no ``SMARTCHARGE_`` settings) or listed in ``SKIPPED``
with the reason it cannot run offline. A command added to the README that is in neither list
fails ``test_every_readme_command_is_run_or_skipped_with_a_reason``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from smartcharge.domain import PriceCurve, PriceSlot, utc
from strategies import get_strategy
from strategies.base import PlanRequest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
PRICES = "smartcharge/data/nl_day_ahead_2024.csv"
# A whole command needs well under this; a year of backtest takes a few seconds.
COMMAND_TIMEOUT_S = 120

SKIPPED = {
    "python3 -m venv .venv && .venv/bin/pip install -e '.[dev]' && .venv/bin/smartcharge demo": (
        "installs from the package index (network); the demo is tests/test_demo.py"
    ),
    "python3 -m venv .venv && .venv/bin/pip install . && .venv/bin/smartcharge demo": (
        "installs from the package index (network); the demo is tests/test_demo.py"
    ),
    ".venv/bin/python -m pytest": "is this test suite",
    "SMARTCHARGE_TEST_CONTAINER=1 .venv/bin/python -m pytest": (
        "is this test suite with the container test (installs buildah/podman, needs a registry)"
    ),
    "SMARTCHARGE_TEST_BROWSER=1 .venv/bin/python -m pytest tests/test_page_browser.py": (
        "is part of this test suite, run by CI with the browser installed (headless Chromium)"
    ),
    ".venv/bin/python -m pytest tests/benchmarks -m benchmark -s": (
        "benchmarks print figures for minutes; not a check"
    ),
    "bash .ci/run": "is CI itself: a fresh venv installed from the package index (network)",
    "docker compose -f docker/compose.yaml up -d --build": (
        "needs a container engine and a registry; tests/test_docker.py builds and runs the image"
    ),
    "smartcharge charger status [--json]": (
        "needs a Wallbox account (the cloud); tests/test_cli_charger.py runs it against the "
        "simulated cloud"
    ),
    "smartcharge charger pause | resume | lock | unlock | restart": (
        "sends commands to a real charger (account); tests/test_cli_charger.py covers them"
    ),
    "smartcharge charger current 10": "sends a command to a real charger (account)",
    "smartcharge charger energy-cost 0.25": "sends a command to a real charger (account)",
    "smartcharge charger history [--from 2025-01-01] [--to 2025-01-31] [--json]": (
        "reads the cloud's session records (account)"
    ),
}

RUN = {
    "cp .env.example .env",
    f"smartcharge backtest --prices {PRICES} --strategy all",
    f"smartcharge backtest --prices {PRICES} --strategy gentle:GentleCheapest",
    "smartcharge status [--json]",
    "smartcharge sessions [--json]",
}


def fenced_blocks() -> list[tuple[str, str]]:
    """Return ``(language, body)`` of every fenced block of the README."""
    text = README.read_text(encoding="utf-8")
    return re.findall(r"^```(\w*)\n(.*?)^```", text, re.M | re.S)


def _without_comment(line: str) -> str:
    return re.sub(r"\s+#.*$", "", line).strip()


def readme_commands() -> list[str]:
    """Return every command: the lines of ``sh`` blocks, the ``smartcharge`` lines of synopses."""
    out = []
    for lang, body in fenced_blocks():
        for line in body.splitlines():
            command = _without_comment(line)
            if not command or command.startswith("#"):
                continue
            if lang == "sh" or (lang == "" and command.startswith("smartcharge ")):
                out.append(command)
    return out


def variants(synopsis: str) -> list[str]:
    """Return the commands a synopsis stands for: with and without each ``[option]``."""
    found = re.search(r"\s*\[([^\]]+)\]", synopsis)
    if found is None:
        return [synopsis]
    head, tail = synopsis[: found.start()], synopsis[found.end() :]
    return [
        *variants(head + tail),
        *variants(f"{head} {found.group(1)}{tail}"),
    ]


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    """A folder laid out like a fresh clone, for the files the commands read."""
    shutil.copy(ROOT / ".env.example", tmp_path / ".env.example")
    (tmp_path / "smartcharge" / "data").mkdir(parents=True)
    shutil.copy(ROOT / PRICES, tmp_path / PRICES)
    return tmp_path


def sh(command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run ``command`` with /bin/sh exactly as printed, the installed smartcharge on PATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SMARTCHARGE_", "ENTSOE_"))}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return subprocess.run(  # noqa: S602 - the README's command line, exactly as printed
        command,
        shell=True,
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
        check=False,
    )


def strategy_example() -> tuple[str, str]:
    """Return the README's own-strategy file: its path (from its first line) and its text."""
    body = next(b for lang, b in fenced_blocks() if lang == "python" and "GentleCheapest" in b)
    path = re.match(r"# (\S+\.py):", body)
    assert path is not None, "the example's first line names its file"
    return path.group(1), body


def test_every_readme_command_is_run_or_skipped_with_a_reason():
    """No README command is left out: each is run below or skipped here with its reason."""
    commands = readme_commands()

    assert [] == [c for c in commands if c not in RUN and c not in SKIPPED]
    assert set() == (RUN | set(SKIPPED)) - set(commands), "listed but no longer in the README"
    assert all(len(reason) > 10 for reason in SKIPPED.values())


def test_cp_env_example(clone: Path):
    """``cp .env.example .env`` gives a .env that smartcharge reads (it only has comments)."""
    done = sh("cp .env.example .env", clone)
    check = sh("smartcharge status", clone)

    assert 0 == done.returncode, done.stderr
    assert (clone / ".env.example").read_text() == (clone / ".env").read_text()
    assert 0 == check.returncode, check.stderr


def test_backtest_example_runs_on_the_shipped_year(clone: Path):
    """The backtest example runs on the price file that ships with smartcharge."""
    done = sh(f"smartcharge backtest --prices {PRICES} --strategy all", clone)

    assert 0 == done.returncode, done.stderr
    assert "365 sessions" in done.stdout
    for name in ("cheapest", "contiguous", "immediate"):
        assert re.search(rf"^{name}\s+\d+\.\d\d\s+1\.\d{{4}}", done.stdout, re.M), name


def test_own_strategy_example_runs_from_the_state_dir_without_pythonpath(clone: Path):
    """The README's file, saved where it says, is found as gentle:GentleCheapest; no PYTHONPATH."""
    path, body = strategy_example()
    (clone / path).parent.mkdir(parents=True)
    (clone / path).write_text(body, encoding="utf-8")

    done = sh(f"smartcharge backtest --prices {PRICES} --strategy gentle:GentleCheapest", clone)

    assert "state/strategies/gentle.py" == path
    assert 0 == done.returncode, done.stderr
    assert re.search(r"^gentle\s+\d+\.\d\d", done.stdout, re.M)


def test_own_strategy_in_the_settings_is_found_in_strategy_path(clone: Path, tmp_path: Path):
    """SMARTCHARGE_STRATEGY=gentle:GentleCheapest with SMARTCHARGE_STRATEGY_PATH elsewhere."""
    _, body = strategy_example()
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    (folder / "gentle.py").write_text(body, encoding="utf-8")
    (clone / ".env").write_text(
        f"SMARTCHARGE_STRATEGY=gentle:GentleCheapest\nSMARTCHARGE_STRATEGY_PATH={folder}\n",
        encoding="utf-8",
    )

    done = sh(f"smartcharge backtest --prices {PRICES}", clone)
    (clone / ".env").write_text("SMARTCHARGE_STRATEGY=gentle:GentleCheapest\n", encoding="utf-8")
    missing = sh(f"smartcharge backtest --prices {PRICES}", clone)

    assert 0 == done.returncode, done.stderr
    assert re.search(r"^gentle\s+\d+\.\d\d", done.stdout, re.M)
    assert 2 == missing.returncode
    assert "SMARTCHARGE_STRATEGY='gentle:GentleCheapest' (.env:1)" in missing.stderr
    assert "state/strategies" in missing.stderr
    assert "Traceback" not in missing.stderr


@pytest.mark.parametrize(
    "synopsis", ["smartcharge status [--json]", "smartcharge sessions [--json]"]
)
def test_watching_commands_run_in_a_fresh_folder(clone: Path, synopsis: str):
    """status and sessions, with and without --json, work before any daemon ever ran."""
    for command in variants(synopsis):
        done = sh(command, clone)

        assert 0 == done.returncode, (command, done.stderr)
        if command.endswith("--json"):
            json.loads(done.stdout)


def test_config_error_example_is_what_smartcharge_prints(clone: Path):
    """The README's sample error line is printed as shown, for a .env with 7h on line 12."""
    example = next(
        line
        for lang, b in fenced_blocks()
        if lang == ""
        for line in b.splitlines()
        if "SMARTCHARGE_READY_BY='7h'" in line
    )
    (clone / ".env").write_text("#\n" * 11 + "SMARTCHARGE_READY_BY=7h\n", encoding="utf-8")

    done = sh("smartcharge check-config", clone)

    assert 2 == done.returncode
    assert example in done.stderr.splitlines()


def test_strategy_example_caps_the_current(tmp_path: Path):
    """The example class, loaded from a strategy folder, plans at no more than 10 A."""
    _, body = strategy_example()
    (tmp_path / "gentle.py").write_text(body, encoding="utf-8")
    start = utc(2025, 1, 15, 18)
    prices = PriceCurve(
        PriceSlot(
            start + timedelta(hours=h), start + timedelta(hours=h + 1), 50.0 + h, 0.2 + h / 100
        )
        for h in range(13)
    )
    request = PlanRequest(
        now=start,
        ready_by=start + timedelta(hours=13),
        energy_needed_kwh=10.0,
        prices=prices,
        max_current_a=16,
    )
    try:
        strategy = get_strategy("gentle:GentleCheapest", search_path=[tmp_path])
        plan = strategy.plan(request)
    finally:
        sys.modules.pop("gentle", None)

    assert "gentle" == strategy.name
    assert plan.is_reachable
    assert 10.0 == pytest.approx(plan.energy_kwh)
    assert 10.0 >= max(s.current_a for s in plan.slots)
    assert str(tmp_path) not in sys.path
