"""The README's own-strategy example really plugs in and keeps the guarantees."""

from __future__ import annotations

import re
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from smartcharge.domain import PriceCurve, PriceSlot, utc
from strategies import get_strategy
from strategies.base import PlanRequest

README = Path(__file__).resolve().parent.parent / "README.md"


def test_readme_strategy_example_plugs_in_by_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The example class loads through SMARTCHARGE_STRATEGY-style path and caps the current."""
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    example = next(b for b in blocks if "my_strategies/capped.py" in b)
    package = tmp_path / "my_strategies"
    package.mkdir()
    (package / "__init__.py").write_text("", encoding="utf-8")
    (package / "capped.py").write_text(example, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
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

    strategy = get_strategy("my_strategies.capped:GentleCheapest")
    plan = strategy.plan(request)

    assert "gentle" == strategy.name
    assert plan.is_reachable
    assert 10.0 == pytest.approx(plan.energy_kwh)
    assert 10.0 >= max(s.current_a for s in plan.slots)
    sys.modules.pop("my_strategies.capped", None)
    sys.modules.pop("my_strategies", None)
