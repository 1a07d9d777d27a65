"""``smartcharge demo`` as a user runs it: a subprocess, no .env, no account, no key."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from smartcharge.demo import EnergyCostUpdates, plan_line, quarter_rows
from smartcharge.domain import utc
from smartcharge.ledger import in_cents
from strategies.base import Plan, PlanSlot


@pytest.fixture(scope="module")
def demo_run(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[subprocess.CompletedProcess[str], Path]:
    """Run the demo once for every test of this module; return the process and its cwd.

    How long it takes is a benchmark's figure (tests/benchmarks/bench_demo.py), not a test's.
    """
    cwd = tmp_path_factory.mktemp("demo")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SMARTCHARGE_", "ENTSOE_"))}
    done = subprocess.run(
        [sys.executable, "-m", "smartcharge", "demo"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return done, cwd


def test_demo_runs_a_night_and_meets_the_target(
    demo_run: tuple[subprocess.CompletedProcess[str], Path],
):
    """Exit 0; prints the plan, the decisions and a ledger whose target was met."""
    done, cwd = demo_run
    out = done.stdout

    assert 0 == done.returncode, done.stderr[-2000:]
    assert "plan made (session_started)" in out
    assert "EUR/kWh" in out
    assert "pause  charging" in out
    assert "resume charging" in out
    assert "Ledger" in out
    assert "target met 1/1" in out
    assert "saved EUR" in out
    assert list(cwd.iterdir()) == []  # nothing left behind in the working folder


def test_demo_table_has_one_row_per_quarter_hour(
    demo_run: tuple[subprocess.CompletedProcess[str], Path],
):
    """18:00 to 06:15 in 50 rows, 02:45 included (its price equals 02:30's); no 06:28 row."""
    rows = re.findall(r"^  (\d\d:\d\d)   ", demo_run[0].stdout, re.M)
    start = datetime(2025, 12, 16, 18, 0)
    expected = [f"{start + timedelta(minutes=15 * i):%H:%M}" for i in range(50)]

    assert expected == rows
    assert "until 06:28" in demo_run[0].stdout


def test_demo_plan_line_and_ledger_show_the_same_euros(
    demo_run: tuple[subprocess.CompletedProcess[str], Path],
):
    """The plan line's cost, immediate cost and saving are the ledger's (once 5.59 vs 5.60)."""
    out = demo_run[0].stdout
    plan = re.search(
        r"for EUR (\d+\.\d\d), immediate charging would cost EUR (\d+\.\d\d) "
        r"\(saving EUR (\d+\.\d\d)\)",
        out,
    )
    ledger = re.search(
        r"EUR (\d+\.\d\d) \(immediate charging: EUR (\d+\.\d\d); saved EUR (\d+\.\d\d)\)", out
    )

    assert plan is not None
    assert ledger is not None
    assert plan.groups() == ledger.groups()
    cost, immediate, saving = (float(x) for x in plan.groups())
    assert immediate == pytest.approx(cost + saving)


def test_demo_shows_decisions_and_sums_up_energy_costs(
    demo_run: tuple[subprocess.CompletedProcess[str], Path],
):
    """Charging decisions are marked; the energy-cost updates are one summary with a range."""
    out = demo_run[0].stdout
    decisions = re.findall(r"^\d\d:\d\d  ▶ (.*)$", out, re.M)
    summary = re.search(r"Energy-cost updates: (\d+), between EUR (\S+) and (\S+)/kWh", out)
    commands = re.search(r"(\d+) commands to the charger \((\d+) charging decisions, (\d+) ", out)

    assert "set the energy cost" not in out
    assert summary is not None
    assert commands is not None
    assert int(commands.group(2)) == len(decisions)
    assert int(commands.group(3)) == int(summary.group(1))
    assert int(commands.group(1)) == len(decisions) + int(summary.group(1))
    assert float(summary.group(2)) < float(summary.group(3))
    assert 3 <= len(decisions) <= 10


def _slot(start: datetime, minutes: float, current_a: float, kwh: float, price: float) -> PlanSlot:
    return PlanSlot(start, start + timedelta(minutes=minutes), current_a, kwh, price)


def test_quarter_rows_split_merged_slots_and_fold_partial_ones():
    """A 30-minute slot gives two rows with half the energy; a slot cut at :28 stays one row."""
    t = utc(2025, 12, 17, 1, 30)
    cut = t + timedelta(minutes=58)
    plan = Plan(
        "test",
        (
            _slot(t, 30, 16, 5.5, 0.21),
            _slot(t + timedelta(minutes=30), 15, 0, 0.0, 0.25),
            PlanSlot(t + timedelta(minutes=45), cut, 16, 2.4, 0.20),
            PlanSlot(cut, t + timedelta(minutes=60), 0, 0.0, 0.20),
        ),
        cost_eur=1.6,
        energy_kwh=7.9,
        is_reachable=True,
    )

    rows = quarter_rows(plan)

    assert [t + timedelta(minutes=15 * i) for i in range(4)] == [r.start for r in rows]
    assert [2.75, 2.75, 0.0, 2.4] == pytest.approx([r.energy_kwh for r in rows])
    assert [16, 16, 0, 16] == [r.current_a for r in rows]
    assert [None, None, None, cut] == [r.charge_until for r in rows]
    assert [0.21, 0.21, 0.25, 0.20] == [r.price_eur_per_kwh for r in rows]


def test_euros_are_rounded_once_and_add_up():
    """Cost and saving are rounded to cents once; the immediate cost shown is their sum."""
    line = plan_line(
        {"reason": "x", "energy_kwh": 20.0, "cost_eur": 4.196, "immediate_cost_eur": 5.5937}
    )

    assert ("4.20", "5.60", "1.40") == in_cents(4.196, 5.5937)
    assert ("4.20", "5.60", "1.40") == in_cents(4.1982, 5.5954)
    assert line.endswith("EUR 4.20, immediate charging would cost EUR 5.60 (saving EUR 1.40)")
    assert "No energy-cost update was needed." == EnergyCostUpdates().summary()
