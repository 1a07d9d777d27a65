"""The registry: built-in names, errors naming the setting, user strategies by path and plug-in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from smartcharge.errors import ConfigError
from strategies import STRATEGIES, available_strategies, get_strategy
from strategies.base import Plan, PlanRequest
from strategies.threshold import ThresholdStrategy, parse_limit
from tests.strategies.helpers import check_guarantees, rates

PLUGIN = '''
from strategies.base import Plan, PlanRequest
from strategies.immediate import ImmediateStrategy


class NightOwl:
    """Charge like immediate, under its own name."""

    name = "night_owl"

    def plan(self, request: PlanRequest) -> Plan:
        p = ImmediateStrategy().plan(request)
        return Plan("night_owl", p.slots, p.cost_eur, p.energy_kwh, p.is_reachable)


class NotAStrategy:
    pass
'''


@pytest.fixture
def plugin_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A user's module on sys.path, plus an installed distribution that registers it."""
    (tmp_path / "my_owl_plugin.py").write_text(PLUGIN)
    dist = tmp_path / "my_owl_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: my-owl-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[smartcharge.strategies]\nowl = my_owl_plugin:NightOwl\nbroken = my_owl_plugin:Nope\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def small_request() -> PlanRequest:
    t0 = datetime(2025, 1, 15, tzinfo=UTC)
    return PlanRequest(
        now=t0,
        ready_by=t0 + timedelta(hours=4),
        energy_needed_kwh=5.0,
        prices=rates([0.3, 0.1, 0.2, 0.4], t0),
    )


def hours_charging(plan: Plan, t0: datetime) -> list[int]:
    return sorted({int((s.start - t0) / timedelta(hours=1)) for s in plan.slots if s.is_charging})


def test_builtin_names() -> None:
    """The four built-ins are listed, cheapest (the default) first."""
    assert ["cheapest", "contiguous", "threshold", "immediate"] == list(STRATEGIES)
    assert available_strategies()[:4] == list(STRATEGIES)


@pytest.mark.parametrize("name", ["cheapest", "CHEAPEST", " contiguous ", "immediate"])
def test_builtin_lookup(name: str) -> None:
    """Names are case- and space-insensitive."""
    assert name.strip().lower() == get_strategy(name).name


def test_unknown_name_names_the_setting_and_the_choices() -> None:
    """A typo gives a ConfigError naming SMARTCHARGE_STRATEGY and every valid name."""
    with pytest.raises(ConfigError) as err:
        get_strategy("cheapst")

    message = str(err.value)
    assert "SMARTCHARGE_STRATEGY='cheapst'" in message
    for name in STRATEGIES:
        assert name in message


def test_threshold_without_a_limit_names_max_price() -> None:
    """threshold needs SMARTCHARGE_MAX_PRICE."""
    with pytest.raises(ConfigError, match="SMARTCHARGE_MAX_PRICE"):
        get_strategy("threshold")


@pytest.mark.parametrize("value", ["abc", "p101", "7", "0.1.2", "p-3", ""])
def test_bad_limit_names_max_price(value: str) -> None:
    """A malformed limit is a ConfigError naming SMARTCHARGE_MAX_PRICE."""
    with pytest.raises(ConfigError, match="SMARTCHARGE_MAX_PRICE"):
        parse_limit(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0.18", ("abs", 0.18)),
        ("-0.05", ("abs", -0.05)),
        ("p30", ("pct", 30.0)),
        ("P100", ("pct", 100.0)),
        (" p0 ", ("pct", 0.0)),
    ],
)
def test_good_limits(value: str, expected: tuple[str, float]) -> None:
    """Absolute EUR/kWh and pNN are accepted."""
    assert expected == parse_limit(value)


def test_relative_limit_is_a_share_of_the_known_prices() -> None:
    """p30 of ten prices is the third cheapest."""
    strategy = ThresholdStrategy("p30")

    assert 0.3 == strategy.limit_for([1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1])
    assert strategy.limit_for([]) is None


def test_threshold_charges_below_the_limit_earliest_first() -> None:
    """Below 0.2 every hour is equally welcome: the earliest, not the cheapest, is taken."""
    t0 = datetime(2025, 1, 15, tzinfo=UTC)
    req = PlanRequest(
        now=t0,
        ready_by=t0 + timedelta(hours=5),
        energy_needed_kwh=11.04,
        prices=rates([0.5, 0.19, 0.05, 0.3, 0.5], t0),
    )

    plan = get_strategy("threshold", max_price="0.2").plan(req)
    cheapest = get_strategy("cheapest").plan(req)

    assert [1] == hours_charging(plan, t0)
    assert [2] == hours_charging(cheapest, t0)


def test_threshold_adds_the_cheapest_extra_slots() -> None:
    """One hour below the limit, three needed: the two cheapest others complete it."""
    t0 = datetime(2025, 1, 15, tzinfo=UTC)
    req = PlanRequest(
        now=t0,
        ready_by=t0 + timedelta(hours=6),
        energy_needed_kwh=3 * 11.04,
        prices=rates([0.5, 0.15, 0.3, 0.25, 0.6, 0.26], t0),
        max_interruptions=3,
        deadline_margin=timedelta(0),
    )

    plan = get_strategy("threshold", max_price="0.2").plan(req)

    assert [1, 3, 5] == hours_charging(plan, t0)
    check_guarantees(plan, req)


def test_user_strategy_by_module_path(plugin_dir: Path) -> None:
    """SMARTCHARGE_STRATEGY=package.module:Class loads the user's class once."""
    strategy = get_strategy("my_owl_plugin:NightOwl")

    plan: Plan = strategy.plan(small_request())

    assert "night_owl" == strategy.name
    assert "night_owl" == plan.strategy
    check_guarantees(plan, small_request())


def test_user_strategy_by_entry_point(plugin_dir: Path) -> None:
    """An installed package registers a name under smartcharge.strategies."""
    assert "owl" in available_strategies()

    strategy = get_strategy("owl")

    assert "night_owl" == strategy.name


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("my_owl_plugin:Missing", "cannot be imported"),
        ("no_such_module_xyz:Thing", "cannot be imported"),
        ("my_owl_plugin:NotAStrategy", "is not a strategy"),
        ("broken", "cannot be loaded"),
    ],
)
def test_bad_user_strategy_is_a_config_error(plugin_dir: Path, name: str, why: str) -> None:
    """A user strategy that fails to load names SMARTCHARGE_STRATEGY and says why."""
    with pytest.raises(ConfigError, match=why) as err:
        get_strategy(name)

    assert "SMARTCHARGE_STRATEGY" in str(err.value)
