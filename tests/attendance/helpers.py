"""Reading what the register tests need to check: the messages queued with a template."""

from __future__ import annotations

from sqlalchemy import select

from diversion.core.extensions import db
from diversion.outbox.models import OutboxMessage


def messages(template: str) -> list[OutboxMessage]:
    db.session.flush()
    return list(db.session.scalars(select(OutboxMessage).where(OutboxMessage.template == template)
                                   .order_by(OutboxMessage.id)))
