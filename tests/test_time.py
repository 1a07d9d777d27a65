"""Time: sessions across the DST nights, NTP jumps of minutes, a start in the middle of a slot.

Each test runs one night of the daemon's real code against the simulated cloud and ENTSO-E
(real NL prices of those very nights, shipped in the package) on the simulated clock.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from tests.resilience.night import NightResult, one_night
from tests.resilience.soak import SoakWorld, local

Q = timedelta(minutes=15)


def _assert_good_night(night: NightResult, ready_by_utc: datetime) -> None:
    assert 1 == len(night.entries)
    entry = night.entries[0]
    assert ready_by_utc == entry.ready_by
    assert entry.target_met
    assert entry.target_met_at is not None
    assert entry.target_met_at <= ready_by_utc
    assert entry.energy_kwh >= 19.8
    assert [] == night.duplicates
    assert [] == night.secrets_found


@pytest.mark.parametrize(
    ("evening", "ready_by_utc", "hours_in_night"),
    [
        # 2024-03-31 02:00 CET -> 03:00 CEST: 07:00 local is 05:00 UTC; 18:00 to 07:00 is 12 hours.
        (date(2024, 3, 30), datetime(2024, 3, 31, 5, 0, tzinfo=UTC), 12),
        # 2024-10-27 03:00 CEST -> 02:00 CET: 07:00 local is 06:00 UTC; 18:00 to 07:00 is 14 hours.
        (date(2024, 10, 26), datetime(2024, 10, 27, 6, 0, tzinfo=UTC), 14),
    ],
    ids=["spring_forward", "fall_back"],
)
async def test_a_session_across_a_dst_night_meets_07_00_local(
    evening: date, ready_by_utc: datetime, hours_in_night: int
):
    """Plugged in at 18:00 local before a DST change: the deadline is 07:00 local, met."""
    morning = evening + timedelta(days=1)
    plug = local(evening, time(18))
    night = await one_night(
        local(evening, time(17, 30)), plug, local(morning, time(7, 30)), local(morning, time(7, 45))
    )

    assert timedelta(hours=hours_in_night) == ready_by_utc - plug
    _assert_good_night(night, ready_by_utc)


@pytest.mark.parametrize("jump_min", [-7, 5, -30, 45], ids=lambda m: f"jump{m:+d}min")
async def test_an_ntp_jump_of_minutes_mid_session_changes_nothing_that_matters(jump_min: int):
    """The clock jumps by minutes (back or forth) at 22:00 and 03:00: no repeat, target met."""
    evening = date(2025, 10, 5)
    jumped: list[datetime] = []

    def hook(world: SoakWorld, at: datetime) -> None:
        marks = (local(evening, time(22)), local(evening + timedelta(days=1), time(3)))
        for mark in marks:
            if at >= mark and mark not in jumped:
                jumped.append(mark)
                world.clock.set(world.clock.now() + timedelta(minutes=jump_min))

    morning = evening + timedelta(days=1)
    night = await one_night(
        local(evening, time(17, 30)),
        local(evening, time(18)),
        local(morning, time(7, 30)),
        local(morning, time(7, 45)),
        hook=hook,
    )

    assert 2 == len(jumped)
    _assert_good_night(night, local(morning, time(7)))


async def test_a_daemon_started_in_the_middle_of_a_slot_with_the_car_in():
    """Started at 19:07:30 with the car in since 18:40: plans at once, meets 07:00, no repeat."""
    evening = date(2025, 10, 8)
    morning = evening + timedelta(days=1)
    start = local(evening, time(19, 7, 30))
    night = await one_night(
        local(evening, time(18, 30)),
        local(evening, time(18, 40)),
        local(morning, time(7, 30)),
        local(morning, time(7, 45)),
        daemon_start=start,
    )

    assert (start - start.replace(minute=0, second=0)) % Q != timedelta(0)
    _assert_good_night(night, local(morning, time(7)))
    assert '"event": "plan_made"' in night.log
