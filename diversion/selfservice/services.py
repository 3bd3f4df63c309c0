"""Self-service access for the referred person: sign in, throttling, lock-out, person sessions.

All take keyword arguments and `now`; they flush and never commit.

- `sign_in_person(reference=, pin=, date_of_birth=, address=, now=, limits=, previous_token=None)
  -> (Referral, token)`: checks the three details; raises `DetailsRefused` or
  `diversion.auth.throttle.Throttled`.
- `person_session_for(token, now=, limits=) -> PersonSession | None`: the live session behind a
  cookie's token (None when unknown, idle too long, too old or the PIN was reissued since).
- `end_person_session(token=, now=)`, `record_person_view(referral=, now=, action=)`.
- `list_locked()`, `unlock_reference(referral_id=, actor=, now=)`, `count_locked_query()`.
- Refusals are counted and forgotten by diversion.auth.throttle (kind "self_service").
- `book_for_person`, `change_for_person`, `cancel_for_person`, `join_waiting_list_for_person`,
  `leave_waiting_list_for_person`: the bookings feature's services, plus an ALTERATION audit row
  naming the person (`person:<reference>`).
- `confirmation_sent_to(referral) -> (Channel, masked address) | None`: where the booking
  confirmation went (outbox.rules.choose_contact), masked for the page.

Refusals and enumeration. Every refusal of sign-in details says the same thing (`REFUSED`),
whether the reference is unknown, the PIN or date of birth is wrong, or the reference is locked:
a locked reference is never announced on the page, because saying so (even only when the date of
birth matched) would tell whoever holds a reference that it exists, or confirm a date of birth.
The rightful holder learns of the lock another way: the moment it locks, a discreet notice goes to
his email or mobile (through the outbox) telling him to call the programme team, and the refusal
message itself says that repeated attempts lock the page. Throttling by reference counts the
reference as typed, whether or not it exists, so it reveals nothing either. An unknown reference
spends as long on a hash check as a known one.

Any refusal for a reference that exists (wrong PIN or wrong date of birth) counts towards its
lock; a correct sign-in resets the count; a manager's unlock resets it too.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import Select, delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from diversion.audit.models import AuditCategory
from diversion.audit.services import record
from diversion.auth import throttle
from diversion.auth.models import User
from diversion.auth.passwords import burn_verification_time
from diversion.bookings import places as bookings_places
from diversion.bookings import waiting_list as bookings_waiting_list
from diversion.bookings.models import Booking, WaitingListEntry
from diversion.core.errors import DomainError, NotFound, ValidationFailed
from diversion.core.extensions import db
from diversion.core.web import service_contact
from diversion.courses import sessions as courses_sessions
from diversion.courses.models import CourseSession
from diversion.outbox.models import Channel
from diversion.outbox.rules import choose_contact, mask_email, mask_mobile
from diversion.outbox.services import enqueue
from diversion.referrals.models import Referral
from diversion.referrals.pins import verify_pin
from diversion.referrals.reading import normalise_reference
from diversion.selfservice.models import PersonSession, SelfServiceLock

REFUSED = (
    "We could not find a course booking with those details. Check the reference, PIN and date "
    "of birth in your letter and try again. After 5 wrong tries the page is locked: "
    "if that has happened, call the programme team")
THROTTLED = "You have tried too many times. Wait 15 minutes, then try again"
LOCK_NOTICE_TEMPLATE = "self_service_locked"


class DetailsRefused(DomainError):
    status = 200  # the form is shown again with the message
    title = "Details not recognised"


@dataclass(frozen=True)
class Limits:
    """How much guessing is allowed, and how long a person session lasts."""

    window: dt.timedelta = dt.timedelta(minutes=15)
    max_per_address: int = 10
    max_per_reference: int = 5
    lock_after: int = 5
    idle: dt.timedelta = dt.timedelta(minutes=20)
    absolute: dt.timedelta = dt.timedelta(hours=2)


def actor_label(referral: Referral) -> str:
    """How the person is named in the audit log."""
    return f"person:{referral.reference}"


def reference_key(reference: str) -> str:
    return throttle.key_digest(normalise_reference(reference))


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# Throttling and locks -----------------------------------------------------------------------

def get_lock(referral_id: int) -> SelfServiceLock | None:
    return db.session.get(SelfServiceLock, referral_id)


def _count_wrong_details(referral: Referral, *, now: dt.datetime, limits: Limits) -> None:
    """Add one to the referral's run of wrong details, atomically; lock it at the limit."""
    insert = pg_insert if db.session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = insert(SelfServiceLock).values(
        referral_id=referral.id, failed_attempts=1, locked_at=None, updated_at=now)
    db.session.execute(statement.on_conflict_do_update(
        index_elements=[SelfServiceLock.referral_id],
        set_={"failed_attempts": SelfServiceLock.failed_attempts + 1, "updated_at": now}))
    # Only the request that crosses the limit locks it, so the notice and audit row are written once.
    locked = db.session.execute(
        update(SelfServiceLock)
        .where(SelfServiceLock.referral_id == referral.id,
               SelfServiceLock.locked_at.is_(None),
               SelfServiceLock.failed_attempts >= limits.lock_after)
        .values(locked_at=now)
        .execution_options(synchronize_session=False))
    db.session.expire_all()
    if getattr(locked, "rowcount", 0):
        record(action="selfservice.locked", category=AuditCategory.SECURITY, now=now,
               actor_label=actor_label(referral), object_type="referral", object_id=referral.id)
        _send_lock_notice(referral, now=now)


