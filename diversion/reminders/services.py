"""The reminder plan: per-programme settings, and planning its messages into the outbox.

Session reminders (first, final, joining details) are planned per booking, with dedupe keys
that name the session's start instant (`reminder:<kind>:booking:<id>:<start>`): planning twice
does nothing, and a session that moves gets new keys, so new reminders, while the old ones are
cancelled. They are planned when the referral moves to `booked` (lifecycle hook) and by the
`plan_reminders` sweep every 5 minutes, which also catches bookings moved to another session,
cancelled bookings and sessions, and moved sessions. Their subject is the booking, so the
bookings feature's own `cancel_pending` on a cancelled booking cancels them too.

The booking-deadline message is planned by the sweep for `awaiting_booking` referrals whose
message falls due today or tomorrow; the offer-withdrawn notice is sent on the `withdrawn` move.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, cast

from sqlalchemy import Table, delete, insert, or_, select, update
from sqlalchemy.orm import joinedload

from diversion.audit.models import AuditCategory
from diversion.audit.services import record
from diversion.bookings.models import Booking, BookingStatus
from diversion.bookings.queries import get_active_booking
from diversion.core.errors import ValidationFailed
from diversion.core.extensions import db
from diversion.core.timeutils import format_london, london_today
from diversion.courses.models import CourseSession, SessionStatus
from diversion.outbox.models import (
    BookingReminderState,
    Channel,
    MessageStatus,
    OutboxMessage,
    ReminderKind,
    ReminderPlanItem,
)
from diversion.outbox.services import cancel_pending, enqueue, enqueue_many
from diversion.programmes.models import Programme
from diversion.referrals import lifecycle
from diversion.referrals.models import Person, Referral, ReferralEventType, ReferralStatus
from diversion.reminders import rules
from diversion.reminders.rules import PlanItem

log = logging.getLogger(__name__)

BOOKING = "booking"
REFERRAL = "referral"
NO_CONTACT = "No email address or mobile number: nothing to send"
CHUNK = 500

DEADLINE_TEMPLATE = rules.TEMPLATES[ReminderKind.DEADLINE_APPROACHING]
WITHDRAWN_TEMPLATE = rules.TEMPLATES[ReminderKind.OFFER_WITHDRAWN]
# What the joining details carry besides the link (no venue: the session is online). Each
# template reads exactly the keys it is given (tests/outbox/test_message_snapshots.py).
JOINING_KEYS = ("reference", "given_name", "starts_at", "starts_on", "ends_at")


# The plan ---------------------------------------------------------------------------------

def get_plan(programme_id: int) -> dict[ReminderKind, PlanItem]:
    """A programme's plan: its saved lines over the default plan."""
    plan = dict(rules.DEFAULT_PLAN)
    for row in db.session.scalars(
            select(ReminderPlanItem).where(ReminderPlanItem.programme_id == programme_id)):
        plan[row.kind] = PlanItem(row.kind, row.enabled, row.offset_days, row.time_of_day)
    return plan


def save_plan(*, programme: Programme, items: Sequence[PlanItem], actor: Any,
              now: dt.datetime) -> dict[ReminderKind, PlanItem]:
    """Save a programme's plan and re-plan the pending reminders of its upcoming bookings.

    Errors are keyed `<kind>-<field>`. Reminders already sent stay sent (their keys are kept).
    """
    errors = {f"{item.kind.value}-{field}": message
              for item in items for field, message in rules.check_item(item).items()}
    if errors:
        raise ValidationFailed(errors)
    existing = {row.kind: row for row in db.session.scalars(
        select(ReminderPlanItem).where(ReminderPlanItem.programme_id == programme.id))}
    before = get_plan(programme.id)
    for item in items:
        row = existing.get(item.kind)
        if row is None:
            row = ReminderPlanItem(programme_id=programme.id, kind=item.kind)
            db.session.add(row)
        row.enabled = item.enabled
        row.offset_days = 0 if item.kind in rules.IMMEDIATE_KINDS else item.offset_days
        row.time_of_day = None if item.kind in rules.IMMEDIATE_KINDS else item.time_of_day
        row.updated_at = now
        row.updated_by_id = getattr(actor, "id", None)
    db.session.flush()
    after = get_plan(programme.id)
    changed = sorted(kind.value for kind in after if after[kind] != before[kind])
    record(action="reminder_plan.update", category=AuditCategory.ALTERATION, now=now,
           actor=actor, object_type="programme", object_id=programme.id,
           details={"changed": changed})
    if any(ReminderKind(kind) in rules.SESSION_KINDS for kind in changed):
        replan_programme(programme_id=programme.id, now=now)
    return after


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


