"""The .env watcher: paced by the injected clock, content-based, loads an edit as run does."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from smartcharge.cli import main
from smartcharge.config import load_settings
from smartcharge.runtime.envwatch import (
    WATCH_INTERVAL_S,
    EnvWatcher,
    LiveSettings,
    Rejected,
    Reloaded,
    Unchanged,
    load_as_run,
    report,
)
from smartcharge.settings_diff import SettingKind
from smartcharge.simulator.clock import SimulatedClock

SECRET = "s3cret-pa55word"
BASE = (
    "SMARTCHARGE_WALLBOX_USERNAME=me@example.com\n"
    f"SMARTCHARGE_WALLBOX_PASSWORD={SECRET}\n"
    "SMARTCHARGE_TARGET_KWH=20\n"
)


@pytest.fixture
def env_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A valid .env that run would start with, named by SMARTCHARGE_ENV_FILE."""
    path = tmp_path / "smartcharge.env"
    path.write_text(BASE, encoding="utf-8")
    monkeypatch.setenv("SMARTCHARGE_ENV_FILE", str(path))
    return path


def _watcher(clock: SimulatedClock) -> EnvWatcher:
    settings, _ = load_as_run()
    return EnvWatcher(settings, clock)


def _later(clock: SimulatedClock, seconds: float) -> None:
    clock.set(clock.now() + timedelta(seconds=seconds))


def test_an_edit_is_loaded_once_a_minute_has_passed(env_file: Path, clock: SimulatedClock):
    """Before the interval nothing is read; at the interval the new target is loaded."""
    watcher = _watcher(clock)
    env_file.write_text(BASE.replace("TARGET_KWH=20", "TARGET_KWH=35"), encoding="utf-8")

    _later(clock, WATCH_INTERVAL_S - 1)
    early = watcher.check()
    _later(clock, 1)
    result = watcher.check()

    assert Unchanged() == early
    assert isinstance(result, Reloaded)
    assert 35.0 == result.settings.target_kwh
    assert ("SMARTCHARGE_TARGET_KWH",) == result.diff.names
    assert result.diff.needs_replan
    assert 35.0 == watcher.settings.target_kwh
    assert 60.0 == WATCH_INTERVAL_S


def test_a_forced_check_reads_at_once(env_file: Path, clock: SimulatedClock):
    """SIGHUP's check: no waiting for the interval."""
    watcher = _watcher(clock)
    env_file.write_text(BASE + "SMARTCHARGE_READY_BY=06:30\n", encoding="utf-8")

    result = watcher.check(force=True)

    assert isinstance(result, Reloaded)
    assert ("SMARTCHARGE_READY_BY",) == result.diff.names


def test_the_same_content_is_no_edit_even_with_a_new_mtime(env_file: Path, clock: SimulatedClock):
    """Rewriting the same bytes (a save without changes, a touch) loads nothing."""
    watcher = _watcher(clock)
    env_file.write_text(BASE, encoding="utf-8")
    os.utime(env_file, (1, 1))

    _later(clock, WATCH_INTERVAL_S)

    assert Unchanged() == watcher.check()


def test_a_new_content_with_the_old_mtime_is_an_edit(env_file: Path, clock: SimulatedClock):
    """Content, not modification time: an edit that kept the mtime (cp -p, a coarse clock)."""
    before = env_file.stat()
    watcher = _watcher(clock)
    env_file.write_text(BASE.replace("=20", "=21"), encoding="utf-8")
    os.utime(env_file, ns=(before.st_atime_ns, before.st_mtime_ns))

    _later(clock, WATCH_INTERVAL_S)
    result = watcher.check()

    assert isinstance(result, Reloaded)
    assert 21.0 == result.settings.target_kwh


def test_an_invalid_edit_is_rejected_with_check_configs_lines(
    env_file: Path, clock: SimulatedClock, capsys: pytest.CaptureFixture[str]
):
    """A broken value: the problems check-config prints, line-precise; the old settings stay."""
    watcher = _watcher(clock)
    env_file.write_text(BASE.replace("TARGET_KWH=20", "TARGET_KWH=lots"), encoding="utf-8")

    result = watcher.check(force=True)
    status = main(["check-config"])
    printed = capsys.readouterr().err

    assert isinstance(result, Rejected)
    assert 2 == status
    assert [f"smartcharge: {line}" for line in result.problems] == printed.strip().splitlines()
    assert f"({env_file}:3)" in result.problems[0]
    assert "SMARTCHARGE_TARGET_KWH" in result.problems[0]
    assert result == watcher.rejected
    assert 20.0 == watcher.settings.target_kwh


