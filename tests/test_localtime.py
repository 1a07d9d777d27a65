"""The deadline's wall time to a UTC instant, on every DST night (issue 11, item 7)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smartcharge.localtime import ready_by_after

AMS = ZoneInfo("Europe/Amsterdam")
MINUTE = timedelta(minutes=1)


def _transitions(first_year: int, last_year: int) -> list[datetime]:
    """Return every UTC instant at which Europe/Amsterdam's UTC offset changes (found by scan)."""
    found: list[datetime] = []
    t = datetime(first_year, 1, 1, tzinfo=UTC)
    end = datetime(last_year + 1, 1, 1, tzinfo=UTC)
    while t < end:
        if t.astimezone(AMS).utcoffset() != (t - timedelta(hours=1)).astimezone(AMS).utcoffset():
            found.append(t)
        t += timedelta(hours=1)
    return found


TRANSITIONS = _transitions(2020, 2032)


def _wall(instant: datetime) -> time:
    return instant.astimezone(AMS).time().replace(tzinfo=None)


def _expected(instant: datetime, ready_by: time) -> datetime:
    """Walk the wall clock minute by minute and return its first showing of ``ready_by`` after.

    Where a spring-forward night skips ``ready_by``, that night's showing is where the skipped
    wall time is shifted to: the jump's size later on the new wall clock (02:30 -> 03:30).
    """
    t = instant.astimezone(UTC).replace(second=0, microsecond=0) - timedelta(hours=2)
    shown: list[datetime] = []
    while t < instant + timedelta(hours=28):
        before = (t - MINUTE).astimezone(AMS)
        now = t.astimezone(AMS)
        if _wall(t) == ready_by:
            shown.append(t)
        skipped_from = before.replace(tzinfo=None) + MINUTE
        wanted = datetime.combine(now.date(), ready_by)
        if skipped_from <= wanted < now.replace(tzinfo=None):
            shown.append(t + (wanted - skipped_from))
        t += MINUTE
    return min(s for s in shown if s > instant)


def test_there_are_two_transitions_a_year():
    """The scan finds spring and autumn of each year 2020-2032 (26 nights)."""
    assert 26 == len(TRANSITIONS)


def test_ready_by_in_the_repeated_hour_plugged_in_on_the_second_pass_is_not_in_the_past():
    """Item 7: READY_BY=02:15, plugged in at 02:00 CET (second pass) on 2024-10-27.

    The old code compared wall times (fold ignored) and returned 02:15 CEST = 00:15 UTC, 45
    minutes before plug-in; the next occurrence is 02:15 CET = 01:15 UTC.
    """
    plug = datetime(2024, 10, 27, 1, 0, tzinfo=UTC)  # 02:00 CET, fold=1

    assert datetime(2024, 10, 27, 1, 15, tzinfo=UTC) == ready_by_after(plug, time(2, 15), AMS)


@pytest.mark.parametrize(
    ("plug", "ready_by", "expected"),
    [
        # First pass 02:40 CEST: 02:30 comes again on the second pass, 50 minutes later.
        (
            datetime(2024, 10, 27, 0, 40, tzinfo=UTC),
            time(2, 30),
            datetime(2024, 10, 27, 1, 30, tzinfo=UTC),
        ),
        # First pass 02:10 CEST: 02:30 CEST is 20 minutes later (the first of its two passes).
        (
            datetime(2024, 10, 27, 0, 10, tzinfo=UTC),
            time(2, 30),
            datetime(2024, 10, 27, 0, 30, tzinfo=UTC),
        ),
        # Second pass 02:40 CET: 02:30 is over for today; tomorrow 02:30 CET.
        (
            datetime(2024, 10, 27, 1, 40, tzinfo=UTC),
            time(2, 30),
            datetime(2024, 10, 28, 1, 30, tzinfo=UTC),
        ),
        # Spring forward: 02:30 never shows on 2024-03-31; it is shifted to 03:30 CEST.
        (
            datetime(2024, 3, 30, 20, 0, tzinfo=UTC),
            time(2, 30),
            datetime(2024, 3, 31, 1, 30, tzinfo=UTC),
        ),
        # An ordinary 07:00 across both nights.
        (
            datetime(2024, 10, 26, 16, 0, tzinfo=UTC),
            time(7, 0),
            datetime(2024, 10, 27, 6, 0, tzinfo=UTC),
        ),
        (
            datetime(2024, 3, 30, 17, 0, tzinfo=UTC),
            time(7, 0),
            datetime(2024, 3, 31, 5, 0, tzinfo=UTC),
        ),
    ],
    ids=[
        "first_pass_before_second",
        "first_pass_ahead",
        "second_pass_passed",
        "gap",
        "fall_07",
        "spring_07",
    ],
)
def test_ready_by_table_around_dst_nights(plug: datetime, ready_by: time, expected: datetime):
    """Hand-checked cases of both DST nights of 2024."""
    assert expected == ready_by_after(plug, ready_by, AMS)


@settings(max_examples=300, deadline=None)
@given(
    transition=st.sampled_from(TRANSITIONS),
    offset_s=st.integers(min_value=-6 * 3600, max_value=6 * 3600),
    ready_by=st.one_of(
        st.builds(time, st.integers(0, 4), st.integers(0, 59)),
        st.builds(time, st.integers(0, 23), st.sampled_from([0, 15, 30, 45, 59])),
    ),
)
def test_ready_by_is_the_next_occurrence_after_plug_in_on_every_dst_night(
    transition: datetime, offset_s: int, ready_by: time
):
    """Every DST night 2020-2032, plug-in within 6 h of the change: the next occurrence, after."""
    plug = transition + timedelta(seconds=offset_s)

    got = ready_by_after(plug, ready_by, AMS)

    assert got > plug
    assert _expected(plug, ready_by) == got


def test_ready_by_is_the_same_for_any_zone_of_the_same_instant():
    """The plug-in instant may come in any zone; only the instant matters."""
    plug = datetime(2024, 10, 27, 1, 0, tzinfo=UTC)

    assert ready_by_after(plug, time(2, 15), AMS) == ready_by_after(
        plug.astimezone(AMS), time(2, 15), AMS
    )


def test_ready_by_on_a_plain_day():
    """07:00 asked at 06:59:59 is one second later; asked at 07:00 it is tomorrow."""
    day = date(2025, 6, 2)
    seven = datetime.combine(day, time(7), tzinfo=AMS)

    assert seven.astimezone(UTC) == ready_by_after(seven - timedelta(seconds=1), time(7), AMS)
    assert (seven + timedelta(days=1)).astimezone(UTC) == ready_by_after(seven, time(7), AMS)