# Writing to the outbox --------------------------------------------------------------------

def _put(*, key: str, channel: Channel, recipient: str, template: str, due_at: dt.datetime,
         now: dt.datetime, context: dict[str, Any], subject_type: str, subject_id: int,
         expires_at: dt.datetime | None) -> bool:
    """Enqueue under `key`; a reminder cancelled earlier under the same key is revived.

    Revival matters when a session moves and then moves back, or a plan line is switched off
    and on again: the key is the same, and a plain enqueue would find it taken and do nothing.
    """
    # populate_existing: bulk cancellations (cancel_pending) do not refresh loaded rows.
    existing = db.session.scalar(select(OutboxMessage).where(OutboxMessage.dedupe_key == key)
                                 .execution_options(populate_existing=True))
    if existing is None:
        return enqueue(dedupe_key=key, channel=channel, recipient=recipient, template=template,
                       due_at=due_at, now=now, context=context, subject_type=subject_type,
                       subject_id=subject_id, expires_at=expires_at) is not None
    if existing.status is not MessageStatus.CANCELLED:
        return False
    existing.status = MessageStatus.PENDING
    existing.channel, existing.recipient, existing.context = channel, recipient, context
    existing.due_at = existing.next_attempt_at = due_at
    existing.expires_at = expires_at
    existing.attempts = 0
    existing.last_error = None
    existing.claimed_at = existing.send_started_at = None
    db.session.flush()
    return True


def _contact(referral: Referral) -> tuple[Channel, str] | None:
    person = referral.person
    return rules.choose_contact(preferred=person.preferred_contact.value, email=person.email,
                                mobile=person.mobile)


def _person_context(referral: Referral) -> dict[str, Any]:
    given = referral.person.given_names.split()
    return {"reference": referral.reference, "given_name": given[0] if given else ""}


def _session_context(session: Any) -> dict[str, Any]:
    venue = session.venue
    return {
        "starts_at": format_london(session.starts_at, "%A %-d %B %Y at %-I:%M%p"),
        "starts_on": format_london(session.starts_at, "%A %-d %B"),
        "ends_at": format_london(session.ends_at, "%-I:%M%p"),
        "is_online": venue.is_online,
        "venue_name": venue.name,
        "venue_address": ", ".join(p for p in (venue.address_line_1, venue.address_line_2,
                                               venue.town, venue.postcode) if p),
    }


# Session reminders ------------------------------------------------------------------------

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
    contact = _contact(referral)
    if contact is None:
        log.info("booking %s: no email or mobile, no reminders", booking.id)
        _set_state(booking.id, starts_at=session.starts_at, now=now, count=0, note=NO_CONTACT)
        return 0
    channel, recipient = contact
    planned = rules.plan_session_reminders(
        get_plan(session.programme_id), starts_at=session.starts_at,
        is_online=session.venue.is_online, channel=channel, now=now)
    context = {**_person_context(referral), **_session_context(session)}
    made = 0
    for item in planned:
        item_context = dict(context)
        if item.kind is ReminderKind.JOINING_DETAILS:
            # The joining link is in this message only: it is the key to the room.
            item_context = {key: context[key] for key in JOINING_KEYS}
            item_context["joining_link"] = session.venue.joining_link or ""
        made += _put(key=rules.session_key(item.kind, booking_id=booking.id,
                                           starts_at=session.starts_at),
                     channel=channel, recipient=recipient, template=rules.TEMPLATES[item.kind],
                     due_at=item.due_at, now=now, context=item_context, subject_type=BOOKING,
                     subject_id=booking.id, expires_at=item.expires_at)
    _set_state(booking.id, starts_at=session.starts_at, now=now, count=len(planned),
               note=None if planned else "Every reminder's time had passed when booked")
    return made


def _chunks(values: Sequence[int], size: int = CHUNK) -> Iterable[Sequence[int]]:
    for start in range(0, len(values), size):
        yield values[start:start + size]


