"""The outbox API. Every feature sends anything through `enqueue`."""

from __future__ import annotations

import datetime as dt
import typing
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app
from sqlalchemy import ColumnElement, Select, Table, and_, false, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from diversion.audit.models import AuditCategory
from diversion.audit.services import record
from diversion.core.bulk import BulkInsert
from diversion.core.errors import Conflict, NotFound
from diversion.core.extensions import db
from diversion.core.timeutils import london_midnight_in_utc
from diversion.outbox.models import Channel, MessageStatus, OutboxMessage
from diversion.outbox.rules import next_allowed_sms_time


def enqueue(
    *,
    dedupe_key: str,
    channel: Channel,
    recipient: str,
    template: str,
    due_at: dt.datetime,
    now: dt.datetime,
    context: dict[str, Any] | None = None,
    subject_type: str | None = None,
    subject_id: Any = None,
    expires_at: dt.datetime | None = None,
) -> OutboxMessage | None:
    """Write a message to the outbox in the caller's transaction.

    The dedupe key is unique: enqueueing the same key again is a no-op and returns None, so a
    retried request or a re-run sweep never produces a second message. An SMS due in the quiet
    hours (20:00-08:00 London) is moved to the next 08:00.
    """
    if due_at.tzinfo is None or now.tzinfo is None:
        raise ValueError("due_at and now must be aware datetimes")
    if channel is Channel.SMS:
        due_at = next_allowed_sms_time(due_at)  # no SMS between 20:00 and 08:00 London time
    values = {
        "dedupe_key": dedupe_key,
        "channel": channel,
        "recipient": recipient,
        "template": template,
        "context": context or {},
        "subject_type": subject_type,
        "subject_id": None if subject_id is None else str(subject_id),
        "status": MessageStatus.PENDING,
        "due_at": due_at,
        "expires_at": expires_at,
        "next_attempt_at": due_at,
        "attempts": 0,
        "created_at": now,
    }
    insert = pg_insert if db.session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = (
        insert(OutboxMessage)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
        .returning(OutboxMessage.id)
    )
    new_id = db.session.execute(statement).scalar_one_or_none()
    if new_id is None:
        return None
    return db.session.get(OutboxMessage, new_id)


def cancel_pending(*, subject_type: str, subject_id: Any, now: dt.datetime,
                   templates: set[str] | None = None) -> int:
    """Cancel the not-yet-sent messages about something (a booking cancelled, say)."""
    statement = (
        update(OutboxMessage)
        .where(
            OutboxMessage.subject_type == subject_type,
            OutboxMessage.subject_id == str(subject_id),
            OutboxMessage.status == MessageStatus.PENDING,
        )
        .values(status=MessageStatus.CANCELLED, last_error=None)
        .execution_options(synchronize_session=False)
    )
    if templates:
        statement = statement.where(OutboxMessage.template.in_(sorted(templates)))
    result = db.session.execute(statement)
    return int(getattr(result, "rowcount", 0) or 0)


def list_messages_for(*, subject_type: str, subject_id: Any) -> list[OutboxMessage]:
    return list(db.session.scalars(
        select(OutboxMessage)
        .where(OutboxMessage.subject_type == subject_type,
               OutboxMessage.subject_id == str(subject_id))
        .order_by(OutboxMessage.due_at, OutboxMessage.id)
    ))


RelatedSubjects = Callable[[Any], tuple[str, Select[Any]]]
_RELATED = "diversion.outbox_related_subjects"


def add_related_subjects(app: Flask, subject_type: str, related: RelatedSubjects) -> None:
    """Count messages about other subjects as being about `subject_type` too: `related(id)`
    gives their subject type and a query of their ids. Bookings uses it so that a referral's
    messages include those about its bookings (reminders, booking notices)."""
    app.extensions.setdefault(_RELATED, {}).setdefault(subject_type, []).append(related)


def about_subject(subject_type: str, subject_id: Any) -> ColumnElement[bool]:
    """Messages about a subject or about any subject related to it, as one condition: one
    query however many related subjects there are."""
    conditions = [and_(OutboxMessage.subject_type == subject_type,
                       OutboxMessage.subject_id == str(subject_id))]
    for related in current_app.extensions.get(_RELATED, {}).get(subject_type, []):
        other_type, ids = related(subject_id)
        conditions.append(and_(OutboxMessage.subject_type == other_type,
                               OutboxMessage.subject_id.in_(ids)))
    return or_(*conditions)


