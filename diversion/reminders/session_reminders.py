"""Session reminders (first, final, joining details, fee outstanding), planned per booking.

Their dedupe keys name the session's start instant (`reminder:<kind>:booking:<id>:<start>`):
planning twice does nothing, and a session that moves gets new keys, so new reminders, while
the old ones are cancelled. They are planned when the referral moves to `booked` (triggers.py)
and by the `plan_reminders` sweep every 5 minutes, which also catches bookings moved to another
session, cancelled bookings and sessions, and moved sessions. Their subject is the booking, so
the bookings feature's own `cancel_pending` on a cancelled booking cancels them too.

The fee reminder is planned only while the referral's fee is outstanding, says the balance owed
when it was planned, and is cancelled when the fee is cleared (`cancel_fee_reminders`, receiver
of `bookings.signals.fee_cleared`, and the sweep, which cancels any whose fee has been cleared).

- `plan_booking_reminders(booking, now=)` -> messages planned; `plan_reminders_in_bulk(ids, now=)`
- `plan_unplanned_bookings(now=, booking_ids=None)`, `plan_unplanned_of_referrals(ids, now=)`;
  `replan_programme(programme_id=, now=)`
- `cancel_outdated_session_reminders(now=)`; `forget_finished_states(now=)`
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar, cast

from sqlalchemy import Select, Table, delete, or_, select, update
from sqlalchemy.orm import joinedload

from diversion.bookings.fees import balances, fee_status
from diversion.bookings.models import Booking, BookingStatus
from diversion.bookings.notices import (
    booking_of,
    fee_context,
    links_context_maker,
    pay_url,
    pay_url_maker,
)
from diversion.core.bulk import insert_rows, one_of
from diversion.core.errors import Conflict
from diversion.core.extensions import db
from diversion.core.web import service_contact
from diversion.courses.models import CourseSession, SessionStatus
from diversion.outbox.models import (
    BookingReminderState,
    Channel,
    MessageStatus,
    OutboxMessage,
    ReminderKind,
)
from diversion.outbox.rules import choose_contact, pounds
from diversion.outbox.services import cancel_pending, enqueue_many
from diversion.referrals.models import Person, Referral
from diversion.reminders import rules
from diversion.reminders.messages import (
    chunks,
    get_plan,
    person_context,
    put_message,
    session_context,
)
from diversion.reminders.rules import PlanItem

log = logging.getLogger(__name__)

SelectT = TypeVar("SelectT", bound=Select[*tuple[Any, ...]])


BOOKING = "booking"


NO_CONTACT = "No email address or mobile number: nothing to send"

# Bookings planned a chunk at a time in bulk: each chunk is a few reads and writes, so fewer,
# larger chunks are fewer statements (an allocation of 10,000: 5 chunks, not 20); the IN lists
# stay far under SQLite's limit on bound parameters.
BULK_CHUNK = 2_000


# What the joining details carry besides the link (no venue: the session is online). Each
# template reads exactly the keys it is given (tests/outbox/test_message_snapshots.py).
JOINING_KEYS = ("reference", "given_name", "manage_url", "starts_at", "starts_on", "ends_at")
# What the fee reminder carries: no venue; the balance and the link to pay are added to these.
FEE_KEYS = ("reference", "given_name", "manage_url", "starts_at", "starts_on")


def _item_context(kind: ReminderKind, context: dict[str, Any], *, venue: Any,
                  balance: int, contact: dict[str, str] | None = None,
                  pay: Callable[[str], str] = pay_url, shared: bool = False) -> dict[str, Any]:
    """The context of one reminder of a booking, from everything about the booking
    (`contact`: service_contact(), when the caller has it already; `pay`: pay_url, or a
    `pay_url_maker()` of a bulk run). `shared`: the first and final reminders are given the
    booking's context itself, not a copy each (a bulk run: its messages are written and left,
    and a bulk write converts an object shared by rows once)."""
    if kind is ReminderKind.JOINING_DETAILS:
        # The joining link is in this message only: it is the key to the room.
        return {**{key: context[key] for key in JOINING_KEYS},
                "joining_link": venue.joining_link or ""}
    if kind is ReminderKind.FEE_OUTSTANDING:
        # With online payment off (DIVERSION_PAYMENT_BACKEND=none) he pays by phoning the team.
        # The booking confirmation's words for a fee still owed (bookings.notices.fee_context).
        return {**{key: context[key] for key in FEE_KEYS},
                **fee_context(context["reference"], balance, contact=contact, pay=pay)}
    return context if shared else dict(context)


def replan_programme(*, programme_id: int, now: dt.datetime) -> int:
    """Plan the upcoming bookings of a programme again (after its plan changed)."""

    bookings = list(db.session.scalars(
        select(Booking).join(CourseSession, CourseSession.id == Booking.session_id)
        .where(Booking.status == BookingStatus.ACTIVE,
               CourseSession.programme_id == programme_id,
               CourseSession.status == SessionStatus.SCHEDULED,
               CourseSession.starts_at > now)))
    for booking in bookings:
        cancel_pending(subject_type=BOOKING, subject_id=booking.id, now=now,
                       templates=set(rules.SESSION_TEMPLATES))
        plan_booking_reminders(booking, now=now)
    return len(bookings)


def _set_state(booking_id: int, *, starts_at: dt.datetime, now: dt.datetime, count: int,
               note: str | None) -> None:
    state = db.session.get(BookingReminderState, booking_id)
    if state is None:
        state = BookingReminderState(booking_id=booking_id)
        db.session.add(state)
    state.planned_for_start, state.planned_at = starts_at, now
    state.planned_count, state.note = count, note
    db.session.flush()


def _cancel_stale_keys(booking_id: int, *, starts_at: dt.datetime) -> int:
    """Cancel the booking's pending session reminders planned for another start instant."""
    token = rules.instant_token(starts_at)
    stale = [m for m in db.session.scalars(select(OutboxMessage).where(
        OutboxMessage.subject_type == BOOKING, OutboxMessage.subject_id == str(booking_id),
        OutboxMessage.status == MessageStatus.PENDING,
        OutboxMessage.template.in_(sorted(rules.SESSION_TEMPLATES))))
        if rules.key_start_token(m.dedupe_key) != token]
    for message in stale:
        message.status = MessageStatus.CANCELLED
    db.session.flush()
    return len(stale)


