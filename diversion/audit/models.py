"""Audit events: who saw or changed what, and when."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from diversion.core.db import UTCDateTime, enum_column
from diversion.core.extensions import Model


class AuditCategory(enum.StrEnum):
    SECURITY = "security"  # sign-in, sign-out, failures, tokens
    CONSULTATION = "consultation"  # personal data was viewed
    COLLECTION = "collection"  # personal data was recorded
    ALTERATION = "alteration"  # personal data or settings were changed
    DISCLOSURE = "disclosure"  # personal data left the system (exports, notices)
    ERASURE = "erasure"  # personal data was deleted


class AuditEvent(Model):
    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_object", "object_type", "object_id"),
        Index("ix_audit_events_at", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    # "user", "system", "api", "person" (the referred person on the self-service page)
    actor_label: Mapped[str] = mapped_column(String(120))
    action: Mapped[str] = mapped_column(String(64))
    category: Mapped[AuditCategory] = mapped_column(enum_column(AuditCategory, "audit_category"))
    object_type: Mapped[str | None] = mapped_column(String(40))
    object_id: Mapped[str | None] = mapped_column(String(64))
    address: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