def count_for_subject(subject_type: str, subject_id: Any) -> dict[str, int]:
    """How many messages about a subject and its related subjects are in each status (one query)."""
    rows = db.session.execute(
        select(OutboxMessage.status, func.count()).where(about_subject(subject_type, subject_id))
        .group_by(OutboxMessage.status))
    return {status.value: n for status, n in rows}


def count_with_status_query(status: MessageStatus, *,
                            since: dt.datetime | None = None) -> Select[int]:
    """How many messages the messages list shows with `?status=` this status (and due on or
    after `since`): one range of `ix_outbox_messages_status_due_at`."""
    query = select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == status)
    if since is not None:
        query = query.where(OutboxMessage.due_at >= since)
    return query


def count_by_status() -> dict[str, int]:
    rows = db.session.execute(
        select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
    )
    counts = {status.value: 0 for status in MessageStatus}
    counts.update({status.value: n for status, n in rows})
    return counts


# Whom a message is about: the features above name the person of each subject type ----------

@dataclass(frozen=True)
class SubjectPerson:
    """The person a message's subject belongs to, as the messages page shows them."""

    name: str  # "FAMILY, Given names"; empty when the person's details were erased
    reference: str  # the referral's reference (its page is /referrals/<reference>)


PeopleOf = Callable[[Sequence[str]], "dict[str, SubjectPerson]"]
SearchSubjects = Callable[[str, dt.date], "Select[Any] | None"]
_PEOPLE = "diversion.outbox_subject_people"


def add_subject_people(app: Flask, subject_type: str, people: PeopleOf,
                       search: SearchSubjects) -> None:
    """Let the messages page name the person a `subject_type` message is about.

    `people(ids)` gives the person of each of those subject ids in one query; `search(text,
    today)` gives a query of the subject ids (as text) whose person matches a name or reference
    search, or None when the text can match nothing."""
    app.extensions.setdefault(_PEOPLE, {})[subject_type] = (people, search)


def people_of(messages: Sequence[OutboxMessage]) -> dict[tuple[str, str], SubjectPerson]:
    """The person of each message's subject: one query per subject type, however many rows."""
    wanted: dict[str, set[str]] = {}
    for message in messages:
        if message.subject_type and message.subject_id:
            wanted.setdefault(message.subject_type, set()).add(message.subject_id)
    registry = current_app.extensions.get(_PEOPLE, {})
    found: dict[tuple[str, str], SubjectPerson] = {}
    for subject_type, ids in wanted.items():
        if subject_type in registry:
            people, _ = registry[subject_type]
            found.update({(subject_type, key): person
                          for key, person in people(sorted(ids)).items()})
    return found


def about_person(text: str, *, today: dt.date) -> ColumnElement[bool]:
    """Messages whose subject's person matches a name or reference search (one condition)."""
    conditions = []
    for subject_type, (_, search) in sorted(current_app.extensions.get(_PEOPLE, {}).items()):
        ids = search(text, today)
        if ids is not None:
            conditions.append(and_(OutboxMessage.subject_type == subject_type,
                                   OutboxMessage.subject_id.in_(ids)))
    return or_(*conditions) if conditions else false()


# The kinds of message, in words (the template names them) --------------------------------------

KINDS: dict[str, str] = {
    "booking_confirmation": "Booking confirmation",
    "booking_cancelled": "Booking cancelled",
    "session_cancelled": "Session cancelled",
    "reminder_first": "First reminder",
    "reminder_final": "Final reminder",
    "reminder_joining_details": "Joining details",
    "reminder_booking_deadline": "Booking deadline reminder",
    "reminder_fee_outstanding": "Fee reminder",
    "offer_withdrawn": "Offer withdrawn",
    "course_completed_person": "Course completed",
    "referral_outcome_officer": "Outcome to the officer",
    "self_service_locked": "Self-service locked",
    "monthly_report": "Monthly report",
    "test_message": "Test message",
}


# Messages about a person's referral that go to staff, not to him (referrals.lifecycle's
# OFFICER_TEMPLATE): correcting his contact details does nothing for them.
STAFF_TEMPLATES = frozenset({"referral_outcome_officer"})


def is_to_person(message: OutboxMessage) -> bool:
    """Whether a message about a person's subject was sent to him (not to the officer)."""
    return message.template not in STAFF_TEMPLATES


def kind_label(template: str) -> str:
    return KINDS.get(template) or template.replace("_", " ").capitalize()