def plan_booking_reminders(booking: Any, *, now: dt.datetime) -> int:
    """Plan a booking's session reminders; returns how many were newly put in the outbox.

    Idempotent. Does nothing for a booking that is not active, or whose session is cancelled or
    has started. Reminders planned for an earlier start of the session are cancelled first.
    """

    session = booking.session
    if (booking.status is not BookingStatus.ACTIVE or session.status is not SessionStatus.SCHEDULED
            or session.starts_at <= now):
        return 0
    _cancel_stale_keys(booking.id, starts_at=session.starts_at)
    referral = booking.referral
    person = referral.person
    contact = choose_contact(preferred=person.preferred_contact, email=person.email,
                             mobile=person.mobile)
    if contact is None:
        log.info("booking %s: no email or mobile, no reminders", booking.id)
        _set_state(booking.id, starts_at=session.starts_at, now=now, count=0, note=NO_CONTACT)
        return 0
    channel, recipient = contact
    balance = balances([referral.id]).get(referral.id, 0)
    planned = rules.plan_session_reminders(
        get_plan(session.programme_id), starts_at=session.starts_at,
        is_online=session.venue.is_online, channel=channel, now=now,
        fee_outstanding=balance > 0)
    context = {**person_context(referral), **session_context(session)}
    made = 0
    for item in planned:
        item_context = _item_context(item.kind, context, venue=session.venue, balance=balance)
        made += put_message(key=rules.session_key(item.kind, booking_id=booking.id,
                                           starts_at=session.starts_at),
                            channel=channel, recipient=recipient, template=rules.TEMPLATES[item.kind],
                            due_at=item.due_at, now=now, context=item_context, subject_type=BOOKING,
                            subject_id=booking.id, expires_at=item.expires_at)
    _set_state(booking.id, starts_at=session.starts_at, now=now, count=len(planned),
               note=None if planned else "Every reminder's time had passed when booked")
    return made


