"""Booking a place, moving it, giving it back; a freed place to the first in line; bookings
following the referral's moves.

Every function takes keyword arguments, the acting user (`actor`, None for the system or the
person on the self-service page) and `now`; they flush and never commit; they raise
DomainErrors with messages a person can read.

Stable API (the self-service page calls these):
- `book_place(referral=, session=, actor=, now=) -> Booking`
- `transfer_booking(referral=, session=, actor=, now=) -> Booking` (TransferLimitReached)
- `cancel_booking(referral=, actor=, now=, reason=None) -> Booking`
Also:
- `promote_waiting_list(session=, now=) -> list[Booking]`
- `promote_entry(entry=, actor=, now=) -> Booking`: a manager books one person off the line
- `follow_referral(moved)`, `follow_referrals(moves)`: receivers of the referral's moves
- `confirm_allocated(placed=, actor=, now=, contacts=None)`: confirmations after a bulk allocation
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select

from diversion.audit.models import AuditCategory
from diversion.audit.services import record
from diversion.auth.models import User
from diversion.bookings import rules
from diversion.bookings.capacity import (
    AlreadyBooked,
    SessionFull,
    check_suitable,
    end_booking,
    new_booking,
    refresh_count,
)
from diversion.bookings.fees import balances
from diversion.bookings.ics import booking_ics
from diversion.bookings.models import Booking, BookingStatus, WaitingListEntry
from diversion.bookings.notices import (
    allocated_confirmations,
    deadline_context,
    send_confirmation,
    tell,
)
from diversion.bookings.queries import get_active_booking, referral_facts, session_facts, transfers_used
from diversion.bookings.signals import booking_transferred
from diversion.bookings.waiting_list import leave_all_waiting_lists, position_of, waiting_list
from diversion.core.bulk import one_of
from diversion.core.errors import (
    Conflict,
    DomainError,
    InvalidTransition,
    NotFound,
    ValidationFailed,
)
from diversion.core.extensions import db
from diversion.core.timeutils import format_london
from diversion.courses.models import CourseSession, SessionStatus
from diversion.outbox.services import enqueue_many
from diversion.referrals import lifecycle
from diversion.referrals.models import Person, Referral, ReferralEventType, ReferralStatus

CANCELLED_NOTICE = "booking_cancelled"


class TransferLimitReached(DomainError):
    title = "Transfer limit reached"


def book_place(*, referral: Referral, session: CourseSession, actor: User | None,
               now: dt.datetime, from_waiting_list: bool = False) -> Booking:
    """Book the referral onto a session: the place, the booking row, `booked`, the confirmation.

    Refused: the referral not awaiting a booking (InvalidTransition/AlreadyBooked, 409); the
    session past, cancelled, for another course, after the completion deadline or without the
    access the person needs (UnsuitableSession, 422); no place left (SessionFull, 409).
    The confirmation (email with an .ics file, or SMS) goes through the outbox.
    """
    if referral.status is ReferralStatus.BOOKED:
        raise AlreadyBooked("This person is already booked: move the booking instead",
                            field="session_id")
    if referral.status is not ReferralStatus.AWAITING_BOOKING:
        raise InvalidTransition(f"A referral that is {referral.status.label.lower()} "
                                "cannot be booked", current_status=referral.status.value)
    check_suitable(referral, session, now=now)
    booking = new_booking(referral=referral, session=session, actor=actor, now=now)
    lifecycle.transition(referral, ReferralEventType.BOOKED, actor=actor, now=now,
                         reason=f"Session on {format_london(session.starts_at)}")
    leave_all_waiting_lists([referral.id])
    record(action="booking.create", category=AuditCategory.ALTERATION, now=now, actor=actor,
           object_type="booking", object_id=booking.id,
           details={"referral_id": referral.id, "session_id": session.id,
                    "from_waiting_list": from_waiting_list})
    send_confirmation(booking, now=now, from_waiting_list=from_waiting_list)
    return booking


def _require_active(referral: Referral) -> Booking:
    booking = get_active_booking(referral)
    if booking is None:
        raise NotFound("This person has no booking")
    return booking


class SessionBegun(Conflict):
    title = "The session has begun"


def _require_not_begun(booking: Booking, *, now: dt.datetime, change: str,
                       field: str | None = None) -> None:
    """A booking is moved or cancelled only before its session begins: from then on the
    register says what happened (a man who attended but still owes the fee keeps his booking,
    and a submitted register is corrected by a manager, with a reason)."""
    if booking.session.starts_at <= now:
        raise SessionBegun(f"The session on {format_london(booking.session.starts_at)} has begun, "
                           f"so the booking cannot be {change}: the register records what "
                           "happened", field=field)


def transfer_booking(*, referral: Referral, session: CourseSession, actor: User | None,
                     now: dt.datetime) -> Booking:
    """Move the referral's booking to another session, within the programme's transfer limit.

    The old place is given back (and offered to that session's waiting list); the person is
    sent a new confirmation whose .ics cancels the old date, and the new session's reminders
    are planned at once. Returns the new booking.
    """
    old = _require_active(referral)
    _require_not_begun(old, now=now, change="moved", field="session_id")
    if old.session_id == session.id:
        raise ValidationFailed({"session_id": "Choose a different session from the one booked"})
    limit = referral.programme.transfer_limit
    if transfers_used(referral) >= limit:
        raise TransferLimitReached(
            f"This booking has already been moved {limit} time{'s' if limit != 1 else ''}, "
            "the most allowed. Cancel it and book again, or contact the programme team",
            field="session_id")
    check_suitable(referral, session, now=now)
    old_session = old.session
    end_booking(old, status=BookingStatus.TRANSFERRED, now=now,
                reason=f"Moved to the session on {format_london(session.starts_at)}")
    new = new_booking(referral=referral, session=session, actor=actor, now=now, moved_from=old)
    record(action="booking.transfer", category=AuditCategory.ALTERATION, now=now, actor=actor,
           object_type="booking", object_id=new.id,
           details={"referral_id": referral.id, "from_session_id": old_session.id,
                    "to_session_id": session.id, "from_booking_id": old.id})
    send_confirmation(new, now=now, replaces=old)
    # The referral stays `booked`, so no lifecycle move plans the new reminders: tell the
    # reminders now rather than leave it to the next sweep (the old booking's were cancelled).
    booking_transferred.send(new, now=now)
    promote_waiting_list(session=old_session, now=now)
    return new


def cancel_booking(*, referral: Referral, actor: User | None, now: dt.datetime,
                   reason: str | None = None, notify: bool = True) -> Booking:
    """Cancel the referral's booking: the place given back, back to `awaiting_booking`,
    pending messages about it cancelled, the person told, the waiting list offered the place."""
    booking = _require_active(referral)
    _require_not_begun(booking, now=now, change="cancelled")
    reason = (reason or "").strip() or "Booking cancelled"
    if len(reason) > 500:
        raise ValidationFailed({"reason": "Enter a reason of up to 500 characters"})
    end_booking(booking, status=BookingStatus.CANCELLED, reason=reason, now=now)
    lifecycle.transition(referral, ReferralEventType.BOOKING_CANCELLED, actor=actor, now=now,
                         reason=reason)
    record(action="booking.cancel", category=AuditCategory.ALTERATION, now=now, actor=actor,
           object_type="booking", object_id=booking.id, details={"referral_id": referral.id})
    if notify:  # after end_booking's cancel_pending, so this notice itself stays pending
        tell(referral=referral, template=CANCELLED_NOTICE, key=f"booking-cancelled:{booking.id}",
             now=now, booking=booking, subject_id=booking.id, extra=deadline_context(referral),
             ics=booking_ics(booking, now=now))
    promote_waiting_list(session=booking.session, now=now)
    return booking


def promote_waiting_list(*, session: CourseSession, now: dt.datetime) -> list[Booking]:
    """Give free places on a session to the first people in line who can still take them.

    Someone who can no longer take it (booked elsewhere, deadline before the session, access
    not met) is skipped and stays in line. Each person booked is told.
    """
    booked: list[Booking] = []
    if session.status is not SessionStatus.SCHEDULED or session.starts_at <= now:
        return booked
    for entry in waiting_list(session.id):
        refresh_count(session)
        if session.booked_count >= session.capacity:
            break
        referral = entry.referral
        if referral.status is not ReferralStatus.AWAITING_BOOKING:
            continue
        if rules.why_unsuitable(referral_facts(referral), session_facts(session), now=now):
            continue
        try:
            booked.append(book_place(referral=referral, session=session, actor=None, now=now,
                                     from_waiting_list=True))
        except (SessionFull, AlreadyBooked):
            break
    return booked


def promote_entry(*, entry: WaitingListEntry, actor: User | None, now: dt.datetime) -> Booking:
    """Book someone on a session's waiting list into a free place on it (a manager's choice,
    which may pass over people ahead in line); SessionFull when there is no free place."""
    session = entry.session
    refresh_count(session)
    if session.status is not SessionStatus.SCHEDULED or session.starts_at <= now:
        raise InvalidTransition("This session can no longer be booked")
    if session.booked_count >= session.capacity:
        raise SessionFull("There is no free place on this session. Someone must cancel, or the "
                          "number of places must be raised, before anyone can be promoted",
                          session_id=session.id)
    position = position_of(entry)
    referral = entry.referral
    booking = book_place(referral=referral, session=session, actor=actor, now=now,
                         from_waiting_list=True)
    record(action="waiting_list.promote", category=AuditCategory.ALTERATION, now=now, actor=actor,
           object_type="referral", object_id=referral.id,
           details={"session_id": session.id, "position": position, "booking_id": booking.id})
    return booking


# How a booking ends when its referral moves on elsewhere: for a session still to come the place
# is given back (cancelled); a session that has started keeps the booking's place, as a record.
ENDING_STATUS = {
    ReferralStatus.COMPLETED: BookingStatus.ATTENDED,
    ReferralStatus.MISSED: BookingStatus.MISSED,
    ReferralStatus.NOT_COMPLETED: BookingStatus.CLOSED,
    ReferralStatus.WITHDRAWN: BookingStatus.CLOSED,
}


def follow_referral(moved: lifecycle.Moved) -> None:
    """Keep bookings in step with moves made elsewhere (withdrawal, register, deadlines): the
    receiver of `referral_moved`, connected in bookings' init_app."""
    if moved.to_status is ReferralStatus.BOOKED:
        return
    if moved.to_status.is_terminal:
        leave_all_waiting_lists([moved.referral.id])
    if _ends_booking(moved):
        _end_for(moved, get_active_booking(moved.referral))


