"""Recording reoffences: the CSV import (all or nothing, idempotent), the API, the form, and
police scoping."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from diversion.audit.models import AuditCategory, AuditEvent
from diversion.core.extensions import db
from diversion.reoffences.models import Reoffence
from tests.builders import create_force, create_token, create_user, referral_with_outcome

pytestmark = pytest.mark.usefixtures("clock")  # the app reads a clock stopped at NOW

D = dt.date
HEADER = ("pnc_id,family_name,given_names,date_of_birth,offence_code,offence_date,outcome,"
          "outcome_date,source_reference\n")


def count() -> int:
    return db.session.scalar(select(func.count()).select_from(Reoffence)) or 0


@pytest.fixture()
def people(app):
    """Two people on record: one with a PNC ID, one known by name and date of birth."""
    with_pnc = referral_with_outcome(family_name="Smith", referral_date=D(2025, 1, 10), outcome="completed",
                        pnc_id="2019/0123456E")
    by_name = referral_with_outcome(family_name="O'Brien", given_names="Liam Patrick",
                       referral_date=D(2025, 2, 10), outcome="not_completed",
                       date_of_birth=D(1990, 5, 6))
    db.session.commit()
    return with_pnc, by_name


def run_import(app, tmp_path, text: str, *options: str, bom: bool = False):
    path = tmp_path / "reoffences.csv"
    path.write_bytes(("\ufeff" if bom else "").encode() + text.encode("utf-8"))
    return app.test_cli_runner().invoke(args=["reoffences", "import", str(path), *options])


GOOD = HEADER + (
    "19/123456E,,,,TH68001,2025-06-01,conviction,2025-08-01,SRC-1\n"
    ",o'brien,Liam,06/05/1990,SOA2003-S51A,2025-07-01,arrest,,SRC-2\n")


def test_a_good_file_imports_every_row_and_a_second_import_adds_nothing(app, tmp_path, people):
    result = run_import(app, tmp_path, GOOD, bom=True)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == "imported 2"
    assert count() == 2
    again = run_import(app, tmp_path, GOOD)
    assert again.exit_code == 0
    assert again.stdout.splitlines()[0] == "imported 0"
    assert count() == 2
    audit = db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "reoffence.recorded")).all()
    assert len(audit) == 2 and audit[0].category is AuditCategory.COLLECTION


def test_a_bad_file_imports_nothing_and_lists_each_problem_by_line(app, tmp_path, people):
    bad = HEADER + (
        "19/123456E,,,,TH68001,2025-06-01,conviction,,SRC-1\n"
        ",Nobody,Known,01/01/1970,TH68001,2025-06-01,caution,2025-07-01,SRC-2\n"
        ",o'brien,Liam,06/05/1990,TH68001,1980-01-01,arrest,,SRC-3\n"
        "19/123456E,,,,TH68001,2025-06-01,caution,2025-05-01,SRC-4\n"
        "19/123456E,,,,TH68001,2025-06-01,arrest,,SRC-5\n"
        "19/123456E,,,,TH68001,2025-06-02,arrest,,SRC-5\n")
    result = run_import(app, tmp_path, bad)
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "row 2: outcome_date: Enter the outcome date of the conviction",
        "row 3: family_name: No person on record matches this PNC ID, or name and date of birth",
        "row 4: offence_date: The offence date is before the person's date of birth",
        "row 5: outcome_date: The outcome date must be the same as or after the offence date",
        "row 7: source_reference: The same source reference is on an earlier row",
    ]
    assert count() == 0


def test_skip_unmatched_imports_the_rest_and_reports_the_skipped_rows(app, tmp_path, people):
    text = GOOD + ",Nobody,Known,01/01/1970,TH68001,2025-06-01,caution,2025-07-01,SRC-9\n"
    result = run_import(app, tmp_path, text, "--skip-unmatched")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == ["imported 2", "skipped 1 unmatched (rows 4)"]
    assert count() == 2


def test_a_dry_run_checks_the_file_and_writes_nothing(app, tmp_path, people):
    result = run_import(app, tmp_path, GOOD, "--dry-run")
    assert result.exit_code == 0
    assert "would import 2" in result.stdout
    assert count() == 0


def test_two_people_with_the_same_name_and_birth_date_are_ambiguous(app, tmp_path):
    from diversion.referrals.creation import create_referral
    from tests.builders import NOW, create_programme, referral_input

    create_programme()
    for force in (create_force("AA"), create_force("BB")):
        data = referral_input(family_name="Twin", given_names="Adam", force_code=force.code,
                              referral_date=D(2025, 1, 10), offence_date=D(2025, 1, 5),
                              outcome="completed", outcome_date=D(2025, 2, 1))
        create_referral(data=data, actor=None, now=NOW, new_person=True)
    db.session.commit()
    result = run_import(app, tmp_path, HEADER + ",Twin,Adam,1980-01-02,TH1,2025-06-01,arrest,,X1\n")
    assert result.exit_code == 1
    assert "row 2: family_name: More than one person on record" in result.stderr


def post(client, user, **body):
    token = create_token(user)
    db.session.commit()
    values = {"offence_code": "TH68001", "offence_date": "2025-06-01", "outcome": "conviction",
              "outcome_date": "2025-07-01", "source_reference": "API-1", **body}
    return client.post("/api/v1/reoffences", json=values,
                       headers={"Authorization": f"Bearer {token}"})


def test_the_api_records_a_reoffence_found_by_pnc_id(app, client, people):
    response = post(client, create_user("manager"), pnc_id="2019/0123456E")
    assert response.status_code == 201
    assert response.get_json()["person_id"] == people[0].person_id
    assert count() == 1


def test_the_api_answers_404_for_nobody_we_know(app, client, people):
    response = post(client, create_user("manager"), family_name="Nobody", given_names="X",
                    date_of_birth="1970-01-01")
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"
    assert count() == 0


def test_the_api_refuses_an_offence_before_the_person_was_born(app, client, people):
    response = post(client, create_user("manager"), pnc_id="2019/0123456E",
                    offence_date="1979-01-01", outcome_date="1979-02-01")
    assert response.status_code == 422
    assert response.get_json()["errors"]["offence_date"] == (
        "The offence date is before the person's date of birth")
    assert count() == 0


def test_the_api_refuses_an_outcome_before_the_offence(app, client, people):
    response = post(client, create_user("manager"), pnc_id="2019/0123456E",
                    outcome_date="2025-05-01")
    assert response.status_code == 422
    assert "outcome_date" in response.get_json()["errors"]


def test_police_record_for_their_own_force_but_get_404_for_another_forces_person(
        app, client, people):
    own_force = people[0].force
    officer = create_user("police", force=own_force)
    assert post(client, officer, pnc_id="2019/0123456E").status_code == 201
    stranger = create_user("police", force=create_force("ZZ"))
    response = post(client, stranger, pnc_id="2019/0123456E", source_reference="API-2")
    assert response.status_code == 404
    assert count() == 1
    assert db.session.scalar(select(Reoffence.force_id)) == own_force.id


def test_the_database_refuses_a_conviction_without_an_outcome_date(app, people):
    from sqlalchemy.exc import IntegrityError

    db.session.add(Reoffence(person_id=people[0].person_id, offence_code="X",
                             offence_date=D(2025, 1, 1), outcome="conviction",
                             source_reference="DB-1", recorded_at=dt.datetime.now(dt.UTC)))
    with pytest.raises(IntegrityError):
        db.session.flush()
    db.session.rollback()


def test_the_upload_page_previews_then_imports(app, client, login_as, people):
    import io

    login_as("manager")
    response = client.post("/reoffences/import", data={
        "file": (io.BytesIO(GOOD.encode()), "reoffences.csv")},
        content_type="multipart/form-data")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "2 new reoffences will be recorded" in page and "Liam Patrick O&#39;Brien" in page
    assert count() == 0
    import re

    content = re.search(r'name="content" type="hidden" value="([^"]+)"', page)
    assert content is not None
    done = client.post("/reoffences/import/confirm", data={"content": content.group(1),
                                                           "skip_unmatched": "y"})
    assert done.status_code == 302
    assert count() == 2


def test_a_checked_file_that_no_longer_imports_says_why_under_an_error_summary(
        app, client, login_as, people):
    """Between the check and the import someone records SRC-2 for another person: the import
    is refused whole, with the file's problems under an error summary, not a bare list."""
    import io
    import re

    login_as("manager")
    page = client.post("/reoffences/import", data={
        "file": (io.BytesIO(GOOD.encode()), "reoffences.csv")},
        content_type="multipart/form-data").get_data(as_text=True)
    content = re.search(r'name="content" type="hidden" value="([^"]+)"', page)
    assert content is not None
    taken = client.post("/reoffences/new", data={**FORM, "pnc_id": "2019/0123456E",
                                                 "source_reference": "SRC-2"})
    assert taken.status_code == 302 and count() == 1

    refused = client.post("/reoffences/import/confirm", data={"content": content.group(1),
                                                              "skip_unmatched": "y"})

    text = refused.get_data(as_text=True)
    assert refused.status_code == 400
    assert "govuk-error-summary" in text and "The file has 1 problem: nothing was imported" in text
    assert "Row 3, source_reference: This source reference is already used for someone else" \
        in text
    assert count() == 1