def plan_reminders_in_bulk(booking_ids: Sequence[int], *, now: dt.datetime) -> int:
    """`plan_booking_reminders` for many bookings, with a few queries per 500 bookings.

    The same rows as planning each booking in turn: stale keys cancelled, new reminders put in
    the outbox (cancelled ones under the same key revived), the planning state recorded.
    Returns how many reminders were newly put in the outbox.
    """
    return _plan_in_bulk(Booking.id, booking_ids, now=now, only_unplanned=False)[1]


def plan_unplanned_of_referrals(referral_ids: Sequence[int], *, now: dt.datetime) -> int:
    """`plan_unplanned_bookings` for these referrals' active bookings, in bulk (the referrals
    a bulk move has just booked). Returns how many bookings were planned."""
    return _plan_in_bulk(Booking.referral_id, referral_ids, now=now, only_unplanned=True)[0]


def _unplanned(query: SelectT) -> SelectT:
    """Only the bookings never planned, or planned for a start their session no longer has."""
    return (query.outerjoin(BookingReminderState, BookingReminderState.booking_id == Booking.id)
            .where(or_(BookingReminderState.booking_id.is_(None),
                       BookingReminderState.planned_for_start != CourseSession.starts_at)))


def _plan_in_bulk(key: Any, ids: Sequence[int], *, now: dt.datetime,
                  only_unplanned: bool) -> tuple[int, int]:
    """Plan the reminders of the upcoming active bookings whose `key` (Booking.id or
    Booking.referral_id) is in `ids`, a chunk at a time: (bookings planned, messages made)."""
    plans: dict[int, dict[ReminderKind, PlanItem]] = {}
    sessions: dict[int, tuple[Any, dict[str, Any]]] = {}
    contact_us = service_contact()  # the same in every fee reminder
    links, pay = links_context_maker(), pay_url_maker()
    # (session, channel, fee owed) -> its reminders, with their template and key's parts
    timings: dict[tuple[int, Channel, bool], list[tuple[rules.Planned, str, str, str]]] = {}
    query = (select(Booking.id, Booking.session_id, Booking.referral_id, Referral.reference,
                    Person.given_names, Person.preferred_contact, Person.email, Person.mobile)
             .join(CourseSession, CourseSession.id == Booking.session_id)
             .join(Referral, Referral.id == Booking.referral_id)
             .join(Person, Person.id == Referral.person_id)
             .where(Booking.status == BookingStatus.ACTIVE,
                    CourseSession.status == SessionStatus.SCHEDULED,
                    CourseSession.starts_at > now)
             .order_by(Booking.id))
    if only_unplanned:
        query = _unplanned(query)
    planned_bookings = 0
    # First every read (and the stale reminders cancelled), a chunk at a time; then the new
    # messages built as they are written, in one bulk write (on PostgreSQL the server stores
    # them while the next are made), and the planning states.
    existing: dict[str, MessageStatus] = {}
    states: dict[int, tuple[dt.datetime, int, str | None]] = {}
    to_send: list[tuple[Any, Any, dict[str, Any], Channel, str, int,
                        list[tuple[rules.Planned, str, str, str]]]] = []
    for chunk in chunks(sorted(set(ids)), BULK_CHUNK):
        rows = list(db.session.execute(query.where(one_of(key, chunk))))
        planned_bookings += len(rows)
        wanted = sorted({row.session_id for row in rows} - set(sessions))
        for session in db.session.scalars(
                select(CourseSession).where(one_of(CourseSession.id, wanted))
                .options(joinedload(CourseSession.venue), joinedload(CourseSession.programme))):
            sessions[session.id] = (session, session_context(session))
        starts = {row.id: sessions[row.session_id][0].starts_at for row in rows}
        owed = balances([row.referral_id for row in rows])
        # The bookings' session reminders already in the outbox, in one read: those pending
        # for another start instant are stale; the others' keys are taken. The status is
        # checked here, not in SQL: with it there SQLite searched the status index, every
        # pending message (tens of thousands in a bulk run), instead of these subjects'.
        known = list(db.session.execute(select(
            OutboxMessage.id, OutboxMessage.subject_id, OutboxMessage.dedupe_key,
            OutboxMessage.status).where(
            OutboxMessage.subject_type == BOOKING,
            one_of(OutboxMessage.subject_id, [str(row.id) for row in rows]),
            OutboxMessage.template.in_(sorted(rules.SESSION_TEMPLATES)))))
        stale = [m.id for m in known if m.status is MessageStatus.PENDING
                 and rules.key_start_token(m.dedupe_key) != rules.instant_token(
                     starts[int(m.subject_id)])]
        if stale:
            db.session.execute(update(OutboxMessage).where(one_of(OutboxMessage.id, stale))
                               .values(status=MessageStatus.CANCELLED))
        existing.update({m.dedupe_key: m.status for m in known})
        for row in rows:
            session, about_session = sessions[row.session_id]
            contact = choose_contact(preferred=row.preferred_contact, email=row.email,
                                     mobile=row.mobile)
            if contact is None:
                states[row.id] = (session.starts_at, 0, NO_CONTACT)
                continue
            channel, recipient = contact
            if session.programme_id not in plans:
                plans[session.programme_id] = get_plan(session.programme_id)
            balance = owed.get(row.referral_id, 0)
            # The same for every booking of a session sent by a channel, with or without a fee
            # owed: worked out once each.
            timing = (row.session_id, channel, balance > 0)
            if timing not in timings:
                timings[timing] = [
                    (item, rules.TEMPLATES[item.kind],
                     *rules.session_key_affixes(item.kind, starts_at=session.starts_at))
                    for item in rules.plan_session_reminders(
                        plans[session.programme_id], starts_at=session.starts_at,
                        is_online=session.venue.is_online, channel=channel, now=now,
                        fee_outstanding=balance > 0)]
            planned = timings[timing]
            to_send.append((row, session.venue, about_session, channel, recipient, balance,
                            planned))
            states[row.id] = (session.starts_at, len(planned),
                              None if planned else "Every reminder's time had passed when booked")
    revived: list[dict[str, Any]] = []  # cancelled under the same key: put back one by one
    made = 0

    def messages() -> Iterator[dict[str, Any]]:
        """The reminders to put in the outbox, made as the bulk write takes them (it takes
        them all) from values read above: nothing is read while a COPY holds the connection.
        Those whose key is taken are left out, the cancelled ones set aside."""
        nonlocal made
        for row, venue, about_session, channel, recipient, balance, planned in to_send:
            given = row.given_names.split()
            context = {"reference": row.reference, "given_name": given[0] if given else "",
                       **links(row.reference), **about_session}
            for item, template, key_before, key_after in planned:
                item_context = _item_context(item.kind, context, venue=venue,
                                             balance=balance, contact=contact_us, pay=pay,
                                             shared=True)
                message = {
                    "dedupe_key": f"{key_before}{row.id}{key_after}",
                    "channel": channel, "recipient": recipient,
                    "template": template, "due_at": item.due_at,
                    "context": item_context, "subject_type": BOOKING, "subject_id": row.id,
                    "expires_at": item.expires_at}
                status = existing.get(message["dedupe_key"])
                if status is None:
                    made += 1
                    yield message
                elif status is MessageStatus.CANCELLED:
                    revived.append(message)

    enqueue_many(messages(), now=now)
    for message in revived:
        made += put_message(key=message["dedupe_key"], channel=message["channel"],
                            recipient=message["recipient"], template=message["template"],
                            due_at=message["due_at"], now=now, context=message["context"],
                            subject_type=BOOKING, subject_id=message["subject_id"],
                            expires_at=message["expires_at"])
    _record_states(states, now=now)
    return planned_bookings, made


