"""People, referrals and each referral's history.

A referral's status is read through `Referral.status` and changed only by
`diversion.referrals.lifecycle.transition`, which writes the history and audit rows with it.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    String,
    Text,
    Time,
    UniqueConstraint,
)
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column, relationship

from diversion.auth.models import Force, User
from diversion.core.db import UTCDateTime, enum_column
from diversion.core.extensions import Model
from diversion.programmes.models import Programme


class ContactChannel(enum.StrEnum):
    EMAIL = "email"
    SMS = "sms"
    POST = "post"


class ReferralStatus(enum.StrEnum):
    AWAITING_BOOKING = "awaiting_booking"
    BOOKED = "booked"
    MISSED = "missed"
    COMPLETED = "completed"
    NOT_COMPLETED = "not_completed"
    WITHDRAWN = "withdrawn"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ").capitalize()

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES = frozenset(
    {ReferralStatus.COMPLETED, ReferralStatus.NOT_COMPLETED, ReferralStatus.WITHDRAWN})
OPEN_STATUSES = frozenset(set(ReferralStatus) - TERMINAL_STATUSES)


class ReferralEventType(enum.StrEnum):
    CREATED = "created"
    BOOKED = "booked"
    BOOKING_CANCELLED = "booking_cancelled"
    ATTENDED_COMPLETED = "attended_completed"
    COMPLETED_AFTER_FEE = "completed_after_fee"
    MISSED = "missed"
    EXCUSE_ACCEPTED = "excuse_accepted"
    GRACE_EXPIRED = "grace_expired"
    DEADLINE_PASSED = "deadline_passed"
    WITHDRAWN = "withdrawn"
    IMPORTED_COMPLETED = "imported_completed"
    IMPORTED_NOT_COMPLETED = "imported_not_completed"
    IMPORTED_WITHDRAWN = "imported_withdrawn"


class Person(Model):
    """Someone referred. Kept apart from referrals: one person may be referred more than once."""

    __tablename__ = "people"
    __table_args__ = (
        Index("ix_people_match_keys", "family_name_key", "date_of_birth", "given_name_key"),
        Index("ix_people_date_of_birth", "date_of_birth"),
        # The referrals list: sort by name, and search by a given name's prefix.
        Index("ix_people_name_sort", "family_name_key", "given_name_key", "id"),
        Index("ix_people_given_name", "given_name_key"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    family_name: Mapped[str] = mapped_column(String(100))
    given_names: Mapped[str] = mapped_column(String(200))
    # Lower case letters only, accents removed: what matching compares.
    family_name_key: Mapped[str] = mapped_column(String(100))
    given_name_key: Mapped[str] = mapped_column(String(100))  # the first given name
    date_of_birth: Mapped[dt.date] = mapped_column(Date)
    pnc_id: Mapped[str | None] = mapped_column(String(13), unique=True)
    gender: Mapped[str | None] = mapped_column(String(40))
    email: Mapped[str | None] = mapped_column(String(254))
    mobile: Mapped[str | None] = mapped_column(String(20))  # E.164
    address_line_1: Mapped[str | None] = mapped_column(String(200))
    address_line_2: Mapped[str | None] = mapped_column(String(200))
    town: Mapped[str | None] = mapped_column(String(100))
    postcode: Mapped[str | None] = mapped_column(String(10))
    preferred_contact: Mapped[ContactChannel] = mapped_column(
        enum_column(ContactChannel, "contact_channel"), default=ContactChannel.POST)
    access_needs: Mapped[str | None] = mapped_column(Text)
    needs_step_free: Mapped[bool] = mapped_column(Boolean, default=False)
    language_needs: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    # Set by the retention sweep when the identifying fields were erased (docs/data-protection.md).
    erased_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    @property
    def full_name(self) -> str:
        return f"{self.given_names} {self.family_name}"

    def __repr__(self) -> str:
        return f"<Person {self.id}>"


class Referral(Model):
    __tablename__ = "referrals"
    __table_args__ = (
        UniqueConstraint("force_id", "crime_reference", name="uq_referrals_force_crime_reference"),
        # The list page: keyset pagination over (referral_date, id), by force and/or status.
        Index("ix_referrals_force_status_date", "force_id", "status", "referral_date", "id"),
        Index("ix_referrals_force_date", "force_id", "referral_date", "id"),
        Index("ix_referrals_status_date", "status", "referral_date", "id"),
        Index("ix_referrals_date", "referral_date", "id"),
        # Deadline sweeps and "deadline soon" filters.
        Index("ix_referrals_status_completion_deadline", "status", "completion_deadline"),
        Index("ix_referrals_status_booking_deadline", "status", "booking_deadline"),
        Index("ix_referrals_person", "person_id", "status"),
        # The dashboard: outcomes returned lately (closed_on in a window), by status.
        Index("ix_referrals_status_closed_on", "status", "closed_on"),
        Index("ix_referrals_crime_reference", "crime_reference"),
        # The referrals list: sort by booking deadline; "my referrals", newest first.
        Index("ix_referrals_booking_deadline", "booking_deadline", "id"),
        Index("ix_referrals_officer_date", "officer_user_id", "referral_date", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(8), unique=True)
    pin_hash: Mapped[str] = mapped_column(String(255))
    pin_issued_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    force_id: Mapped[int] = mapped_column(ForeignKey("forces.id"))
    programme_id: Mapped[int] = mapped_column(ForeignKey("programmes.id"), index=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id"))
    crime_reference: Mapped[str] = mapped_column(String(40))
    referral_date: Mapped[dt.date] = mapped_column(Date)
    offence_code: Mapped[str] = mapped_column(String(32))
    offence_date: Mapped[dt.date] = mapped_column(Date)
    offence_time: Mapped[dt.time | None] = mapped_column(Time)
    offence_location: Mapped[str | None] = mapped_column(String(200))
    disposal: Mapped[str | None] = mapped_column(String(100))
    admitted: Mapped[bool] = mapped_column(Boolean)
    consented: Mapped[bool] = mapped_column(Boolean)
    # None on historical records, where the question was not asked.
    no_relevant_convictions: Mapped[bool | None] = mapped_column(Boolean)
    officer_email: Mapped[str] = mapped_column(String(254))
    officer_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    booking_deadline: Mapped[dt.date] = mapped_column(Date)
    completion_deadline: Mapped[dt.date] = mapped_column(Date)
    is_completion_deadline_given: Mapped[bool] = mapped_column(Boolean, default=False)
    _status: Mapped[ReferralStatus] = mapped_column(
        "status", enum_column(ReferralStatus, "referral_status"))  # led by ix_referrals_status_date
    closed_on: Mapped[dt.date | None] = mapped_column(Date)  # when it reached a terminal state
    is_historical: Mapped[bool] = mapped_column(Boolean, default=False)
    eligibility: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    created_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    force: Mapped[Force] = relationship(lazy="joined")
    programme: Mapped[Programme] = relationship(lazy="joined")
    person: Mapped[Person] = relationship(lazy="joined")
    officer: Mapped[User | None] = relationship(foreign_keys=[officer_user_id])
    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_user_id])
    events: Mapped[list[ReferralEvent]] = relationship(
        back_populates="referral", order_by="ReferralEvent.id", cascade="all, delete-orphan")

    @hybrid_property
    def status(self) -> ReferralStatus:
        """Read-only: `lifecycle.transition` is the only writer."""
        return self._status

    @property
    def is_open(self) -> bool:
        return self._status in OPEN_STATUSES

    @property
    def book_by(self) -> dt.date:
        """The date he is asked to book by: the booking deadline, or the completion deadline
        when that comes first (a caution's conditions may give an early date)."""
        return min(self.booking_deadline, self.completion_deadline)

    def __repr__(self) -> str:
        return f"<Referral {self.reference} {self._status}>"


class ReferralEvent(Model):
    """One row of a referral's history: a move from one status to another."""

    __tablename__ = "referral_events"
    __table_args__ = (Index("ix_referral_events_referral", "referral_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    referral_id: Mapped[int] = mapped_column(ForeignKey("referrals.id", ondelete="CASCADE"))
    event: Mapped[ReferralEventType] = mapped_column(
        enum_column(ReferralEventType, "referral_event_type"))
    from_status: Mapped[ReferralStatus | None] = mapped_column(
        enum_column(ReferralStatus, "referral_event_from_status"))
    to_status: Mapped[ReferralStatus] = mapped_column(
        enum_column(ReferralStatus, "referral_event_to_status"))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor_label: Mapped[str] = mapped_column(String(120))  # "user:12" or "system"
    reason: Mapped[str | None] = mapped_column(Text)

    referral: Mapped[Referral] = relationship(back_populates="events")


class ReferralDraft(Model):
    """An officer's unfinished referral, and the one-time PIN slot for the offer letter.

    Kept server-side because Flask's session cookie is signed, not encrypted: the cookie holds
    only a random token, and this table only the token's SHA-256 digest. The PIN is kept for
    30 minutes at most (`pin_expires_at`), and cleared once the letter carrying it is printed.
    """

    __tablename__ = "referral_drafts"
    __table_args__ = (
        CheckConstraint("(pin IS NULL) = (pin_reference IS NULL)", name="pin_with_reference"),
        CheckConstraint("(pin IS NULL) = (pin_expires_at IS NULL)", name="pin_with_expiry"),
        Index("ix_referral_drafts_expires_at", "expires_at"),
        Index("ix_referral_drafts_pin_expires_at", "pin_expires_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # {"form": {...}, "person_id": int | None, "new_person": bool}; None when no form is open.
    data: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    pin_reference: Mapped[str | None] = mapped_column(String(8))
    pin: Mapped[str | None] = mapped_column(String(12))
    is_pin_shown: Mapped[bool] = mapped_column(Boolean, default=False)
    pin_expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())

    def __repr__(self) -> str:
        return f"<ReferralDraft {self.id} user={self.user_id}>"
