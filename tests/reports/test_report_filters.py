"""Report filters (DESIGN.md "Reports"): force (one or several), programme, and for attendance
venue and facilitator, on every format (page, CSV, PDF, JSON, CLI, API); police users see
their own force's figures only, on every format; bad values are explained, never a 500."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from typing import Any

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from diversion.attendance.rules import AttendanceStatus
from diversion.audit.models import AuditEvent
from diversion.core.errors import ValidationFailed
from diversion.core.extensions import db
from diversion.reports import producing as reports_producing
from diversion.reports.cli import _id as cli_id
from tests.builders import (
    DEFAULT_PASSWORD,
    create_booking,
    create_force,
    create_programme,
    create_referral,
    create_session,
    create_token,
    create_user,
    create_venue,
    referral_with_outcome,
)
from tests.queries import count_queries
from tests.reports.test_attendance_report import JUNE, june_17, take_register

A = AttendanceStatus
D = dt.date
YEAR_2024 = ("date_from-day=1&date_from-month=1&date_from-year=2024"
             "&date_to-day=31&date_to-month=12&date_to-year=2024")
API_2024 = "from=2024-01-01&to=2024-12-31"


def two_forces() -> tuple[Any, Any]:
    return (create_force("WYP", "West Yorkshire Police"),
            create_force("NYP", "North Yorkshire Police"))


def seed_outcomes() -> dict[str, Any]:
    """2024: West Yorkshire 3 referrals (2 completed, 1 not); North Yorkshire 1 (completed),
    on another programme."""
    wyp, nyp = two_forces()
    for n, outcome in enumerate(["completed", "completed", "not_completed"]):
        referral_with_outcome(family_name=f"West {'abc'[n]}", referral_date=D(2024, 3, 1),
                              outcome=outcome, force=wyp)
    north = referral_with_outcome(family_name="North a", referral_date=D(2024, 4, 1),
                                  outcome="completed", force=nyp)
    other = create_programme("DRV", name="Drink-drive awareness")
    north.programme_id = other.id
    db.session.commit()
    return {"wyp": wyp, "nyp": nyp, "other": other}


def seed_attendance() -> dict[str, Any]:
    """17 June 2026 at Venue One (run by Ann): two West Yorkshire people (attended, absent) and
    one North Yorkshire person (attended); 24 June at Venue Two (run by Bea): two North
    Yorkshire people, both attended."""
    wyp, nyp = two_forces()
    ann = create_user("facilitator", name="Ann Able")
    bea = create_user("facilitator", name="Bea Brown")
    one, two = create_venue(name="Venue One"), create_venue(name="Venue Two")
    first = create_session(starts_at=june_17(), facilitators=[ann], venue=one, capacity=10)
    second = create_session(starts_at=june_17() + dt.timedelta(days=7), facilitators=[bea],
                            venue=two, capacity=8)
    people = {}
    for name, force, session in (("w1", wyp, first), ("w2", wyp, first), ("n1", nyp, first),
                                 ("n2", nyp, second), ("n3", nyp, second)):
        people[name] = create_referral(force=force)
        create_booking(people[name], session)
    db.session.flush()
    take_register(first, [(people["w1"], A.ATTENDED), (people["w2"], A.ABSENT),
                          (people["n1"], A.ATTENDED)])
    take_register(second, [(people["n2"], A.ATTENDED), (people["n3"], A.ATTENDED)])
    db.session.commit()
    return {"wyp": wyp, "nyp": nyp, "ann": ann, "bea": bea, "one": one, "two": two}


def pdf_text(data: bytes) -> str:
    return " ".join(" ".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)
                    .split())


def csv_rows(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))


def sign_in_police(client: Any, force: Any) -> Any:
    officer = create_user("police", force=force)
    db.session.commit()
    client.post("/sign-out")
    assert client.post("/sign-in", data={"email": officer.email,
                                         "password": DEFAULT_PASSWORD}).status_code == 302
    return officer


# --- One force, one programme, on every format ----------------------------------------------


def test_the_outcomes_report_for_one_force_on_page_csv_pdf_and_json(app, client, login_as):
    seed_outcomes()
    login_as("manager")
    url = f"/reports/outcomes?{YEAR_2024}&scope=any&force=WYP"
    page = client.get(url)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "West Yorkshire Police" in html
    assert 'value="WYP" checked' in html and 'value="NYP" checked' not in html
    assert "force=WYP" in html  # kept in the download links
    csv_response = client.get(url + "&format=csv")
    assert 'filename="outcomes-WYP-2024-01-01-to-2024-12-31.csv"' in (
        csv_response.headers["Content-Disposition"])
    total = next(row for row in csv_rows(csv_response.data) if row["breakdown"] == "total")
    assert (total["received"], total["completed"], total["not_completed"]) == ("3", "2", "1")
    assert [row["group"] for row in csv_rows(csv_response.data)
            if row["breakdown"] == "force"] == ["WYP"]
    pdf = client.get(url + "&format=pdf")
    assert 'filename="outcomes-WYP-2024-01-01-to-2024-12-31.pdf"' in (
        pdf.headers["Content-Disposition"])
    text = pdf_text(pdf.data)  # the parameters block: each label beside its value
    assert "Force West Yorkshire Police" in text
    assert "North Yorkshire Police" not in text
    data = json.loads(client.get(url + "&format=json").data)
    assert data["total"]["received"] == 3
    assert data["filters"] == {"forces": ["WYP"], "programme": None, "venue": None,
                               "facilitator": None}
    north = json.loads(client.get(url.replace("WYP", "NYP") + "&format=json").data)
    assert north["total"]["received"] == 1 and north["total"]["completed"] == 1
    both = json.loads(client.get(url + "&force=NYP&format=json").data)
    assert both["total"]["received"] == 4
    assert both["filters"]["forces"] == ["NYP", "WYP"]


def test_the_programme_filter_and_the_audit_row_that_records_the_filters(app, client, login_as):
    seed_outcomes()
    login_as("manager")
    data = json.loads(client.get(
        f"/reports/outcomes?{YEAR_2024}&programme=DRV&format=json").data)
    assert data["total"]["received"] == 1
    assert data["filters"]["programme"] == "DRV"
    pdf = client.get(f"/reports/outcomes?{YEAR_2024}&programme=DRV&format=pdf")
    text = pdf_text(pdf.data)
    assert "Programme Drink-drive awareness" in text
    unfiltered = json.loads(client.get(f"/reports/outcomes?{YEAR_2024}&format=json").data)
    assert unfiltered["total"]["received"] == 4
    assert unfiltered["filters"] == {"forces": [], "programme": None, "venue": None,
                                     "facilitator": None}
    rows = db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "report.downloaded").order_by(AuditEvent.id)).all()
    assert rows[0].details["programme"] == "DRV" and rows[0].details["forces"] == []


def test_the_reoffending_report_counts_one_forces_cohort(app, client, login_as):
    seed_outcomes()
    login_as("manager")
    base = ("/reports/reoffending?date_from-day=1&date_from-month=1&date_from-year=2024"
            "&date_to-day=31&date_to-month=12&date_to-year=2024&scope=any&format=json")
    every = json.loads(client.get(base).data)
    west = json.loads(client.get(base + "&force=WYP").data)
    def people(data: dict[str, Any]) -> dict[str, int]:
        return {c["group"]: c["people"] for c in data["cohorts"] if c["period"] == "all"}

    assert people(every)["completed"] == 3 and people(every)["not_completed"] == 1
    assert people(west)["completed"] == 2 and people(west)["not_completed"] == 1
    assert set(every) <= set(west)  # additive: every key of the contract is still there
    assert west["filters"]["forces"] == ["WYP"]
    text = pdf_text(client.get(base.replace("json", "pdf") + "&force=WYP").data)
    assert "West Yorkshire Police" in text


def test_the_attendance_report_by_force_venue_and_facilitator(app, client, login_as):
    world = seed_attendance()
    login_as("manager")
    base = f"/reports/attendance?{JUNE}&scope=any&format=json"
    every = json.loads(client.get(base).data)
    assert (every["total"]["booked"], every["total"]["attended"]) == (5, 4)
    assert every["total"]["fill_rate"] == pytest.approx(5 / 18)
    west = json.loads(client.get(base + "&force=WYP").data)
    assert west["total"]["sessions"] == 1
    assert (west["total"]["booked"], west["total"]["attended"], west["total"]["absent"]) == (2, 1, 1)
    # A session's places are not one force's: no fill rate, its places in full.
    assert west["total"]["places"] == 10 and west["total"]["fill_rate"] is None
    assert all(row["fill_rate"] is None for row in west["sessions"])
    north = json.loads(client.get(base + "&force=NYP").data)
    assert (north["total"]["sessions"], north["total"]["booked"]) == (2, 3)
    venue = json.loads(client.get(base + f"&venue={world['two'].id}").data)
    assert venue["total"]["sessions"] == 1 and venue["total"]["booked"] == 2
    assert venue["filters"]["venue"] == world["two"].id
    ann = json.loads(client.get(base + f"&facilitator={world['ann'].id}").data)
    assert ann["total"]["booked"] == 3 and list(ann["by_facilitator"]) == ["Ann Able"]
    csv_response = client.get(base.replace("json", "csv") + "&force=WYP")
    total = next(row for row in csv_rows(csv_response.data) if row["breakdown"] == "total")
    assert (total["booked"], total["fill_rate"]) == ("2", "")
    text = pdf_text(client.get(base.replace("json", "pdf")
                               + f"&force=WYP&venue={world['one'].id}").data)
    assert "Venue One" in text and "West Yorkshire Police" in text
    assert "Not shown when filtered by force" in text
    page = client.get(base.replace("&format=json", "") + f"&facilitator={world['ann'].id}")
    assert page.status_code == 200
    assert f'<option value="{world["ann"].id}" selected' in page.get_data(as_text=True)


def test_the_cli_filters_and_explains_bad_filters(app):
    seed_outcomes()
    runner = app.test_cli_runner()
    result = runner.invoke(args=["reports", "outcomes", "--from", "2024-01-01", "--to",
                                 "2024-12-31", "--force", "wyp", "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["total"]["received"] == 3 and data["filters"]["forces"] == ["WYP"]
    result = runner.invoke(args=["reports", "outcomes", "--from", "2024-01-01", "--to",
                                 "2024-12-31", "--force", "WYP", "--force", "NYP",
                                 "--programme", "KCRC", "--format", "json"])
    assert json.loads(result.stdout)["total"]["received"] == 3
    result = runner.invoke(args=["reports", "outcomes", "--from", "2024-01-01", "--to",
                                 "2023-12-31", "--force", "XYZ", "--programme", "NOPE",
                                 "--format", "csv"])
    assert result.exit_code == 1
    assert sorted(result.stderr.splitlines()) == [
        "force: There is no force with the code XYZ",
        "programme: There is no programme with the code NOPE",
        "to: The end date must be the same as or after the start date"]
    result = runner.invoke(args=["reports", "attendance", "--from", "2026-06-01", "--to",
                                 "2026-06-30", "--venue", "x1", "--facilitator", "999999",
                                 "--format", "json"])
    assert result.exit_code == 1
    assert "venue: --venue must be a whole number, like 3" in result.stderr
    assert "facilitator: There is no facilitator with the id 999999" in result.stderr


def test_the_api_filters_and_refuses_bad_filters_as_problems(app, client):
    seed_outcomes()
    token = create_token(create_user("manager"))
    db.session.commit()
    headers = {"Authorization": f"Bearer {token}"}
    response = client.get(f"/api/v1/reports/outcomes?{API_2024}&force=WYP&force=NYP",
                          headers=headers)
    assert response.status_code == 200
    assert response.get_json()["total"]["received"] == 4
    assert response.get_json()["filters"]["forces"] == ["NYP", "WYP"]
    response = client.get(f"/api/v1/reports/outcomes?{API_2024}&programme=DRV", headers=headers)
    assert response.get_json()["total"]["received"] == 1
    response = client.get("/api/v1/reports/outcomes?from=2024-01-01&to=2023-01-01&force=XYZ"
                          "&programme=NOPE", headers=headers)
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    errors = response.get_json()["errors"]
    assert errors["force"] == "There is no force with the code XYZ"
    assert errors["programme"] == "There is no programme with the code NOPE"
    assert "to" in errors
    response = client.get(f"/api/v1/reports/outcomes?{API_2024}&venue=1", headers=headers)
    assert response.status_code == 422
    assert response.get_json()["errors"]["venue"] == "This field is not allowed"
    response = client.get(f"/api/v1/reports/attendance?{API_2024}&venue=99999&facilitator=x",
                          headers=headers)
    assert response.status_code == 422
    errors = response.get_json()["errors"]
    assert set(errors) == {"venue", "facilitator"}
    assert errors["venue"] == "There is no venue with the id 99999"


def test_bad_filters_on_the_page_are_listed_in_the_error_summary_with_every_other_problem(
        app, client, login_as):
    seed_outcomes()
    login_as("manager")
    response = client.get("/reports/attendance?date_from-day=1&date_from-month=6"
                          "&date_from-year=2026&date_to-day=31&date_to-month=2&date_to-year=2026"
                          "&force=XYZ&force=WYP&programme=NOPE&venue=abc&facilitator=99999")
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    summary = page[page.index("govuk-error-summary"):page.index("</ul>", page.index(
        "govuk-error-summary"))]
    for message in ("There is no force with the code XYZ",
                    "There is no programme with the code NOPE", "There is no venue with the id abc",
                    "There is no facilitator with the id 99999"):
        assert message in summary
    assert 'href="#date_to-day"' in summary  # 31 February: the form's own problem, too
    assert 'href="#force"' in summary and 'href="#programme"' in summary
    response = client.get(f"/reports/outcomes?{YEAR_2024}&venue=1")
    assert response.status_code == 400
    assert "Only the attendance report can be filtered by venue" in response.get_data(as_text=True)
    response = client.get(f"/reports/outcomes?{YEAR_2024}&force={'X' * 5000}&format=csv")
    assert response.status_code == 400
    response = client.get(f"/reports/outcomes?{YEAR_2024}&programme=A%00B&force=%01")
    assert response.status_code == 400  # refused, never looked up: PostgreSQL refuses a NUL


@pytest.mark.parametrize("fmt", ["html", "csv", "pdf"])
@pytest.mark.parametrize("digit", ["\u00b2", "\U0001d7cf"])  # superscript two, bold one
def test_a_venue_or_facilitator_id_in_digits_that_are_not_ascii_is_named_not_a_500(
        app, client, login_as, fmt, digit):
    """str.isdigit() passes "²", which int() refuses: the filter was a 500 in every format."""
    seed_outcomes()
    login_as("manager")

    response = client.get(f"/reports/attendance?{YEAR_2024}&venue={digit}"
                          f"&facilitator=1{digit}&format={fmt}")

    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert f"There is no venue with the id {digit}" in page
    assert f"There is no facilitator with the id 1{digit}" in page


def test_the_cli_refuses_a_venue_id_in_digits_that_are_not_ascii(app) -> None:
    errors: dict[str, str] = {}
    assert cli_id("venue", "\u00b2", errors) is None
    assert errors == {"venue": "--venue must be a whole number, like 3"}


def test_the_page_runs_the_same_number_of_queries_however_many_forces_are_chosen(
        app, client, login_as):
    seed_outcomes()
    for n in range(4):
        create_force(f"EX{n}", f"Extra Force {n}")
    db.session.commit()
    login_as("manager")
    url = f"/reports/attendance?{JUNE}&scope=any"
    with count_queries() as one:
        assert client.get(url + "&force=WYP").status_code == 200
    with count_queries() as many:
        assert client.get(url + "&force=WYP&force=NYP&force=EX0&force=EX1&force=EX2"
                          ).status_code == 200
    assert len(many) == len(one)


# --- Police users: their own force only -----------------------------------------------------


def test_a_police_user_sees_his_own_forces_report_without_choosing_it(app, client):
    world = seed_outcomes()
    sign_in_police(client, world["wyp"])
    index = client.get("/reports")
    assert index.status_code == 200
    html = index.get_data(as_text=True)
    assert "Justice Data Lab" not in html and "Monthly reports" not in html
    assert 'href="/reports"' in client.get("/dashboard").get_data(as_text=True)  # in the menu
    page = client.get(f"/reports/outcomes?{YEAR_2024}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'name="force"' not in html and "West Yorkshire Police" in html
    assert "North Yorkshire Police" not in html
    data = json.loads(client.get(f"/reports/outcomes?{YEAR_2024}&format=json").data)
    assert data["total"]["received"] == 3 and data["filters"]["forces"] == ["WYP"]
    assert client.get(f"/reports/outcomes?{YEAR_2024}&force=WYP&format=csv").status_code == 200
    assert client.get("/reports/justice-data-lab").status_code == 403


@pytest.mark.parametrize("fmt", ["html", "csv", "pdf", "json"])
@pytest.mark.parametrize("kind", ["outcomes", "reoffending", "attendance"])
def test_a_police_user_never_gets_another_forces_figures(app, client, kind, fmt):
    world = seed_outcomes()
    sign_in_police(client, world["wyp"])
    for forces in ("force=NYP", "force=WYP&force=NYP", "force=XYZ"):
        response = client.get(f"/reports/{kind}?{YEAR_2024}&scope=any&{forces}&format={fmt}")
        assert response.status_code == 403, forces
        assert b"North" not in response.data


def test_a_police_token_gets_its_forces_json_and_a_problem_for_another_force(app, client):
    world = seed_outcomes()
    token = create_token(create_user("police", force=world["nyp"]))
    db.session.commit()
    headers = {"Authorization": f"Bearer {token}"}
    for kind in ("outcomes", "reoffending", "attendance"):
        response = client.get(f"/api/v1/reports/{kind}?{API_2024}&force=WYP", headers=headers)
        assert response.status_code == 403
        assert response.mimetype == "application/problem+json"
    response = client.get(f"/api/v1/reports/outcomes?{API_2024}", headers=headers)
    assert response.status_code == 200
    assert response.get_json()["total"]["received"] == 1
    assert response.get_json()["filters"]["forces"] == ["NYP"]
    response = client.get(f"/api/v1/reports/outcomes?{API_2024}&force=nyp", headers=headers)
    assert response.status_code == 200


def test_validate_parameters_reports_every_unknown_filter_at_once(app):
    seed_outcomes()
    with pytest.raises(ValidationFailed) as refused:
        reports_producing.validate_parameters(
            kind="outcomes", date_from=D(2024, 1, 1), date_to=D(2024, 12, 31), as_of=None,
            scope=None, today=D(2026, 6, 15), forces=["WYP", "AAA", "BBB"], programme="NOPE",
            venue=3)
    assert refused.value.errors == {
        "force": "There is no force with the codes AAA, BBB",
        "programme": "There is no programme with the code NOPE",
        "venue": "Only the attendance report can be filtered by venue"}
    parameters = reports_producing.validate_parameters(
        kind="outcomes", date_from=D(2024, 1, 1), date_to=D(2024, 12, 31), as_of=None,
        scope=None, today=D(2026, 6, 15), forces=["wyp", "NYP", "WYP"])
    assert parameters.forces == ("NYP", "WYP")
    assert reports_producing.filename_for("outcomes", parameters, "pdf") == (
        "outcomes-NYP-WYP-2024-01-01-to-2024-12-31.pdf")
