"""The monthly reports: prepared on the first working day for the month before, archived, and
each active manager emailed a link to them (once); the archive listed and downloaded.

- `previous_month(day)`, `first_working_day(year, month)`
- `prepare_monthly_reports(today=, now=, link_for=)`
- `list_archived_reports()`; `download_archived_report(archive_id=, actor=, now=)`
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from diversion.audit.models import AuditCategory
from diversion.audit.services import record
from diversion.auth.models import Role, User
from diversion.core.errors import NotFound
from diversion.core.extensions import db
from diversion.outbox.models import Channel
from diversion.outbox.services import enqueue
from diversion.reports.kinds import ReportParameters
from diversion.reports.models import ArchivedReport
from diversion.reports.producing import REPORTS, filename_for, render_report_pdf


def previous_month(day: dt.date) -> tuple[dt.date, dt.date]:
    """The first and last day of the month before `day`'s month."""
    last = day.replace(day=1) - dt.timedelta(days=1)
    return last.replace(day=1), last


def first_working_day(year: int, month: int) -> dt.date:
    """The first weekday of a month that is not an England and Wales bank holiday."""
    import holidays

    bank_holidays = holidays.country_holidays("GB", subdiv="ENG", years=year)
    day = dt.date(year, month, 1)
    while day.weekday() >= 5 or day in bank_holidays:
        day += dt.timedelta(days=1)
    return day


MONTHLY_KINDS = ("outcomes", "attendance")


def prepare_monthly_reports(*, today: dt.date, now: dt.datetime,
                            link_for: Callable[[ArchivedReport], str]) -> dict[str, Any]:
    """On or after the month's first working day: store last month's PDFs (once) and enqueue
    an email with a link to them for every active manager (once each: dedupe keys)."""
    if today < first_working_day(today.year, today.month):
        return {"prepared": 0, "emails": 0, "reason": "not yet the first working day"}
    date_from, date_to = previous_month(today)
    period = f"{date_from:%Y-%m}"
    prepared = 0
    archived = []
    for kind in MONTHLY_KINDS:
        stored = db.session.scalar(select(ArchivedReport).where(
            ArchivedReport.kind == kind, ArchivedReport.period == period))
        if stored is None:
            parameters = ReportParameters(date_from=date_from, date_to=date_to, as_of=date_to)
            report = REPORTS[kind].build_for(parameters, "pdf")
            stored = ArchivedReport(
                kind=kind, period=period, date_from=date_from, date_to=date_to,
                filename=filename_for(kind, parameters, "pdf"),
                content=render_report_pdf(report, generated_at=now), created_at=now)
            db.session.add(stored)
            db.session.flush()
            record(action="report.archived", category=AuditCategory.COLLECTION, now=now,
                   object_type="report", object_id=kind, details={"period": period})
            prepared += 1
        archived.append(stored)
    managers = db.session.scalars(
        select(User).where(User.role == Role.MANAGER, User.is_active_account.is_(True))
        .order_by(User.id))
    emails = 0
    for manager in managers:
        message = enqueue(
            dedupe_key=f"monthly-report:{period}:user:{manager.id}", channel=Channel.EMAIL,
            recipient=manager.email, template="monthly_report", due_at=now, now=now,
            context={"name": manager.name, "month": f"{date_from:%B %Y}",
                     "links": [{"title": REPORTS[a.kind].title, "url": link_for(a)}
                               for a in archived]},
            subject_type="reports_month", subject_id=period)
        emails += message is not None
    return {"period": period, "prepared": prepared, "emails": emails}


def list_archived_reports() -> list[ArchivedReport]:
    return list(db.session.scalars(
        select(ArchivedReport).order_by(ArchivedReport.period.desc(), ArchivedReport.kind)))


def download_archived_report(*, archive_id: int, actor: User, now: dt.datetime) -> ArchivedReport:
    """A stored monthly PDF, for a manager; the download is audited as a DISCLOSURE."""
    archived = db.session.get(ArchivedReport, archive_id)
    if archived is None:
        raise NotFound("There is no such report")
    record(action="report.downloaded", category=AuditCategory.DISCLOSURE, now=now, actor=actor,
           object_type="report", object_id=archived.kind,
           details={"format": "pdf", "period": archived.period, "archive_id": archived.id})
    return archived
