"""Pure scheduling rules: series dates, London wall-clock times, bank holidays, clashes.

No database, no request, no clock. Everything here is a plain function over values.
"""

from __future__ import annotations

import calendar
import datetime as dt
import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from diversion.core.timeutils import LONDON, add_months

# A series never runs for more than this many sessions, whatever the manager types.
MAX_SERIES_LENGTH = 120


class Frequency(enum.StrEnum):
    ONCE = "once"
    WEEKLY = "weekly"
    MONTHLY = "monthly"


class WallClockProblem(ValueError):
    """A London wall-clock time that does not exist, or happens twice, on that day."""


class AmbiguousWallClock(WallClockProblem):
    """A London wall-clock time that happens twice (the clocks go back): ask which is meant."""

    def __init__(self, day: dt.date, time: dt.time) -> None:
        super().__init__(f"{time:%H:%M} happens twice on {day:%-d %B %Y} because the clocks go "
                         f"back at 02:00: say which {time:%H:%M} you mean")
        self.day, self.time = day, time


# Which of the two times an ambiguous London time means (datetime's `fold`).
FIRST, SECOND = 0, 1


@lru_cache(maxsize=64)
def _bank_holidays_for_year(year: int) -> dict[dt.date, str]:
    # The `holidays` package ships the calendar with the code: no network call. Imported here,
    # when a date is first checked, not at start-up (issue 17, light start-up).
    import holidays  # noqa: PLC0415

    return dict(holidays.country_holidays("GB", subdiv="ENG", years=year).items())


def bank_holiday_name(day: dt.date) -> str | None:
    """The England and Wales bank holiday falling on this day, if any."""
    return _bank_holidays_for_year(day.year).get(day)


def london_wall_to_utc(day: dt.date, time: dt.time, *, fold: int | None = None) -> dt.datetime:
    """A London wall-clock time on a day as a UTC instant; refuses gap and overlap times.

    On the last Sunday of March 01:00-01:59 does not exist; on the last Sunday of October it
    happens twice. Neither is guessed: a gap time is refused, and an overlap time is refused
    (AmbiguousWallClock) unless `fold` says which is meant: FIRST (still summer time, BST) or
    SECOND (GMT). `fold` is ignored for a time that happens once.
    """
    wall = dt.datetime.combine(day, time)
    first = wall.replace(tzinfo=LONDON, fold=0)
    second = wall.replace(tzinfo=LONDON, fold=1)
    round_trip = first.astimezone(dt.UTC).astimezone(LONDON).replace(tzinfo=None)
    if round_trip != wall:
        raise WallClockProblem(
            f"{time:%H:%M} does not exist on {day:%-d %B %Y}: clocks go forward at 01:00 to "
            "02:00. Enter a time before 01:00 or from 02:00"
        )
    if first.utcoffset() != second.utcoffset():
        if fold not in (FIRST, SECOND):
            raise AmbiguousWallClock(day, time)
        return (second if fold == SECOND else first).astimezone(dt.UTC)
    return first.astimezone(dt.UTC)


def _nth_weekday_of_month(year: int, month: int, weekday: int, week: int) -> dt.date:
    """The `week`-th (1-4) `weekday` of a month; week 5 means the last one."""
    days = [d for d in calendar.Calendar().itermonthdates(year, month)
            if d.month == month and d.weekday() == weekday]
    return days[-1] if week >= 5 else days[week - 1]


@dataclass(frozen=True)
class SeriesPlan:
    """The dates a series runs on, and the dates it skipped because they are bank holidays."""

    dates: list[dt.date]
    skipped: list[tuple[dt.date, str]] = field(default_factory=list)


def series_dates(first: dt.date, *, frequency: Frequency, until: dt.date | None = None,
                 count: int | None = None) -> SeriesPlan:
    """The calendar dates of a series, bank holidays skipped.

    Weekly: every 7 days from `first`. Monthly: the same weekday in the same week of each month
    as `first` (the 2nd Tuesday; a date in the 5th week means the last such weekday), which is
    how courses are planned. The series stops at `until` (inclusive) or after `count` sessions;
    a skipped bank holiday does not count towards `count`.
    """
    if frequency is Frequency.ONCE:
        return SeriesPlan([first])  # a single date chosen on purpose is kept as given
    if (until is None) == (count is None):
        raise ValueError("give either an end date or a number of sessions")
    if count is not None and not 1 <= count <= MAX_SERIES_LENGTH:
        raise ValueError(f"a series has between 1 and {MAX_SERIES_LENGTH} sessions")
    if until is not None and until < first:
        raise ValueError("the series ends before it starts")
    week = (first.day - 1) // 7 + 1
    dates: list[dt.date] = []
    skipped: list[tuple[dt.date, str]] = []
    step = 0
    while len(dates) < (count or MAX_SERIES_LENGTH):
        if frequency is Frequency.WEEKLY:
            day = first + dt.timedelta(weeks=step)
        else:
            month_start = add_months(first.replace(day=1), step)
            day = first if step == 0 else _nth_weekday_of_month(month_start.year, month_start.month,
                                                                first.weekday(), week)
        step += 1
        if until is not None and day > until:
            break
        name = bank_holiday_name(day)
        if name:
            skipped.append((day, name))
        else:
            dates.append(day)
    return SeriesPlan(dates, skipped)


@dataclass(frozen=True)
class Slot:
    """A session's time and place, planned or existing. `session_id` is None when planned."""

    starts_at: dt.datetime
    ends_at: dt.datetime
    venue_id: int
    facilitator_ids: frozenset[int]
    session_id: int | None = None

    def overlaps(self, other: Slot) -> bool:
        # Half-open intervals: a session ending at 13:00 does not clash with one at 13:00.
        return self.starts_at < other.ends_at and other.starts_at < self.ends_at


@dataclass(frozen=True)
class Clash:
    """A planned slot overlapping an existing session, at the venue or for facilitators."""

    planned: Slot
    existing: Slot
    venue: bool
    facilitator_ids: frozenset[int]


def find_clashes(planned: Sequence[Slot], existing: Iterable[Slot]) -> list[Clash]:
    """Every overlap of a planned slot with an existing one sharing the venue or a facilitator.

    Planned slots are also checked against each other (a series whose sessions overlap).
    """
    clashes: list[Clash] = []
    others = list(existing)
    for index, slot in enumerate(planned):
        candidates = [*others, *planned[:index]]
        for other in candidates:
            if other.session_id is not None and other.session_id == slot.session_id:
                continue  # the session being edited does not clash with itself
            if not slot.overlaps(other):
                continue
            same_venue = other.venue_id == slot.venue_id
            shared = slot.facilitator_ids & other.facilitator_ids
            if same_venue or shared:
                clashes.append(Clash(slot, other, same_venue, frozenset(shared)))
    return clashes
