"""Prepared report files: the monthly PDFs managers are emailed a link to.

Stored in the database rather than under instance/: web workers run on several machines and
share only the database, so a file written by the scheduler's machine would not be there for
the worker that serves the download. The PDFs are small (tens of kilobytes).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Date, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from diversion.core.db import UTCDateTime
from diversion.core.extensions import Model


class ArchivedReport(Model):
    __tablename__ = "reports_archive"
    __table_args__ = (UniqueConstraint("kind", "period", name="uq_reports_archive_kind_period"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))  # outcomes, attendance
    period: Mapped[str] = mapped_column(String(7))  # the month covered, "2026-05"
    date_from: Mapped[dt.date] = mapped_column(Date)
    date_to: Mapped[dt.date] = mapped_column(Date)
    filename: Mapped[str] = mapped_column(String(120))
    content: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())

    def __repr__(self) -> str:
        return f"<ArchivedReport {self.kind} {self.period}>"
