"""Bookings: take a place, move it, give it back; waiting lists; cancelling a whole session.

Every function takes keyword arguments, the acting user (`actor`, None for the system or the
person on the self-service page) and `now`; they flush and never commit; they raise
DomainErrors with messages a person can read.

The capacity rule lives in the database. A place is taken with
`UPDATE sessions SET booked_count = booked_count + 1 WHERE id = :id AND booked_count < capacity`
and given back with a decrement guarded by `booked_count > 0`; a CHECK constraint holds
0 <= booked_count <= capacity whatever happens. One active booking per referral is a partial
unique index. Both hold under concurrency on SQLite and PostgreSQL. `booked_count` counts the
bookings holding a place (PLACE_HOLDING): active ones, and those kept as the record of a session
that took place (attended, missed, closed); cancelled and moved bookings gave theirs back.

Stable API (the self-service page calls these):
- `list_bookable_sessions(referral=, now=, include_full=False) -> list[BookableSession]`
- `book_place(referral=, session=, actor=, now=) -> Booking`
- `transfer_booking(referral=, session=, actor=, now=) -> Booking`
- `cancel_booking(referral=, actor=, now=, reason=None) -> Booking`
- `get_active_booking(referral) -> Booking | None`; `transfers_remaining(referral) -> int`
- `booking_calendar(booking=, now=) -> str` (RFC 5545 text for an .ics download)
"""

from __future__ import annotations

import datetime as dt
import enum
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload, lazyload

from diversion.audit.models import AuditCategory
from diversion.audit.services import record
from diversion.auth.models import User
from diversion.bookings import rules
from diversion.bookings.fees import fee_status
from diversion.bookings.ics import booking_ics
from diversion.bookings.models import Booking, BookingStatus, WaitingListEntry
from diversion.bookings.signals import booking_transferred
from diversion.core.errors import Conflict, DomainError, InvalidTransition, NotFound, ValidationFailed
from diversion.core.extensions import db
from diversion.core.timeutils import format_london
from diversion.courses import planning as courses_planning
from diversion.courses.models import CourseSession, SessionStatus, Venue
from diversion.outbox.models import Channel
from diversion.outbox.services import cancel_pending, enqueue, enqueue_many
from diversion.referrals import lifecycle
from diversion.referrals.models import (
    ContactChannel,
    Person,
    Referral,
    ReferralEventType,
    ReferralStatus,
)

log = logging.getLogger(__name__)

SUBJECT = "booking"
CONFIRMATION = "booking_confirmation"
CANCELLED_NOTICE = "booking_cancelled"
SESSION_CANCELLED_NOTICE = "session_cancelled"
PLACE_HOLDING = frozenset({BookingStatus.ACTIVE, BookingStatus.ATTENDED, BookingStatus.MISSED,
                           BookingStatus.CLOSED})
GIVES_PLACE_BACK = frozenset({BookingStatus.CANCELLED, BookingStatus.TRANSFERRED})


# Errors ---------------------------------------------------------------------------------------

class SessionFull(Conflict):
    """No place left on the session (409). A waiting list can be offered instead."""

    title = "Session full"


class AlreadyBooked(Conflict):
    title = "Already booked"


class UnsuitableSession(DomainError):
    """The session cannot be booked for this referral (422): past, cancelled, after the deadline…"""

    title = "Session not available"


class TransferLimitReached(DomainError):
    title = "Transfer limit reached"


# Reading ----------------------------------------------------------------------------------

def get_active_booking(referral: Referral) -> Booking | None:
    """The booking holding the referral's place, if any."""
    return db.session.scalar(select(Booking).where(
        Booking.referral_id == referral.id, Booking.status == BookingStatus.ACTIVE))


def list_bookings_for(referral: Referral) -> list[Booking]:
    """Every booking the referral has had, newest first."""
    return list(db.session.scalars(select(Booking).where(Booking.referral_id == referral.id)
                                   .order_by(Booking.id.desc())))


