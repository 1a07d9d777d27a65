"""The price cache: atomic, loaded at start, corrupt or foreign files ignored."""

from __future__ import annotations

import json
import os
from pathlib import Path

from structlog.testing import capture_logs

from smartcharge.domain import PriceCurve, PriceSlot, utc
from smartcharge.prices.cache import CACHE_FILE, PriceCache
from smartcharge.pricing import Tariff

T = Tariff(0.0, 0.1, 21)
NOW = utc(2025, 10, 25, 12)


def curve() -> PriceCurve:
    return PriceCurve(
        [
            T.slot(utc(2025, 10, 25, 0), utc(2025, 10, 25, 0, 15), -12.5, "entsoe"),
            T.slot(utc(2025, 10, 25, 0, 15), utc(2025, 10, 25, 1), 80.0, "energyzero"),
        ]
    )


def test_round_trip_keeps_slots_sources_and_fetch_times(tmp_path: Path) -> None:
    """What is saved comes back: times, spot prices, sources, fetch times; file mode 0600."""
    cache = PriceCache(tmp_path, "NL", T)
    fetched = {utc(2025, 10, 25, 0): utc(2025, 10, 24, 13), utc(2025, 10, 25, 0, 15): NOW}

    cache.save(curve(), fetched, NOW)
    loaded = cache.load(NOW)

    assert curve() == loaded.curve
    assert fetched == dict(loaded.fetched_at)
    assert NOW == loaded.last_fetched_at
    assert 0o600 == os.stat(tmp_path / CACHE_FILE).st_mode & 0o777


def test_tariff_in_force_is_applied_on_load(tmp_path: Path) -> None:
    """All-in prices are recomputed with the current tariff, not stored."""
    PriceCache(tmp_path, "NL", T).save(curve(), {}, NOW)

    loaded = PriceCache(tmp_path, "NL", Tariff(0.05, 0.0, 0.0)).load(NOW)

    assert [round(-0.0125 + 0.05, 6), 0.13] == [s.price_eur_per_kwh for s in loaded.curve]


def test_corrupt_file_is_logged_and_ignored(tmp_path: Path) -> None:
    """A torn file gives an empty cache and a warning, and is moved aside."""
    (tmp_path / CACHE_FILE).write_text('{"kind": "smartcharge.prices", "da')

    with capture_logs() as logs:
        loaded = PriceCache(tmp_path, "NL", T).load(NOW)

    assert 0 == len(loaded.curve)
    assert ["price_cache_ignored"] == [e["event"] for e in logs if e["log_level"] == "warning"]
    assert not (tmp_path / CACHE_FILE).exists()
    assert list(tmp_path.glob(f"{CACHE_FILE}.corrupt-*"))


def test_foreign_document_is_ignored(tmp_path: Path) -> None:
    """Someone else's JSON in the file's place is not read as prices."""
    (tmp_path / CACHE_FILE).write_text(json.dumps({"kind": "other", "version": 1, "data": {}}))

    with capture_logs() as logs:
        loaded = PriceCache(tmp_path, "NL", T).load(NOW)

    assert 0 == len(loaded.curve)
    assert "price_cache_ignored" in [e["event"] for e in logs]


def test_cache_of_another_zone_is_ignored(tmp_path: Path) -> None:
    """Prices cached for BE are not used for NL."""
    PriceCache(tmp_path, "BE", T).save(curve(), {}, NOW)

    with capture_logs() as logs:
        loaded = PriceCache(tmp_path, "NL", T).load(NOW)

    assert 0 == len(loaded.curve)
    assert "prices of zone 'BE'" in logs[0]["problem"]


def test_falls_back_to_the_backup_copy(tmp_path: Path) -> None:
    """When the main file is corrupt, the previous good copy (.bak) is used."""
    cache = PriceCache(tmp_path, "NL", T)
    cache.save(curve(), {}, NOW)
    cache.save(PriceCurve(curve().slots[:1]), {}, NOW)
    (tmp_path / CACHE_FILE).write_text("garbage")

    loaded = cache.load(NOW)

    assert curve() == loaded.curve


def test_slots_fetched_long_ago_are_dropped_on_save(tmp_path: Path) -> None:
    """Slots fetched over a month before are not written again."""
    cache = PriceCache(tmp_path, "NL", T)
    old = {utc(2025, 10, 25, 0): utc(2025, 9, 1)}

    cache.save(curve(), old, NOW)

    assert [utc(2025, 10, 25, 0, 15)] == [s.start for s in cache.load(NOW).curve]


def test_slot_type_is_price_slot(tmp_path: Path) -> None:
    """Loaded slots are domain PriceSlots."""
    PriceCache(tmp_path, "NL", T).save(curve(), {}, NOW)

    assert all(isinstance(s, PriceSlot) for s in PriceCache(tmp_path, "NL", T).load(NOW).curve)
