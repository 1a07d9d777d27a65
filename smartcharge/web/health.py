"""The health check for the container's HEALTHCHECK: what ``GET /healthz`` answers (pure).

200 ``ok`` while the last poll of the charger and the last price fetch are recent enough;
503 with the reason otherwise. Recent enough means:

- the poll: within ``HEALTH_POLL_INTERVALS`` poll intervals (plus a minute), counted from the
  daemon's start until the first poll succeeds, on the monotonic clock (a step of the wall
  clock changes nothing);
- the prices: a successful fetch within ``HEALTH_PRICES_MAX_AGE``, or a known price for now;
- the state: every state file could be saved the last time it was written (a full or read-only
  disk turns this 503 with the path and the OS error, while the charger is still driven).

The server (``web.server``) knows nothing of the daemon: it reads ``HealthFacts``, a plain value
that the composition root (``runtime.compose.health_facts``) takes from the daemon on each
request, and answers ``health_body``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from smartcharge.domain import PriceCurve

# The poll counts as recent for /healthz for this many poll intervals (plus a minute of slack).
HEALTH_POLL_INTERVALS = 3
# A price fetch counts as recent for this long: prices are published once a day; one missed
# publication is tolerated as long as prices for the current slot are still known.
HEALTH_PRICES_MAX_AGE = timedelta(hours=36)


@dataclass(frozen=True, slots=True)
class HealthFacts:
    """What the health check reads from the daemon, taken at one instant.

    Attributes:
        read_at: the wall-clock instant the facts were taken.
        read_mono: the monotonic reading at ``read_at``.
        poll_interval: the poll interval in force (the idle one while no session runs).
        started_mono: the monotonic reading at the daemon's start (None: not started).
        last_poll_mono: the monotonic reading at this run's last successful poll, or None.
        last_poll_at: the wall-clock instant of the last successful poll (any run), or None.
        last_price_fetch_at: the last successful price fetch, or None.
        prices: the known all-in prices.
        problems: the state files that could not be saved, one line each.
        state_dir: the daemon's state dir.
        settings_problems: why the last edit of ``.env`` was refused, while it is in the file
            (the daemon runs on the settings before it: shown, never a reason for 503).
    """

    read_at: datetime
    read_mono: float
    poll_interval: timedelta
    started_mono: float | None
    last_poll_mono: float | None
    last_poll_at: datetime | None
    last_price_fetch_at: datetime | None
    prices: PriceCurve
    problems: tuple[str, ...]
    state_dir: Path
    settings_problems: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Health:
    """The daemon's health.

    Attributes:
        ok: whether all is well.
        reasons: what is wrong, one line each.
    """

    ok: bool
    reasons: tuple[str, ...]


def check(facts: HealthFacts, now: datetime, monotonic: float | None = None) -> Health:
    """Return the daemon's health at ``now``.

    The poll's freshness is judged on the monotonic clock, so a step of the wall clock can
    neither hide polls that stopped (a backward step) nor fault polls that go on (a forward
    one). Times in the reasons are wall-clock times, for people.

    Args:
        facts: what the daemon reported.
        now: the wall-clock instant.
        monotonic: the monotonic reading at ``now``; by default the facts' own reading, moved
            by how far ``now`` lies from when they were taken (a look ahead).
    """
    if monotonic is None:
        monotonic = facts.read_mono + (now - facts.read_at).total_seconds()
    reasons: list[str] = []
    allowed_s = (HEALTH_POLL_INTERVALS * facts.poll_interval + timedelta(minutes=1)).total_seconds()
    # Until the first poll of this run succeeds, the grace period counts from the start.
    reference = facts.last_poll_mono
    if reference is None:
        reference = facts.started_mono
    if reference is None or monotonic - reference > allowed_s:
        last_poll = facts.last_poll_at
        reasons.append(
            "no successful charger poll since "
            + ("start" if last_poll is None else last_poll.isoformat(timespec="seconds"))
        )
    fetched = facts.last_price_fetch_at
    priced_now = facts.prices.price_at(now) is not None
    if not priced_now and (fetched is None or now - fetched > HEALTH_PRICES_MAX_AGE):
        reasons.append(
            "no price for now and no price fetch since "
            + ("start" if fetched is None else fetched.isoformat(timespec="seconds"))
        )
    reasons.extend(facts.problems)
    return Health(ok=not reasons, reasons=tuple(reasons))


def health_body(facts: HealthFacts) -> tuple[int, dict[str, object]]:
    """Return ``/healthz``'s HTTP status (200 or 503) and JSON body for ``facts``."""
    health = check(facts, facts.read_at, facts.read_mono)
    body: dict[str, object] = {
        "status": "ok" if health.ok else "unhealthy",
        "reasons": list(health.reasons),
        # `smartcharge status` tells a daemon on its own state dir from one on another.
        "state_dir": str(facts.state_dir.resolve()),
        # A refused .env edit: the daemon works (on the previous settings), so still 200.
        "settings_problems": list(facts.settings_problems),
    }
    return (200 if health.ok else 503), body
