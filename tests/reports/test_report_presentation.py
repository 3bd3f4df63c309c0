"""Reports a board member can read: each opens with its summary in words (page and PDF), a
period still in follow-up says so, charts are captioned and described, forces are named, and the
facilitator rows say why they add up to more than the total."""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
import re

import pytest
from pypdf import PdfReader

from diversion.core.extensions import db
from diversion.reports.measures import months_between
from tests.builders import create_force, referral_with_outcome
from tests.reports.test_attendance_report import JUNE, seed_sessions

pytestmark = pytest.mark.usefixtures("clock")

D = dt.date


def query(date_from: dt.date, date_to: dt.date) -> str:
    return "&".join(f"{name}-{part}={getattr(day, part)}"
                    for name, day in (("date_from", date_from), ("date_to", date_to))
                    for part in ("day", "month", "year")) + "&scope=any"


def pdf_pages(data: bytes) -> list[str]:
    return [" ".join(page.extract_text().split()) for page in PdfReader(io.BytesIO(data)).pages]


def words(html: str) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def seed_reoffending() -> None:
    west = create_force("WYP", "West Yorkshire Police")
    for n in range(12):
        referral_with_outcome(family_name=f"Early {'abcdefghijkl'[n]}",
                              referral_date=D(2024, 2, 1), force=west,
                              outcome="completed" if n % 3 else "not_completed")
    for n in range(5):
        referral_with_outcome(family_name=f"Late {'abcde'[n]}", referral_date=D(2024, 7, 15 + n),
                              force=west, outcome="completed")
    db.session.commit()


def test_a_quarter_still_in_follow_up_says_until_when_rather_than_suppressed(app, client,
                                                                             login_as):
    login_as("manager")
    seed_reoffending()
    # As of 1 January 2026 the referrals of 15 to 19 July 2024 are not yet 18 months old.
    params = query(D(2024, 1, 1), D(2024, 9, 30)) + "&as_of-day=1&as_of-month=1&as_of-year=2026"
    data = json.loads(client.get(f"/reports/reoffending?{params}&format=json").data)
    rows = {(row["period"], row["group"]): row for row in data["cohorts"]}
    waiting = rows[("2024-Q3", "completed")]
    assert {"period", "group", "people", "reoffenders", "reoffences", "rate", "ci95",
            "per_offender", "per_reoffender", "suppressed", "warning"} < set(waiting)
    assert (waiting["people"], waiting["status"], waiting["follow_up_incomplete"],
            waiting["follow_up_ends"]) == (0, "follow_up_incomplete", 5, "2026-01-19")
    assert rows[("2024-Q3", "not_completed")]["status"] == "empty"
    assert rows[("2024-Q1", "all")]["status"] == "reported"
    assert data["excluded"]["follow_up_incomplete"] == 5

    page = words(client.get(f"/reports/reoffending?{params}").get_data(as_text=True))
    assert "Jul to Sep 2024 Completed Follow-up not over until 19 January 2026 (5 people waiting)." in page
    assert "Jul to Sep 2024 Completed 0" not in page
    assert "we can be 95% confident the true rate lies between the two figures" in page
    assert "the difference between the two groups is not the effect of the course" in page
    assert ("5 more men referred in the period are still in follow-up, the last of them until "
            "19 January 2026, and are not counted yet.") in page

    pages = pdf_pages(client.get(f"/reports/reoffending?{params}&format=pdf").data)
    assert "Follow-up not over until 19 January 2026 (5 people waiting)." in " ".join(pages)


def test_each_report_pdf_opens_with_its_summary_before_any_table(app, client, login_as):
    login_as("manager")
    seed_reoffending()
    seed_sessions()
    cases = {
        "reoffending": (query(D(2024, 1, 1), D(2024, 3, 31)),
                        "Of 12 men referred between 1 January 2024 and 31 March 2024 whose "
                        "18-month follow-up is over, 8 completed the course and 4 did not.",
                        "Reoffending by cohort"),
        "outcomes": (query(D(2024, 1, 1), D(2024, 12, 31)),
                     "Of 17 referrals received between 1 January 2024 and 31 December 2024, 13 "
                     "ended with the course completed, 4 ended without it, 0 were withdrawn.",
                     "All referrals Referrals Received"),
        "attendance": (JUNE, "Across 2 sessions held between 1 June 2026 and 30 June 2026",
                       "All sessions Sessions Places"),
    }
    for kind, (params, opening, first_table) in cases.items():
        first = pdf_pages(client.get(f"/reports/{kind}?{params}&format=pdf").data)[0]
        assert "Summary" in first and opening in first, kind
        assert first.index(opening) < first.index(first_table), kind
        assert "nan" not in first.split() and "None" not in first.split()
        page = words(client.get(f"/reports/{kind}?{params}").get_data(as_text=True))
        assert page.index("Summary " + opening) < page.index("Download PDF"), kind


