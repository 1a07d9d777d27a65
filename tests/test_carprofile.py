"""The car profile: the draw share, learning it from a session, and its store."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from smartcharge.carprofile import CarProfile, DrawReading, deviates, draw_share, learn
from smartcharge.carstore import CarProfileStore
from smartcharge.simulator.clock import SimulatedClock

NOW = datetime(2025, 12, 17, 6, 0, tzinfo=UTC)
KW_PER_A = 0.69  # three phases at 230 V


def test_a_one_phase_car_draws_a_third():
    """3.68 kW at 16 A behind a three-phase setting is a draw share of one third."""
    assert pytest.approx(1 / 3) == draw_share(3.68, 16, KW_PER_A)


def test_no_share_without_power_or_current():
    """A reading with no power or no current says nothing; a share is never above 1."""
    assert draw_share(0.0, 16, KW_PER_A) is None
    assert draw_share(3.0, 0, KW_PER_A) is None
    assert 1.0 == draw_share(12.0, 16, KW_PER_A)


def test_deviates_is_relative_to_the_assumption():
    """20 % is the threshold: 0.8 of 1.0 does not deviate, 0.79 does."""
    assert not deviates(0.8, 1.0, 0.2)
    assert deviates(0.79, 1.0, 0.2)
    assert deviates(1.0, 0.31, 0.2)


def test_learn_a_steady_one_phase_car():
    """The median share of the readings; the median power per current."""
    readings = [DrawReading(16, 3.42)] * 10 + [DrawReading(6, 1.28)] * 2

    profile = learn(readings, KW_PER_A, NOW)

    assert profile is not None
    assert pytest.approx(3.42 / (16 * KW_PER_A), abs=1e-3) == profile.draw_share
    assert profile.taper_share is None
    assert ((6, 1.28), (16, 3.42)) == profile.power_by_current_kw
    assert (12, 1) == (profile.readings, profile.sessions)
    assert pytest.approx(3.42, abs=0.01) == profile.full_power_kw(16, KW_PER_A)


def test_learn_the_taper_at_the_end_of_a_session():
    """Readings that fall well below the steady share at the end are the taper."""
    readings = [DrawReading(16, 10.3)] * 20 + [DrawReading(16, p) for p in (6.0, 5.0, 4.5)]

    profile = learn(readings, KW_PER_A, NOW)

    assert profile is not None
    assert pytest.approx(10.3 / 11.04, abs=1e-3) == profile.draw_share
    assert pytest.approx(5.0 / 10.3, abs=1e-3) == profile.taper_share


def test_a_session_without_taper_keeps_the_taper_learnt_before():
    """A session that stopped before the taper says nothing about it."""
    before = learn([DrawReading(16, 10.3)] * 20 + [DrawReading(16, 5.0)] * 3, KW_PER_A, NOW, None)
    assert before is not None

    after = learn([DrawReading(16, 10.3)] * 5, KW_PER_A, NOW, before)

    assert after is not None
    assert before.taper_share == after.taper_share
    assert 2 == after.sessions


def test_nothing_to_learn_from_a_session_that_never_charged():
    """No charging reading: no profile."""
    assert learn([], KW_PER_A, NOW) is None


def test_the_store_round_trips_and_moves_a_bad_file_aside(tmp_path: Path):
    """Saved and loaded equal; a file that does not parse is moved aside and logged."""
    clock = SimulatedClock(NOW)
    store = CarProfileStore(tmp_path, clock)
    profile = CarProfile(0.31, 0.45, ((16, 3.42),), 40, 2, NOW)
    store.save(profile)

    assert profile == store.load()

    store.path.write_text(json.dumps({"not": "a document"}), encoding="utf-8")
    with capture_logs() as logs:
        assert store.load() is None
    assert "car_profile_file_corrupt" in [e["event"] for e in logs]
    assert not store.path.exists() or store.load() is None


def test_status_shows_what_was_learnt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    """`smartcharge status` prints the learnt draw and taper; --json carries the profile."""
    from smartcharge.cli import main  # noqa: PLC0415

    CarProfileStore(tmp_path, SimulatedClock(NOW)).save(
        CarProfile(0.31, 0.45, ((16, 3.42),), 40, 2, NOW)
    )
    monkeypatch.setenv("SMARTCHARGE_STATE_DIR", str(tmp_path))

    assert 0 == main(["status", "--json"])
    data = json.loads(capsys.readouterr().out)
    assert 0 == main(["status"])
    text = capsys.readouterr().out

    assert 0.31 == data["car_profile"]["draw_share"]
    assert 3.42 == data["car_profile"]["full_power_kw"]
    assert "draws 3.42 kW at 16 A (31 % of nominal); near full it fell to 45 % of that" in text


def test_status_says_when_nothing_was_learnt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    """Without a profile, status says the nominal power is used."""
    from smartcharge.cli import main  # noqa: PLC0415

    monkeypatch.setenv("SMARTCHARGE_STATE_DIR", str(tmp_path))

    assert 0 == main(["status"])
    assert "car: nothing learnt yet" in capsys.readouterr().out
