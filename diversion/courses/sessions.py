"""Finding sessions: one by id, pages of them with their booked places, counts.

- `get_session(session_id, with_facilitators=True)` (NotFound)
- `booked_count_column()`, `booked_counts(session_ids)`: places taken
- `list_sessions(where=, page=1, per_page=50)` -> SessionPage; `sessions_between(start=, end=)`
- `set_queue_condition(app, condition)`: how `SessionFilter.full_with_queue` finds a waiting list
- `count_sessions_query(where=)`, `count_sessions_by_status()` (for `flask stats`)
- `set_waiting_counts(app, counts)`: how many wait for each session (bookings, a feature above,
  says so in its init_app); rows of `list_sessions(with_waiting=True)` then carry `waiting`
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import Flask, current_app
from sqlalchemy import ColumnElement, Select, false, func, select
from sqlalchemy.orm import joinedload, selectinload

from diversion.auth.models import User
from diversion.core.errors import NotFound
from diversion.core.extensions import db
from diversion.core.timeutils import london_midnight_in_utc
from diversion.courses.models import CourseSession, SessionStatus

Q = TypeVar("Q", bound=Select[*tuple[Any, ...]])


def get_session(session_id: int, *, with_facilitators: bool = True) -> CourseSession:
    """The session with its venue and programme, and its facilitators unless the caller has no
    use for them (they would load when first read)."""
    query = select(CourseSession).where(CourseSession.id == session_id).options(
        joinedload(CourseSession.venue), joinedload(CourseSession.programme))
    if with_facilitators:
        query = query.options(selectinload(CourseSession.facilitators))
    session = db.session.scalar(query)
    if session is None:
        raise NotFound("No such session")
    return session


def booked_count_column() -> ColumnElement[int]:
    """Places taken in a session, as a column expression any session query can select.

    `sessions.booked_count` is kept equal to the session's active bookings by
    diversion.bookings, which takes and gives back places with guarded UPDATEs.
    """
    return CourseSession.booked_count.expression


def booked_counts(session_ids: Sequence[int]) -> dict[int, int]:
    """Places taken per session, in one query."""
    if not session_ids:
        return {}
    rows = db.session.execute(
        select(CourseSession.id, booked_count_column()).where(CourseSession.id.in_(session_ids)))
    return {session_id: int(booked) for session_id, booked in rows}


@dataclass(frozen=True)
class SessionFilter:
    """What a list of sessions is narrowed to. Days are London calendar days, inclusive."""

    from_day: dt.date | None = None
    to_day: dt.date | None = None
    starts_from: dt.datetime | None = None
    starts_before: dt.datetime | None = None
    venue_id: int | None = None
    programme_id: int | None = None
    status: SessionStatus | None = None
    facilitator_id: int | None = None
    available_only: bool = False
    full_with_queue: bool = False  # scheduled, every place taken, someone on its waiting list


@dataclass
class SessionRow:
    session: CourseSession
    booked: int
    waiting: int = 0

    @property
    def available(self) -> int:
        if self.session.status is not SessionStatus.SCHEDULED:
            return 0
        return max(self.session.capacity - self.booked, 0)


@dataclass
class SessionPage:
    rows: list[SessionRow]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max((self.total + self.per_page - 1) // self.per_page, 1)


_QUEUE_CONDITION = "diversion.courses.queue_condition"


def set_queue_condition(app: Flask, condition: Callable[[], ColumnElement[bool]]) -> None:
    """Tell session lists how to ask "has someone waiting for a place" (bookings keeps the
    waiting lists, above this feature): `condition()` is a clause over CourseSession."""
    app.extensions[_QUEUE_CONDITION] = condition


_WAITING_COUNTS = "diversion.courses.waiting_counts"


def set_waiting_counts(app: Flask, counts: Callable[[Sequence[int]], dict[int, int]]) -> None:
    """Tell session lists how many people wait for each session: `counts(session_ids)`, one
    grouped query bounded to the sessions given."""
    app.extensions[_WAITING_COUNTS] = counts


_PEOPLE_SHOWN = "diversion.courses.people_shown"


def set_people_shown(app: Flask, people: Callable[[int, bool], list[int]]) -> None:
    """Tell the session page which referrals it shows (bookings keeps them, above this
    feature): `people(session_id, with_waiting)`, the referral ids booked (and waiting), for the
    page's audit row. One query."""
    app.extensions[_PEOPLE_SHOWN] = people


