"""``smartcharge demo`` as a user runs it: a subprocess, no .env, no account, no key."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path


def test_demo_runs_a_night_in_under_a_minute_and_meets_the_target(tmp_path: Path):
    """Exit 0 in under 60 s; prints the plan, the decisions and a ledger whose target was met."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SMARTCHARGE_", "ENTSOE_"))}
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "smartcharge", "demo"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    took_s = time.monotonic() - started
    out = done.stdout

    assert 0 == done.returncode, done.stderr[-2000:]
    assert took_s < 60
    assert "plan made (session_started)" in out
    assert "EUR/kWh" in out
    assert "pause  charging" in out
    assert "resume charging" in out
    assert "Ledger" in out
    assert "target met 1/1" in out
    assert "saved EUR" in out
    assert list(tmp_path.iterdir()) == []  # nothing left behind in the working folder