def test_the_outcomes_report_has_a_described_captioned_chart_and_names_forces(app, client,
                                                                               login_as):
    login_as("manager")
    seed_reoffending()
    params = query(D(2024, 1, 1), D(2024, 12, 31))
    html = client.get(f"/reports/outcomes?{params}").get_data(as_text=True)
    [figure] = re.findall(r"<figure[^>]*>.*?</figure>", html, re.S)
    alt = re.search(r'<img src="data:image/svg\+xml;base64,([^"]+)" alt="([^"]+)"', figure)
    assert alt is not None
    assert alt.group(2) == (
        "Stacked bar chart of referrals by month of referral, from Feb 2024 to Jul 2024, each "
        "bar split into completed, not completed, withdrawn and still open. The most referrals "
        "came in Feb 2024 (12). In all, 13 of 17 referrals ended with the course completed.")
    svg = base64.b64decode(alt.group(1)).decode("utf-8")
    assert "<title id=\"chart-title\">Referrals by month and outcome</title>" in svg
    assert "Feb 2024" in svg and "Jul 2024" in svg
    assert "Apr 2024" in svg  # a month without referrals is a gap, not left out of the axis
    caption = re.search(r"<figcaption[^>]*>(.*?)</figcaption>", figure, re.S)
    assert caption is not None and "Each bar is the referrals received in one month" in caption.group(1)
    page = words(html)
    assert "West Yorkshire Police" in page and ">WYP<" not in html
    assert "Feb 2024 17" not in page and "Feb 2024 12" in page  # months as the chart labels them
    assert "Every completed course was completed by its deadline." in page
    assert "Completed within deadline" not in re.sub(r"<dl.*?</dl>", "", html, flags=re.S)

    everything = " ".join(pdf_pages(client.get(f"/reports/outcomes?{params}&format=pdf").data))
    assert "Referrals by month and outcome" in everything
    assert "Each bar is the referrals received in one month" in everything
    assert "West Yorkshire Police" in everything


def test_the_attendance_report_explains_co_run_sessions_next_to_the_facilitators(app, client,
                                                                                 login_as):
    login_as("manager")
    seed_sessions()
    html = client.get(f"/reports/attendance?{JUNE}").get_data(as_text=True)
    page = words(html)
    note = ("A session run by two facilitators is counted once for each of them, so the "
            "facilitator rows add up to more than the total: 1 session was run by more than one "
            "facilitator.")
    assert note in page and page.index(note) < page.index("By facilitator Facilitator")
    assert "Sessions run with others" in page
    # Ann ran 1 session (with Bea), Bea 2 (1 with Ann): 3 sessions' rows for 2 sessions.
    # (attendance rates from fewer than 10 people booked are marked as small numbers)
    assert ("Ann Able 12 4 2 1 0 0 1 0 33.3% 50.0% \u2020 (small number) 1 1 Bea Brown 22 7 2 1 1 1 "
            "1 1 31.8% 28.6% \u2020 (small number) 2 1") in page
    assert re.search(r'data-label="Sessions run with others">1</td>', html)
    assert "Jun 2026" in page and "2026-06" not in page
    everything = " ".join(pdf_pages(client.get(f"/reports/attendance?{JUNE}&format=pdf").data))
    assert note in everything and "Sessions run with others" in everything


def test_report_tables_reflow_with_labelled_cells_and_scoped_headers(app, client, login_as):
    login_as("manager")
    seed_reoffending()
    seed_sessions()
    for kind, params in (("reoffending", query(D(2024, 1, 1), D(2024, 3, 31))),
                         ("outcomes", query(D(2024, 1, 1), D(2024, 12, 31))),
                         ("attendance", JUNE)):
        html = client.get(f"/reports/{kind}?{params}").get_data(as_text=True)
        tables = re.findall(r"<table.*?</table>", html, re.S)
        assert tables, kind
        for table in tables:
            assert "app-table--reflow" in table.split(">", 1)[0], kind
            assert not re.search(r"<th(?=[\s>])(?![^>]*scope=)", table), kind
            for cell in re.findall(r"<td[^>]*>", table):
                assert "data-label=" in cell or "colspan=" in cell, (kind, cell)



