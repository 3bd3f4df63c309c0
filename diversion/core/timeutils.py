"""Time at the edges: UTC inside, Europe/London for people."""

from __future__ import annotations

import calendar
import datetime as dt
import functools
from zoneinfo import ZoneInfo

LONDON = ZoneInfo("Europe/London")


def now_utc() -> dt.datetime:
    """The current instant, in UTC."""
    return dt.datetime.now(dt.UTC)


def to_london(value: dt.datetime) -> dt.datetime:
    """An aware instant shown on the London wall clock."""
    if value.tzinfo is None:
        raise ValueError("naive datetime: cannot place it in London time")
    return value.astimezone(LONDON)


def london_to_utc(wall: dt.datetime) -> dt.datetime:
    """A London wall-clock time as a UTC instant.

    In the spring gap (01:00-02:00 on the last Sunday of March) the time does not exist; it is
    moved forward by the gap, as a clock would be. In the autumn overlap the earlier (BST)
    instant is chosen.
    """
    if wall.tzinfo is not None:
        raise ValueError("expected a naive London wall-clock time")
    # PEP 495: fold=0 reads the wall time with the offset in force before a transition, which
    # picks the earlier instant in the overlap and, in the gap, lands as far past the gap's
    # start as the wall time is (01:30 -> 02:30 BST), as a clock moved forward would.
    return wall.replace(tzinfo=LONDON, fold=0).astimezone(dt.UTC)


def london_midnight_in_utc(day: dt.date) -> dt.datetime:
    """The UTC instant at which a London calendar day starts."""
    return london_to_utc(dt.datetime.combine(day, dt.time()))


def london_day_bounds(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """Half-open UTC bounds [start, end) of a London calendar day (23, 24 or 25 hours)."""
    return london_midnight_in_utc(day), london_midnight_in_utc(day + dt.timedelta(days=1))


def london_today(now: dt.datetime) -> dt.date:
    """The London calendar date at an instant."""
    return to_london(now).date()


def format_london(value: dt.datetime | None, fmt: str = "%-d %B %Y at %-I:%M%p") -> str:
    """An instant as people in England read it, e.g. '5 March 2026 at 9:30am'."""
    if value is None:
        return ""
    text = to_london(value).strftime(fmt)
    return text.replace("AM", "am").replace("PM", "pm")


@functools.lru_cache(maxsize=4096)  # an import's rows share their dates
def add_months(day: dt.date, months: int) -> dt.date:
    """Calendar month arithmetic clamped to the month end: 31 Jan + 1 month = 28 (or 29) Feb,
    2024-02-29 + 12 months = 2025-02-28 (DESIGN.md's reoffending measure counts on this)."""
    year, month_index = divmod(day.year * 12 + day.month - 1 + months, 12)
    month = month_index + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))
