import datetime as dt

import pytest

from diversion.courses.rules import (
    Frequency,
    Slot,
    WallClockProblem,
    bank_holiday_name,
    find_clashes,
    london_wall_to_utc,
    series_dates,
)

UTC = dt.UTC


def test_weekly_series_over_easter_skips_good_friday_and_easter_monday():
    fridays = series_dates(dt.date(2026, 3, 27), frequency=Frequency.WEEKLY, count=3)
    assert fridays.dates == [dt.date(2026, 3, 27), dt.date(2026, 4, 10), dt.date(2026, 4, 17)]
    assert fridays.skipped == [(dt.date(2026, 4, 3), "Good Friday")]
    mondays = series_dates(dt.date(2026, 3, 30), frequency=Frequency.WEEKLY,
                           until=dt.date(2026, 4, 13))
    assert mondays.dates == [dt.date(2026, 3, 30), dt.date(2026, 4, 13)]
    assert mondays.skipped == [(dt.date(2026, 4, 6), "Easter Monday")]


def test_weekly_series_over_christmas_skips_christmas_and_boxing_day_substitute():
    plan = series_dates(dt.date(2026, 12, 14), frequency=Frequency.WEEKLY,
                        until=dt.date(2027, 1, 4))
    # 25 December 2026 is a Friday, so Monday 28 December is the Boxing Day bank holiday.
    assert dt.date(2026, 12, 28) not in plan.dates
    assert plan.dates == [dt.date(2026, 12, 14), dt.date(2026, 12, 21), dt.date(2027, 1, 4)]
    assert [day for day, _ in plan.skipped] == [dt.date(2026, 12, 28)]


def test_a_skipped_bank_holiday_does_not_count_towards_the_number_of_sessions():
    plan = series_dates(dt.date(2026, 12, 18), frequency=Frequency.WEEKLY, count=3)
    assert plan.dates == [dt.date(2026, 12, 18), dt.date(2027, 1, 8), dt.date(2027, 1, 15)]
    assert [day for day, _ in plan.skipped] == [dt.date(2026, 12, 25), dt.date(2027, 1, 1)]


def test_monthly_series_keeps_the_same_weekday_of_the_same_week():
    # The second Tuesday of each month.
    plan = series_dates(dt.date(2026, 1, 13), frequency=Frequency.MONTHLY, count=4)
    assert plan.dates == [dt.date(2026, 1, 13), dt.date(2026, 2, 10), dt.date(2026, 3, 10),
                          dt.date(2026, 4, 14)]
    assert all(d.weekday() == 1 for d in plan.dates)


def test_monthly_series_in_the_fifth_week_uses_the_last_such_weekday():
    plan = series_dates(dt.date(2026, 1, 29), frequency=Frequency.MONTHLY, count=2)
    assert plan.dates == [dt.date(2026, 1, 29), dt.date(2026, 2, 26)]


def test_monthly_series_skips_a_bank_holiday_monday():
    # The fourth Monday of each month; 25 May 2026 is the Spring bank holiday.
    plan = series_dates(dt.date(2026, 4, 27), frequency=Frequency.MONTHLY,
                        until=dt.date(2026, 9, 30))
    assert plan.skipped == [(dt.date(2026, 5, 25), "Spring Bank Holiday")]
    assert plan.dates == [dt.date(2026, 4, 27), dt.date(2026, 6, 22), dt.date(2026, 7, 27),
                          dt.date(2026, 8, 24), dt.date(2026, 9, 28)]
    # The last Monday of each month: 31 August 2026 is the Late Summer bank holiday.
    last = series_dates(dt.date(2026, 6, 29), frequency=Frequency.MONTHLY, count=3)
    assert last.dates == [dt.date(2026, 6, 29), dt.date(2026, 7, 27), dt.date(2026, 9, 28)]
    assert last.skipped == [(dt.date(2026, 8, 31), "Late Summer Bank Holiday")]


def test_a_single_date_is_kept_even_on_a_bank_holiday():
    assert series_dates(dt.date(2026, 12, 28), frequency=Frequency.ONCE).dates == [
        dt.date(2026, 12, 28)]


def test_a_series_needs_exactly_one_of_an_end_date_or_a_count():
    with pytest.raises(ValueError, match="either"):
        series_dates(dt.date(2026, 1, 5), frequency=Frequency.WEEKLY)
    with pytest.raises(ValueError, match="either"):
        series_dates(dt.date(2026, 1, 5), frequency=Frequency.WEEKLY, count=2,
                     until=dt.date(2026, 3, 1))
    with pytest.raises(ValueError, match="ends before"):
        series_dates(dt.date(2026, 1, 5), frequency=Frequency.WEEKLY, until=dt.date(2026, 1, 1))


