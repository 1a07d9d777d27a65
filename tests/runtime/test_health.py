"""``/healthz``'s judgement from a plain ``HealthFacts`` value (no daemon, no server)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from smartcharge.domain import PriceCurve, PriceSlot
from smartcharge.web.health import HEALTH_PRICES_MAX_AGE, HealthFacts, check

NOW = datetime(2025, 12, 16, 20, 0, tzinfo=UTC)
MONO = 10_000.0


def facts(**changes: object) -> HealthFacts:
    """Return a healthy daemon's facts at ``NOW``: polled a minute ago, prices for now."""
    values: dict[str, object] = {
        "read_at": NOW,
        "read_mono": MONO,
        "poll_interval": timedelta(seconds=90),
        "started_mono": MONO - 3600,
        "last_poll_mono": MONO - 60,
        "last_poll_at": NOW - timedelta(seconds=60),
        "last_price_fetch_at": NOW - timedelta(hours=2),
        "prices": PriceCurve(
            [PriceSlot(NOW - timedelta(minutes=5), NOW + timedelta(minutes=10), 100.0, 0.2)]
        ),
        "problems": (),
        "state_dir": Path("/state"),
    }
    values.update(changes)
    return HealthFacts(**values)  # type: ignore[arg-type]


def test_recent_poll_and_a_price_for_now_is_healthy():
    """A poll within three intervals and a known price: ok, no reasons."""
    health = check(facts(), NOW)

    assert (True, ()) == (health.ok, health.reasons)


def test_a_stale_poll_is_judged_on_the_monotonic_clock():
    """Polls that stopped are caught even when the wall clock stepped back to hide them."""
    stale = facts(last_poll_mono=MONO - 3 * 90 - 61)
    stepped_back = facts(last_poll_mono=MONO - 3 * 90 - 61, last_poll_at=NOW)

    assert ["no successful charger poll since"] == [r[:32] for r in check(stale, NOW).reasons]
    assert not check(stepped_back, NOW).ok


def test_a_look_ahead_moves_the_monotonic_reading_with_the_wall_clock():
    """Asked about a later instant, the facts' monotonic reading moves by the same amount."""
    later = NOW + timedelta(minutes=10)

    assert not check(facts(), later).ok
    assert check(facts(), later, monotonic=MONO).ok


def test_no_price_for_now_and_no_recent_fetch_is_unhealthy_and_disk_problems_are_listed():
    """Prices: a fetch older than the allowed age with no price for now; the disk's lines too."""
    old = facts(
        prices=PriceCurve([]),
        last_price_fetch_at=NOW - HEALTH_PRICES_MAX_AGE - timedelta(minutes=1),
        problems=("state not saved: /state/state.json: No space left on device (ENOSPC)",),
    )

    reasons = check(old, NOW).reasons

    assert 2 == len(reasons)
    assert reasons[0].startswith("no price for now and no price fetch since ")
    assert "ENOSPC" in reasons[1]