def plan_reminders_in_bulk(booking_ids: Sequence[int], *, now: dt.datetime) -> int:
    """`plan_booking_reminders` for many bookings, with a few queries per 500 bookings.

    The same rows as planning each booking in turn: stale keys cancelled, new reminders put in
    the outbox (cancelled ones under the same key revived), the planning state recorded.
    Returns how many reminders were newly put in the outbox.
    """

    plans: dict[int, dict[ReminderKind, PlanItem]] = {}
    sessions: dict[int, tuple[Any, dict[str, Any]]] = {}
    made = 0
    for chunk in _chunks(sorted(set(booking_ids))):
        rows = list(db.session.execute(
            select(Booking.id, Booking.session_id, Referral.reference, Person.given_names,
                   Person.preferred_contact, Person.email, Person.mobile)
            .join(CourseSession, CourseSession.id == Booking.session_id)
            .join(Referral, Referral.id == Booking.referral_id)
            .join(Person, Person.id == Referral.person_id)
            .where(Booking.id.in_(list(chunk)), Booking.status == BookingStatus.ACTIVE,
                   CourseSession.status == SessionStatus.SCHEDULED,
                   CourseSession.starts_at > now)
            .order_by(Booking.id)))
        wanted = sorted({row.session_id for row in rows} - set(sessions))
        for session in db.session.scalars(
                select(CourseSession).where(CourseSession.id.in_(wanted))
                .options(joinedload(CourseSession.venue))):
            sessions[session.id] = (session, _session_context(session))
        starts = {row.id: sessions[row.session_id][0].starts_at for row in rows}
        ids = [str(row.id) for row in rows]
        # Stale keys: pending session reminders planned for another start instant.
        stale = [m.id for m in db.session.execute(select(
            OutboxMessage.id, OutboxMessage.subject_id, OutboxMessage.dedupe_key).where(
            OutboxMessage.subject_type == BOOKING, OutboxMessage.subject_id.in_(ids),
            OutboxMessage.status == MessageStatus.PENDING,
            OutboxMessage.template.in_(sorted(rules.SESSION_TEMPLATES))))
            if rules.key_start_token(m.dedupe_key) != rules.instant_token(
                starts[int(m.subject_id)])]
        if stale:
            db.session.execute(update(OutboxMessage).where(OutboxMessage.id.in_(stale))
                               .values(status=MessageStatus.CANCELLED))
        wanted_messages: list[dict[str, Any]] = []
        states: dict[int, tuple[dt.datetime, int, str | None]] = {}
        for row in rows:
            session, session_context = sessions[row.session_id]
            contact = rules.choose_contact(preferred=row.preferred_contact.value,
                                           email=row.email, mobile=row.mobile)
            if contact is None:
                states[row.id] = (session.starts_at, 0, NO_CONTACT)
                continue
            channel, recipient = contact
            if session.programme_id not in plans:
                plans[session.programme_id] = get_plan(session.programme_id)
            planned = rules.plan_session_reminders(
                plans[session.programme_id], starts_at=session.starts_at,
                is_online=session.venue.is_online, channel=channel, now=now)
            given = row.given_names.split()
            context = {"reference": row.reference, "given_name": given[0] if given else "",
                       **session_context}
            for item in planned:
                item_context = dict(context)
                if item.kind is ReminderKind.JOINING_DETAILS:
                    item_context = {key: context[key] for key in JOINING_KEYS}
                    item_context["joining_link"] = session.venue.joining_link or ""
                wanted_messages.append({
                    "dedupe_key": rules.session_key(item.kind, booking_id=row.id,
                                                    starts_at=session.starts_at),
                    "channel": channel, "recipient": recipient,
                    "template": rules.TEMPLATES[item.kind], "due_at": item.due_at,
                    "context": item_context, "subject_type": BOOKING, "subject_id": row.id,
                    "expires_at": item.expires_at})
            states[row.id] = (session.starts_at, len(planned),
                              None if planned else "Every reminder's time had passed when booked")
        existing = {m.dedupe_key: m.status for m in db.session.execute(
            select(OutboxMessage.dedupe_key, OutboxMessage.status).where(
                OutboxMessage.dedupe_key.in_([m["dedupe_key"] for m in wanted_messages])))}
        new = [m for m in wanted_messages if m["dedupe_key"] not in existing]
        enqueue_many(new, now=now)
        made += len(new)
        for message in wanted_messages:
            if existing.get(message["dedupe_key"]) is MessageStatus.CANCELLED:
                made += _put(key=message["dedupe_key"], channel=message["channel"],
                             recipient=message["recipient"], template=message["template"],
                             due_at=message["due_at"], now=now, context=message["context"],
                             subject_type=BOOKING, subject_id=message["subject_id"],
                             expires_at=message["expires_at"])
        known = {state.booking_id: state for state in db.session.scalars(
            select(BookingReminderState).where(BookingReminderState.booking_id.in_(
                list(states))))}
        fresh = []
        for booking_id, (starts_at, count, note) in states.items():
            state = known.get(booking_id)
            if state is None:
                fresh.append({"booking_id": booking_id, "planned_for_start": starts_at,
                              "planned_at": now, "planned_count": count, "note": note})
            else:
                state.planned_for_start, state.planned_at = starts_at, now
                state.planned_count, state.note = count, note
        if fresh:
            db.session.execute(insert(cast(Table, BookingReminderState.__table__)), fresh)
        db.session.flush()
    return made


