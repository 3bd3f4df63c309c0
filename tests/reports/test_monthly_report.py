"""The monthly report job: first working day (bank holidays skipped), last month's outcome and
attendance PDFs stored once, one email with links (never the files) per active manager, and a
manager-only download."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from diversion.core.extensions import db
from diversion.core.jobs import run_job
from diversion.outbox.models import OutboxMessage
from diversion.reports.models import ArchivedReport
from diversion.reports.monthly import first_working_day
from tests.builders import create_user, referral_with_outcome

# Monday 1 June 2026, 9am London: the first working day of June.
JUNE_FIRST_WORKING_DAY = dt.datetime(2026, 6, 1, 8, 0, tzinfo=dt.UTC)


def test_the_first_working_day_skips_weekends_and_bank_holidays():
    assert first_working_day(2027, 1) == dt.date(2027, 1, 4)  # Fri 1 Jan is New Year's Day
    assert first_working_day(2026, 8) == dt.date(2026, 8, 3)  # Sat 1 August
    assert first_working_day(2026, 6) == dt.date(2026, 6, 1)


def test_nothing_is_prepared_before_the_first_working_day(app):
    create_user("manager")
    db.session.commit()
    result = run_job("monthly_report", now=dt.datetime(2027, 1, 1, 10, 0, tzinfo=dt.UTC))
    assert result["prepared"] == 0
    assert db.session.scalar(select(func.count()).select_from(ArchivedReport)) == 0


def test_the_job_stores_last_months_pdf_and_emails_each_manager_a_link_once(app, client, auth):
    email = create_user("manager").email
    create_user("police")
    referral_with_outcome(family_name="May", referral_date=dt.date(2026, 5, 10), outcome="completed")
    db.session.commit()
    first = run_job("monthly_report", now=JUNE_FIRST_WORKING_DAY)
    second = run_job("monthly_report", now=JUNE_FIRST_WORKING_DAY + dt.timedelta(hours=1))
    assert (first["prepared"], first["emails"]) == (2, 1)
    assert (second["prepared"], second["emails"]) == (0, 0)
    stored = db.session.scalars(select(ArchivedReport).order_by(ArchivedReport.kind)).all()
    assert [(a.kind, a.period) for a in stored] == [("attendance", "2026-05"),
                                                   ("outcomes", "2026-05")]
    attendance, archived = stored
    assert archived.content.startswith(b"%PDF") and attendance.content.startswith(b"%PDF")
    message = db.session.scalars(select(OutboxMessage)).one()
    assert message.recipient == email
    links = {link["title"]: link["url"] for link in message.context["links"]}
    assert links["Referral outcomes"].endswith(f"/reports/monthly/{archived.id}")
    assert links["Attendance"].endswith(f"/reports/monthly/{attendance.id}")
    assert "attachments" not in message.context and "ics" not in message.context

    anonymous = client.get(f"/reports/monthly/{archived.id}")
    assert anonymous.status_code == 302  # to the sign-in page
    auth.login(email)
    download = client.get(f"/reports/monthly/{archived.id}")
    assert download.status_code == 200
    assert download.data.startswith(b"%PDF")
