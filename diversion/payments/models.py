"""Online payment attempts: one row per GOV.UK Pay payment the man started.

The row is written only once the provider has created the payment, so a provider that is down
leaves nothing behind. Its status follows what the provider's API says (never the browser); a
success is applied once as a `bookings.Payment` (`applied_payment_id`), and any part the fee no
longer needed (a manager recorded cash meanwhile) is kept in `excess_pence` and flagged.
"""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from diversion.auth.models import User
from diversion.bookings.models import Payment
from diversion.core.db import UTCDateTime, enum_column
from diversion.core.extensions import Model
from diversion.referrals.models import Referral


class OnlinePaymentStatus(enum.StrEnum):
    # GOV.UK Pay's payment states (state.status) ...
    CREATED = "created"
    STARTED = "started"
    SUBMITTED = "submitted"
    CAPTURABLE = "capturable"
    SUCCESS = "success"
    FAILED = "failed"
    CANCELLED = "cancelled"
    ERROR = "error"
    # ... and ours: unfinished after the provider's 90-minute payment session.
    ABANDONED = "abandoned"

    @property
    def is_finished(self) -> bool:
        return self in FINISHED

    @property
    def took_nothing(self) -> bool:
        return self in (OnlinePaymentStatus.FAILED, OnlinePaymentStatus.CANCELLED,
                        OnlinePaymentStatus.ERROR, OnlinePaymentStatus.ABANDONED)


FINISHED = frozenset({OnlinePaymentStatus.SUCCESS, OnlinePaymentStatus.FAILED,
                      OnlinePaymentStatus.CANCELLED, OnlinePaymentStatus.ERROR,
                      OnlinePaymentStatus.ABANDONED})


class OnlinePayment(Model):
    """One attempt by the man to pay his fee online."""

    __tablename__ = "online_payments"
    __table_args__ = (
        CheckConstraint("amount_pence > 0", name="amount_positive"),
        CheckConstraint("excess_pence >= 0 AND excess_pence <= amount_pence",
                        name="excess_within_amount"),
        Index("ix_online_payments_status_created", "status", "created_at"),
        Index("ix_online_payments_referral", "referral_id", "id"),
        Index("ix_online_payments_flagged_at", "flagged_at"),  # the managers' dashboard count
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # The random name of the attempt in its return address (/book/payments/<token>/return).
    token: Mapped[str] = mapped_column(String(64), unique=True)
    referral_id: Mapped[int] = mapped_column(ForeignKey("referrals.id", ondelete="CASCADE"))
    provider_payment_id: Mapped[str] = mapped_column(String(64), unique=True)
    amount_pence: Mapped[int] = mapped_column(Integer)
    status: Mapped[OnlinePaymentStatus] = mapped_column(
        enum_column(OnlinePaymentStatus, "online_payment_status"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    applied_payment_id: Mapped[int | None] = mapped_column(
        ForeignKey("payments.id", ondelete="SET NULL"), unique=True)
    # Paid but no longer owed when it arrived: a manager must refund or settle it.
    excess_pence: Mapped[int] = mapped_column(Integer, default=0)
    flagged_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    flag_reason: Mapped[str | None] = mapped_column(Text)

    referral: Mapped[Referral] = relationship()
    applied_payment: Mapped[Payment | None] = relationship()

    def __repr__(self) -> str:
        return f"<OnlinePayment {self.id} {self.status.value}>"


class OnlineRefundStatus(enum.StrEnum):
    # GOV.UK Pay's refund states.
    SUBMITTED = "submitted"
    SUCCESS = "success"
    ERROR = "error"


class OnlineRefund(Model):
    """Money given back through GOV.UK Pay on an online payment, by a manager or because he
    asked (his session cancelled by the provider), with the reason and the provider's refund id."""

    __tablename__ = "online_refunds"
    __table_args__ = (
        CheckConstraint("amount_pence > 0", name="amount_positive"),
        Index("ix_online_refunds_online_payment", "online_payment_id", "id"),
        Index("ix_online_refunds_status", "status", "id"),
        CheckConstraint("fee_pence IS NULL OR (fee_pence >= 0 AND fee_pence <= amount_pence)",
                        name="fee_within_amount"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    online_payment_id: Mapped[int] = mapped_column(
        ForeignKey("online_payments.id", ondelete="CASCADE"))
    provider_refund_id: Mapped[str] = mapped_column(String(64), unique=True)
    amount_pence: Mapped[int] = mapped_column(Integer)
    status: Mapped[OnlineRefundStatus] = mapped_column(
        enum_column(OnlineRefundStatus, "online_refund_status"))
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    # None when he asked for it himself (his session was cancelled by the provider).
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # What this refund took off the fee (`fees.record_refund`) and has not been put back; the
    # rest of `amount_pence` came out of the payment's excess. None on refunds made before the
    # split was kept (migration 0019): an error on one of those is flagged, not restored.
    fee_pence: Mapped[int | None] = mapped_column(Integer)
    # When the provider was last asked about a refund still `submitted` (the reconciliation job).
    checked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    online_payment: Mapped[OnlinePayment] = relationship()
    created_by: Mapped[User | None] = relationship()
