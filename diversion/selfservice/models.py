"""Self-service access for the referred person: lock state and person sessions.

The person has no account. He signs in with his referral's reference, PIN and date of birth;
these tables hold what is needed to lock a
reference after repeated wrong details, and to keep a short-lived session bound to one referral.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from diversion.core.db import UTCDateTime
from diversion.core.extensions import Model
from diversion.referrals.models import Referral


class SelfServiceLock(Model):
    """Wrong details in a row for one referral, and whether its self-service page is locked."""

    __tablename__ = "self_service_locks"
    __table_args__ = (
        CheckConstraint("failed_attempts >= 0", name="failed_attempts_not_negative"),
        Index("ix_self_service_locks_locked_at", "locked_at"),
    )

    referral_id: Mapped[int] = mapped_column(
        ForeignKey("referrals.id", ondelete="CASCADE"), primary_key=True)
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    locked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())

    referral: Mapped[Referral] = relationship(lazy="joined")

    @property
    def is_locked(self) -> bool:
        return self.locked_at is not None


class PersonSession(Model):
    """A signed-in person, bound to one referral. Only a digest of the cookie's token is kept."""

    __tablename__ = "person_sessions"
    __table_args__ = (Index("ix_person_sessions_referral_id", "referral_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    referral_id: Mapped[int] = mapped_column(ForeignKey("referrals.id", ondelete="CASCADE"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())

    referral: Mapped[Referral] = relationship(lazy="joined")