def _record_states(states: dict[int, tuple[dt.datetime, int, str | None]], *,
                   now: dt.datetime) -> None:
    """The planning state of each booking: (the start planned for, how many, why none). The
    states known are read a chunk at a time, the new ones written in one bulk write."""
    known: dict[int, BookingReminderState] = {}
    for part in chunks(list(states), BULK_CHUNK):
        known.update((state.booking_id, state) for state in db.session.scalars(
            select(BookingReminderState).where(one_of(BookingReminderState.booking_id, part))))
    fresh = []
    for booking_id, (starts_at, count, note) in states.items():
        state = known.get(booking_id)
        if state is None:
            fresh.append({"booking_id": booking_id, "planned_for_start": starts_at,
                          "planned_at": now, "planned_count": count, "note": note})
        else:
            state.planned_for_start, state.planned_at = starts_at, now
            state.planned_count, state.note = count, note
    insert_rows(cast(Table, BookingReminderState.__table__), fresh)
    db.session.flush()


def cancel_fee_reminders(referral: Any, *, now: dt.datetime, **_: Any) -> int:
    """Cancel the pending fee reminders of a referral's bookings: its fee has been cleared
    (receiver of `bookings.signals.fee_cleared`)."""
    booking_ids = [str(i) for i in db.session.scalars(
        select(Booking.id).where(Booking.referral_id == referral.id))]
    if not booking_ids:
        return 0
    result = db.session.execute(
        update(OutboxMessage).where(
            OutboxMessage.subject_type == BOOKING, OutboxMessage.subject_id.in_(booking_ids),
            OutboxMessage.template == rules.FEE_TEMPLATE,
            OutboxMessage.status == MessageStatus.PENDING)
        .values(status=MessageStatus.CANCELLED)
        .execution_options(synchronize_session=False))
    return int(getattr(result, "rowcount", 0) or 0)