@dataclass(frozen=True)
class MessageFilters:
    """The messages page's filters; they combine (AND)."""

    search: str = ""  # a person's family name or reference (or crime reference, PNC ID)
    kinds: tuple[str, ...] = ()
    statuses: tuple[MessageStatus, ...] = ()
    channels: tuple[Channel, ...] = ()
    date_from: dt.date | None = None  # due on or after (London)
    date_to: dt.date | None = None  # due on or before (London)
    subject_type: str | None = None
    subject_id: str | None = None

    @property
    def is_empty(self) -> bool:
        return self == MessageFilters()


def filtered_messages(filters: MessageFilters, *, today: dt.date) -> Select[Any]:
    """The messages the filters select, unordered (the pager orders them)."""
    query = select(OutboxMessage)
    if filters.statuses:
        query = query.where(OutboxMessage.status.in_(filters.statuses))
    if filters.kinds:
        query = query.where(OutboxMessage.template.in_(filters.kinds))
    if filters.channels:
        query = query.where(OutboxMessage.channel.in_(filters.channels))
    if filters.date_from is not None:
        query = query.where(OutboxMessage.due_at >= london_midnight_in_utc(filters.date_from))
    if filters.date_to is not None:
        query = query.where(OutboxMessage.due_at
                            < london_midnight_in_utc(filters.date_to + dt.timedelta(days=1)))
    if filters.search:
        query = query.where(about_person(filters.search, today=today))
    if filters.subject_type and filters.subject_id:
        query = query.where(about_subject(filters.subject_type, filters.subject_id))
    elif filters.subject_type:
        query = query.where(OutboxMessage.subject_type == filters.subject_type)
    elif filters.subject_id:
        query = query.where(OutboxMessage.subject_id == filters.subject_id)
    return query


def get_message(message_id: int) -> OutboxMessage:
    message = db.session.get(OutboxMessage, message_id)
    if message is None:
        raise NotFound("No such message")
    return message


RESEND_MARK = ":resend:"

Recipient = tuple[Channel, str]
CurrentRecipient = Callable[[OutboxMessage], "Recipient | None"]
_RECIPIENTS = "diversion.outbox_current_recipients"


def add_current_recipient(app: Flask, subject_type: str, current: CurrentRecipient) -> None:
    """Let a failed message about a `subject_type` be sent again to where it would go now:
    `current(message)` gives the channel and address its person has today, None to keep the
    stored ones (a message to someone else, such as the officer), or raises Conflict when
    the message can no longer go anywhere."""
    app.extensions.setdefault(_RECIPIENTS, {})[subject_type] = current


def current_recipient(message: OutboxMessage) -> Recipient:
    """The channel and address a copy of this message goes to: its person's current ones
    where a feature names them (add_current_recipient), else those it was queued with."""
    current = current_app.extensions.get(_RECIPIENTS, {}).get(message.subject_type or "")
    found = current(message) if current is not None else None
    return found if found is not None else (message.channel, message.recipient)


ResendContext = Callable[[OutboxMessage], dict[str, Any]]
_RESEND_CONTEXTS = "diversion.outbox_resend_contexts"


def add_resend_context(app: Flask, template: str, context: ResendContext) -> None:
    """Send a failed message of this template again with `context(message)`, not the context
    it was queued with: for what may have changed since (the fee still owed). It may raise
    Conflict when the message is no longer true (a fee reminder once the fee is paid)."""
    app.extensions.setdefault(_RESEND_CONTEXTS, {})[template] = context


def resend_context(message: OutboxMessage) -> dict[str, Any]:
    """The context a copy of this message is sent with (add_resend_context), else its own."""
    current = current_app.extensions.get(_RESEND_CONTEXTS, {}).get(message.template)
    return current(message) if current is not None else dict(message.context)


FAILED_COUNTED = 100  # a page says how many failed messages to someone could be sent again


def count_failed_to_send_again(*, about: ColumnElement[bool], now: dt.datetime) -> int:
    """How many failed messages `about` selects could be sent again (`resend_message` would
    take them): not out of date, and not already sent again by a copy that has not failed.
    At most FAILED_COUNTED; two queries, each copy looked up by its key's literal prefix as
    `resend_message` does."""
    failed = list(db.session.scalars(
        select(OutboxMessage.dedupe_key).where(
            about, OutboxMessage.status == MessageStatus.FAILED,
            OutboxMessage.dedupe_key.not_like(f"%{RESEND_MARK}%"),
            or_(OutboxMessage.expires_at.is_(None), OutboxMessage.expires_at > now))
        .order_by(OutboxMessage.id).limit(FAILED_COUNTED)))
    if not failed:
        return 0
    resent = {key.partition(RESEND_MARK)[0] for key in db.session.scalars(
        select(OutboxMessage.dedupe_key).where(
            OutboxMessage.status != MessageStatus.FAILED,
            or_(*[OutboxMessage.dedupe_key.startswith(key + RESEND_MARK, autoescape=True)
                  for key in failed])))}
    return sum(1 for key in failed if key not in resent)


