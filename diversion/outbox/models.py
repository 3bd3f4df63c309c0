"""The outbox: every message is a row here before anything is sent."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    Time,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from diversion.core.db import UTCDateTime, enum_column
from diversion.core.extensions import Model


class Channel(enum.StrEnum):
    EMAIL = "email"
    SMS = "sms"


class MessageStatus(enum.StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


class OutboxMessage(Model):
    __tablename__ = "outbox_messages"
    __table_args__ = (
        # The dispatcher's claim query: due pending rows, oldest first.
        Index("ix_outbox_messages_status_next_attempt_at", "status", "next_attempt_at"),
        Index("ix_outbox_messages_subject", "subject_type", "subject_id"),
        # The messages page: newest first within a status, paged by id.
        Index("ix_outbox_messages_status_id", "status", "id"),
        # The dashboard's "not delivered in the last 30 days", and the list's status and dates.
        Index("ix_outbox_messages_status_due_at", "status", "due_at"),
        CheckConstraint("attempts >= 0", name="attempts_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(200), unique=True)
    channel: Mapped[Channel] = mapped_column(enum_column(Channel, "channel"))
    recipient: Mapped[str] = mapped_column(String(254))
    template: Mapped[str] = mapped_column(String(80))
    context: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # What the message is about, so a feature can cancel or re-time its own messages.
    subject_type: Mapped[str | None] = mapped_column(String(40))
    subject_id: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[MessageStatus] = mapped_column(
        enum_column(MessageStatus, "message_status"), default=MessageStatus.PENDING
    )
    due_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    # A reminder about an event is pointless once the event has begun.
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    next_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    provider_reference: Mapped[str | None] = mapped_column(String(120))
    claimed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    # Set (and committed) just before a channel is called, cleared when the result is recorded:
    # a row left in `sending` with it set may have reached the provider; without it, it did not.
    send_started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class ReminderKind(enum.StrEnum):
    """The messages of a programme's reminder plan that this feature sends itself."""

    FIRST_REMINDER = "first_reminder"
    FINAL_REMINDER = "final_reminder"
    JOINING_DETAILS = "joining_details"
    DEADLINE_APPROACHING = "deadline_approaching"
    OFFER_WITHDRAWN = "offer_withdrawn"
    FEE_OUTSTANDING = "fee_outstanding"


class ReminderPlanItem(Model):
    """One line of a programme's reminder plan; a programme without rows uses the default plan."""

    __tablename__ = "reminder_plan_items"
    __table_args__ = (
        UniqueConstraint("programme_id", "kind", name="uq_reminder_plan_items_programme_kind"),
        CheckConstraint("offset_days >= 0 AND offset_days <= 60", name="offset_days_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("programmes.id", ondelete="CASCADE"))
    kind: Mapped[ReminderKind] = mapped_column(enum_column(ReminderKind, "reminder_kind"))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    offset_days: Mapped[int] = mapped_column(Integer, default=0)
    # London wall-clock time; empty means "offset_days x 24 hours before the start".
    time_of_day: Mapped[dt.time | None] = mapped_column(Time)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class BookingReminderState(Model):
    """Which session start a booking's reminders were last planned for.

    The planning sweep picks up bookings with no row, or whose session has since moved, so a
    booking whose reminders were all skipped (booked late, or no address) is not planned again
    every five minutes. `note` records why nothing was planned, e.g. no email or mobile.
    """

    __tablename__ = "booking_reminder_states"

    booking_id: Mapped[int] = mapped_column(
        ForeignKey("bookings.id", ondelete="CASCADE"), primary_key=True)
    planned_for_start: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    planned_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    planned_count: Mapped[int] = mapped_column(Integer, default=0)
    note: Mapped[str | None] = mapped_column(String(200))
