"""A programme: a course type with its eligibility, deadlines, fee and limits."""

from __future__ import annotations

from sqlalchemy import JSON, CheckConstraint, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from diversion.core.extensions import Model

DEFAULT_OFFENCE_CODES = ["SOA2003-S51A", "SOA1985-S1", "SOA1985-S2"]


class Programme(Model):
    __tablename__ = "programmes"
    __table_args__ = (
        CheckConstraint("booking_deadline_days >= 1", name="booking_deadline_days_positive"),
        CheckConstraint("completion_deadline_months >= 1", name="completion_months_positive"),
        CheckConstraint("fee_pence >= 0", name="fee_not_negative"),
        CheckConstraint("transfer_limit >= 0", name="transfer_limit_not_negative"),
        CheckConstraint("late_cutoff_minutes >= 0", name="late_cutoff_not_negative"),
        CheckConstraint("grace_days >= 0", name="grace_days_not_negative"),
        CheckConstraint("duration_minutes >= 1", name="duration_positive"),
        CheckConstraint("default_capacity >= 1", name="default_capacity_positive"),
        CheckConstraint("retention_months >= 1", name="retention_months_positive"),
        CheckConstraint("referral_warning_days >= 0", name="warning_days_not_negative"),
        CheckConstraint("repeat_window_months >= 0", name="repeat_window_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    eligible_offence_codes: Mapped[list[str]] = mapped_column(
        JSON, default=lambda: list(DEFAULT_OFFENCE_CODES))
    booking_deadline_days: Mapped[int] = mapped_column(Integer, default=28)
    completion_deadline_months: Mapped[int] = mapped_column(Integer, default=4)
    fee_pence: Mapped[int] = mapped_column(Integer, default=20000)
    transfer_limit: Mapped[int] = mapped_column(Integer, default=2)
    late_cutoff_minutes: Mapped[int] = mapped_column(Integer, default=15)
    grace_days: Mapped[int] = mapped_column(Integer, default=3)
    duration_minutes: Mapped[int] = mapped_column(Integer, default=420)
    default_capacity: Mapped[int] = mapped_column(Integer, default=20)
    retention_months: Mapped[int] = mapped_column(Integer, default=72)
    # A referral made more than this many days after the offence is flagged (a warning only).
    referral_warning_days: Mapped[int] = mapped_column(Integer, default=28)
    # One diversion per person per programme in this many months before the offence.
    repeat_window_months: Mapped[int] = mapped_column(Integer, default=36)

    def __repr__(self) -> str:
        return f"<Programme {self.code}>"