def test_an_edit_run_would_refuse_is_rejected(env_file: Path, clock: SimulatedClock):
    """Valid values run would not start with (no password): refused as run refuses them."""
    watcher = _watcher(clock)
    env_file.write_text(BASE.replace(f"SMARTCHARGE_WALLBOX_PASSWORD={SECRET}\n", ""), "utf-8")

    result = watcher.check(force=True)

    assert isinstance(result, Rejected)
    assert any("SMARTCHARGE_WALLBOX_PASSWORD is not set" in p for p in result.problems)
    assert watcher.settings.wallbox_password is not None


def test_a_rejected_edit_is_reported_once_and_cleared_when_fixed(
    env_file: Path, clock: SimulatedClock
):
    """The same broken content is not loaded (nor logged) every minute; a fix clears it."""
    watcher = _watcher(clock)
    env_file.write_text(BASE + "SMARTCHARGE_READY_BY=7h\n", encoding="utf-8")
    _later(clock, WATCH_INTERVAL_S)
    first = watcher.check()

    _later(clock, WATCH_INTERVAL_S)
    again = watcher.check()
    still = watcher.rejected
    env_file.write_text(BASE + "SMARTCHARGE_READY_BY=07:15\n", encoding="utf-8")
    _later(clock, WATCH_INTERVAL_S)
    fixed = watcher.check()

    assert isinstance(first, Rejected)
    assert Unchanged() == again
    assert first == still
    assert isinstance(fixed, Reloaded)
    assert ("SMARTCHARGE_READY_BY",) == fixed.diff.names
    assert watcher.rejected is None


def test_reverting_a_broken_edit_clears_the_problem_and_changes_nothing(
    env_file: Path, clock: SimulatedClock
):
    """Back to the content in use: no reload, no problem left."""
    watcher = _watcher(clock)
    env_file.write_text("SMARTCHARGE_PHASES=2\n" + BASE, encoding="utf-8")
    broken = watcher.check(force=True)
    env_file.write_text(BASE, encoding="utf-8")

    _later(clock, WATCH_INTERVAL_S)
    result = watcher.check()

    assert isinstance(broken, Rejected)
    assert Unchanged() == result
    assert watcher.rejected is None


def test_a_file_that_is_gone_keeps_the_settings(env_file: Path, clock: SimulatedClock):
    """Caught between an editor's delete and write: rejected, never the defaults."""
    watcher = _watcher(clock)
    env_file.unlink()

    gone = watcher.check(force=True)
    env_file.write_text(BASE.replace("=20", "=30"), encoding="utf-8")
    back = watcher.check(force=True)

    assert isinstance(gone, Rejected)
    assert f"{env_file}: the .env file is gone" in gone.problems[0]
    assert isinstance(back, Reloaded)
    assert 30.0 == back.settings.target_kwh


def test_restart_settings_are_reported_and_kept(
    env_file: Path, clock: SimulatedClock, tmp_path: Path
):
    """A new state dir is named as needing a restart; the running daemon keeps its own."""
    watcher = _watcher(clock)
    running_dir = watcher.settings.state_dir
    env_file.write_text(
        BASE.replace("=20", "=25") + f"SMARTCHARGE_STATE_DIR={tmp_path / 'other'}\n", "utf-8"
    )

    result = watcher.check(force=True)
    again = watcher.check(force=True)

    assert isinstance(result, Reloaded)
    assert ("SMARTCHARGE_STATE_DIR",) == result.diff.needs_restart
    assert running_dir == result.settings.state_dir
    assert 25.0 == result.settings.target_kwh
    assert Unchanged() == again


def test_the_environment_still_wins_over_an_edit(
    env_file: Path, clock: SimulatedClock, monkeypatch: pytest.MonkeyPatch
):
    """As at start: a value set in the environment is not overridden by the file."""
    monkeypatch.setenv("SMARTCHARGE_TARGET_KWH", "12")
    watcher = _watcher(clock)
    env_file.write_text(BASE.replace("=20", "=35"), encoding="utf-8")

    result = watcher.check(force=True)

    assert Unchanged() == result
    assert 12.0 == watcher.settings.target_kwh


def test_a_slip_in_an_edit_is_a_warning(env_file: Path, clock: SimulatedClock):
    """A name without the prefix is warned about, as check-config warns."""
    watcher = _watcher(clock)
    env_file.write_text(BASE + "READY_BY=06:00\n", encoding="utf-8")

    result = watcher.check(force=True)

    assert isinstance(result, Unchanged)
    assert any(
        "READY_BY" in w and "did you mean SMARTCHARGE_READY_BY" in w for w in result.warnings
    )