def test_bank_holidays_are_england_and_wales_ones():
    assert bank_holiday_name(dt.date(2026, 8, 31)) == "Late Summer Bank Holiday"
    # 2 January and St Andrew's Day are Scottish holidays only.
    assert bank_holiday_name(dt.date(2026, 1, 2)) is None
    assert bank_holiday_name(dt.date(2026, 11, 30)) is None


def test_a_0930_session_stays_0930_london_across_the_clock_changes():
    plan = series_dates(dt.date(2026, 3, 21), frequency=Frequency.WEEKLY, count=3)
    instants = [london_wall_to_utc(day, dt.time(9, 30)) for day in plan.dates]
    # Before the clocks go forward on 29 March London is on GMT; after, on BST (UTC+1).
    assert instants == [dt.datetime(2026, 3, 21, 9, 30, tzinfo=UTC),
                        dt.datetime(2026, 3, 28, 9, 30, tzinfo=UTC),
                        dt.datetime(2026, 4, 4, 8, 30, tzinfo=UTC)]
    autumn = series_dates(dt.date(2026, 10, 17), frequency=Frequency.WEEKLY, count=3)
    instants = [london_wall_to_utc(day, dt.time(9, 30)) for day in autumn.dates]
    assert instants == [dt.datetime(2026, 10, 17, 8, 30, tzinfo=UTC),
                        dt.datetime(2026, 10, 24, 8, 30, tzinfo=UTC),
                        dt.datetime(2026, 10, 31, 9, 30, tzinfo=UTC)]


def test_a_time_in_the_spring_gap_or_autumn_overlap_is_refused_not_guessed():
    with pytest.raises(WallClockProblem, match="does not exist"):
        london_wall_to_utc(dt.date(2026, 3, 29), dt.time(1, 30))
    with pytest.raises(WallClockProblem, match="happens twice"):
        london_wall_to_utc(dt.date(2026, 10, 25), dt.time(1, 30))
    assert london_wall_to_utc(dt.date(2026, 10, 25), dt.time(9, 30)) == dt.datetime(
        2026, 10, 25, 9, 30, tzinfo=UTC)


def _slot(start_hour: int, end_hour: int, venue: int = 1, people: tuple[int, ...] = (1,),
          session_id: int | None = None) -> Slot:
    day = dt.datetime(2026, 7, 1, tzinfo=UTC)
    return Slot(day + dt.timedelta(hours=start_hour), day + dt.timedelta(hours=end_hour), venue,
                frozenset(people), session_id)


def test_overlap_at_the_same_venue_is_a_clash_but_back_to_back_is_not():
    existing = [_slot(9, 13, venue=1, people=(7,), session_id=10)]
    assert find_clashes([_slot(13, 16, venue=1, people=(8,))], existing) == []
    clashes = find_clashes([_slot(12, 16, venue=1, people=(8,))], existing)
    assert len(clashes) == 1
    assert clashes[0].venue is True and clashes[0].facilitator_ids == frozenset()
    assert clashes[0].existing.session_id == 10


def test_a_facilitator_in_two_places_at_once_is_a_clash():
    existing = [_slot(9, 17, venue=2, people=(7, 9), session_id=11)]
    clashes = find_clashes([_slot(10, 12, venue=1, people=(9, 3))], existing)
    assert [(c.venue, c.facilitator_ids) for c in clashes] == [(False, frozenset({9}))]
    assert find_clashes([_slot(10, 12, venue=1, people=(3,))], existing) == []


def test_every_clash_of_every_planned_slot_is_reported():
    existing = [_slot(9, 17, venue=1, people=(1,), session_id=1),
                _slot(9, 17, venue=2, people=(2,), session_id=2)]
    planned = [_slot(10, 11, venue=1, people=(2,)), _slot(30, 31, venue=1, people=(2,))]
    clashes = find_clashes(planned, existing)
    assert sorted(c.existing.session_id for c in clashes) == [1, 2]


def test_overlapping_dates_within_one_series_clash_with_each_other():
    clashes = find_clashes([_slot(9, 12), _slot(11, 14)], [])
    assert len(clashes) == 1 and clashes[0].existing.session_id is None


def test_a_session_being_moved_does_not_clash_with_its_old_self():
    existing = [_slot(9, 17, session_id=5)]
    assert find_clashes([_slot(10, 18, session_id=5)], existing) == []
