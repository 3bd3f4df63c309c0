"""Venues, course sessions, the facilitators who run them, and facilitators' calendar feeds."""

from __future__ import annotations

import datetime as dt
import enum
from typing import TYPE_CHECKING

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from diversion.auth.models import User
from diversion.core.db import UTCDateTime, enum_column
from diversion.core.extensions import Model

if TYPE_CHECKING:
    from diversion.programmes.models import Programme


class SessionStatus(enum.StrEnum):
    SCHEDULED = "scheduled"
    CANCELLED = "cancelled"
    HELD = "held"

    @property
    def label(self) -> str:
        return self.value.capitalize()


class Venue(Model):
    __tablename__ = "venues"
    __table_args__ = (
        CheckConstraint("capacity > 0", name="capacity_positive"),
        CheckConstraint("NOT is_online OR joining_link IS NOT NULL", name="online_has_link"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    address_line_1: Mapped[str | None] = mapped_column(String(200))
    address_line_2: Mapped[str | None] = mapped_column(String(200))
    town: Mapped[str | None] = mapped_column(String(100))
    postcode: Mapped[str | None] = mapped_column(String(10))
    capacity: Mapped[int] = mapped_column(Integer)
    step_free_access: Mapped[bool] = mapped_column(Boolean, default=False)
    notes: Mapped[str | None] = mapped_column(Text)
    is_online: Mapped[bool] = mapped_column(Boolean, default=False)
    # Sent to booked people shortly before the session; never shown in lists.
    joining_link: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())

    @property
    def place(self) -> str:
        """Where the venue is, in a few words, for lists and the calendar."""
        return "Online" if self.is_online else (self.town or self.postcode or "")

    def __repr__(self) -> str:
        return f"<Venue {self.id}>"


session_facilitators = Table(
    "session_facilitators",
    Model.metadata,
    Column("session_id", ForeignKey("sessions.id", ondelete="CASCADE"), primary_key=True),
    Column("user_id", ForeignKey("users.id"), primary_key=True, index=True),
)


class CourseSession(Model):
    """One sitting of a programme's course at a venue. Times are UTC instants."""

    __tablename__ = "sessions"
    __table_args__ = (
        CheckConstraint("capacity > 0", name="capacity_positive"),
        CheckConstraint("ends_at > starts_at", name="ends_after_start"),
        # The capacity rule, held by the database: bookings take a place with a guarded UPDATE.
        CheckConstraint("booked_count >= 0 AND booked_count <= capacity",
                        name="booked_within_capacity"),
        CheckConstraint(
            "(status = 'cancelled') = (cancelled_at IS NOT NULL)", name="cancelled_has_time"
        ),
        Index("ix_sessions_starts_at", "starts_at"),
        Index("ix_sessions_venue_id_starts_at", "venue_id", "starts_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("programmes.id"), index=True)
    venue_id: Mapped[int] = mapped_column(ForeignKey("venues.id"))
    starts_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    capacity: Mapped[int] = mapped_column(Integer)
    # Active bookings, kept by diversion.bookings with guarded UPDATEs (never set directly).
    booked_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    status: Mapped[SessionStatus] = mapped_column(
        enum_column(SessionStatus, "session_status"), default=SessionStatus.SCHEDULED
    )
    # Sessions created together share a series key, so a manager can see them as one plan.
    series_key: Mapped[str | None] = mapped_column(String(32), index=True)
    cancelled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    cancel_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    programme: Mapped[Programme] = relationship()
    venue: Mapped[Venue] = relationship()
    facilitators: Mapped[list[User]] = relationship(
        secondary=session_facilitators, order_by=User.name
    )

    def __repr__(self) -> str:
        return f"<CourseSession {self.id} {self.status.value}>"


class CalendarFeed(Model):
    """A facilitator's private calendar address. Only a digest of its secret is kept."""

    __tablename__ = "calendar_feeds"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship(lazy="joined")
