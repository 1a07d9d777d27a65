"""Atomic, private, checksummed state documents."""

from __future__ import annotations

import stat
from pathlib import Path

from smartcharge.domain import utc
from smartcharge.storage import load_document, save_document

NOW = utc(2025, 1, 15, 12)


def test_roundtrip_with_private_modes(tmp_path: Path):
    """A saved document loads back; the file is 0600 and the folder 0700."""
    folder = tmp_path / "state"
    path = folder / "session.json"

    save_document(path, "session", 1, {"energy_kwh": 3.5})
    result = load_document(path, "session", NOW)

    assert {"energy_kwh": 3.5} == result.data
    assert 1 == result.version
    assert 0o600 == stat.S_IMODE(path.stat().st_mode)
    assert 0o700 == stat.S_IMODE(folder.stat().st_mode)


def test_torn_file_falls_back_to_previous_good_copy(tmp_path: Path):
    """A torn main file is moved aside and the .bak copy is used."""
    path = tmp_path / "session.json"
    save_document(path, "session", 1, {"n": 1})
    save_document(path, "session", 1, {"n": 2})
    text = path.read_text(encoding="utf-8")
    path.write_text(text[: len(text) // 2], encoding="utf-8")

    result = load_document(path, "session", NOW)

    assert {"n": 1} == result.data
    assert result.used_backup
    assert result.problem is not None
    assert result.moved_to is not None
    assert result.moved_to.exists()


def test_tampered_or_foreign_document_is_not_trusted(tmp_path: Path):
    """A checksum mismatch or another kind of document yields no data, never a crash."""
    path = tmp_path / "prices.json"
    save_document(path, "token", 1, {"x": 1})

    result = load_document(path, "prices", NOW)

    assert result.data is None
    assert "not a valid prices document" in (result.problem or "")


def test_missing_file_is_simply_empty(tmp_path: Path):
    """No file means no data and no problem."""
    result = load_document(tmp_path / "none.json", "session", NOW)

    assert result.data is None
    assert result.problem is None


def test_sweep_removes_only_the_named_files_leftovers(tmp_path: Path):
    """A killed write's temp file is swept; other files' temps and real files stay."""
    save_document(tmp_path / "state.json", "session", 1, {"n": 1})
    (tmp_path / ".state.json.abc123.tmp").write_text("torn", encoding="utf-8")
    (tmp_path / ".wallbox-tokens.json.def456.tmp").write_text("x", encoding="utf-8")

    from smartcharge.storage import sweep_temp_files

    removed = sweep_temp_files(tmp_path, ("state.json",))

    assert [".state.json.abc123.tmp"] == [p.name for p in removed]
    assert (tmp_path / "state.json").exists()
    assert (tmp_path / ".wallbox-tokens.json.def456.tmp").exists()


def test_start_up_check_removes_a_probe_left_by_a_killed_start(tmp_path: Path):
    """check_state_dir sweeps its own leftover probe file and leaves no new one behind."""
    from smartcharge.statedir import check_state_dir
    from smartcharge.storage import StateDisk

    (tmp_path / ".probe.abc123.tmp").write_text("", encoding="utf-8")
    (tmp_path / "state.json").write_text("{}", encoding="utf-8")

    check_state_dir(tmp_path, ("state.json",), StateDisk())

    assert ["state.json"] == sorted(p.name for p in tmp_path.iterdir())
