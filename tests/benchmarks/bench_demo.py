"""The demo's wall time: ``smartcharge demo`` as a user runs it, timed.

Run: ``python -m pytest tests/benchmarks/bench_demo.py -m benchmark -s``. Prints the figure
(the README promises "well under a minute"); asserts only that the demo finished, since a
test must not depend on the machine's speed or load (``tests/test_demo.py`` checks the output).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.benchmark


def test_demo_wall_time(tmp_path: Path) -> None:
    """Seconds from starting ``python -m smartcharge demo`` to its exit."""
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

    print(f"\nsmartcharge demo: {took_s:.1f} s wall time (README: well under a minute)")
    assert 0 == done.returncode, done.stderr[-2000:]
