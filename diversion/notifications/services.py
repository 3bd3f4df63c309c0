"""The outbox API. Every feature sends anything through `enqueue`."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from diversion.extensions import db
from diversion.notifications.models import Channel, MessageStatus, OutboxMessage


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
    retried request or a re-run sweep never produces a second message.
    """
    if due_at.tzinfo is None or now.tzinfo is None:
        raise ValueError("due_at and now must be aware datetimes")
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


def count_by_status() -> dict[str, int]:
    rows = db.session.execute(
        select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
    )
    counts = {status.value: 0 for status in MessageStatus}
    counts.update({status.value: n for status, n in rows})
    return counts
