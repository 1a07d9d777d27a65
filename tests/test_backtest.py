"""The backtest: reading price files, sessions, what was known when, and the simulation."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from datetime import date, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from smartcharge.cli import main
from smartcharge.domain import PriceCurve, utc
from smartcharge.prices.feed import PUBLICATION_TIME
from smartcharge.pricing import Tariff
from smartcharge.tools.backtest import (
    BacktestConfig,
    PriceFileError,
    Session,
    _Truth,
    known_until,
    percentile,
    publications_between,
    read_price_csv,
    run_backtest,
    sessions,
    simulate_session,
    whole_amp_current,
)
from smartcharge.tools.optimum import optimal_cost, planner_slots
from strategies.base import Plan, PlanRequest, PlanSlot

PRICES = Path(__file__).parent / "fixtures" / "prices"
MIXED = PRICES / "nl_2025-09-29_2025-10-02.csv"
FALL_BACK = PRICES / "nl_2025-10-25_2025-10-27_dst.csv"
SPRING = PRICES / "nl_2025-03-29_2025-03-31_dst.csv"
TARIFF = Tariff(markup_eur_per_kwh=0.0, tax_eur_per_kwh=0.09157, vat_percent=21.0)
AMSTERDAM = ZoneInfo("Europe/Amsterdam")


def _kw(request: PlanRequest, current_a: float) -> float:
    return current_a * request.phases * request.voltage_v / 1000


@dataclass
class FullPower:
    """Full power from ``now`` until the energy is in (a test strategy of our own)."""

    name: str = "full-power"

    def plan(self, request: PlanRequest) -> Plan:
        kw = _kw(request, request.max_current_a)
        end = min(request.deadline, request.now + timedelta(hours=request.energy_needed_kwh / kw))
        energy = kw * (end - request.now) / timedelta(hours=1)
        slots = (PlanSlot(request.now, end, request.max_current_a, energy, None),)
        return Plan(self.name, slots, 0.0, energy, True)


@dataclass
class FixedCurrent:
    """A steady current over the whole window, recording every request it gets."""

    current_a: float
    name: str = "fixed"
    requests: list[PlanRequest] = field(default_factory=list)

    def plan(self, request: PlanRequest) -> Plan:
        self.requests.append(request)
        energy = (
            _kw(request, self.current_a) * (request.deadline - request.now) / timedelta(hours=1)
        )
        slots = (PlanSlot(request.now, request.deadline, self.current_a, energy, None),)
        return Plan(self.name, slots, 0.0, energy, True)


@dataclass
class OptimalLp:
    """The HiGHS LP solution, each slot charging at full current from its start."""

    name: str = "optimal-lp"

    def plan(self, request: PlanRequest) -> Plan:
        result = optimal_cost(request, limit_blocks=False)
        kw = _kw(request, request.max_current_a)
        slots = []
        for (start, end, _), energy in zip(
            planner_slots(request), result.energies_kwh, strict=True
        ):
            if energy > 0:
                slots.append(
                    PlanSlot(
                        start,
                        min(end, start + timedelta(hours=energy / kw)),
                        request.max_current_a,
                        energy,
                        None,
                    )
                )
        return Plan(self.name, tuple(slots), result.cost_eur, result.energy_kwh, True)


@dataclass
class TwoBlocks:
    """Charge the first and the last hour of the window at full current."""

    name: str = "two-blocks"

    def plan(self, request: PlanRequest) -> Plan:
        hour = timedelta(hours=1)
        i = request.max_current_a
        slots = (
            PlanSlot(request.now, request.now + hour, i, 0.0, None),
            PlanSlot(request.deadline - hour, request.deadline, i, 0.0, None),
        )
        return Plan(self.name, slots, 0.0, 0.0, True)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "prices.csv"
    path.write_text(text, encoding="utf-8")
    return path


# --- Reading price files.


def test_reads_hourly_and_quarter_hour_rows_with_the_tariff() -> None:
    """An hourly row lasts an hour, a quarter-hour row 15 minutes; prices are all-in."""
    curve = read_price_csv(MIXED, TARIFF)

    last_hour = curve.slot_at(utc(2025, 9, 30, 21, 30))
    first_quarter = curve.slot_at(utc(2025, 9, 30, 22, 0))
    assert last_hour is not None
    assert first_quarter is not None
    assert (utc(2025, 9, 30, 21), utc(2025, 9, 30, 22)) == (last_hour.start, last_hour.end)
    assert timedelta(minutes=15) == first_quarter.duration
    assert 102.6 == first_quarter.spot_eur_per_mwh
    assert (0.1026 + 0.09157) * 1.21 == pytest.approx(first_quarter.price_eur_per_kwh, abs=1e-6)
    assert utc(2025, 10, 2, 22) == curve.known_until


def test_a_gap_leaves_prices_unknown() -> None:
    """Past a gap, a row lasts as long as the row before; the rest is unknown."""
    text = (
        "start_utc,price_eur_per_mwh\n"
        "2025-01-01T00:00:00Z,10\n"
        "2025-01-01T00:15:00Z,11\n"
        "2025-01-01T03:00:00Z,12\n"
    )

    curve = read_price_csv(write(Path.cwd(), text), TARIFF)

    assert utc(2025, 1, 1, 0, 30) == curve.known_until_from(utc(2025, 1, 1))
    assert curve.price_at(utc(2025, 1, 1, 1)) is None
    assert utc(2025, 1, 1, 3, 15) == curve.known_until


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("start,price\n2025-01-01T00:00:00Z,1\n", ":1: expected the header start_utc,price"),
        ("", ":1: expected the header"),
        ("start_utc,price_eur_per_mwh\n", "no price rows"),
        (
            "start_utc,price_eur_per_mwh\n2025-01-01T00:00:00Z,1\n2025-01-01 01:00,2\n",
            ":3: bad start_utc '2025-01-01 01:00'; expected ISO-8601 UTC with a Z",
        ),
        (
            "start_utc,price_eur_per_mwh\n2025-01-01T00:00:00Z,1,2\n",
            ":2: 3 fields; expected start_utc,price_eur_per_mwh",
        ),
        (
            "start_utc,price_eur_per_mwh\n2025-01-01T00:00:00Z,1\n2025-01-01T01:00:00Z,1,5\n",
            ":3: 3 fields",
        ),
        (
            "start_utc,price_eur_per_mwh\n2025-01-01T00:00:00Z,12;5\n",
            ":2: bad price_eur_per_mwh '12;5'; expected a number with a dot",
        ),
        (
            "start_utc,price_eur_per_mwh\n2025-01-01T00:00:00Z,nan\n",
            ":2: price_eur_per_mwh 'nan' is not a finite number",
        ),
        (
            "start_utc,price_eur_per_mwh\n2025-01-01T01:00:00Z,1\n2025-01-01T00:00:00Z,2\n",
            ":3: start_utc 2025-01-01T00:00:00Z is not after line 2's",
        ),
        (
            "start_utc,price_eur_per_mwh\n2025-01-01T00:10:00Z,1\n",
            ":2: start_utc '2025-01-01T00:10:00Z' is not on a quarter-hour",
        ),
        (
            "start_utc,price_eur_per_mwh\n2025-01-01T00:00:00Z,1\n"
            "2025-01-01T01:00:00Z,1\n2025-01-01T01:30:00Z,1\n",
            ":4: starts 0:30:00 after line 3; expected steps of 15 minutes or one hour",
        ),
    ],
)
def test_bad_price_files_name_file_line_and_expectation(text: str, message: str) -> None:
    """Each malformed file is refused with the file, the line and what was expected."""
    path = write(Path.cwd(), text)

    with pytest.raises(PriceFileError) as info:
        read_price_csv(path, TARIFF)

    assert str(info.value).startswith(str(path))
    assert message in str(info.value)


def test_missing_file_is_a_price_file_error() -> None:
    """A path that is not there is named in the error."""
    with pytest.raises(PriceFileError, match="nope.csv: cannot read the price file"):
        read_price_csv(Path("nope.csv"), TARIFF)


# --- Sessions and publication.


def test_sessions_are_local_evenings_to_next_mornings() -> None:
    """18:00 CEST to 07:00 CEST is 16:00Z to 05:00Z; the margin comes off the ready-by time."""
    curve = read_price_csv(MIXED, TARIFF)

    days, skipped = sessions(curve, BacktestConfig())

    assert [date(2025, 9, 29), date(2025, 9, 30), date(2025, 10, 1)] == [s.day for s in days]
    assert 0 == skipped
    assert (
        Session(
            date(2025, 9, 29), utc(2025, 9, 29, 16), utc(2025, 9, 30, 5), utc(2025, 9, 30, 4, 30)
        )
        == days[0]
    )


@pytest.mark.parametrize(
    ("path", "day", "hours"),
    [(FALL_BACK, date(2025, 10, 25), 14), (SPRING, date(2025, 3, 29), 12)],
)
def test_dst_nights_are_an_hour_longer_or_shorter(path: Path, day: date, hours: int) -> None:
    """18:00 to 07:00 spans 14 h in the fall-back night and 12 h in the spring-forward night."""
    curve = read_price_csv(path, TARIFF)

    days, _ = sessions(curve, BacktestConfig())

    night = next(s for s in days if s.day == day)
    assert timedelta(hours=hours) == night.ready_by_at - night.plug_in_at


def test_ready_by_later_the_same_day() -> None:
    """A plug-in before the ready-by time is ready the same day."""
    curve = read_price_csv(MIXED, TARIFF)
    config = BacktestConfig(plug_in=time(1, 0), ready_by=time(7, 0))

    days, _ = sessions(curve, config)

    assert utc(2025, 9, 28, 23) == days[0].plug_in_at
    assert utc(2025, 9, 29, 5) == days[0].ready_by_at
    assert 4 == len(days)


def test_sessions_over_a_gap_are_skipped_and_counted() -> None:
    """A session whose window lacks prices is skipped, not simulated."""
    curve = read_price_csv(MIXED, TARIFF)
    holed = PriceCurve(
        s for s in curve if not utc(2025, 9, 30, 20) <= s.start < utc(2025, 9, 30, 21)
    )

    days, skipped = sessions(holed, BacktestConfig())

    assert [date(2025, 9, 29), date(2025, 10, 1)] == [s.day for s in days]
    assert 1 == skipped


def test_day_ahead_is_known_from_13_00_cet_as_in_the_feed() -> None:
    """Before 13:00 CEST only today is known, after it tomorrow as well: the moment the daemon's
    price feed counts tomorrow as due (one constant, prices.feed.PUBLICATION_TIME)."""
    assert time(13, 0) == PUBLICATION_TIME
    assert utc(2025, 9, 29, 22) == known_until(utc(2025, 9, 29, 10, 59))
    assert utc(2025, 9, 30, 22) == known_until(utc(2025, 9, 29, 11, 0))
    assert utc(2025, 1, 15, 23) == known_until(utc(2025, 1, 15, 11, 59))
    assert utc(2025, 1, 16, 23) == known_until(utc(2025, 1, 15, 12, 0))
    assert [utc(2025, 9, 29, 11, 0)] == publications_between(
        utc(2025, 9, 29, 8), utc(2025, 9, 30, 5)
    )
    assert [] == publications_between(utc(2025, 9, 29, 16), utc(2025, 9, 30, 5))


# --- Simulation.


def test_full_power_strategy_costs_what_immediate_costs() -> None:
    """Our own full-power plan, executed, costs exactly the independent immediate baseline."""
    curve = read_price_csv(MIXED, TARIFF)

    report = run_backtest(curve, [FullPower()], BacktestConfig())

    result = report.results[0]
    assert 3 == result.sessions
    assert result.immediate_cost_eur == pytest.approx(result.cost_eur, abs=1e-6)
    assert 60.0 == pytest.approx(result.energy_kwh, abs=1e-6)
    assert 0 == result.missed_deadlines
    assert 1.0 == result.switches_per_session
    assert result.optimal_cost_eur < result.cost_eur


def test_optimal_plans_cost_the_optimum() -> None:
    """Executing the LP's energies at the true prices reproduces the optimum's cost."""
    curve = read_price_csv(FALL_BACK, TARIFF)
    config = BacktestConfig(max_interruptions=96, energy_kwh=35.0)

    result = run_backtest(curve, [OptimalLp()], config).results[0]

    assert 2 == result.sessions
    assert result.optimal_cost_eur == pytest.approx(result.cost_eur, abs=1e-6)
    assert 0 == result.missed_deadlines
    assert 1.0 == pytest.approx(result.cost_ratio)


def test_missed_deadline_switches_and_limit_violations_are_counted() -> None:
    """Two short blocks miss 40 kWh; a 3 A plan breaks the minimum current in every session."""
    curve = read_price_csv(MIXED, TARIFF)
    config = BacktestConfig(energy_kwh=40.0)

    two, weak = run_backtest(curve, [TwoBlocks(), FixedCurrent(3.0)], config).results

    assert 3 == two.missed_deadlines
    assert 2.0 == two.switches_per_session
    assert 0 == two.limit_violations
    assert 3 == weak.limit_violations


def test_publication_inside_the_session_triggers_a_new_plan() -> None:
    """Plugged in at 10:00, the plan sees today only; at 13:00 it sees tomorrow, minus the
    energy already delivered."""
    curve = read_price_csv(MIXED, TARIFF)
    config = BacktestConfig(plug_in=time(10, 0), energy_kwh=150.0)
    days, _ = sessions(curve, config)
    strategy = FixedCurrent(8.0)

    out = simulate_session(strategy, days[0], _Truth(curve), config)

    first, second = strategy.requests
    assert utc(2025, 9, 29, 22) == first.prices.known_until
    assert utc(2025, 9, 30, 22) == second.prices.known_until
    assert utc(2025, 9, 29, 11, 0) == second.now
    delivered_before = 8.0 * 0.69 * 3.0
    assert 150.0 - delivered_before == pytest.approx(second.energy_needed_kwh)
    assert 8.0 * 0.69 * 20.5 == pytest.approx(out.delivered_kwh)
    assert 1 == out.blocks


def test_whole_amp_rounding_rule() -> None:
    """Fractional currents go up to the next amp; 0 and full stay; never above the maximum."""
    assert 0.0 == whole_amp_current(0.0, 15.94)
    assert 7.0 == whole_amp_current(6.2, 15.94)
    assert 7.0 == whole_amp_current(7.0, 15.94)
    assert 15.94 == whole_amp_current(15.5, 15.94)
    assert 15.94 == whole_amp_current(15.94, 15.94)


def test_whole_amps_reach_the_target_sooner_and_stop() -> None:
    """6.2 A misses 55 kWh in 12.5 h; rounded to 7 A it gets there and stops when full."""
    curve = read_price_csv(MIXED, TARIFF)
    config = BacktestConfig(energy_kwh=55.0)
    days, _ = sessions(curve, config)
    strategy = FixedCurrent(6.2)
    truth = _Truth(curve)

    floats = simulate_session(strategy, days[0], truth, config)
    whole = simulate_session(strategy, days[0], truth, config, whole_amps=True)

    assert 6.2 * 0.69 * 12.5 == pytest.approx(floats.delivered_kwh)
    assert 55.0 == pytest.approx(whole.delivered_kwh)
    assert floats.cost_eur != whole.cost_eur


def test_whole_amp_gap_is_reported_beside_the_cost() -> None:
    """The result keeps the float cost and the whole-amp cost apart."""
    curve = read_price_csv(MIXED, TARIFF)
    config = BacktestConfig(energy_kwh=10.0)

    result = run_backtest(curve, [FixedCurrent(6.5)], config).results[0]

    assert result.whole_amp_cost_eur - result.cost_eur == pytest.approx(result.whole_amp_gap_eur)
    assert result.whole_amp_gap_eur != 0.0
    assert 0 == result.whole_amp_missed_deadlines


def test_json_keys_are_exactly_the_documented_ones() -> None:
    """--json exposes exactly the issue's keys."""
    curve = read_price_csv(MIXED, TARIFF)

    payload = run_backtest(curve, [FullPower()], BacktestConfig()).results[0].to_json()

    assert {
        "sessions",
        "strategy",
        "cost_eur",
        "immediate_cost_eur",
        "optimal_cost_eur",
        "missed_deadlines",
        "switches_per_session",
        "plan_ms_p50",
        "plan_ms_p99",
    } == set(payload)