def cancel_outdated_session_reminders(*, now: dt.datetime) -> int:
    """Cancel pending session reminders of bookings no longer active, of cancelled sessions,
    and of sessions that have moved since the reminders were planned."""

    pending = list(db.session.execute(select(
        OutboxMessage.id, OutboxMessage.subject_id, OutboxMessage.dedupe_key).where(
        OutboxMessage.status == MessageStatus.PENDING, OutboxMessage.subject_type == BOOKING,
        OutboxMessage.template.in_(sorted(rules.SESSION_TEMPLATES)))))
    booking_ids = sorted({int(row.subject_id) for row in pending if row.subject_id})
    bookings: dict[int, Any] = {}
    for chunk in _chunks(booking_ids):
        for found in db.session.scalars(select(Booking).where(Booking.id.in_(list(chunk)))):
            bookings[found.id] = found
    outdated = []
    for row in pending:
        booking = bookings.get(int(row.subject_id)) if row.subject_id else None
        if (booking is None or booking.status is not BookingStatus.ACTIVE
                or booking.session.status is not SessionStatus.SCHEDULED
                or rules.key_start_token(row.dedupe_key)
                != rules.instant_token(booking.session.starts_at)):
            outdated.append(row.id)
    for chunk in _chunks(outdated):
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

    query = (
        select(Booking.id)
        .join(CourseSession, CourseSession.id == Booking.session_id)
        .outerjoin(BookingReminderState, BookingReminderState.booking_id == Booking.id)
        .where(Booking.status == BookingStatus.ACTIVE,
               CourseSession.status == SessionStatus.SCHEDULED,
               CourseSession.starts_at > now,
               or_(BookingReminderState.booking_id.is_(None),
                   BookingReminderState.planned_for_start != CourseSession.starts_at))
        .order_by(Booking.id))
    if booking_ids is not None:
        wanted: list[int] = []
        for part in _chunks(sorted(set(booking_ids))):
            wanted += db.session.scalars(query.where(Booking.id.in_(list(part))))
        plan_reminders_in_bulk(wanted, now=now)
        return len(wanted)
    booking_ids = list(db.session.scalars(query))
    for chunk in _chunks(booking_ids):
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


# Referral messages ------------------------------------------------------------------------

def plan_deadline_reminder(referral: Referral, *, now: dt.datetime,
                           plan: Mapping[ReminderKind, PlanItem] | None = None) -> bool:
    """Plan "booking deadline approaching" for a referral still awaiting a booking."""
    if referral.status is not ReferralStatus.AWAITING_BOOKING:
        return False
    contact = _contact(referral)
    if contact is None:
        return False
    channel, recipient = contact
    item = (plan or get_plan(referral.programme_id))[ReminderKind.DEADLINE_APPROACHING]
    planned = rules.plan_deadline_reminder(item, deadline=referral.booking_deadline,
                                           channel=channel, now=now)
    if planned is None:
        return False
    context = {**_person_context(referral),
               "booking_deadline": f"{referral.booking_deadline:%A} "
                                   f"{referral.booking_deadline.day} "
                                   f"{referral.booking_deadline:%B %Y}"}
    return _put(key=rules.deadline_key(referral_id=referral.id,
                                       deadline=referral.booking_deadline),
                channel=channel, recipient=recipient, template=DEADLINE_TEMPLATE,
                due_at=planned.due_at, now=now, context=context, subject_type=REFERRAL,
                subject_id=referral.id, expires_at=planned.expires_at)


def cancel_outdated_deadline_reminders() -> int:
    """Cancel pending deadline messages of referrals booked or closed since, or whose booking
    deadline has changed (a new message is planned for the new date)."""
    cancelled = 0
    for message in db.session.scalars(select(OutboxMessage).where(
            OutboxMessage.status == MessageStatus.PENDING, OutboxMessage.subject_type == REFERRAL,
            OutboxMessage.template == DEADLINE_TEMPLATE)):
        referral = db.session.get(Referral, int(message.subject_id or 0))
        if (referral is None or referral.status is not ReferralStatus.AWAITING_BOOKING
                or not message.dedupe_key.startswith(rules.deadline_key(
                    referral_id=referral.id, deadline=referral.booking_deadline))):
            message.status = MessageStatus.CANCELLED
            cancelled += 1
    db.session.flush()
    return cancelled


