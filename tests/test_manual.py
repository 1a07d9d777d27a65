"""smartcharge.manual: the commands sent by hand, saved through the shared codec in the shape
version 1 wrote by hand (a file of the previous version loads, and a new file is byte for byte
what it wrote)."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

from smartcharge.domain import Command, CommandKind
from smartcharge.manual import (
    MANUAL_FILE,
    MANUAL_KIND,
    ManualCommand,
    manual_commands_after,
    record_manual_command,
)
from smartcharge.storage import save_document

V1 = Path(__file__).parent / "fixtures" / "manual_v1"
PAUSE_AT = datetime(2025, 12, 16, 19, 5, 12, tzinfo=UTC)
CURRENT_AT = datetime(2025, 12, 16, 20, 7, 0, tzinfo=UTC)
RESUME_AT = datetime(2025, 12, 16, 20, 0, 0, tzinfo=UTC)
NOW = datetime(2025, 12, 16, 21, 0, tzinfo=UTC)
RECORDED = (
    ManualCommand.of(Command(CommandKind.PAUSE), PAUSE_AT, 999001),
    ManualCommand.of(Command(CommandKind.SET_MAX_CURRENT, 10.0), CURRENT_AT, 999001),
    ManualCommand.of(Command(CommandKind.RESUME), RESUME_AT, 555),
)


def test_a_file_of_the_previous_version_loads(tmp_path: Path):
    """tests/fixtures/manual_v1 was written by the hand-written to_json (SOURCE.md)."""
    shutil.copy(V1 / MANUAL_FILE, tmp_path / MANUAL_FILE)

    mine = manual_commands_after(tmp_path, 999001, None, NOW)
    other = manual_commands_after(tmp_path, 555, None, NOW)
    later = manual_commands_after(tmp_path, 999001, PAUSE_AT, NOW)

    assert RECORDED[:2] == mine
    assert (Command(CommandKind.PAUSE), Command(CommandKind.SET_MAX_CURRENT, 10.0)) == tuple(
        m.command for m in mine
    )
    assert RECORDED[2:] == other
    assert RECORDED[1:2] == later


def test_the_file_written_now_is_the_one_version_1_wrote(tmp_path: Path):
    """The same commands give the same file: a daemon of the previous version reads it too."""
    for manual in RECORDED:
        record_manual_command(tmp_path, manual)

    assert (V1 / MANUAL_FILE).read_text() == (tmp_path / MANUAL_FILE).read_text()


def test_an_entry_that_does_not_read_costs_only_itself(tmp_path: Path):
    """An unknown kind, a naive time, a fractional charger id, a text value: each skipped."""
    good = {"kind": "pause", "value": None, "at": PAUSE_AT.isoformat(), "charger_id": 999001}
    bad = [
        {**good, "kind": "explode"},
        {**good, "at": "2025-12-16T19:05:12"},
        {**good, "charger_id": 999001.5},
        {**good, "kind": "set_max_current", "value": "10"},
        {**good, "at": None},
        "not an object",
    ]
    save_document(tmp_path / MANUAL_FILE, MANUAL_KIND, 1, [*bad, good])

    assert RECORDED[:1] == manual_commands_after(tmp_path, 999001, None, NOW)


def test_only_the_kinds_the_daemon_cares_about_are_recorded(tmp_path: Path):
    record_manual_command(
        tmp_path, ManualCommand.of(Command(CommandKind.SET_ENERGY_COST, 0.25), PAUSE_AT, 999001)
    )

    assert not (tmp_path / MANUAL_FILE).exists()
