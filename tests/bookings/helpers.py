"""Reading what the bookings tests need to check: the messages sent to someone."""

from __future__ import annotations

from sqlalchemy import select

from diversion.core.extensions import db
from diversion.outbox.models import OutboxMessage


def messages_to(recipient: str, template: str | None = None) -> list[OutboxMessage]:
    query = select(OutboxMessage).where(OutboxMessage.recipient == recipient)
    if template:
        query = query.where(OutboxMessage.template == template)
    db.session.flush()
    return list(db.session.scalars(query.order_by(OutboxMessage.id)))