def test_months_between_counts_every_month_across_a_year_end():
    assert months_between("2024-11", "2025-02") == ["2024-11", "2024-12", "2025-01", "2025-02"]
    assert months_between("2024-02", "2024-02") == ["2024-02"]


@pytest.mark.parametrize("kind", ["attendance", "outcomes", "reoffending"])
def test_every_pdf_page_names_the_report_and_its_period_and_every_report_its_coverage(
        app, client, login_as, kind):
    # A board member prints the PDF: a page on its own still says which report and which
    # period it shows; the page and the PDF say which forces and programmes the figures cover
    # even when it is all of them (there is no filter form on paper).
    login_as("manager")
    seed_reoffending()
    seed_sessions()
    params = JUNE if kind == "attendance" else query(D(2024, 1, 1), D(2024, 12, 31))
    period = ("1 June 2026 to 30 June 2026" if kind == "attendance"
              else "1 January 2024 to 31 December 2024")
    title = {"attendance": "Attendance", "outcomes": "Referral outcomes",
             "reoffending": "Proven reoffending"}[kind]
    pages = pdf_pages(client.get(f"/reports/{kind}?{params}&format=pdf").data)
    assert len(pages) > 1
    for number, text in enumerate(pages, start=1):
        assert f"{title} {period}" in text and f"Page {number} of {len(pages)}" in text
    assert "Forces All forces" in pages[0] and "Programme All programmes" in pages[0]
    page = words(client.get(f"/reports/{kind}?{params}").get_data(as_text=True))
    assert "Forces All forces" in page and "Programme All programmes" in page


def _row(html: str, name: str) -> str:
    [row] = [r for r in re.findall(r"<tr[^>]*>.*?</tr>", html, re.S)
             if re.search(rf">\s*{re.escape(name)}\s*<", r)]
    return row


def test_a_rate_from_fewer_than_ten_is_marked_as_a_small_number_on_the_page_and_in_the_pdf(
        app, client, login_as):
    # February 2024: 12 referrals ended (66.7% completed); July 2024: 5 (100%). "100%" of 5 is
    # no trend: it is marked, and a note under the table says why; the figures are unchanged.
    login_as("manager")
    seed_reoffending()
    params = query(D(2024, 1, 1), D(2024, 12, 31))
    html = client.get(f"/reports/outcomes?{params}").get_data(as_text=True)
    july, february = _row(html, "Jul 2024"), _row(html, "Feb 2024")
    assert "100.0%<span aria-hidden=\"true\">†</span>" in july
    assert "(small number)" in july
    assert "66.7%" in february and "†" not in february and "small number" not in february
    assert "†" not in _row(html, "All referrals")
    assert words(html).count("Worked out from fewer than 10 referrals that ended") == 1
    assert "Small numbers" in words(html)  # and the definitions say what the mark means
    text = " ".join(pdf_pages(client.get(f"/reports/outcomes?{params}&format=pdf").data))
    assert "Jul 2024 5 5 5 0 0 0 100.0%\u2020" in text
    assert "Feb 2024 12 8 8 4 0 0 66.7% 5" in text
    assert "Worked out from fewer than 10 referrals that ended" in text
    data = json.loads(client.get(f"/reports/outcomes?{params}&format=json").data)
    assert data["by_month"]["2024-07"]["completion_rate"] == 1.0


def test_an_attendance_rate_from_fewer_than_ten_people_booked_is_marked(app, client, login_as):
    login_as("manager")
    seed_sessions()  # June 2026: 7 people booked on two sessions
    html = client.get(f"/reports/attendance?{JUNE}").get_data(as_text=True)
    total = _row(html, "All sessions")
    assert "28.6%<span aria-hidden=\"true\">†</span>" in total
    assert "Worked out from fewer than 10 places or people booked" in words(html)
    text = " ".join(pdf_pages(client.get(f"/reports/attendance?{JUNE}&format=pdf").data))
    assert "28.6%\u2020" in text and "Worked out from fewer than 10 places or people booked" in text


def test_the_reports_list_says_what_each_report_answers(app, client, login_as):
    login_as("manager")
    page = words(client.get("/reports").get_data(as_text=True))
    assert ("Referral outcomes How the referrals received in a period stand: completed, not "
            "completed (and why), withdrawn or still open, and how quickly.") in page
    assert "Proven reoffending The Ministry of Justice measure: the share of people" in page
    assert "Attendance Who came to the sessions held in a period" in page
    assert "Justice Data Lab export The reoffending cohort's people, one row each" in page