def follow_fee(referral: Any, *, now: dt.datetime, **_: Any) -> None:
    """Keep the fee reminder true when money is paid or given back (receiver of
    `bookings.signals.fee_changed`): cancelled once nothing is owed; otherwise the pending one
    states the new balance, and one cancelled when the fee was cleared comes back if a refund
    made the fee owed again (while its time is still to come)."""
    balance = balances([referral.id]).get(referral.id, 0)
    if balance == 0:
        cancel_fee_reminders(referral, now=now)
        return
    booking = db.session.scalar(select(Booking).where(
        Booking.referral_id == referral.id, Booking.status == BookingStatus.ACTIVE))
    if booking is None:
        return
    plan_booking_reminders(booking, now=now)
    for message in db.session.scalars(select(OutboxMessage).where(
            OutboxMessage.subject_type == BOOKING, OutboxMessage.subject_id == str(booking.id),
            OutboxMessage.template == rules.FEE_TEMPLATE,
            OutboxMessage.status == MessageStatus.PENDING)
            .execution_options(populate_existing=True)):
        message.context = {**message.context, "outstanding": pounds(balance)}
    db.session.flush()


def cancel_outdated_session_reminders(*, now: dt.datetime) -> int:
    """Cancel pending session reminders of bookings no longer active, of cancelled sessions,
    and of sessions that have moved since the reminders were planned; and fee reminders whose
    fee has been cleared since."""

    pending = list(db.session.execute(select(
        OutboxMessage.id, OutboxMessage.subject_id, OutboxMessage.dedupe_key,
        OutboxMessage.template).where(
        OutboxMessage.status == MessageStatus.PENDING, OutboxMessage.subject_type == BOOKING,
        OutboxMessage.template.in_(sorted(rules.SESSION_TEMPLATES)))))
    booking_ids = sorted({int(row.subject_id) for row in pending if row.subject_id})
    bookings: dict[int, Any] = {}
    for chunk in chunks(booking_ids):
        for found in db.session.scalars(select(Booking).where(Booking.id.in_(list(chunk)))):
            bookings[found.id] = found
    fee_referrals = sorted({bookings[int(row.subject_id)].referral_id for row in pending
                            if row.template == rules.FEE_TEMPLATE and row.subject_id
                            and int(row.subject_id) in bookings})
    owed: dict[int, int] = {}
    for chunk in chunks(fee_referrals):
        owed.update(balances(chunk))
    outdated = []
    for row in pending:
        booking = bookings.get(int(row.subject_id)) if row.subject_id else None
        if (booking is None or booking.status is not BookingStatus.ACTIVE
                or (row.template == rules.FEE_TEMPLATE and not owed.get(booking.referral_id))
                or booking.session.status is not SessionStatus.SCHEDULED
                or rules.key_start_token(row.dedupe_key)
                != rules.instant_token(booking.session.starts_at)):
            outdated.append(row.id)
    for chunk in chunks(outdated):
        for message in db.session.scalars(select(OutboxMessage).where(
                OutboxMessage.id.in_(list(chunk)),
                OutboxMessage.status == MessageStatus.PENDING)):
            message.status = MessageStatus.CANCELLED
    db.session.flush()
    return len(outdated)