def test_first_and_last_day_limit_the_sessions() -> None:
    """first_day and last_day select the plug-in days."""
    curve = read_price_csv(MIXED, TARIFF)
    config = replace(BacktestConfig(), first_day=date(2025, 9, 30), last_day=date(2025, 9, 30))

    days, _ = sessions(curve, config)

    assert [date(2025, 9, 30)] == [s.day for s in days]


def test_percentile_interpolates() -> None:
    """p50 of 1..5 is 3, p99 of 0 and 100 is 99, and an empty list gives nan."""
    assert 3.0 == percentile([5, 1, 3, 2, 4], 50)
    assert 99.0 == pytest.approx(percentile([0, 100], 99))
    assert percentile([], 50) != percentile([], 50)


# --- The command line.

KEYS = {
    "sessions",
    "strategy",
    "cost_eur",
    "immediate_cost_eur",
    "optimal_cost_eur",
    "missed_deadlines",
    "switches_per_session",
    "plan_ms_p50",
    "plan_ms_p99",
}


def test_cli_json_for_one_strategy_is_an_object(capsys: pytest.CaptureFixture[str]) -> None:
    """--json prints one object with exactly the documented keys; cheapest costs the optimum."""
    status = main(["backtest", "--prices", str(MIXED), "--strategy", "cheapest", "--json"])

    payload = json.loads(capsys.readouterr().out)
    assert 0 == status
    assert KEYS == set(payload)
    assert 3 == payload["sessions"]
    assert payload["optimal_cost_eur"] == pytest.approx(payload["cost_eur"], abs=1e-4)


