"""Bookings, waiting lists, payments and fee waivers.

A booking's status is about the place, not about attendance (the register keeps that apart):
`active` holds a place; `cancelled` and `transferred` gave it back; `attended`, `missed` and
`closed` record how a booking on a session that took place ended (they keep its place, so a held
session's `booked_count` still says how many were booked).
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from diversion.auth.models import User
from diversion.core.db import UTCDateTime, enum_column
from diversion.core.extensions import Model
from diversion.courses.models import CourseSession
from diversion.referrals.models import Referral


class BookingStatus(enum.StrEnum):
    ACTIVE = "active"
    CANCELLED = "cancelled"
    TRANSFERRED = "transferred"
    ATTENDED = "attended"
    MISSED = "missed"
    CLOSED = "closed"

    @property
    def label(self) -> str:
        return {"transferred": "Moved to another session"}.get(self.value, self.value.capitalize())


ACTIVE_ONLY = text("status = 'active'")


class Booking(Model):
    """A referral's place on a session. At most one active booking per referral (database)."""

    __tablename__ = "bookings"
    __table_args__ = (
        Index("uq_bookings_one_active_per_referral", "referral_id", unique=True,
              sqlite_where=ACTIVE_ONLY, postgresql_where=ACTIVE_ONLY),
        Index("ix_bookings_session_status", "session_id", "status"),
        Index("ix_bookings_referral", "referral_id", "id"),
        # The fees outstanding list: active bookings (not the history), by session.
        Index("ix_bookings_status_session", "status", "session_id"),
        CheckConstraint("(status = 'active') = (ended_at IS NULL)", name="active_not_ended"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    referral_id: Mapped[int] = mapped_column(ForeignKey("referrals.id", ondelete="CASCADE"))
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id"))
    status: Mapped[BookingStatus] = mapped_column(
        enum_column(BookingStatus, "booking_status"), default=BookingStatus.ACTIVE)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # When and why the booking stopped holding a place (cancelled, moved, or closed).
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    end_reason: Mapped[str | None] = mapped_column(Text)
    moved_from_id: Mapped[int | None] = mapped_column(ForeignKey("bookings.id"))

    referral: Mapped[Referral] = relationship(lazy="joined")
    session: Mapped[CourseSession] = relationship(lazy="joined")
    created_by: Mapped[User | None] = relationship()

    @property
    def is_active(self) -> bool:
        return self.status is BookingStatus.ACTIVE

    def __repr__(self) -> str:
        return f"<Booking {self.id} {self.status.value}>"


class WaitingListEntry(Model):
    """A referral waiting for a place on a full session. Order: joined_at, then id."""

    __tablename__ = "waiting_list_entries"
    __table_args__ = (
        UniqueConstraint("session_id", "referral_id", name="uq_waiting_list_session_referral"),
        Index("ix_waiting_list_session_order", "session_id", "joined_at", "id"),
        Index("ix_waiting_list_referral", "referral_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"))
    referral_id: Mapped[int] = mapped_column(ForeignKey("referrals.id", ondelete="CASCADE"))
    joined_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    referral: Mapped[Referral] = relationship(lazy="joined")
    session: Mapped[CourseSession] = relationship(lazy="joined")


class PaymentMethod(enum.StrEnum):
    CARD = "card"
    CASH = "cash"
    BANK_TRANSFER = "bank_transfer"
    CHEQUE = "cheque"
    # Paid by the man himself through GOV.UK Pay; the reference is the provider's payment id.
    ONLINE_CARD = "online_card"

    @property
    def label(self) -> str:
        if self is PaymentMethod.ONLINE_CARD:
            return "Card, online (GOV.UK Pay)"
        return self.value.replace("_", " ").capitalize()


# What a manager can record by hand: an online payment is recorded only by the payments feature.
MANUAL_PAYMENT_METHODS = (PaymentMethod.CARD, PaymentMethod.CASH, PaymentMethod.BANK_TRANSFER,
                          PaymentMethod.CHEQUE)
ONLINE_ONLY = text("method = 'online_card'")


class Payment(Model):
    """Money received towards a referral's course fee, in pence."""

    __tablename__ = "payments"
    __table_args__ = (
        CheckConstraint("amount_pence > 0", name="amount_positive"),
        CheckConstraint("refunded_pence >= 0 AND refunded_pence <= amount_pence",
                        name="refund_within_amount"),
        Index("ix_payments_referral", "referral_id", "id"),
        # One provider payment is applied once, whoever applies it (the return page, the job).
        Index("uq_payments_online_reference", "reference", unique=True,
              sqlite_where=ONLINE_ONLY, postgresql_where=ONLINE_ONLY),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    referral_id: Mapped[int] = mapped_column(ForeignKey("referrals.id", ondelete="CASCADE"))
    amount_pence: Mapped[int] = mapped_column(Integer)
    method: Mapped[PaymentMethod] = mapped_column(enum_column(PaymentMethod, "payment_method"))
    reference: Mapped[str | None] = mapped_column(String(100))
    recorded_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # Given back since (an online payment refunded through GOV.UK Pay): paid = amount − refunded.
    refunded_pence: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    recorded_by: Mapped[User | None] = relationship()


class FeeWaiver(Model):
    """A referral's fee waived by a manager, with the reason. At most one per referral."""

    __tablename__ = "fee_waivers"

    id: Mapped[int] = mapped_column(primary_key=True)
    referral_id: Mapped[int] = mapped_column(
        ForeignKey("referrals.id", ondelete="CASCADE"), unique=True)
    reason: Mapped[str] = mapped_column(Text)
    waived_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    waived_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    waived_by: Mapped[User | None] = relationship()
