"""The capacity rule: a place taken or given back, and the booking rows that hold one.

The rule lives in the database. A place is taken with
`UPDATE sessions SET booked_count = booked_count + 1 WHERE id = :id AND booked_count < capacity`
and given back with a decrement guarded by `booked_count > 0`; a CHECK constraint holds
0 <= booked_count <= capacity whatever happens. One active booking per referral is a partial
unique index. Both hold under concurrency on SQLite and PostgreSQL.

- `take_place(session_id) -> bool`; `give_back_place(session_id)`; `refresh_count(session)`
- `check_suitable(referral, session, now=)`: UnsuitableSession with the reason
- `new_booking(referral=, session=, actor=, now=, moved_from=None)`: SessionFull, AlreadyBooked
- `end_booking(booking, status=, reason=, now=)`: gives the place back when the status does,
  and cancels the booking's pending messages
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from diversion.auth.models import User
from diversion.bookings import rules
from diversion.bookings.models import Booking, BookingStatus
from diversion.bookings.notices import SUBJECT
from diversion.bookings.queries import referral_facts, session_facts
from diversion.core.errors import Conflict, DomainError
from diversion.core.extensions import db
from diversion.courses.models import CourseSession, SessionStatus
from diversion.outbox.services import cancel_pending
from diversion.referrals.models import Referral

GIVES_PLACE_BACK = frozenset({BookingStatus.CANCELLED, BookingStatus.TRANSFERRED})


class SessionFull(Conflict):
    """No place left on the session (409). A waiting list can be offered instead."""

    title = "Session full"


class AlreadyBooked(Conflict):
    title = "Already booked"


class UnsuitableSession(DomainError):
    """The session cannot be booked for this referral (422): past, cancelled, after the deadline…"""

    title = "Session not available"


def take_place(session_id: int) -> bool:
    """Take one place on a scheduled session if one is left; False when full. Atomic."""
    result = db.session.execute(
        update(CourseSession)
        .where(CourseSession.id == session_id,
               CourseSession.status == SessionStatus.SCHEDULED,
               CourseSession.booked_count < CourseSession.capacity)
        .values(booked_count=CourseSession.booked_count + 1)
        .execution_options(synchronize_session=False))
    return bool(getattr(result, "rowcount", 0))


def give_back_place(session_id: int) -> None:
    """Give a place back; the count never goes below zero."""
    db.session.execute(
        update(CourseSession)
        .where(CourseSession.id == session_id, CourseSession.booked_count > 0)
        .values(booked_count=CourseSession.booked_count - 1)
        .execution_options(synchronize_session=False))


def refresh_count(session: CourseSession) -> None:
    db.session.refresh(session, attribute_names=["booked_count"])


def check_suitable(referral: Referral, session: CourseSession, *, now: dt.datetime) -> None:
    problem = rules.why_unsuitable(referral_facts(referral), session_facts(session), now=now)
    if problem:
        raise UnsuitableSession(problem, field="session_id")


def new_booking(*, referral: Referral, session: CourseSession, actor: User | None,
                now: dt.datetime, moved_from: Booking | None = None) -> Booking:
    """Take the place and write the booking row; SessionFull or AlreadyBooked otherwise."""
    if not take_place(session.id):
        raise SessionFull("This session is full. Choose another session or join its waiting list",
                          field="session_id", session_id=session.id, waiting_list=True)
    booking = Booking(referral_id=referral.id, session_id=session.id,
                      status=BookingStatus.ACTIVE, created_at=now,
                      created_by_id=getattr(actor, "id", None),
                      moved_from_id=moved_from.id if moved_from else None)
    try:
        with db.session.begin_nested():
            db.session.add(booking)
    except IntegrityError as error:  # a concurrent booking for the same referral won
        raise AlreadyBooked("This person already has a booking") from error
    refresh_count(session)
    booking.referral, booking.session = referral, session
    return booking


def end_booking(booking: Booking, *, status: BookingStatus, reason: str | None,
                now: dt.datetime) -> None:
    """Stop a booking; cancelled and moved bookings give their place back."""
    booking.status = status
    booking.ended_at = now
    booking.end_reason = reason
    db.session.flush()
    if status in GIVES_PLACE_BACK:
        give_back_place(booking.session_id)
        refresh_count(booking.session)
    cancel_pending(subject_type=SUBJECT, subject_id=booking.id, now=now)