def list_session_bookings(session_id: int) -> list[Booking]:
    """The active bookings on a session, by the person's name."""
    return list(db.session.scalars(
        select(Booking).join(Booking.referral).join(Referral.person)
        .where(Booking.session_id == session_id, Booking.status == BookingStatus.ACTIVE)
        .order_by(Person.family_name, Person.given_names, Booking.id)))


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


# Places: the capacity rule -----------------------------------------------------------------

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


def _refresh_count(session: CourseSession) -> None:
    db.session.refresh(session, attribute_names=["booked_count"])


# Booking --------------------------------------------------------------------------------

def _check_suitable(referral: Referral, session: CourseSession, *, now: dt.datetime) -> None:
    problem = rules.why_unsuitable(referral_facts(referral), session_facts(session), now=now)
    if problem:
        raise UnsuitableSession(problem, field="session_id")


def _new_booking(*, referral: Referral, session: CourseSession, actor: User | None,
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
    _refresh_count(session)
    booking.referral, booking.session = referral, session
    return booking


def _end_booking(booking: Booking, *, status: BookingStatus, reason: str | None,
                 now: dt.datetime) -> None:
    """Stop a booking; cancelled and moved bookings give their place back."""
    booking.status = status
    booking.ended_at = now
    booking.end_reason = reason
    db.session.flush()
    if status in GIVES_PLACE_BACK:
        give_back_place(booking.session_id)
        _refresh_count(booking.session)
    cancel_pending(subject_type=SUBJECT, subject_id=booking.id, now=now)


def _contact(person: Person) -> tuple[Channel, str] | None:
    """Where to tell the person: their preferred channel, else whatever address they gave."""
    if person.preferred_contact is ContactChannel.SMS and person.mobile:
        return Channel.SMS, person.mobile
    if person.email:
        return Channel.EMAIL, person.email
    if person.mobile:
        return Channel.SMS, person.mobile
    return None


def _session_context(session: CourseSession) -> dict[str, Any]:
    venue = session.venue
    return {
        "starts_at": format_london(session.starts_at, "%A %-d %B %Y at %-I:%M%p").replace(
            "AM", "am").replace("PM", "pm"),
        "ends_at": format_london(session.ends_at, "%-I:%M%p").replace("AM", "am").replace(
            "PM", "pm"),
        "is_online": venue.is_online,
        "venue_name": venue.name,
        "venue_address": ", ".join(p for p in (venue.address_line_1, venue.address_line_2,
                                               venue.town, venue.postcode) if p),
        "step_free": venue.step_free_access,
    }


def _tell(*, referral: Referral, template: str, key: str, now: dt.datetime,
          booking: Booking | None, subject_id: int, extra: Mapping[str, Any] | None = None,
          ics: str | None = None) -> None:
    message = _message(referral=referral, template=template, key=key, now=now,
                       booking=booking, subject_id=subject_id, extra=extra, ics=ics)
    if message is not None:
        enqueue(**message, now=now)


def _message(*, referral: Referral, template: str, key: str, now: dt.datetime,
             booking: Booking | None, subject_id: int, extra: Mapping[str, Any] | None = None,
             ics: str | None = None) -> dict[str, Any] | None:
    """The outbox message telling the person something (enqueue's arguments), or None when
    there is no address to send it to."""
    contact = _contact(referral.person)
    if contact is None:
        log.info("no email or mobile to send %s for booking %s", template, subject_id)
        return None
    channel, recipient = contact
    given = referral.person.given_names.split()
    context: dict[str, Any] = {"reference": referral.reference,
                               "given_name": given[0] if given else ""}
    if booking is not None:
        context.update(_session_context(booking.session))
    context.update(extra or {})
    if ics and channel is Channel.EMAIL:
        context["ics"] = ics
    return {"dedupe_key": key, "channel": channel, "recipient": recipient, "template": template,
            "due_at": now, "context": context, "subject_type": SUBJECT, "subject_id": subject_id,
            "expires_at": booking.session.starts_at if booking is not None else None}


def _confirmation(booking: Booking, *, now: dt.datetime, replaces: Booking | None = None,
                  from_waiting_list: bool = False) -> dict[str, Any] | None:
    return _message(referral=booking.referral, template=CONFIRMATION,
                    key=f"booking-confirmation:{booking.id}", now=now, booking=booking,
                    subject_id=booking.id,
                    extra={"is_change": replaces is not None,
                           "from_waiting_list": from_waiting_list},
                    ics=booking_ics(booking, now=now, cancelled=[replaces] if replaces else []))


def _confirm(booking: Booking, *, now: dt.datetime, replaces: Booking | None = None,
             from_waiting_list: bool = False) -> None:
    message = _confirmation(booking, now=now, replaces=replaces,
                            from_waiting_list=from_waiting_list)
    if message is not None:
        enqueue(**message, now=now)


def _leave_all_waiting_lists(referral_ids: Sequence[int]) -> None:
    if referral_ids:
        db.session.execute(delete(WaitingListEntry).where(
            WaitingListEntry.referral_id.in_(list(referral_ids))))


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
    _check_suitable(referral, session, now=now)
    booking = _new_booking(referral=referral, session=session, actor=actor, now=now)
    lifecycle.transition(referral, ReferralEventType.BOOKED, actor=actor, now=now,
                         reason=f"Session on {format_london(session.starts_at)}")
    _leave_all_waiting_lists([referral.id])
    record(action="booking.create", category=AuditCategory.ALTERATION, now=now, actor=actor,
           object_type="booking", object_id=booking.id,
           details={"referral_id": referral.id, "session_id": session.id,
                    "from_waiting_list": from_waiting_list})
    _confirm(booking, now=now, from_waiting_list=from_waiting_list)
    return booking


def _require_active(referral: Referral) -> Booking:
    booking = get_active_booking(referral)
    if booking is None:
        raise NotFound("This person has no booking")
    return booking


def transfer_booking(*, referral: Referral, session: CourseSession, actor: User | None,
                     now: dt.datetime) -> Booking:
    """Move the referral's booking to another session, within the programme's transfer limit.

    The old place is given back (and offered to that session's waiting list); the person is
    sent a new confirmation whose .ics cancels the old date, and the new session's reminders
    are planned at once. Returns the new booking.
    """
    old = _require_active(referral)
    if old.session_id == session.id:
        raise ValidationFailed({"session_id": "Choose a different session from the one booked"})
    limit = referral.programme.transfer_limit
    if transfers_used(referral) >= limit:
        raise TransferLimitReached(
            f"This booking has already been moved {limit} time{'s' if limit != 1 else ''}, "
            "the most allowed. Cancel it and book again, or contact the programme team",
            field="session_id")
    _check_suitable(referral, session, now=now)
    old_session = old.session
    _end_booking(old, status=BookingStatus.TRANSFERRED, now=now,
                 reason=f"Moved to the session on {format_london(session.starts_at)}")
    new = _new_booking(referral=referral, session=session, actor=actor, now=now, moved_from=old)
    record(action="booking.transfer", category=AuditCategory.ALTERATION, now=now, actor=actor,
           object_type="booking", object_id=new.id,
           details={"referral_id": referral.id, "from_session_id": old_session.id,
                    "to_session_id": session.id, "from_booking_id": old.id})
    _confirm(new, now=now, replaces=old)
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
    reason = (reason or "").strip() or "Booking cancelled"
    if len(reason) > 500:
        raise ValidationFailed({"reason": "Enter a reason of up to 500 characters"})
    _end_booking(booking, status=BookingStatus.CANCELLED, reason=reason, now=now)
    lifecycle.transition(referral, ReferralEventType.BOOKING_CANCELLED, actor=actor, now=now,
                         reason=reason)
    record(action="booking.cancel", category=AuditCategory.ALTERATION, now=now, actor=actor,
           object_type="booking", object_id=booking.id, details={"referral_id": referral.id})
    if notify:  # after _end_booking's cancel_pending, so this notice itself stays pending
        _tell(referral=referral, template=CANCELLED_NOTICE, key=f"booking-cancelled:{booking.id}",
              now=now, booking=booking, subject_id=booking.id,
              ics=booking_ics(booking, now=now))
    promote_waiting_list(session=booking.session, now=now)
    return booking


# Waiting lists ----------------------------------------------------------------------------

def waiting_list(session_id: int) -> list[WaitingListEntry]:
    """A session's waiting list, first in line first."""
    return list(db.session.scalars(
        select(WaitingListEntry).where(WaitingListEntry.session_id == session_id)
        .order_by(WaitingListEntry.joined_at, WaitingListEntry.id)))


def waiting_positions(referral: Referral) -> list[tuple[WaitingListEntry, int]]:
    """The waiting lists the referral is on, with their place in each line (1 = next)."""
    entries = list(db.session.scalars(
        select(WaitingListEntry).where(WaitingListEntry.referral_id == referral.id)
        .order_by(WaitingListEntry.joined_at)))
    result = []
    for entry in entries:
        ahead = db.session.scalar(select(func.count()).select_from(WaitingListEntry).where(
            WaitingListEntry.session_id == entry.session_id,
            (WaitingListEntry.joined_at < entry.joined_at)
            | ((WaitingListEntry.joined_at == entry.joined_at)
               & (WaitingListEntry.id < entry.id)))) or 0
        result.append((entry, ahead + 1))
    return result


def join_waiting_list(*, referral: Referral, session: CourseSession, actor: User | None,
                      now: dt.datetime) -> WaitingListEntry:
    """Put a referral awaiting a booking in line for a full session it could take."""
    if referral.status is not ReferralStatus.AWAITING_BOOKING:
        raise InvalidTransition("Only someone waiting to book can join a waiting list")
    _check_suitable(referral, session, now=now)
    if session.booked_count < session.capacity:
        raise Conflict("This session has places: book one instead", field="session_id")
    entry = WaitingListEntry(session_id=session.id, referral_id=referral.id, joined_at=now,
                             created_by_id=getattr(actor, "id", None))
    try:
        with db.session.begin_nested():
            db.session.add(entry)
    except IntegrityError as error:
        raise Conflict("Already on this session's waiting list", field="session_id") from error
    record(action="waiting_list.join", category=AuditCategory.ALTERATION, now=now, actor=actor,
           object_type="referral", object_id=referral.id, details={"session_id": session.id})
    return entry


def leave_waiting_list(*, referral: Referral, session_id: int, actor: User | None,
                       now: dt.datetime) -> None:
    result = db.session.execute(delete(WaitingListEntry).where(
        WaitingListEntry.referral_id == referral.id, WaitingListEntry.session_id == session_id))
    if not getattr(result, "rowcount", 0):
        raise NotFound("Not on that waiting list")
    record(action="waiting_list.leave", category=AuditCategory.ALTERATION, now=now, actor=actor,
           object_type="referral", object_id=referral.id, details={"session_id": session_id})


def promote_waiting_list(*, session: CourseSession, now: dt.datetime) -> list[Booking]:
    """Give free places on a session to the first people in line who can still take them.

    Someone who can no longer take it (booked elsewhere, deadline before the session, access
    not met) is skipped and stays in line. Each person booked is told.
    """
    booked: list[Booking] = []
    if session.status is not SessionStatus.SCHEDULED or session.starts_at <= now:
        return booked
    for entry in waiting_list(session.id):
        _refresh_count(session)
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


# Cancelling a whole session ---------------------------------------------------------------

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
    db.session.execute(delete(WaitingListEntry).where(WaitingListEntry.session_id == session.id))
    outcomes: list[CancelOutcome] = []
    for booking in bookings:
        referral = booking.referral
        why = f"Session cancelled: {session.cancel_reason}"
        _end_booking(booking, status=BookingStatus.CANCELLED, now=now, reason=why)
        lifecycle.transition(referral, ReferralEventType.BOOKING_CANCELLED, actor=actor, now=now,
                             reason=why)
        new: Booking | None = None
        if choices.get(booking.id, AfterCancel.RETURN) is AfterCancel.REBOOK:
            target = next_suitable_session(referral, now=now, excluding=session.id)
            if target is not None:
                new = _new_booking(referral=referral, session=target, actor=actor, now=now)
                lifecycle.transition(referral, ReferralEventType.BOOKED, actor=actor, now=now,
                                     reason="Rebooked after a session was cancelled")
        extra = {"cancel_reason": session.cancel_reason, "rebooked": new is not None,
                 "old": _session_context(session)}
        _tell(referral=referral, template=SESSION_CANCELLED_NOTICE,
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


# Reacting to the referral lifecycle -------------------------------------------------------

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
    referral = moved.referral
    if moved.to_status is ReferralStatus.BOOKED:
        return
    if moved.to_status.is_terminal:
        _leave_all_waiting_lists([referral.id])
    if (moved.to_status not in ENDING_STATUS
            and moved.event is not ReferralEventType.BOOKING_CANCELLED):
        return
    booking = get_active_booking(referral)
    if booking is None:
        return
    upcoming = booking.session.starts_at > moved.now
    status = (BookingStatus.CANCELLED if upcoming
              else ENDING_STATUS.get(moved.to_status, BookingStatus.CLOSED))
    _end_booking(booking, status=status, now=moved.now, reason=moved.reason or moved.event.value)
    if upcoming:
        promote_waiting_list(session=booking.session, now=moved.now)


def follow_referrals(moves: Sequence[lifecycle.Moved]) -> None:
    """`follow_referral` for each move of a batch (receiver of `referrals_moved`)."""
    for moved in moves:
        follow_referral(moved)


# After a bulk allocation ------------------------------------------------------------------

def confirm_allocated(*, placed: Sequence[tuple[Referral, CourseSession]], actor: User | None,
                      now: dt.datetime) -> None:
    """Move allocated referrals to `booked`, take them off waiting lists, send confirmations."""
    ids = [referral.id for referral, _ in placed]
    bookings: dict[int, Booking] = {}
    for start in range(0, len(ids), 900):
        # The referrals and sessions are loaded already: no joins, found in the identity map.
        for booking in db.session.scalars(select(Booking).where(
                Booking.referral_id.in_(ids[start:start + 900]),
                Booking.status == BookingStatus.ACTIVE)
                .options(lazyload(Booking.referral), lazyload(Booking.session))):
            bookings[booking.referral_id] = booking
    for start in range(0, len(ids), 900):
        _leave_all_waiting_lists(ids[start:start + 900])
    # One move for all, in bulk; the reminders are planned once for every booking at the end.
    lifecycle.transition_many(
        [referral for referral, _ in placed], ReferralEventType.BOOKED, actor=actor, now=now,
        reason=[f"Allocated to the session on {format_london(session.starts_at)}"
                for _, session in placed])
    messages = []
    for referral, _ in placed:
        message = _confirmation(bookings[referral.id], now=now)
        if message is not None:
            messages.append(message)
    enqueue_many(messages, now=now)
    db.session.flush()


def get_place(referral: Referral) -> Booking | None:
    """The booking holding or having held the referral's place: the active one, else the one
    it ended with (attended, missed, closed); None when none (cancelled and moved ones are
    history, listed on the bookings page)."""
    active = get_active_booking(referral)
    if active is not None:
        return active
    return next((b for b in list_bookings_for(referral)
                 if b.status in PLACE_HOLDING), None)


def referral_page_context(referral: Referral) -> dict[str, Any]:
    """What the referral page shows about the place and the fee (added to the page in
    bookings' init_app)."""
    return {"place": get_place(referral), "fee": fee_status(referral)}