def _send_lock_notice(referral: Referral, *, now: dt.datetime) -> None:
    person = referral.person
    if person.email:
        channel, recipient = Channel.EMAIL, person.email
    elif person.mobile:
        channel, recipient = Channel.SMS, person.mobile
    else:
        return  # a letter is a manager's job; the locked list shows the reference
    # The number itself: the letter that has it may not be to hand.
    contact = service_contact()
    enqueue(dedupe_key=f"self-service-locked:{referral.id}:{now.isoformat()}", channel=channel,
            recipient=recipient, template=LOCK_NOTICE_TEMPLATE, due_at=now, now=now,
            context={"reference": referral.reference, "phone": contact["phone"],
                     "hours": contact["hours"]}, subject_type="referral",
            subject_id=referral.id)


def list_locked() -> list[SelfServiceLock]:
    """Locked references, the most recently locked first."""
    return list(db.session.scalars(
        select(SelfServiceLock).where(SelfServiceLock.locked_at.is_not(None))
        .order_by(SelfServiceLock.locked_at.desc(), SelfServiceLock.referral_id)))


def count_locked_query() -> Select[int]:
    """How many references are locked after wrong details (the dashboard)."""
    return select(func.count()).select_from(SelfServiceLock).where(
        SelfServiceLock.locked_at.is_not(None))


def unlock_reference(*, referral_id: int, actor: User, now: dt.datetime) -> SelfServiceLock:
    """A manager lets the person try again: the lock and the run of wrong details are cleared."""
    lock = get_lock(referral_id)
    if lock is None or not lock.is_locked:
        raise NotFound("That reference is not locked")
    lock.locked_at = None
    lock.failed_attempts = 0
    lock.updated_at = now
    record(action="selfservice.unlocked", category=AuditCategory.SECURITY, now=now, actor=actor,
           object_type="referral", object_id=referral_id)
    db.session.flush()
    return lock


# Signing in and out -------------------------------------------------------------------------

def _referral_by_reference(reference: str) -> Referral | None:
    normalised = normalise_reference(reference)
    if not normalised:
        return None
    return db.session.scalar(select(Referral).where(Referral.reference == normalised))


