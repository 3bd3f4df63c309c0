"""A facilitator's sessions: the day's and the coming ones, each with its register's state;
sessions whose register is overdue.

- `list_sessions_for_day(user=, day=)`, `list_upcoming_sessions(user=, now=, limit=50)`
  -> list[SessionLine] (a facilitator sees only his own sessions)
- `get_session_for(session_id=, actor=)` -> CourseSession (NotFound outside his scope)
- `overdue_registers(now=, limit=None, facilitator_id=None)`, `count_overdue_registers(now=)`:
  held sessions whose register was not submitted in time; `is_to_take(line)`
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Select, exists, func, select, union

from diversion.attendance.models import Register, RegisterState
from diversion.attendance.rules import close_out_due_at
from diversion.auth.models import Role, User
from diversion.bookings.models import Booking, BookingStatus
from diversion.core.bulk import one_of
from diversion.core.db import set_local
from diversion.core.errors import NotFound
from diversion.core.extensions import db
from diversion.core.timeutils import london_day_bounds, london_midnight_in_utc, london_today
from diversion.courses import facilitators as courses_facilitators
from diversion.courses import sessions as courses_sessions
from diversion.courses.models import CourseSession, SessionStatus


@dataclass
class SessionLine:
    session: CourseSession
    booked: int
    register_state: RegisterState | None

    @property
    def register_label(self) -> str:
        return self.register_state.label if self.register_state else "Not started"


def _session_lines(rows: Sequence[courses_sessions.SessionRow]) -> list[SessionLine]:
    ids = [row.session.id for row in rows]
    states: dict[int, RegisterState] = {}
    if ids:
        for session_id, state in db.session.execute(
                select(Register.session_id, Register.state).where(Register.session_id.in_(ids))):
            states[session_id] = state
    return [SessionLine(row.session, row.booked, states.get(row.session.id)) for row in rows]


def list_sessions_for_day(*, user: User, day: dt.date) -> list[SessionLine]:
    """Sessions starting on a London day: a facilitator's own, or every one for a manager."""
    start, end = london_day_bounds(day)
    return _session_lines(courses_sessions.sessions_between(
        start=start, end=end, facilitator_id=_facilitator_scope(user)))


def list_upcoming_sessions(*, user: User, now: dt.datetime, limit: int = 50) -> list[SessionLine]:
    """Sessions after today (London), earliest first, cancelled ones left out."""
    _, end_of_today = london_day_bounds(london_today(now))
    page = courses_sessions.list_sessions(
        where=courses_sessions.SessionFilter(starts_from=end_of_today,
                                             facilitator_id=_facilitator_scope(user),
                                             status=SessionStatus.SCHEDULED),
        per_page=limit, count_total=False)
    return _session_lines(page.rows)


def _facilitator_scope(user: User) -> int | None:
    return user.id if user.role is Role.FACILITATOR else None


def get_session_for(*, session_id: int, actor: User) -> CourseSession:
    """The session, if this user may take its register: a facilitator only their own (else 404)."""
    session = courses_sessions.get_session(
        session_id, with_facilitators=actor.role is Role.FACILITATOR)
    if actor.role is Role.FACILITATOR and not courses_facilitators.is_facilitating(session, actor):
        raise NotFound("No such session")
    if actor.role not in (Role.FACILITATOR, Role.MANAGER):
        raise NotFound("No such session")
    return session


def _overdue_ids(*, now: dt.datetime, facilitator_id: int | None) -> Select[int]:
    """The ids of the overdue sessions. The candidates are the sessions that still hold work:
    those with an active booking (a booking stays active only while its referral is open) and
    those with a draft register (`ix_bookings_status_session`, `ix_registers_state_session`).
    Each candidate is then looked up on its own (the session by its key, its submitted register
    by `ix_registers_state_session`): a correlated subquery, which PostgreSQL runs once a candidate
    rather than joining the candidates to every session and register of the past as it did
    when the test was a join (56 ms at a million referrals, growing with the history). So the
    cost follows the open work, never the sessions of the past."""
    # close_out_due_at(starts_at) <= now exactly when the session began before the London
    # midnight that starts yesterday: the rule for each session, applied in SQL.
    cutoff = london_midnight_in_utc(london_today(now) - dt.timedelta(days=1))
    candidates = union(
        select(Booking.session_id).where(Booking.status == BookingStatus.ACTIVE),
        select(Register.session_id).where(Register.state == RegisterState.DRAFT)).subquery()
    submitted = exists().where(Register.session_id == CourseSession.id,
                               Register.state == RegisterState.SUBMITTED)
    overdue = select(CourseSession.id).where(CourseSession.id == candidates.c.session_id,
                                             CourseSession.starts_at < cutoff,
                                             CourseSession.status != SessionStatus.CANCELLED,
                                             ~submitted)
    if facilitator_id is not None:
        overdue = overdue.where(CourseSession.facilitators.any(User.id == facilitator_id))
    return select(candidates.c.session_id).where(overdue.scalar_subquery().is_not(None))


def overdue_registers(*, now: dt.datetime, limit: int | None = None,
                      facilitator_id: int | None = None) -> list[CourseSession]:
    """Sessions with people booked whose register was not submitted by the end of the next day
    (a facilitator's own when facilitator_id is given), earliest first."""
    # The ids first, then their sessions: asked in one statement, PostgreSQL walks every
    # session of the past in order of start looking for the first 50 overdue ones.
    set_local(db.session, "jit = off")  # see core.dashboard._count_together
    ids = list(db.session.scalars(_overdue_ids(now=now, facilitator_id=facilitator_id)))
    query = select(CourseSession).where(one_of(CourseSession.id, ids)).order_by(
        CourseSession.starts_at, CourseSession.id)
    if limit:
        query = query.limit(limit)
    return [s for s in db.session.scalars(query) if now >= close_out_due_at(s.starts_at)]


def count_overdue_registers(*, now: dt.datetime, facilitator_id: int | None = None) -> int:
    """How many `overdue_registers` there are, counted in the database (no rows loaded)."""
    set_local(db.session, "jit = off")  # see core.dashboard._count_together
    return db.session.scalar(
        count_overdue_registers_query(now=now, facilitator_id=facilitator_id)) or 0


def count_overdue_registers_query(*, now: dt.datetime,
                                  facilitator_id: int | None = None) -> Select[int]:
    """The statement `count_overdue_registers` runs (for the dashboard, which makes its counts
    together)."""
    overdue = _overdue_ids(now=now, facilitator_id=facilitator_id).subquery()
    return select(func.count()).select_from(overdue)


def is_to_take(line: SessionLine) -> bool:
    """A register still to take: its session not cancelled and its register not submitted."""
    return (line.session.status is not SessionStatus.CANCELLED
            and line.register_state is not RegisterState.SUBMITTED)
