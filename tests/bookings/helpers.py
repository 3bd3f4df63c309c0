"""Builders for bookings tests: a future session and a referral awaiting a booking."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from diversion.core.extensions import db
from diversion.outbox.models import OutboxMessage
from tests.builders import NOW, create_referral
from tests.courses.helpers import create_session, create_venue

__all__ = ["NOW", "create_referral", "create_venue", "future_session", "in_days", "messages_to"]


def in_days(days: float, hour: int = 9) -> dt.datetime:
    day = (NOW + dt.timedelta(days=days)).replace(hour=hour, minute=0)
    return day


def future_session(days: float = 10, **overrides: Any):  # type: ignore[no-untyped-def]
    """A scheduled session `days` after NOW (default 12 places, step-free venue)."""
    return create_session(starts_at=in_days(days), **overrides)


def messages_to(recipient: str, template: str | None = None) -> list[OutboxMessage]:
    query = select(OutboxMessage).where(OutboxMessage.recipient == recipient)
    if template:
        query = query.where(OutboxMessage.template == template)
    db.session.flush()
    return list(db.session.scalars(query.order_by(OutboxMessage.id)))