def sign_in_person(*, reference: str, pin: str, date_of_birth: dt.date | None, address: str,
                   now: dt.datetime, limits: Limits = Limits(),
                   previous_token: str | None = None) -> tuple[Referral, str]:
    """Check the reference, PIN and date of birth; start a person session bound to that referral.

    Returns the referral and the session's token (for the cookie). The token from an earlier
    session in the same browser is ended, so a session never outlives a new sign-in.
    """
    limit = throttle.Throttle(kind=throttle.SELF_SERVICE, window=limits.window,
                              max_per_key=limits.max_per_reference,
                              max_per_address=limits.max_per_address)
    if throttle.is_throttled(limit, key=reference_key(reference), address=address, now=now):
        record(action="selfservice.sign_in_throttled", category=AuditCategory.SECURITY, now=now,
               actor_label="anonymous", address=address)
        raise throttle.Throttled(THROTTLED)
    referral = _referral_by_reference(reference)
    if referral is None:
        burn_verification_time()
        is_valid = False
    else:
        # The PIN is always checked, so a wrong date of birth costs the same time as a wrong PIN.
        is_pin_right = verify_pin(referral, pin)
        lock = get_lock(referral.id)
        is_valid = (is_pin_right and referral.person.date_of_birth == date_of_birth
                    and not (lock and lock.is_locked))
    if not is_valid:
        throttle.note_refusal(throttle.SELF_SERVICE, key=reference_key(reference),
                              address=address, now=now)
        record(action="selfservice.sign_in_failed", category=AuditCategory.SECURITY, now=now,
               actor_label="anonymous", address=address,
               object_type="referral" if referral else None,
               object_id=referral.id if referral else None)
        if referral is not None:
            _count_wrong_details(referral, now=now, limits=limits)
        raise DetailsRefused(REFUSED)
    assert referral is not None
    db.session.execute(update(SelfServiceLock).where(SelfServiceLock.referral_id == referral.id)
                       .values(failed_attempts=0, updated_at=now)
                       .execution_options(synchronize_session=False))
    if previous_token:
        end_person_session(token=previous_token, now=now, audit=False)
    token = secrets.token_urlsafe(32)
    db.session.add(PersonSession(token_hash=_token_hash(token), referral_id=referral.id,
                                 created_at=now, last_seen_at=now))
    record(action="selfservice.sign_in", category=AuditCategory.SECURITY, now=now,
           actor_label=actor_label(referral), object_type="referral", object_id=referral.id,
           address=address)
    db.session.flush()
    return referral, token


def person_session_for(token: str | None, *, now: dt.datetime,
                       limits: Limits = Limits()) -> PersonSession | None:
    """The live session behind a token, its idle clock restarted; None (and ended) otherwise."""
    if not token:
        return None
    found = db.session.scalar(select(PersonSession).where(
        PersonSession.token_hash == _token_hash(token)))
    if found is None:
        return None
    referral = found.referral
    lock = get_lock(referral.id)
    if (now - found.last_seen_at > limits.idle
            or now - found.created_at > limits.absolute
            or referral.pin_issued_at > found.created_at  # a new PIN ends old sessions
            or (lock is not None and lock.is_locked)):
        db.session.delete(found)
        db.session.flush()
        return None
    found.last_seen_at = now
    return found


def end_person_session(*, token: str, now: dt.datetime, audit: bool = True) -> None:
    """Sign out: the session's row is deleted, so the cookie's token opens nothing."""
    found = db.session.scalar(select(PersonSession).where(
        PersonSession.token_hash == _token_hash(token)))
    if found is None:
        return
    if audit:
        record(action="selfservice.sign_out", category=AuditCategory.SECURITY, now=now,
               actor_label=actor_label(found.referral), object_type="referral",
               object_id=found.referral_id)
    db.session.delete(found)
    db.session.flush()


