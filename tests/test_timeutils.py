"""London time at the edges, across the clock changes of 2026 (29 March and 25 October)."""

import datetime as dt

import pytest

from diversion.core.timeutils import (
    format_london,
    london_day_bounds,
    london_midnight_in_utc,
    london_to_utc,
    london_today,
    to_london,
)

UTC = dt.UTC


def test_the_spring_forward_day_lasts_23_hours():
    start, end = london_day_bounds(dt.date(2026, 3, 29))
    assert start == dt.datetime(2026, 3, 29, 0, 0, tzinfo=UTC)  # GMT midnight
    assert end == dt.datetime(2026, 3, 29, 23, 0, tzinfo=UTC)  # BST midnight
    assert end - start == dt.timedelta(hours=23)


def test_the_fall_back_day_lasts_25_hours():
    start, end = london_day_bounds(dt.date(2026, 10, 25))
    assert start == dt.datetime(2026, 10, 24, 23, 0, tzinfo=UTC)  # BST midnight
    assert end == dt.datetime(2026, 10, 26, 0, 0, tzinfo=UTC)  # GMT midnight
    assert end - start == dt.timedelta(hours=25)


@pytest.mark.parametrize("day", [dt.date(2026, 1, 15), dt.date(2026, 7, 15)])
def test_an_ordinary_day_lasts_24_hours_in_winter_and_summer(day):
    start, end = london_day_bounds(day)
    assert end - start == dt.timedelta(hours=24)


def test_summer_midnight_in_london_is_23_00_utc_the_day_before():
    assert london_midnight_in_utc(dt.date(2026, 7, 1)) == dt.datetime(2026, 6, 30, 23, 0, tzinfo=UTC)


def test_a_time_in_the_spring_gap_moves_forward_as_a_clock_would():
    # 01:30 does not exist on 29 March 2026: clocks go from 01:00 GMT to 02:00 BST.
    instant = london_to_utc(dt.datetime(2026, 3, 29, 1, 30))
    assert instant == dt.datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    assert to_london(instant).replace(tzinfo=None) == dt.datetime(2026, 3, 29, 2, 30)


def test_a_time_in_the_autumn_overlap_is_the_earlier_bst_instant():
    # 01:30 happens twice on 25 October 2026; the first time is 00:30 UTC (BST).
    assert london_to_utc(dt.datetime(2026, 10, 25, 1, 30)) == dt.datetime(
        2026, 10, 25, 0, 30, tzinfo=UTC)


def test_times_either_side_of_the_changes_convert_with_the_right_offset():
    assert london_to_utc(dt.datetime(2026, 3, 29, 0, 59)) == dt.datetime(2026, 3, 29, 0, 59, tzinfo=UTC)
    assert london_to_utc(dt.datetime(2026, 3, 29, 2, 0)) == dt.datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
    assert london_to_utc(dt.datetime(2026, 10, 25, 2, 0)) == dt.datetime(2026, 10, 25, 2, 0, tzinfo=UTC)


def test_london_to_utc_refuses_an_aware_time():
    with pytest.raises(ValueError):
        london_to_utc(dt.datetime(2026, 6, 1, 9, 0, tzinfo=UTC))


def test_to_london_refuses_a_naive_time():
    with pytest.raises(ValueError):
        to_london(dt.datetime(2026, 6, 1, 9, 0))


def test_london_today_changes_at_london_midnight_not_utc_midnight():
    assert london_today(dt.datetime(2026, 6, 30, 23, 30, tzinfo=UTC)) == dt.date(2026, 7, 1)
    assert london_today(dt.datetime(2026, 12, 31, 23, 30, tzinfo=UTC)) == dt.date(2026, 12, 31)


def test_format_london_shows_the_wall_clock_in_winter_and_summer():
    assert format_london(dt.datetime(2026, 3, 5, 9, 30, tzinfo=UTC)) == "5 March 2026 at 9:30am"
    assert format_london(dt.datetime(2026, 7, 1, 12, 0, tzinfo=UTC)) == "1 July 2026 at 1:00pm"


def test_format_london_either_side_of_the_autumn_change():
    before = dt.datetime(2026, 10, 25, 0, 30, tzinfo=UTC)
    after = dt.datetime(2026, 10, 25, 1, 30, tzinfo=UTC)
    assert format_london(before) == "25 October 2026 at 1:30am"
    assert format_london(after) == "25 October 2026 at 1:30am"


def test_format_london_of_nothing_is_empty_and_takes_a_format():
    assert format_london(None) == ""
    assert format_london(dt.datetime(2026, 7, 1, 23, 30, tzinfo=UTC), "%-d %B %Y") == "2 July 2026"


def test_the_clock_fixture_stops_now_utc_wherever_the_app_imported_it(clock):
    from diversion.attendance import views as attendance_views
    from diversion.core import jobs

    clock.set(dt.datetime(2026, 10, 25, 1, 30, tzinfo=UTC))  # after the autumn change
    assert attendance_views.now_utc() == dt.datetime(2026, 10, 25, 1, 30, tzinfo=UTC)
    assert jobs.now_utc().tzinfo is not None
    clock.advance(hours=1)
    assert attendance_views.now_utc() == dt.datetime(2026, 10, 25, 2, 30, tzinfo=UTC)
    assert clock.today() == dt.date(2026, 10, 25)
    # The rest of timeutils is untouched by the stopped clock.
    assert london_midnight_in_utc(dt.date(2026, 10, 26)) == dt.datetime(2026, 10, 26, 0, 0,
                                                                        tzinfo=UTC)