def _ends_booking(moved: lifecycle.Moved) -> bool:
    return (moved.to_status is not ReferralStatus.BOOKED
            and (moved.to_status in ENDING_STATUS
                 or moved.event is ReferralEventType.BOOKING_CANCELLED))


def _end_for(moved: lifecycle.Moved, booking: Booking | None) -> None:
    if booking is None:
        return
    upcoming = booking.session.starts_at > moved.now
    status = (BookingStatus.CANCELLED if upcoming
              else ENDING_STATUS.get(moved.to_status, BookingStatus.CLOSED))
    end_booking(booking, status=status, now=moved.now, reason=moved.reason or moved.event.value)
    if upcoming:
        promote_waiting_list(session=booking.session, now=moved.now)


def follow_referrals(moves: Sequence[lifecycle.Moved]) -> None:
    """`follow_referral` for each move of a batch (receiver of `referrals_moved`): the waiting
    lists left and the active bookings found with one query a chunk, not one a move."""
    closing = [m.referral.id for m in moves
               if m.to_status is not ReferralStatus.BOOKED and m.to_status.is_terminal]
    for start in range(0, len(closing), 900):
        leave_all_waiting_lists(closing[start:start + 900])
    ending = [m for m in moves if _ends_booking(m)]
    ids = [m.referral.id for m in ending]
    active: set[int] = set()
    for start in range(0, len(ids), 900):
        active.update(db.session.scalars(select(Booking.referral_id).where(
            Booking.referral_id.in_(ids[start:start + 900]),
            Booking.status == BookingStatus.ACTIVE)))
    for moved in ending:
        if moved.referral.id in active:
            # Read again one at a time: ending one booking may promote someone else's.
            _end_for(moved, get_active_booking(moved.referral))


