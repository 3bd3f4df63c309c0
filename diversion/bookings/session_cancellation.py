"""Cancelling a whole session: each booking is cancelled, and its person either rebooked onto
the next suitable session or returned to awaiting booking, and told.

- `next_suitable_session(referral, now=, excluding=)` -> CourseSession | None
- `cancel_session_with_bookings(session=, reason=, choices=, actor=, now=)` -> list[CancelOutcome]
- `cancel_series(sessions=, reason=, actor=, now=)`: several sessions of a series; everyone
  booked is returned to awaiting booking (rebooking could pick another date being cancelled)
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import delete

from diversion.audit.models import AuditCategory
from diversion.audit.services import record
from diversion.auth.models import User
from diversion.bookings.capacity import end_booking, new_booking
from diversion.bookings.ics import booking_ics
from diversion.bookings.models import Booking, BookingStatus, WaitingListEntry
from diversion.bookings.notices import (
    deadline_context,
    session_context,
    tell,
    tell_removed_from_waiting_list,
)
from diversion.bookings.queries import list_bookable_sessions, list_session_bookings
from diversion.bookings.waiting_list import waiting_list
from diversion.core.extensions import db
from diversion.courses import planning as courses_planning
from diversion.courses.models import CourseSession
from diversion.referrals import lifecycle
from diversion.referrals.models import Referral, ReferralEventType

SESSION_CANCELLED_NOTICE = "session_cancelled"


class AfterCancel(enum.StrEnum):
    REBOOK = "rebook"  # onto the next suitable session with a place
    RETURN = "return"  # back to awaiting_booking, to book again


@dataclass(frozen=True)
class CancelOutcome:
    referral: Referral
    rebooked_on: CourseSession | None


def next_suitable_session(referral: Referral, *, now: dt.datetime,
                          excluding: int | None = None) -> CourseSession | None:
    for option in list_bookable_sessions(referral=referral, now=now, limit=20):
        if option.session.id != excluding:
            return option.session
    return None


def cancel_session_with_bookings(*, session: CourseSession, reason: str,
                                 choices: Mapping[int, AfterCancel], actor: User | None,
                                 now: dt.datetime) -> list[CancelOutcome]:
    """Cancel a session and deal with each person booked on it, as the manager chose.

    `choices` maps booking id to REBOOK or RETURN (default RETURN). Someone to rebook with no
    suitable session left is returned to `awaiting_booking` instead. Everyone is told.
    """
    bookings = list_session_bookings(session.id)
    courses_planning.cancel_session(session=session, reason=reason, actor=actor, now=now)
    # Those waiting for a place on it are taken off its list and told: no place will come.
    waiting = [(entry.id, entry.joined_at, entry.referral) for entry in waiting_list(session.id)]
    db.session.execute(delete(WaitingListEntry).where(WaitingListEntry.session_id == session.id))
    for entry_id, joined_at, waiting_referral in waiting:
        tell_removed_from_waiting_list(referral=waiting_referral, session=session,
                                       entry_id=entry_id, joined_at=joined_at, now=now,
                                       course_cancelled=True)
    outcomes: list[CancelOutcome] = []
    for booking in bookings:
        referral = booking.referral
        why = f"Session cancelled: {session.cancel_reason}"
        end_booking(booking, status=BookingStatus.CANCELLED, now=now, reason=why)
        lifecycle.transition(referral, ReferralEventType.BOOKING_CANCELLED, actor=actor, now=now,
                             reason=why)
        new: Booking | None = None
        if choices.get(booking.id, AfterCancel.RETURN) is AfterCancel.REBOOK:
            target = next_suitable_session(referral, now=now, excluding=session.id)
            if target is not None:
                new = new_booking(referral=referral, session=target, actor=actor, now=now)
                lifecycle.transition(referral, ReferralEventType.BOOKED, actor=actor, now=now,
                                     reason="Rebooked after a session was cancelled")
        extra = {"cancel_reason": session.cancel_reason, "rebooked": new is not None,
                 "old": session_context(session), **deadline_context(referral)}
        tell(referral=referral, template=SESSION_CANCELLED_NOTICE,
             key=f"session-cancelled:{booking.id}", now=now, booking=new or booking,
             subject_id=(new or booking).id, extra=extra,
             ics=booking_ics(new, now=now, cancelled=[booking]) if new
             else booking_ics(booking, now=now))
        outcomes.append(CancelOutcome(referral, new.session if new else None))
    record(action="session.cancel_with_bookings", category=AuditCategory.ALTERATION, now=now,
           actor=actor, object_type="session", object_id=session.id,
           details={"returned": sum(1 for o in outcomes if o.rebooked_on is None),
                    "rebooked": sum(1 for o in outcomes if o.rebooked_on is not None)})
    return outcomes


def cancel_series(*, sessions: list[CourseSession], reason: str, actor: User | None,
                  now: dt.datetime) -> list[CancelOutcome]:
    """Cancel sessions of one series; each person booked is returned and told."""
    outcomes: list[CancelOutcome] = []
    for session in sessions:
        outcomes += cancel_session_with_bookings(session=session, reason=reason, choices={},
                                                 actor=actor, now=now)
    if sessions:
        record(action="series.cancel", category=AuditCategory.ALTERATION, now=now, actor=actor,
               object_type="session", object_id=sessions[0].id,
               details={"series_key": sessions[0].series_key,
                        "sessions": [s.id for s in sessions], "returned": len(outcomes)})
    return outcomes
