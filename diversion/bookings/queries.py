"""Reading bookings: a referral's active booking and history, a session's bookings, transfers
used, the sessions a referral could book, the booking's calendar file.

`booked_count` counts the bookings holding a place (PLACE_HOLDING): active ones, and those kept
as the record of a session that took place (attended, missed, closed); cancelled and moved
bookings gave theirs back.

- `get_active_booking(referral) -> Booking | None`; `list_bookings_for(referral)`;
  `get_booking_cancelled_by_provider(referral) -> Booking | None`;
  `list_session_bookings(session_id, people_only=)`, `active_booking_referral_ids(session_id)`;
  `get_place(referral)`
- `transfers_used(referral)`, `transfers_remaining(referral) -> int`
- `count_bookings_by_status()` (for `flask stats`)
- `referral_facts(referral)`, `session_facts(session)`: the values bookings.rules decide on
- `list_bookable_sessions(referral=, now=, include_full=False) -> list[BookableSession]`
- `booking_calendar(booking=, now=) -> str` (RFC 5545 text for an .ics download)
- `referral_page_context(referral)`: the booking part of the referral's page
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, case, func, select
from sqlalchemy.orm import defaultload, joinedload, lazyload

from diversion.bookings import rules
from diversion.bookings.fees import fee_status
from diversion.bookings.ics import booking_ics
from diversion.bookings.models import Booking, BookingStatus
from diversion.core.extensions import db
from diversion.courses.models import CourseSession, SessionStatus, Venue
from diversion.referrals.models import Person, Referral

PLACE_HOLDING = frozenset({BookingStatus.ACTIVE, BookingStatus.ATTENDED, BookingStatus.MISSED,
                           BookingStatus.CLOSED})


def get_active_booking(referral: Referral) -> Booking | None:
    """The booking holding the referral's place, if any."""
    return db.session.scalar(select(Booking).where(
        Booking.referral_id == referral.id, Booking.status == BookingStatus.ACTIVE))


def list_bookings_for(referral: Referral) -> list[Booking]:
    """Every booking the referral has had, newest first."""
    return list(db.session.scalars(select(Booking).where(Booking.referral_id == referral.id)
                                   .order_by(Booking.id.desc())))


def get_booking_cancelled_by_provider(referral: Referral) -> Booking | None:
    """His latest booking, when the provider cancelled its whole session and he has not booked
    since (the booking ended as the session was cancelled; his own cancellations do not count)."""
    latest = db.session.scalar(select(Booking).where(Booking.referral_id == referral.id)
                               .order_by(Booking.id.desc()).limit(1))
    if (latest is None or latest.status is not BookingStatus.CANCELLED
            or latest.session.status is not SessionStatus.CANCELLED
            or latest.session.cancelled_at is None or latest.ended_at is None
            or latest.ended_at < latest.session.cancelled_at):
        return None
    return latest


def list_session_bookings(session_id: int, *, people_only: bool = False) -> list[Booking]:
    """The active bookings on a session, by the person's name. `people_only`: for a list of the
    people, each booking's referral and person are loaded but not the referral's force and
    programme nor the session (the caller has it): those load if read."""
    query = (select(Booking).join(Booking.referral).join(Referral.person)
             .where(Booking.session_id == session_id, Booking.status == BookingStatus.ACTIVE)
             .order_by(Person.family_name, Person.given_names, Booking.id))
    if people_only:
        query = query.options(lazyload(Booking.session),
                              defaultload(Booking.referral).lazyload(Referral.force),
                              defaultload(Booking.referral).lazyload(Referral.programme))
    return list(db.session.scalars(query))


def active_booking_referral_ids(session_id: int) -> Select[int]:
    """The referral ids of a session's active bookings, as a subquery (ix_bookings_session_status)."""
    return select(Booking.referral_id).where(Booking.session_id == session_id,
                                             Booking.status == BookingStatus.ACTIVE)