def people_shown(session_id: int, *, with_waiting: bool) -> list[int]:
    """The referral ids a session's page shows (empty when no feature keeps bookings)."""
    people = current_app.extensions.get(_PEOPLE_SHOWN)
    return people(session_id, with_waiting) if people is not None else []


def waiting_counts(session_ids: Sequence[int]) -> dict[int, int]:
    """People waiting per session (empty when no feature keeps waiting lists)."""
    counts = current_app.extensions.get(_WAITING_COUNTS)
    return counts(session_ids) if counts is not None and session_ids else {}


def _has_queue() -> ColumnElement[bool]:
    condition = current_app.extensions.get(_QUEUE_CONDITION)
    return condition() if condition is not None else false()


def _filtered(query: Q, where: SessionFilter) -> Q:
    if where.from_day is not None:
        query = query.where(CourseSession.starts_at >= london_midnight_in_utc(where.from_day))
    if where.to_day is not None:
        query = query.where(CourseSession.starts_at
                            < london_midnight_in_utc(where.to_day + dt.timedelta(days=1)))
    if where.starts_from is not None:
        query = query.where(CourseSession.starts_at >= where.starts_from)
    if where.starts_before is not None:
        query = query.where(CourseSession.starts_at < where.starts_before)
    if where.venue_id is not None:
        query = query.where(CourseSession.venue_id == where.venue_id)
    if where.programme_id is not None:
        query = query.where(CourseSession.programme_id == where.programme_id)
    if where.status is not None:
        query = query.where(CourseSession.status == where.status)
    if where.facilitator_id is not None:
        query = query.where(CourseSession.facilitators.any(User.id == where.facilitator_id))
    if where.full_with_queue:
        query = query.where(CourseSession.status == SessionStatus.SCHEDULED,
                            booked_count_column() >= CourseSession.capacity, _has_queue())
    if where.available_only:
        query = query.where(CourseSession.status == SessionStatus.SCHEDULED,
                            CourseSession.capacity - booked_count_column() > 0)
    return query


def list_sessions(*, where: SessionFilter, page: int = 1, per_page: int = 50,
                  count_total: bool = True, with_waiting: bool = False) -> SessionPage:
    """A page of sessions, earliest first, with their bookings, in a fixed number of queries."""
    page = max(page, 1)
    query = _filtered(select(CourseSession, booked_count_column()), where)
    total = 0
    if count_total:
        total = db.session.scalar(
            _filtered(select(func.count()).select_from(CourseSession), where)) or 0
    rows = db.session.execute(
        query.order_by(CourseSession.starts_at, CourseSession.id)
        .options(joinedload(CourseSession.venue), joinedload(CourseSession.programme),
                 selectinload(CourseSession.facilitators))
        .limit(per_page).offset((page - 1) * per_page)
    ).unique().all()
    waiting = waiting_counts([s.id for s, _ in rows]) if with_waiting else {}
    return SessionPage([SessionRow(s, int(b), waiting.get(s.id, 0)) for s, b in rows],
                       total, page, per_page)


def sessions_between(*, start: dt.datetime, end: dt.datetime,
                     facilitator_id: int | None = None,
                     with_waiting: bool = False) -> list[SessionRow]:
    """Every session starting in [start, end), for the calendar."""
    return list_sessions(where=SessionFilter(starts_from=start, starts_before=end,
                                             facilitator_id=facilitator_id),
                         per_page=2000, count_total=False, with_waiting=with_waiting).rows


def list_series_sessions(*, series_key: str, starts_from: dt.datetime) -> list[CourseSession]:
    """The scheduled sessions of a series starting from an instant, earliest first."""
    return list(db.session.scalars(
        select(CourseSession).where(CourseSession.series_key == series_key,
                                    CourseSession.status == SessionStatus.SCHEDULED,
                                    CourseSession.starts_at >= starts_from)
        .order_by(CourseSession.starts_at, CourseSession.id)
        .options(joinedload(CourseSession.venue), joinedload(CourseSession.programme))))


def count_sessions_query(*, where: SessionFilter) -> Select[int]:
    """How many sessions the sessions list shows with this filter (the dashboard)."""
    return _filtered(select(func.count()).select_from(CourseSession), where)


def count_sessions_by_status() -> dict[str, int]:
    """Sessions per status, every status present, for `flask stats`."""
    counts = dict(db.session.execute(
        select(CourseSession.status, func.count()).group_by(CourseSession.status)).all())
    return {status.value: int(counts.get(status, 0)) for status in SessionStatus}