def test_the_form_records_a_reoffence_by_name(app, client, login_as, people):
    login_as("manager")
    response = client.post("/reoffences/new", data={
        "family_name": "OBrien", "given_names": "liam", "date_of_birth-day": "6",
        "date_of_birth-month": "5", "date_of_birth-year": "1990", "offence_code": "th1",
        "offence_date-day": "1", "offence_date-month": "6", "offence_date-year": "2025",
        "outcome": "arrest", "source_reference": "FORM-1"})
    assert response.status_code == 302
    assert db.session.scalar(select(Reoffence.offence_code)) == "TH1"


FORM = {"offence_code": "TH1", "offence_date-day": "1", "offence_date-month": "6",
        "offence_date-year": "2025", "outcome": "arrest", "source_reference": "FORM-2"}


@pytest.mark.parametrize(("person", "message"), [
    ({"family_name": "Nobody", "given_names": "Known", "date_of_birth-day": "1",
      "date_of_birth-month": "1", "date_of_birth-year": "1970"},
     "No person on record matches this PNC ID, or name and date of birth"),
    ({"pnc_id": "2019/0123456E", "offence_date-year": "1979"},
     "The offence date is before the person&#39;s date of birth"),
])
def test_the_form_refuses_a_reoffence_for_nobody_known_or_before_birth_and_writes_nothing(
        app, client, login_as, people, person, message):
    login_as("police", force=people[0].force)
    response = client.post("/reoffences/new", data={**FORM, **person})
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "There is a problem" in page and message in page
    assert count() == 0
    assert db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "reoffence.recorded")).all() == []