def readdress_pending(*, about: ColumnElement[bool], new: Recipient | None) -> int:
    """Send every pending message `about` selects to `new` (where a message queued now would
    go: a corrected address), or cancel them when he can no longer be reached (None): a
    message stores its address when it is queued, so one due next week would otherwise go to
    the address found wrong, or just removed. Returns how many were changed."""
    statement = update(OutboxMessage).where(about, OutboxMessage.status == MessageStatus.PENDING)
    if new is None:
        statement = statement.values(status=MessageStatus.CANCELLED, last_error=None)
    else:
        statement = statement.where(or_(OutboxMessage.channel != new[0],
                                        OutboxMessage.recipient != new[1])).values(
            channel=new[0], recipient=new[1])
    result = db.session.execute(statement.execution_options(synchronize_session=False))
    return int(getattr(result, "rowcount", 0) or 0)


def resend_message(*, message_id: int, actor: Any, now: dt.datetime) -> OutboxMessage:
    """Queue a failed message again under the dedupe key `<old>:resend:<n>`, audited.

    Refused when the message has not failed, when it has already been resent and that copy is
    not itself a failure, or when what it was about has already happened (it expired).
    """
    original = get_message(message_id)
    if original.status is not MessageStatus.FAILED:
        raise Conflict("Only a failed message can be sent again")
    if original.expires_at is not None and original.expires_at <= now:
        raise Conflict("This message is out of date: what it was about has already started")
    prefix = original.dedupe_key + RESEND_MARK
    earlier = list(db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.dedupe_key.startswith(prefix, autoescape=True))
    ))
    copies = [m for m in earlier if RESEND_MARK not in m.dedupe_key[len(prefix):]]
    if any(m.status is not MessageStatus.FAILED for m in copies):
        raise Conflict("This message has already been sent again")
    # The address he has now, not the one the message was queued for: a bad address corrected
    # since the failure is the whole point of sending again.
    channel, recipient = current_recipient(original)
    copy = enqueue(
        dedupe_key=f"{prefix}{len(copies) + 1}", channel=channel,
        recipient=recipient, template=original.template, due_at=now, now=now,
        context=resend_context(original), subject_type=original.subject_type,
        subject_id=original.subject_id, expires_at=original.expires_at,
    )
    if copy is None:  # a concurrent resend took the key first
        raise Conflict("This message has already been sent again")
    record(action="message.resend", category=AuditCategory.ALTERATION, now=now, actor=actor,
           object_type="outbox_message", object_id=original.id,
           details={"new_message_id": copy.id, "template": original.template,
                    "subject_type": original.subject_type, "subject_id": original.subject_id,
                    "readdressed": (channel, recipient) != (original.channel,
                                                              original.recipient)})
    db.session.flush()
    return copy


def enqueue_many(rows: Iterable[Mapping[str, Any]], *, now: dt.datetime) -> None:
    """`enqueue` for many messages, written in bulk (keys already taken are skipped).

    Each row has enqueue's keyword arguments (dedupe_key, channel, recipient, template, due_at,
    context, subject_type, subject_id, expires_at); SMS waits out the quiet hours as there.
    The rows may be made as they are written (a generator): they are all taken, once, and
    must be made without using the database (on PostgreSQL a COPY holds the connection).
    """
    if isinstance(rows, Sequence) and not rows:
        return
    pending = MessageStatus.PENDING

    def values() -> Iterator[tuple[Any, ...]]:  # in the order of _BULK_COLUMNS
        for row in rows:
            due_at = row["due_at"]
            if row["channel"] is Channel.SMS:
                due_at = next_allowed_sms_time(due_at)
            subject_id = row.get("subject_id")
            yield (row["dedupe_key"], row["channel"], row["recipient"], row["template"],
                   row.get("context") or {}, row.get("subject_type"),
                   None if subject_id is None else str(subject_id), pending, due_at,
                   row.get("expires_at"), due_at, 0, now)

    connection = db.session.connection()
    BulkInsert(typing.cast(Table, OutboxMessage.__table__), _BULK_COLUMNS, connection.dialect,
               skip_taken="dedupe_key").execute(connection, values())


_BULK_COLUMNS = ("dedupe_key", "channel", "recipient", "template", "context", "subject_type",
                 "subject_id", "status", "due_at", "expires_at", "next_attempt_at", "attempts",
                 "created_at")