def record_person_view(*, referral: Referral, now: dt.datetime,
                       action: str = "selfservice.view") -> None:
    """The person looked at his own referral's details."""
    record(action=action, category=AuditCategory.CONSULTATION, now=now,
           actor_label=actor_label(referral), object_type="referral", object_id=referral.id)


def purge_ended_sessions(*, now: dt.datetime, limits: Limits = Limits()) -> int:
    """Housekeeping: delete sessions that can no longer be used."""
    result = db.session.execute(delete(PersonSession).where(
        (PersonSession.last_seen_at < now - limits.idle)
        | (PersonSession.created_at < now - limits.absolute)))
    return int(getattr(result, "rowcount", 0) or 0)


# Booking through the page -------------------------------------------------------------------
# The bookings feature does the work; these record that the person himself did it.

def _record_alteration(action: str, *, referral: Referral, booking: Booking,
                       now: dt.datetime) -> None:
    record(action=action, category=AuditCategory.ALTERATION, now=now,
           actor_label=actor_label(referral), object_type="booking", object_id=booking.id,
           details={"referral_id": referral.id, "session_id": booking.session_id})


def _session(session_id: int) -> CourseSession:
    try:
        return courses_sessions.get_session(session_id)
    except NotFound as error:
        raise ValidationFailed({"session_id": "Select one of the course dates shown"}) from error


def book_for_person(*, referral: Referral, session_id: int, now: dt.datetime) -> Booking:
    """The person books a place for himself (see bookings.places.book_place)."""
    booking = bookings_places.book_place(referral=referral, session=_session(session_id),
                                         actor=None, now=now)
    _record_alteration("selfservice.book", referral=referral, booking=booking, now=now)
    return booking


def change_for_person(*, referral: Referral, session_id: int, now: dt.datetime) -> Booking:
    """The person moves his booking, within the transfer limit."""
    booking = bookings_places.transfer_booking(referral=referral, session=_session(session_id),
                                               actor=None, now=now)
    _record_alteration("selfservice.change", referral=referral, booking=booking, now=now)
    return booking


def cancel_for_person(*, referral: Referral, now: dt.datetime) -> Booking:
    """The person gives his place back; the referral awaits a booking again."""
    booking = bookings_places.cancel_booking(referral=referral, actor=None, now=now,
                                             reason="Cancelled by the person on the booking page")
    _record_alteration("selfservice.cancel", referral=referral, booking=booking, now=now)
    return booking


def join_waiting_list_for_person(*, referral: Referral, session_id: int,
                                 now: dt.datetime) -> WaitingListEntry:
    """The person queues for a full session he could take (bookings.waiting_list)."""
    entry = bookings_waiting_list.join_waiting_list(referral=referral, session=_session(session_id),
                                                    actor=None, now=now)
    record(action="selfservice.join_waiting_list", category=AuditCategory.ALTERATION, now=now,
           actor_label=actor_label(referral), object_type="referral", object_id=referral.id,
           details={"session_id": session_id})
    return entry


def leave_waiting_list_for_person(*, referral: Referral, session_id: int,
                                  now: dt.datetime) -> None:
    """The person leaves a waiting list he is on; NotFound when he is not on it."""
    bookings_waiting_list.leave_waiting_list(referral=referral, session_id=session_id,
                                             actor=None, now=now)
    record(action="selfservice.leave_waiting_list", category=AuditCategory.ALTERATION, now=now,
           actor_label=actor_label(referral), object_type="referral", object_id=referral.id,
           details={"session_id": session_id})


def confirmation_sent_to(referral: Referral) -> tuple[Channel, str] | None:
    """The channel the booking confirmation went by and its address, masked; None without one."""
    person = referral.person
    contact = choose_contact(preferred=person.preferred_contact, email=person.email,
                             mobile=person.mobile)
    if contact is None:
        return None
    channel, recipient = contact
    return channel, mask_email(recipient) if channel is Channel.EMAIL else mask_mobile(recipient)