def test_cli_json_for_all_is_a_list(capsys: pytest.CaptureFixture[str]) -> None:
    """--strategy all prints a list with one object per strategy, threshold included."""
    status = main(
        ["backtest", "--prices", str(MIXED), "--strategy", "all", "--max-price", "p30", "--json"]
    )

    payload = json.loads(capsys.readouterr().out)
    assert 0 == status
    assert ["cheapest", "contiguous", "threshold", "immediate"] == [p["strategy"] for p in payload]
    assert all(KEYS == set(p) for p in payload)


def test_cli_all_without_a_price_limit_skips_threshold(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Without SMARTCHARGE_MAX_PRICE, threshold is skipped with a note; the table still prints."""
    status = main(["backtest", "--prices", str(FALL_BACK), "--strategy", "all"])

    out, err = capsys.readouterr()
    assert 0 == status
    assert "threshold skipped" in err
    assert "cost/opt" in out
    assert "cheapest" in out


def test_cli_bad_csv_exits_2_naming_file_and_line(capsys: pytest.CaptureFixture[str]) -> None:
    """A malformed row: exit 2, the file and line in the message, no traceback."""
    path = write(
        Path.cwd(), "start_utc,price_eur_per_mwh\n2025-01-01T00:00:00Z,1\n2025-01-01T01:00,2\n"
    )

    status = main(["backtest", "--prices", str(path)])

    err = capsys.readouterr().err
    assert 2 == status
    assert f"{path}:3: bad start_utc" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--plug-in", "25:00"], "argument --plug-in: expected HH:MM"),
        (["--energy-kwh", "-1"], "argument --energy-kwh: expected a number of kWh above 0"),
        (["--power-kw", "lots"], "argument --power-kw: expected a number of kW"),
        (["--tz", "Mars/Base"], "unknown time zone 'Mars/Base'"),
    ],
)
def test_cli_bad_arguments_exit_2(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Bad flags are refused by argparse with exit status 2 and a clear message."""
    with pytest.raises(SystemExit) as info:
        main(["backtest", "--prices", str(MIXED), *args])

    assert 2 == info.value.code
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--strategy", "cheapo"], "--strategy 'cheapo': unknown strategy; expected one of"),
        (["--power-kw", "2"], "--power-kw 2 is below the power at the minimum current"),
        (["--plug-in", "07:00"], "--plug-in and --ready-by are the same time"),
    ],
)
def test_cli_inconsistent_arguments_exit_2(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Arguments that parse but make no sense: exit 2 with a message naming the flag."""
    status = main(["backtest", "--prices", str(MIXED), *args])

    assert 2 == status
    assert message in capsys.readouterr().err