def _contact_details(referral_ids: Sequence[int]) -> dict[int, Any]:
    """Referral id -> its person's given names and ways to reach him, as rows (an allocation
    does not load its thousands of people as objects)."""
    found: dict[int, Any] = {}
    for start in range(0, len(referral_ids), 900):
        found.update((row.referral_id, row) for row in db.session.execute(
            select(Referral.id.label("referral_id"), Person.given_names, Person.preferred_contact,
                   Person.email, Person.mobile)
            .join(Person, Person.id == Referral.person_id)
            .where(one_of(Referral.id, referral_ids[start:start + 900]))))
    return found


def confirm_allocated(*, placed: Sequence[tuple[Referral, CourseSession]], actor: User | None,
                      now: dt.datetime, contacts: Mapping[int, Any] | None = None) -> None:
    """Move allocated referrals to `booked`, take them off waiting lists, send confirmations.
    `contacts`: referral id -> a row of his person's given_names, preferred_contact, email and
    mobile, when the caller has read them already (read here otherwise)."""
    ids = [referral.id for referral, _ in placed]
    booking_ids: dict[int, int] = {}
    for start in range(0, len(ids), 900):
        booking_ids.update(db.session.execute(select(Booking.referral_id, Booking.id).where(
            one_of(Booking.referral_id, ids[start:start + 900]),
            Booking.status == BookingStatus.ACTIVE)).all())
    for start in range(0, len(ids), 900):
        leave_all_waiting_lists(ids[start:start + 900])
    # One move for all, in bulk; the reminders are planned once for every booking at the end.
    sessions = {session.id: session for _, session in placed}
    reasons = {session_id: f"Allocated to the session on {format_london(session.starts_at)}"
               for session_id, session in sessions.items()}  # once a session, not a booking
    lifecycle.transition_many(
        [referral for referral, _ in placed], ReferralEventType.BOOKED, actor=actor, now=now,
        reason=[reasons[session.id] for _, session in placed])
    people = _contact_details(ids) if contacts is None else contacts
    owed: dict[str, int] = {}
    references = {referral.id: referral.reference for referral, _ in placed}
    for start in range(0, len(ids), 900):  # read before the messages are written (a COPY)
        owed.update((references[referral_id], pence) for referral_id, pence
                    in balances(ids[start:start + 900]).items())
    enqueue_many(allocated_confirmations(
        [(booking_ids[referral.id], referral.reference, people[referral.id], session)
         for referral, session in placed], now=now, owed=owed), now=now)
    db.session.flush()