def test_the_log_lines_name_the_changes_and_mask_the_secrets(
    env_file: Path, clock: SimulatedClock, tmp_path: Path
):
    """settings_reloaded, settings_need_restart, settings_reload_rejected; no secret in any."""
    watcher = _watcher(clock)
    new_secret = "n3w-pa55word-xyz"
    env_file.write_text(
        BASE.replace(SECRET, new_secret).replace("=20", "=35") + "SMARTCHARGE_HEALTH_PORT=9999\n",
        "utf-8",
    )
    with capture_logs() as logs:
        report(watcher.check(force=True), env_file)
        env_file.write_text(BASE + "SMARTCHARGE_MAX_CURRENT_A=5\n", encoding="utf-8")
        report(watcher.check(force=True), env_file)
    events = {e["event"]: e for e in logs}

    reloaded = events["settings_reloaded"]
    assert ["SMARTCHARGE_WALLBOX_PASSWORD", "SMARTCHARGE_TARGET_KWH"] == reloaded["changed"]
    assert "20.0 -> 35.0" == reloaded["values"]["SMARTCHARGE_TARGET_KWH"]
    assert reloaded["replan"] is True
    assert reloaded["signin"] is True
    assert ["SMARTCHARGE_HEALTH_PORT"] == events["settings_need_restart"]["names"]
    assert "SMARTCHARGE_MAX_CURRENT_A" in events["settings_reload_rejected"]["problems"][0]
    assert "error" == events["settings_reload_rejected"]["log_level"]
    assert not any(s in str(logs) for s in (SECRET, new_secret))


def test_a_reload_names_the_kind_of_each_change(env_file: Path, clock: SimulatedClock):
    """The diff a reload carries classifies what changed (log level: applied, no re-plan)."""
    watcher = _watcher(clock)
    env_file.write_text(BASE + "SMARTCHARGE_LOG_LEVEL=debug\n", encoding="utf-8")

    result = watcher.check(force=True)

    assert isinstance(result, Reloaded)
    assert ("SMARTCHARGE_LOG_LEVEL",) == result.diff.of_kind(SettingKind.OTHER)
    assert not result.diff.needs_replan
    assert load_settings().log_level == result.settings.log_level


def _live(clock: SimulatedClock) -> LiveSettings:
    return LiveSettings(_watcher(clock))


def test_live_settings_hold_an_edit_for_the_next_tick(env_file: Path, clock: SimulatedClock):
    """A checked edit waits for take(); taken once; nothing more to take after it."""
    live = _live(clock)
    env_file.write_text(BASE.replace("=20", "=35"), encoding="utf-8")

    before = live.take()
    _later(clock, WATCH_INTERVAL_S)
    live.check()
    taken = live.take()
    again = live.take()

    assert before is None
    assert taken is not None
    assert 35.0 == taken.settings.target_kwh
    assert ("SMARTCHARGE_TARGET_KWH",) == taken.diff.names
    assert again is None


def test_two_edits_between_ticks_are_applied_as_one(env_file: Path, clock: SimulatedClock):
    """The diff handed over runs from what was applied to the latest edit."""
    live = _live(clock)
    env_file.write_text(BASE.replace("=20", "=35"), encoding="utf-8")
    live.check(force=True)
    env_file.write_text(
        BASE.replace("=20", "=35") + "SMARTCHARGE_LOG_LEVEL=DEBUG\n", encoding="utf-8"
    )
    live.check(force=True)

    taken = live.take()

    assert taken is not None
    assert ("SMARTCHARGE_LOG_LEVEL", "SMARTCHARGE_TARGET_KWH") == tuple(sorted(taken.diff.names))


def test_an_edit_undone_before_the_tick_applies_nothing(env_file: Path, clock: SimulatedClock):
    """Edited and put back between two ticks: nothing to apply."""
    live = _live(clock)
    env_file.write_text(BASE.replace("=20", "=35"), encoding="utf-8")
    live.check(force=True)
    env_file.write_text(BASE, encoding="utf-8")
    live.check(force=True)

    assert live.take() is None


def test_live_settings_show_a_refused_edit_until_fixed(env_file: Path, clock: SimulatedClock):
    """problems: the refused edit's lines while it is in the file; empty once fixed."""
    live = _live(clock)
    env_file.write_text(BASE + "SMARTCHARGE_PHASES=2\n", encoding="utf-8")

    live.check(force=True)
    shown = live.problems
    nothing = live.take()
    env_file.write_text(BASE, encoding="utf-8")
    live.check(force=True)

    assert 1 == len(shown)
    assert shown[0].startswith(f"SMARTCHARGE_PHASES='2' ({env_file}:4)")
    assert nothing is None
    assert () == live.problems


def test_hangup_checks_at_once_and_says_so(env_file: Path, clock: SimulatedClock):
    """SIGHUP's handler: logged, checked without waiting for the minute."""
    live = _live(clock)
    env_file.write_text(BASE.replace("=20", "=22"), encoding="utf-8")

    with capture_logs() as logs:
        live.hangup()
    taken = live.take()

    assert ["settings_check_requested", "settings_reloaded"] == [e["event"] for e in logs]
    assert taken is not None
    assert 22.0 == taken.settings.target_kwh