def plan_unplanned_bookings(*, now: dt.datetime, booking_ids: Sequence[int] | None = None) -> int:
    """Plan every active booking on an upcoming session never planned, or planned for a start
    the session no longer has (it moved). Returns how many bookings were planned.

    With `booking_ids`, only those bookings, planned with a few queries per 500 bookings
    (`plan_reminders_in_bulk`): how a bulk booking (auto-allocation) plans its reminders.
    """

    if booking_ids is not None:
        return _plan_in_bulk(Booking.id, booking_ids, now=now, only_unplanned=True)[0]
    booking_ids = list(db.session.scalars(_unplanned(
        select(Booking.id).join(CourseSession, CourseSession.id == Booking.session_id)
        .where(Booking.status == BookingStatus.ACTIVE,
               CourseSession.status == SessionStatus.SCHEDULED, CourseSession.starts_at > now)
        .order_by(Booking.id))))
    for chunk in chunks(booking_ids):
        for booking in db.session.scalars(select(Booking).where(Booking.id.in_(list(chunk)))):
            plan_booking_reminders(booking, now=now)
    return len(booking_ids)


def forget_finished_states(*, now: dt.datetime) -> int:
    """Drop planning states of sessions long past: they are only needed until the start."""

    old = select(Booking.id).join(CourseSession, CourseSession.id == Booking.session_id).where(
        CourseSession.starts_at < now - dt.timedelta(days=7))
    result = db.session.execute(
        delete(BookingReminderState).where(BookingReminderState.booking_id.in_(old))
        .execution_options(synchronize_session=False))
    return int(getattr(result, "rowcount", 0) or 0)


def fee_reminder_again(message: OutboxMessage) -> dict[str, Any]:
    """A fee reminder sent again (outbox.services.add_resend_context) gives the amount owed
    now; once nothing is owed (paid or waived since it failed) it is not sent again at all."""
    booking = booking_of(message)
    if booking is None:
        return dict(message.context)
    owed = fee_status(booking.referral).still_owed_pence
    if owed <= 0:
        raise Conflict("Nothing is owed now (the fee has been paid or waived since), so this "
                       "reminder is not sent again")
    return {**message.context, **fee_context(booking.referral.reference, owed)}
