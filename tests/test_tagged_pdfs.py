"""Every PDF the service produces is tagged (PDF/UA-1) and readable with assistive technology:
the offer letter, the certificate, each report, the monthly archived reports and the register
sheet, each read back through its structure tree (tests/pdf_structure.py)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from diversion.core.extensions import db
from diversion.core.jobs import run_job
from diversion.core.pdf import html_to_pdf
from diversion.reports.models import ArchivedReport
from diversion.reports.producing import REPORTS
from tests.builders import (
    completed_referral,
    create_force,
    create_programme,
    create_referral,
    live_session_with_people,
    referral_with_outcome,
)
from tests.pdf_structure import assert_accessible
from tests.reports.test_attendance_report import seed_sessions
from tests.reports.test_report_outputs import seed_cohort

pytestmark = pytest.mark.usefixtures("clock")  # the app reads a clock stopped at NOW

# Each report over seeded data: the 2024 cohort (outcomes; reoffending and its chart) and
# June 2026's registers (attendance and its chart).
COHORT = ("date_from-day=1&date_from-month=1&date_from-year=2024"
          "&date_to-day=30&date_to-month=6&date_to-year=2024&scope=any")
JUNE_2026 = ("date_from-day=1&date_from-month=6&date_from-year=2026"
             "&date_to-day=30&date_to-month=6&date_to-year=2026")
QUERIES = {"outcomes": COHORT, "reoffending": COHORT, "attendance": JUNE_2026}
CHARTED = {"attendance", "reoffending"}  # the reports that draw a chart from this data


def pdf_of(response) -> bytes:  # type: ignore[no-untyped-def]
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    data: bytes = response.data
    return data


@pytest.mark.parametrize("kind", sorted(REPORTS))
def test_each_report_pdf_is_tagged_with_headings_table_headers_and_alt_text(
        app, client, login_as, kind) -> None:
    login_as("manager")
    seed_cohort()
    seed_sessions()

    tagged = assert_accessible(pdf_of(client.get(f"/reports/{kind}?{QUERIES[kind]}&format=pdf")),
                               title=REPORTS[kind].title)

    assert tagged.of_kind("Table"), "the figures are in tables"
    # Every data cell is tied to its header cells (WeasyPrint's /Headers attribute).
    for cell in tagged.of_kind("TD"):
        if cell.text:
            assert cell.attributes.get("/Headers"), cell.text
    if kind in CHARTED:
        assert tagged.of_kind("Figure"), "the chart is in the structure tree"
    assert ("H2", "Definitions") in [(e.kind, e.text) for e in tagged.of_kind("H2")]


@pytest.mark.parametrize("kind", sorted(REPORTS))
def test_each_report_pdf_with_nothing_to_report_is_tagged(client, login_as, kind) -> None:
    login_as("manager")

    tagged = assert_accessible(pdf_of(client.get(f"/reports/{kind}?{QUERIES[kind]}&format=pdf")),
                               title=REPORTS[kind].title)

    assert "Definitions" in [text for _, text in tagged.headings]


@pytest.mark.parametrize("kind", sorted(REPORTS))
def test_each_report_table_row_is_named_by_a_row_header(app, client, login_as, kind) -> None:
    login_as("manager")
    seed_cohort()
    seed_sessions()

    tagged = assert_accessible(pdf_of(client.get(f"/reports/{kind}?{QUERIES[kind]}&format=pdf")),
                               title=REPORTS[kind].title)

    body_rows = [row for body in tagged.of_kind("TBody") for row in body.children
                 if row.kind == "TR" and len(row.children) > 1]
    assert body_rows
    for row in body_rows:
        assert row.children[0].kind == "TH", row.text


def test_the_monthly_archived_reports_are_tagged(app) -> None:
    referral_with_outcome(family_name="May", referral_date=dt.date(2026, 5, 10),
                          outcome="completed")
    db.session.commit()

    run_job("monthly_report", now=dt.datetime(2026, 6, 1, 8, 0, tzinfo=dt.UTC))

    archived = db.session.scalars(select(ArchivedReport).order_by(ArchivedReport.kind)).all()
    assert [a.kind for a in archived] == ["attendance", "outcomes"]
    for report in archived:
        assert_accessible(report.content, title=REPORTS[report.kind].title)


def test_the_offer_letter_is_tagged(client, login_as) -> None:
    create_programme(fee_pence=11000)
    officer = login_as("police", force=create_force("WYP", "West Yorkshire Police"))
    referral = create_referral(actor=officer)
    db.session.commit()

    tagged = assert_accessible(pdf_of(client.get(f"/referrals/{referral.reference}/letter.pdf")),
                               title="Your offer of a course")

    assert [level for level, _ in tagged.headings] == [1, 2, 2, 2, 2, 2, 2]
    [box] = tagged.of_kind("Table")
    assert [row.children[0].kind for row in box.walk() if row.kind == "TR"] == ["TH"] * 7
    assert referral.reference in tagged.reading_text


def test_the_certificate_is_tagged(client, login_as) -> None:
    login_as("manager")
    _, referral = completed_referral()

    tagged = assert_accessible(
        pdf_of(client.get(f"/referrals/{referral.reference}/certificate.pdf")),
        title="Certificate of completion")

    assert " ".join(referral.person.full_name.split()) in tagged.reading_text


def test_the_register_sheet_is_tagged(client, login_as) -> None:
    login_as("manager")
    session, people = live_session_with_people(2)

    tagged = assert_accessible(
        pdf_of(client.get(f"/sessions/{session.id}/register/sheet.pdf")),
        title=f"Register: {session.venue.name}, Monday 15 June 2026")

    [sheet] = tagged.of_kind("Table")
    rows = [row for row in sheet.walk() if row.kind == "TR"]
    assert [row.children[0].kind for row in rows] == ["TH"] * (1 + len(people))


def test_the_check_catches_what_a_screen_reader_user_would_miss(app, tmp_path) -> None:
    good = ('<!DOCTYPE html><html lang="en-GB"><head><title>Check</title>'
            '<style>@page {{ @top-center {{ content: "OFFICIAL-SENSITIVE" }} }}</style></head>'
            '<body><h1>Check</h1>{}</body></html>')
    chart = ('<img src="data:image/svg+xml,%3Csvg xmlns=%27http://www.w3.org/2000/svg%27 '
             'width=%2710%27 height=%2710%27/%3E" alt="{}">')
    assert_accessible(html_to_pdf(good.format(chart.format("A chart")), root=tmp_path),
                      title="Check")

    for body, problem in ((chart.format(""), "without alternative text"),
                          ("<h3>Too deep</h3>", "heading level skipped"),
                          ("<table><tr><td>1</td></tr></table>", "without header cells")):
        with pytest.raises(AssertionError, match=problem):
            assert_accessible(html_to_pdf(good.format(body), root=tmp_path), title="Check")
    with pytest.raises(AssertionError):
        assert_accessible(html_to_pdf(good.format(""), root=tmp_path), title="Another title")