def transfers_used(referral: Referral) -> int:
    """Moves the referral has made (a session cancelled by the provider does not count)."""
    return db.session.scalar(select(func.count()).select_from(Booking).where(
        Booking.referral_id == referral.id, Booking.status == BookingStatus.TRANSFERRED)) or 0


def transfers_remaining(referral: Referral) -> int:
    return rules.transfers_left(transfers_used=transfers_used(referral),
                                transfer_limit=referral.programme.transfer_limit)


def count_bookings_by_status() -> dict[str, int]:
    counts = {status.value: 0 for status in BookingStatus}
    for status, n in db.session.execute(
            select(Booking.status, func.count()).group_by(Booking.status)):
        counts[status.value] = n
    return counts


def referral_facts(referral: Referral) -> rules.ReferralFacts:
    person = referral.person
    return rules.ReferralFacts(
        id=referral.id, programme_id=referral.programme_id,
        completion_deadline=referral.completion_deadline,
        needs_step_free=bool(person.needs_step_free), has_email=bool(person.email))


def session_facts(session: CourseSession) -> rules.SessionFacts:
    return rules.SessionFacts(
        id=session.id, programme_id=session.programme_id, starts_at=session.starts_at,
        ends_at=session.ends_at, is_scheduled=session.status is SessionStatus.SCHEDULED,
        is_online=session.venue.is_online, is_step_free=session.venue.step_free_access)


@dataclass(frozen=True)
class BookableSession:
    session: CourseSession
    available: int

    @property
    def is_full(self) -> bool:
        return self.available <= 0


def list_bookable_sessions(*, referral: Referral, now: dt.datetime, include_full: bool = False,
                           limit: int = 200) -> list[BookableSession]:
    """Sessions this referral may book, earliest first, with the places left on each.

    Only scheduled sessions of the referral's programme that start after `now` and end by the
    completion deadline, at a step-free venue when the person needs one, and online only for
    someone with an email address (see bookings.rules). Full sessions only when `include_full`
    (to offer a waiting list).
    """
    facts = referral_facts(referral)
    query = (
        select(CourseSession).join(CourseSession.venue)
        .where(CourseSession.programme_id == referral.programme_id,
               CourseSession.status == SessionStatus.SCHEDULED,
               CourseSession.starts_at > now,
               CourseSession.ends_at <= rules.deadline_end(referral.completion_deadline))
        .options(joinedload(CourseSession.venue))
        .order_by(CourseSession.starts_at, CourseSession.id).limit(limit))
    if facts.needs_step_free:
        query = query.where(Venue.step_free_access.is_(True))
    if not facts.has_email:
        query = query.where(Venue.is_online.is_(False))
    if not include_full:
        query = query.where(CourseSession.booked_count < CourseSession.capacity)
    return [BookableSession(s, max(s.capacity - s.booked_count, 0))
            for s in db.session.scalars(query).unique()]


def booking_calendar(*, booking: Booking, now: dt.datetime) -> str:
    """The booking as an .ics calendar (RFC 5545, UTC times, a UID stable per booking)."""
    return booking_ics(booking, now=now)


def get_place(referral: Referral) -> Booking | None:
    """The booking holding or having held the referral's place: the active one, else the one
    it ended with (attended, missed, closed); None when none (cancelled and moved ones are
    history, listed on the bookings page)."""
    # One query: the active booking first (a referral has at most one), else the newest of
    # those that held a place. The referral is the caller's, already loaded: not joined again.
    return db.session.scalar(
        select(Booking).where(Booking.referral_id == referral.id,
                              Booking.status.in_(sorted(PLACE_HOLDING)))
        .order_by(case((Booking.status == BookingStatus.ACTIVE, 0), else_=1), Booking.id.desc())
        .limit(1).options(lazyload(Booking.referral)))


def referral_page_context(referral: Referral) -> dict[str, Any]:
    """What the referral page shows about the place and the fee (added to the page in
    bookings' init_app)."""
    return {"place": get_place(referral), "fee": fee_status(referral)}