def plan_deadline_reminders(*, now: dt.datetime) -> int:
    """Plan the deadline messages falling due today or tomorrow (London) for referrals still
    awaiting a booking. Looking only two days ahead keeps the sweep to a few rows."""
    today = london_today(now)
    made = 0
    for programme_id in list(db.session.scalars(select(Programme.id).order_by(Programme.id))):
        plan = get_plan(programme_id)
        item = plan[ReminderKind.DEADLINE_APPROACHING]
        if not item.enabled:
            continue
        first = today + dt.timedelta(days=item.offset_days)
        referrals = list(db.session.scalars(select(Referral).where(
            Referral.status == ReferralStatus.AWAITING_BOOKING,
            Referral.programme_id == programme_id,
            Referral.booking_deadline >= first,
            Referral.booking_deadline <= first + dt.timedelta(days=1))))
        for referral in referrals:
            made += plan_deadline_reminder(referral, now=now, plan=plan)
    return made


def send_offer_withdrawn(referral: Referral, *, now: dt.datetime) -> bool:
    """Tell the person the offer of a course has been withdrawn (when the plan says so)."""
    if not get_plan(referral.programme_id)[ReminderKind.OFFER_WITHDRAWN].enabled:
        return False
    contact = _contact(referral)
    if contact is None:
        log.info("referral %s: no email or mobile for the withdrawal notice", referral.id)
        return False
    channel, recipient = contact
    return enqueue(dedupe_key=f"offer-withdrawn:referral:{referral.id}", channel=channel,
                   recipient=recipient, template=WITHDRAWN_TEMPLATE, due_at=now, now=now,
                   context=_person_context(referral), subject_type=REFERRAL,
                   subject_id=referral.id) is not None


def follow_referral(moved: lifecycle.Moved) -> None:
    """Plan reminders on booking; stop deadline messages once booked or closed; tell a person
    whose offer is withdrawn."""
    referral = moved.referral
    if moved.to_status is not ReferralStatus.AWAITING_BOOKING:
        cancel_pending(subject_type=REFERRAL, subject_id=referral.id, now=moved.now,
                       templates={DEADLINE_TEMPLATE})
    if moved.to_status is ReferralStatus.BOOKED:
        booking = get_active_booking(referral)
        if booking is not None:
            plan_booking_reminders(booking, now=moved.now)
    elif moved.event is ReferralEventType.WITHDRAWN:
        send_offer_withdrawn(referral, now=moved.now)


def follow_referrals(moves: Sequence[lifecycle.Moved]) -> None:
    """`follow_referral` for a batch of moves (auto-allocation): the deadline messages
    cancelled and the bookings' reminders planned in bulk, once, after every move is made."""
    if not moves:
        return
    now = moves[0].now
    leaving = [m.referral.id for m in moves
               if m.to_status is not ReferralStatus.AWAITING_BOOKING]
    for part in _chunks(leaving):
        db.session.execute(
            update(OutboxMessage).where(
                OutboxMessage.subject_type == REFERRAL, OutboxMessage.subject_id.in_([str(i) for i in part]),
                OutboxMessage.status == MessageStatus.PENDING,
                OutboxMessage.template == DEADLINE_TEMPLATE)
            .values(status=MessageStatus.CANCELLED, last_error=None)
            .execution_options(synchronize_session=False))
    booked = [m.referral.id for m in moves if m.to_status is ReferralStatus.BOOKED]
    if booked:

        booking_ids: list[int] = []
        for part in _chunks(booked):
            booking_ids += db.session.scalars(select(Booking.id).where(
                Booking.referral_id.in_(list(part)), Booking.status == BookingStatus.ACTIVE))
        plan_unplanned_bookings(now=now, booking_ids=booking_ids)
    for m in moves:
        if m.to_status is not ReferralStatus.BOOKED and m.event is ReferralEventType.WITHDRAWN:
            send_offer_withdrawn(m.referral, now=m.now)


# The sweep --------------------------------------------------------------------------------

def run_reminder_sweep(*, now: dt.datetime) -> dict[str, int]:
    """Cancel outdated reminders, plan missing ones and the deadline messages."""
    cancelled = cancel_outdated_session_reminders(now=now) + cancel_outdated_deadline_reminders()
    planned = plan_unplanned_bookings(now=now)
    deadline = plan_deadline_reminders(now=now)
    forgotten = forget_finished_states(now=now)
    return {"cancelled": cancelled, "bookings_planned": planned, "deadline_planned": deadline,
            "states_forgotten": forgotten}


def plan_transferred_booking(booking: Any, *, now: dt.datetime) -> None:
    """Plan the reminders of a booking moved to another session (receiver of bookings'
    `booking_transferred`)."""
    plan_booking_reminders(booking, now=now)
