"""Reports as pages, downloads, CLI output and API JSON: PDFs read back, CSV made safe, bad
parameters explained, and an audit row for every report made."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

from pypdf import PdfReader
from sqlalchemy import select

from diversion.audit.models import AuditCategory, AuditEvent
from diversion.core.extensions import db
from tests.builders import create_force, create_token, create_user, referral_with_outcome

D = dt.date
QUERY = ("date_from-day=1&date_from-month=1&date_from-year=2024"
         "&date_to-day=30&date_to-month=6&date_to-year=2024&scope=any")


def audit_rows(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def seed_cohort() -> None:
    for n in range(12):
        referral_with_outcome(family_name=f"Person {'abcdefghijkl'[n]}", referral_date=D(2024, 2, 1),
                 outcome="completed" if n % 2 else "not_completed")
    db.session.commit()


def test_the_reoffending_page_shows_the_figures_and_the_data_lab_warning(app, client, login_as):
    login_as("manager")
    seed_cohort()
    response = client.get(f"/reports/reoffending?{QUERY}")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "too few for a justice data lab comparison" in page.lower()
    assert "Download PDF" in page and "data:image/svg+xml;base64," in page
    [row] = audit_rows("report.viewed")
    assert row.category is AuditCategory.CONSULTATION


def test_the_reoffending_pdf_is_marked_numbered_and_shows_its_parameters(app, client, login_as):
    login_as("manager")
    seed_cohort()
    response = client.get(f"/reports/reoffending?{QUERY}&format=pdf")
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    pages = [p.extract_text() for p in PdfReader(io.BytesIO(response.data)).pages]
    assert len(pages) >= 2
    for number, text in enumerate(pages, start=1):
        assert text.count("OFFICIAL-SENSITIVE") == 2
        assert f"Page {number} of {len(pages)}" in text
    assert "1 January 2024" in pages[0] and "30 June 2024" in pages[0]
    everything = " ".join(" ".join(pages).split())  # table cells wrap their text
    assert "Time to first proven reoffence" in everything
    assert "Definitions" in everything
    assert "Too few for a Justice Data Lab comparison" in everything
    [row] = audit_rows("report.downloaded")
    assert row.category is AuditCategory.DISCLOSURE
    assert row.details["format"] == "pdf"


def test_the_outcomes_csv_and_pdf_download(app, client, login_as):
    login_as("manager")
    seed_cohort()
    response = client.get(f"/reports/outcomes?{QUERY}&format=csv")
    rows = list(csv.reader(io.StringIO(response.data.decode("utf-8-sig"))))
    assert rows[0][:3] == ["breakdown", "group", "received"]
    assert rows[1][:3] == ["total", "all", "12"]
    pdf = client.get(f"/reports/outcomes?{QUERY}&format=pdf")
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.data)).pages)
    assert "Referral outcomes" in text and "OFFICIAL-SENSITIVE" in text


def test_a_range_the_wrong_way_round_shows_an_error_summary_and_no_report(app, client, login_as):
    login_as("manager")
    response = client.get("/reports/outcomes?date_from-day=1&date_from-month=6&date_from-year=2024"
                          "&date_to-day=1&date_to-month=1&date_to-year=2024&scope=any")
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "There is a problem" in page
    assert "The end date must be the same as or after the start date" in page
    assert "Download PDF" not in page
    assert audit_rows("report.viewed") == []


def test_police_see_their_own_forces_report_only(app, client, login_as):
    officer = login_as("police")
    seed_cohort()  # referrals of other forces
    other = referral_with_outcome(family_name="Other", referral_date=D(2024, 2, 1),
                                  outcome="completed").force.code
    db.session.commit()
    assert client.get(f"/reports/outcomes?{QUERY}&force={other}").status_code == 403
    data = client.get(f"/reports/outcomes?{QUERY}&format=json").get_json(force=True)
    assert data["total"]["received"] == 0
    assert data["filters"]["forces"] == [officer.force.code]


def test_the_justice_data_lab_export_neutralises_formulas_and_is_a_disclosure(
        app, client, login_as):
    login_as("manager")
    referral_with_outcome(family_name="=HYPERLINK(1)", given_names="@SUM", referral_date=D(2024, 2, 1),
             outcome="completed", gender="male")
    referral_with_outcome(family_name="Plain", referral_date=D(2024, 2, 2), outcome="withdrawn")
    db.session.commit()
    response = client.post("/reports/justice-data-lab", data={
        "date_from-day": "1", "date_from-month": "1", "date_from-year": "2024",
        "date_to-day": "31", "date_to-month": "12", "date_to-year": "2024", "group": "all"})
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    rows = list(csv.reader(io.StringIO(response.data.decode("utf-8-sig"))))
    assert rows == [["surname", "forename", "date_of_birth", "gender", "index_date"],
                    ["'=HYPERLINK(1)", "'@SUM", "02/01/1980", "male", "01/02/2024"]]
    [row] = audit_rows("report.justice_data_lab_export")
    assert row.category is AuditCategory.DISCLOSURE
    assert row.details["rows"] == 1


JDL_FORM = {"date_from-day": "1", "date_from-month": "1", "date_from-year": "2024",
            "date_to-day": "31", "date_to-month": "12", "date_to-year": "2024", "group": "all"}


def test_the_justice_data_lab_export_for_one_force_holds_that_forces_cohort(
        app, client, login_as):
    login_as("manager")
    west, north = create_force(code="WYP"), create_force(code="NYP")
    referral_with_outcome(family_name="Westley", referral_date=D(2024, 2, 1), outcome="completed",
                          force=west)
    referral_with_outcome(family_name="Northam", referral_date=D(2024, 3, 1),
                          outcome="not_completed", force=north)
    # Referred by both: in each force's file at his earliest referral by that force, as the
    # reoffending report counts a force's cohort.
    referral_with_outcome(family_name="Twice", referral_date=D(2024, 4, 1), outcome="completed",
                          force=west)
    referral_with_outcome(family_name="Twice", referral_date=D(2024, 9, 1), outcome="completed",
                          force=north)
    db.session.commit()
    page = client.get("/reports/justice-data-lab")
    assert 'value="NYP"' in page.text and "All forces" in page.text

    def names_and_dates(force: str) -> list[tuple[str, str]]:
        response = client.post("/reports/justice-data-lab", data={**JDL_FORM, "force": force})
        assert response.status_code == 200
        suffix = f"{force}-2024-01-01-to-2024-12-31" if force else "2024-01-01-to-2024-12-31"
        assert f'filename="justice-data-lab-{suffix}.csv"' in response.headers[
            "Content-Disposition"]
        rows = list(csv.reader(io.StringIO(response.data.decode("utf-8-sig"))))[1:]
        return sorted((row[0], row[4]) for row in rows)

    assert names_and_dates("NYP") == [("Northam", "01/03/2024"), ("Twice", "01/09/2024")]
    assert names_and_dates("WYP") == [("Twice", "01/04/2024"), ("Westley", "01/02/2024")]
    assert names_and_dates("") == [("Northam", "01/03/2024"), ("Twice", "01/04/2024"),
                                   ("Westley", "01/02/2024")]
    forces = [row.details["force"] for row in audit_rows("report.justice_data_lab_export")]
    assert sorted(forces, key=str) == sorted(["NYP", "WYP", None], key=str)


def test_the_justice_data_lab_export_breaks_a_same_day_tie_as_the_report_does(
        app, client, login_as):
    """Two referrals of one man on one day: the report's definition takes the lower id as
    text ("1000000" before "999999"), and so must the export, or with one group the two would
    disagree on him."""
    from sqlalchemy import event

    from diversion.referrals.models import Referral
    from diversion.reports import reoffending

    login_as("manager")
    ids = iter([999_999, 1_000_000])

    def numbered(mapper: object, connection: object, target: Referral) -> None:
        target.id = next(ids)

    event.listen(Referral, "before_insert", numbered)
    try:
        older = referral_with_outcome(family_name="Tied", referral_date=D(2024, 2, 1),
                                      outcome="not_completed")
        newer = referral_with_outcome(family_name="Tied", referral_date=D(2024, 2, 1),
                                      outcome="completed")
    finally:
        event.remove(Referral, "before_insert", numbered)
    db.session.commit()
    assert (older.id, newer.id) == (999_999, 1_000_000)
    assert older.person_id == newer.person_id
    tied = [reoffending.CohortReferral(referral_id=r.id, person_id=r.person_id,
                                       referral_date=r.referral_date, outcome=outcome)
            for r, outcome in ((older, "not_completed"), (newer, "completed"))]
    [chosen] = reoffending._earliest_per_person(tied)
    assert chosen.referral_id == 1_000_000

    def names(group: str) -> list[str]:
        response = client.post("/reports/justice-data-lab", data={**JDL_FORM, "group": group})
        assert response.status_code == 200
        return [row[0] for row in csv.reader(io.StringIO(response.data.decode("utf-8-sig")))][1:]

    assert names("completed") == ["Tied"]
    assert names("not_completed") == []
    assert names("all") == ["Tied"]


def test_the_justice_data_lab_export_refuses_a_force_that_is_not_on_the_list(
        app, client, login_as):
    login_as("manager")
    create_force(code="WYP")
    db.session.commit()
    response = client.post("/reports/justice-data-lab",
                           data={**JDL_FORM, "force": "<script>ZZ</script>"})
    assert response.status_code == 400
    assert response.headers["Content-Type"].startswith("text/html")
    assert "govuk-error-summary" in response.text
    assert "Choose a police force from the list" in response.text
    assert 'href="#force"' in response.text
    assert "<script>ZZ" not in response.text
    assert audit_rows("report.justice_data_lab_export") == []


def test_the_api_gives_the_reoffending_json_to_managers_and_police_their_force_only(app, client):
    seed_cohort()
    manager, police = create_user("manager"), create_user("police")
    db.session.commit()
    url = "/api/v1/reports/reoffending?from=2024-01-01&to=2024-06-30&as_of=2026-01-01"
    response = client.get(url, headers={"Authorization": f"Bearer {create_token(manager)}"})
    assert response.status_code == 200
    body = response.get_json()
    assert body["measure"] == "proven_reoffending"
    assert body["cohorts"][-1]["people"] == 12
    police_token = create_token(police)
    db.session.commit()
    forbidden = client.get(url + "&force=" + create_force("NYP").code,
                           headers={"Authorization": f"Bearer {police_token}"})
    assert forbidden.status_code == 403
    own = client.get(url, headers={"Authorization": f"Bearer {police_token}"}).get_json()
    assert own["filters"]["forces"] == [police.force.code]
    assert all(row["people"] == 0 for row in own["cohorts"])  # the cohort is other forces'
    assert len(audit_rows("report.downloaded")) == 2


def test_the_api_refuses_bad_parameters_with_problem_json(app, client):
    manager = create_user("manager")
    token = create_token(manager)
    db.session.commit()
    response = client.get("/api/v1/reports/reoffending?from=2024-06-01&to=2024-01-01&scope=all",
                          headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    errors = response.get_json()["errors"]
    assert errors["to"] == "The end date must be the same as or after the start date"
    assert errors["scope"] == "Scope must be 'any' or 'programme'"


def test_the_cli_prints_json_and_writes_a_pdf(app, tmp_path):
    seed_cohort()
    runner = app.test_cli_runner()
    result = runner.invoke(args=["reports", "reoffending", "--from", "2024-01-01", "--to",
                                 "2024-06-30", "--as-of", "2026-01-01", "--format", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["cohorts"][-1]["people"] == 12
    target = tmp_path / "outcomes.pdf"
    result = runner.invoke(args=["reports", "outcomes", "--from", "2024-01-01", "--to",
                                 "2024-06-30", "--format", "pdf", "--output", str(target)])
    assert result.exit_code == 0, result.output
    assert target.read_bytes().startswith(b"%PDF")
    assert len(audit_rows("report.downloaded")) == 2


def test_the_cli_explains_bad_parameters_and_exits_1(app):
    result = app.test_cli_runner().invoke(args=[
        "reports", "reoffending", "--from", "2024-06-30", "--to", "2024-01-01",
        "--scope", "nope", "--format", "csv"])
    assert result.exit_code == 1
    assert "to: The end date must be the same as or after the start date" in result.stderr
    assert "scope: Scope must be 'any' or 'programme'" in result.stderr
