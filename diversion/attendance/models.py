"""A session's register: one line per booked person, and the history of every change to it.

Facts (status, arrival, ID checked) are kept apart from the facilitator's opinion
(`participation_note`). `outcome` records what a submitted line did to the referral, so a
resubmission after an amendment changes only what changed.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import JSON, Boolean, CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from diversion.attendance.rules import AttendanceStatus, Outcome
from diversion.auth.models import User
from diversion.core.db import UTCDateTime, enum_column
from diversion.core.extensions import Model
from diversion.courses.models import CourseSession
from diversion.referrals.models import Referral


class RegisterState(enum.StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"

    @property
    def label(self) -> str:
        return {"draft": "Draft, not submitted", "submitted": "Submitted"}[self.value]


class RegisterAction(enum.StrEnum):
    SAVED = "saved"
    SUBMITTED = "submitted"
    REOPENED = "reopened"
    AMENDED = "amended"

    @property
    def label(self) -> str:
        return self.value.capitalize()


class Register(Model):
    __tablename__ = "registers"
    __table_args__ = (
        CheckConstraint("(state = 'submitted') = (submitted_at IS NOT NULL)",
                        name="submitted_has_time"),
        # Overdue registers: the draft ones, not the history of submitted ones.
        Index("ix_registers_state_session", "state", "session_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("sessions.id", ondelete="CASCADE"),
                                            unique=True)
    state: Mapped[RegisterState] = mapped_column(enum_column(RegisterState, "register_state"),
                                                 default=RegisterState.DRAFT)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    submitted_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    submitted_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    session: Mapped[CourseSession] = relationship()
    submitted_by: Mapped[User | None] = relationship()
    entries: Mapped[list[RegisterEntry]] = relationship(
        back_populates="register", order_by="RegisterEntry.id", cascade="all, delete-orphan")

    @property
    def is_submitted(self) -> bool:
        return self.state is RegisterState.SUBMITTED


class RegisterEntry(Model):
    """One booked person's line of a register."""

    __tablename__ = "register_entries"
    __table_args__ = (
        UniqueConstraint("register_id", "referral_id", name="uq_register_entries_register_referral"),
        CheckConstraint("status IS NULL OR status <> 'excused' OR reason IS NOT NULL OR outcome IS NULL",
                        name="excused_has_reason"),
        Index("ix_register_entries_referral", "referral_id", "id"),
        Index("ix_register_entries_outcome", "outcome"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    register_id: Mapped[int] = mapped_column(ForeignKey("registers.id", ondelete="CASCADE"))
    referral_id: Mapped[int] = mapped_column(ForeignKey("referrals.id", ondelete="CASCADE"))
    booking_id: Mapped[int | None] = mapped_column(ForeignKey("bookings.id", ondelete="SET NULL"))
    status: Mapped[AttendanceStatus | None] = mapped_column(
        enum_column(AttendanceStatus, "attendance_status"))
    arrived_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    id_checked: Mapped[bool] = mapped_column(Boolean, default=False)
    reason: Mapped[str | None] = mapped_column(Text)
    # The facilitator's opinion of how the person took part: never a fact, never an outcome.
    participation_note: Mapped[str | None] = mapped_column(Text)
    outcome: Mapped[Outcome | None] = mapped_column(enum_column(Outcome, "register_outcome"))
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    register: Mapped[Register] = relationship(back_populates="entries")
    referral: Mapped[Referral] = relationship(lazy="joined")

    @property
    def is_fee_outstanding(self) -> bool:
        return self.outcome is Outcome.FEE_OUTSTANDING


class RegisterChange(Model):
    """One row of a register's history: a save, submission, reopening or amendment."""

    __tablename__ = "register_changes"
    __table_args__ = (
        Index("ix_register_changes_register", "register_id", "id"),
        Index("ix_register_changes_entry", "entry_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    register_id: Mapped[int] = mapped_column(ForeignKey("registers.id", ondelete="CASCADE"))
    entry_id: Mapped[int | None] = mapped_column(
        ForeignKey("register_entries.id", ondelete="CASCADE"))
    action: Mapped[RegisterAction] = mapped_column(enum_column(RegisterAction, "register_action"))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor_label: Mapped[str] = mapped_column(String(120))
    reason: Mapped[str | None] = mapped_column(Text)
    # {field: [before, after]} for an entry; facts only, never the participation note's text.
    changes: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    actor: Mapped[User | None] = relationship()


class CertificateCode(Model):
    """The verification code printed on a referral's completion certificate: unguessable,
    unique, made once (when the referral completes, or at the first certificate made) and never
    changed, so every copy of the certificate carries the same code."""

    __tablename__ = "certificate_codes"

    referral_id: Mapped[int] = mapped_column(
        ForeignKey("referrals.id", ondelete="CASCADE"), primary_key=True)
    code: Mapped[str] = mapped_column(String(12), unique=True)
    issued_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())

    referral: Mapped[Referral] = relationship()
