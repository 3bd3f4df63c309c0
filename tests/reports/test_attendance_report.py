"""The attendance report from real registers: counts and rates by session, month, programme,
venue and facilitator (DESIGN.md "Reports"), as page, CSV, PDF, JSON, CLI and API, audited,
in a constant number of queries."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from diversion.attendance import register as attendance_register
from diversion.attendance.rules import AttendanceStatus
from diversion.audit.models import AuditCategory, AuditEvent
from diversion.core.extensions import db
from diversion.courses import planning as courses_planning
from diversion.reports import attendance_report as reports_attendance_report
from diversion.reports import kinds as reports_kinds
from diversion.reports import producing as reports_producing
from tests.builders import (
    NOW,
    clear_fee,
    create_booking,
    create_referral,
    create_session,
    create_token,
    create_user,
    create_venue,
    session_with_people,
)
from tests.reports.test_report_services import count_queries

A = AttendanceStatus
D = dt.date
JUNE = ("date_from-day=1&date_from-month=6&date_from-year=2026"
        "&date_to-day=30&date_to-month=6&date_to-year=2026")


def june_17(hour_utc: int = 8) -> dt.datetime:
    return dt.datetime(2026, 6, 17, hour_utc, 30, tzinfo=dt.UTC)


def take_register(session, marks) -> None:  # type: ignore[no-untyped-def]
    attendance_register.save_register(
        session=session, submit=True, actor=session.facilitators[0],
        now=session.starts_at + dt.timedelta(hours=3),
        marks=[attendance_register.MarkInput(
            reference=referral.reference, status=status, id_checked=status is A.ATTENDED,
            reason="Doctor's letter" if status is A.EXCUSED else None)
            for referral, status in marks])


def seed_sessions() -> None:
    """June 2026: two sessions with submitted registers, one not yet submitted, one cancelled;
    and one in July, outside the range."""
    ann = create_user("facilitator", name="Ann Able")
    bea = create_user("facilitator", name="Bea Brown")
    first, people = session_with_people(4, facilitator=ann, starts_at=june_17())
    first.facilitators.append(bea)
    clear_fee(people[0])
    take_register(first, zip(people, [A.ATTENDED, A.ATTENDED, A.ABSENT, A.LATE_REFUSED],
                             strict=True))
    second, people = session_with_people(3, facilitator=bea,
                                         starts_at=june_17() + dt.timedelta(days=7))
    second.capacity = 10
    take_register(second, zip(people, [A.LEFT_EARLY, A.REMOVED, A.EXCUSED], strict=True))
    session_with_people(2, starts_at=june_17() + dt.timedelta(days=3))  # register not taken
    cancelled = create_session(starts_at=june_17() + dt.timedelta(days=5))
    courses_planning.cancel_session(session=cancelled, reason="Venue flooded", actor=None,
                                    now=NOW)
    july, people = session_with_people(2, starts_at=june_17() + dt.timedelta(days=18))
    take_register(july, zip(people, [A.ATTENDED, A.ABSENT], strict=True))
    db.session.commit()


def june() -> reports_kinds.ReportParameters:
    return reports_producing.validate_parameters(kind="attendance", date_from=D(2026, 6, 1),
                                                 date_to=D(2026, 6, 30), as_of=None, scope=None,
                                                 today=D(2026, 8, 1))


def test_the_attendance_report_counts_each_register_mark_and_the_two_rates(app):
    seed_sessions()
    data = reports_attendance_report.build_attendance(june()).data
    assert data["total"] == {
        "sessions": 2, "places": 22, "booked": 7, "attended": 2, "late_refused": 1,
        "left_early": 1, "removed": 1, "absent": 1, "excused": 1,
        "fill_rate": 7 / 22, "attendance_rate": 2 / 7,
    }
    assert data["excluded"] == {"cancelled": 1, "register_not_submitted": 1}
    assert list(data["by_month"]) == ["2026-06"]
    # Ann ran the first session; Bea both, so she is counted for both.
    ann, bea = data["by_facilitator"]["Ann Able"], data["by_facilitator"]["Bea Brown"]
    assert (ann["sessions"], ann["booked"], ann["attended"]) == (1, 4, 2)
    assert (bea["sessions"], bea["places"], bea["booked"]) == (2, 22, 7)
    assert len(data["by_venue"]) == 2 and len(data["by_programme"]) == 1
    first, second = data["sessions"]
    assert first["date"] == "2026-06-17" and first["facilitators"] == ["Ann Able", "Bea Brown"]
    assert (first["places"], first["booked"], first["attended"], first["absent"]) == (12, 4, 2, 1)
    assert first["attendance_rate"] == 0.5
    assert (second["places"], second["left_early"], second["removed"], second["excused"]) == (
        10, 1, 1, 1)
    assert second["fill_rate"] == 0.3 and second["attendance_rate"] == 0.0


def test_the_attendance_csv_has_a_row_per_breakdown_and_session(app):
    seed_sessions()
    content = reports_producing.REPORTS["attendance"].csv(reports_attendance_report.build_attendance(june()))
    rows = list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"))))
    assert [r["breakdown"] for r in rows] == [
        "total", "month", "programme", "venue", "venue", "facilitator", "facilitator",
        "session", "session"]
    total = rows[0]
    assert (total["sessions"], total["places"], total["booked"], total["attended"]) == (
        "2", "22", "7", "2")
    assert float(total["attendance_rate"]) == 2 / 7
    assert rows[-1]["session_id"] and rows[-1]["group"].startswith("2026-06-24 ")


def test_the_attendance_page_shows_the_figures_and_its_pdf_reads_back(app, client, login_as):
    login_as("manager")
    seed_sessions()
    page = client.get(f"/reports/attendance?{JUNE}")
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Ann Able" in text and "28.6%" in text and "31.8%" in text
    assert "The first session date" in text
    assert "data:image/svg+xml;base64," in text
    pdf = client.get(f"/reports/attendance?{JUNE}&format=pdf")
    assert pdf.mimetype == "application/pdf"
    pages = [p.extract_text() for p in PdfReader(io.BytesIO(pdf.data)).pages]
    for number, page_text in enumerate(pages, start=1):
        assert page_text.count("OFFICIAL-SENSITIVE") == 2
        assert f"Page {number} of {len(pages)}" in page_text
    everything = " ".join(" ".join(pages).split())
    assert "Attendance by month" in everything and "Definitions" in everything
    assert "28.6%" in everything and "Bea Brown" in everything
    actions = db.session.scalars(select(AuditEvent.action).where(
        AuditEvent.object_type == "report", AuditEvent.object_id == "attendance")
        .order_by(AuditEvent.id)).all()
    assert actions == ["report.viewed", "report.downloaded"]


def test_the_api_and_the_cli_give_the_attendance_json(app, client, tmp_path):
    seed_sessions()
    manager = create_user("manager")
    token = create_token(manager)
    db.session.commit()
    response = client.get("/api/v1/reports/attendance?from=2026-06-01&to=2026-06-30",
                          headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert response.get_json()["total"]["booked"] == 7
    runner = app.test_cli_runner()
    result = runner.invoke(args=["reports", "attendance", "--from", "2026-06-01", "--to",
                                 "2026-06-30", "--format", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["total"]["attended"] == 2
    target = tmp_path / "attendance.csv"
    result = runner.invoke(args=["reports", "attendance", "--from", "2026-06-01", "--to",
                                 "2026-06-30", "--format", "csv", "--output", str(target)])
    assert result.exit_code == 0, result.output
    assert target.read_bytes().decode("utf-8-sig").startswith("breakdown,group,session_id")
    downloads = db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "report.downloaded")).all()
    assert len(downloads) == 3
    assert {row.category for row in downloads} == {AuditCategory.DISCLOSURE}


@pytest.mark.parametrize("fmt", ["html", "pdf"])
def test_the_attendance_report_runs_the_same_number_of_queries_however_many_sessions(
        app, client, login_as, fmt):
    login_as("manager")
    url = f"/reports/attendance?{JUNE}&format={fmt}"
    one, people = session_with_people(2, starts_at=june_17())
    take_register(one, zip(people, [A.ATTENDED, A.ABSENT], strict=True))
    db.session.commit()
    few = count_queries(lambda: client.get(url))
    for day in (1, 2):
        more, people = session_with_people(3, starts_at=june_17() + dt.timedelta(days=day))
        take_register(more, zip(people, [A.ATTENDED, A.LEFT_EARLY, A.EXCUSED], strict=True))
    db.session.commit()
    many = count_queries(lambda: client.get(url))
    assert few == many
    assert client.get(url).status_code == 200


def test_the_attendance_pdf_stops_at_the_month_and_points_to_the_csv_for_each_session(
        app, client, login_as):
    # issue 17: one row per session made a 12-month PDF of thousands of rows that never
    # finished; the PDF summarises by month and the CSV has the session-by-session rows.
    login_as("manager")
    teams = [(create_venue(), create_user("facilitator")) for _ in range(2)]

    def held_on(day: int) -> None:
        for venue, facilitator in teams:
            session = create_session(starts_at=june_17() + dt.timedelta(days=day), venue=venue,
                                     facilitators=[facilitator])
            referral = create_referral()
            create_booking(referral, session)
            take_register(session, [(referral, A.ATTENDED if day % 4 else A.ABSENT)])

    held_on(0)
    db.session.commit()
    url = f"/reports/attendance?{JUNE}&format=pdf"
    few = PdfReader(io.BytesIO(client.get(url).data))
    for day in range(1, 14):  # 17 to 30 June: 28 sessions in all
        held_on(day)
    db.session.commit()
    many = PdfReader(io.BytesIO(client.get(url).data))
    assert len(many.pages) == len(few.pages)
    text = " ".join(" ".join(page.extract_text() for page in many.pages).split())
    assert "By session" not in text
    assert "each of the 28 sessions" in text
    assert "(attendance-2026-06-01-to-2026-06-30.csv), one row per session" in text
    assert "Jun 2026 " in text  # the month's row
    rows = list(csv.DictReader(io.StringIO(
        client.get(url.replace("pdf", "csv")).data.decode("utf-8-sig"))))
    assert sum(row["breakdown"] == "session" for row in rows) == 28


def test_the_chart_shows_a_month_without_sessions_as_a_gap_not_left_out(app):
    # Sessions in July and September: August is on the axis with nothing in it, so the bars
    # keep their places in time (the month-by-month table lists only months with sessions).
    ann = create_user("facilitator", name="Ann Able")
    for starts_at in (dt.datetime(2026, 7, 15, 8, 30, tzinfo=dt.UTC),
                      dt.datetime(2026, 9, 16, 8, 30, tzinfo=dt.UTC)):
        session, people = session_with_people(2, facilitator=ann, starts_at=starts_at)
        take_register(session, zip(people, [A.ATTENDED, A.ABSENT], strict=True))
    db.session.commit()
    parameters = reports_producing.validate_parameters(
        kind="attendance", date_from=D(2026, 7, 1), date_to=D(2026, 9, 30), as_of=None,
        scope=None, today=D(2026, 10, 1))
    report = reports_attendance_report.build_attendance(parameters, with_chart=True)
    assert list(report.data["by_month"]) == ["2026-07", "2026-09"]
    assert report.chart_svg is not None
    assert ("Jul 2026: 2 booked, 1 attended; Aug 2026: 0 booked, 0 attended; "
            "Sep 2026: 2 booked, 1 attended") in report.chart_svg


def test_the_page_lists_the_first_sessions_and_sends_the_rest_to_the_csv(app, client, login_as,
                                                                          monkeypatch):
    """A national year holds thousands of sessions: the page's table stops at
    SESSION_ROWS_SHOWN and says where the rest are; the figures and the CSV count them all."""
    from diversion.reports import views as reports_views

    login_as("manager")
    seed_sessions()
    monkeypatch.setattr(reports_views, "SESSION_ROWS_SHOWN", 1)
    page = client.get(f"/reports/attendance?{JUNE}")
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    body = text[text.index("By session"):text.index("Left out of the figures")]
    assert body.count('<th scope="row"') == 1
    assert "This table shows the first 1 of 2 sessions." in " ".join(text.split())
    assert "format=csv" in body and "Download the CSV file" in body
    csv_rows = list(csv.DictReader(io.StringIO(
        client.get(f"/reports/attendance?{JUNE}&format=csv").get_data(as_text=True)
        .lstrip("\ufeff"))))
    assert len([r for r in csv_rows if r["session_id"]]) == 2
