"""Importing a comparison cohort: `flask comparison import FILE`, all or nothing."""

from __future__ import annotations

import datetime as dt
import io
import re

import pytest
from sqlalchemy import func, select

from diversion.audit.models import AuditEvent
from diversion.core.extensions import db
from diversion.referrals.models import Person
from diversion.reoffences.models import ComparisonCase, ComparisonDisposal
from tests.builders import create_force, create_person, referral_with_outcome

pytestmark = pytest.mark.usefixtures("clock")

D = dt.date
HEADER = ("force_code,pnc_id,family_name,given_names,date_of_birth,index_date,prior_offences,"
          "disposal,source_reference\n")


def cases() -> list[ComparisonCase]:
    return list(db.session.scalars(select(ComparisonCase).order_by(ComparisonCase.id)))


def people() -> int:
    return db.session.scalar(select(func.count()).select_from(Person)) or 0


def run_import(app, tmp_path, text: str, *options: str):
    path = tmp_path / "comparison.csv"
    path.write_bytes(text.encode("utf-8"))
    return app.test_cli_runner().invoke(args=["comparison", "import", str(path), *options])


@pytest.fixture()
def on_record(app):
    """A force, one person referred (by PNC ID) and one known by name and date of birth."""
    create_force("WYP")
    referred = referral_with_outcome(family_name="Smith", referral_date=D(2025, 1, 10),
                                     outcome="completed", pnc_id="2019/0123456E")
    known = create_person(family_name="O'Brien", given_names="Liam Patrick",
                          date_of_birth=D(1990, 5, 6))
    db.session.commit()
    return referred.person_id, known.id


GOOD = HEADER + (
    "wyp,19/123456E,,,02/01/1980,2024-03-01,2,charged,CMP-1\n"
    "WYP,,o'brien,Liam,06/05/1990,2024-04-01,0,cautioned,CMP-2\n"
    "WYP,,Newman,Ann,1985-07-08,2024-05-01,1,community_resolution,CMP-3\n"
    "WYP,,Newman,Ann Marie,08/07/1985,2024-09-01,3,other,CMP-4\n")


def test_a_good_file_finds_or_creates_each_person_and_a_second_import_adds_nothing(
        app, tmp_path, on_record):
    referred_id, known_id = on_record
    before = people()
    result = run_import(app, tmp_path, GOOD)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == ["imported 4", "people added 1"]
    rows = cases()
    assert [c.person_id for c in rows[:2]] == [referred_id, known_id]
    # The two Newman rows are one new person (same family name, first given name and birth date).
    assert rows[2].person_id == rows[3].person_id and people() == before + 1
    assert [c.disposal for c in rows] == [ComparisonDisposal.CHARGED, ComparisonDisposal.CAUTIONED,
                                          ComparisonDisposal.COMMUNITY_RESOLUTION,
                                          ComparisonDisposal.OTHER]
    assert (rows[0].index_date, rows[0].prior_offences) == (D(2024, 3, 1), 2)
    audit = db.session.scalars(select(AuditEvent).where(
        AuditEvent.action == "comparison.import")).all()
    assert len(audit) == 1 and audit[0].details["imported"] == 4

    again = run_import(app, tmp_path, GOOD)
    assert again.exit_code == 0, again.output
    assert again.stdout.splitlines() == ["imported 0", "already imported 4"]
    assert len(cases()) == 4 and people() == before + 1


def test_a_bad_file_imports_nothing_and_lists_every_problem_by_line(app, tmp_path, on_record):
    before = people()
    text = HEADER + (
        "WYP,,Newman,Ann,1985-07-08,2024-05-01,1,charged,CMP-1\n"  # good, but not written
        "XXX,,Newman,Bob,1985-07-08,2024-05-01,1,charged,CMP-2\n"
        "WYP,,,,1985-07-08,2024-05-01,1,charged,CMP-3\n"
        "WYP,,Newman,Carl,1985-07-08,2030-05-01,-1,released,CMP-4\n"
        "WYP,,Newman,Dan,not a date,2024-05-01,1,charged,CMP-1\n"
        "WYP,19/999999Z,,,1985-07-08,2024-05-01,1,charged,CMP-6\n")
    result = run_import(app, tmp_path, text)
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert "row 3: force_code: No force has this code" in lines
    assert any(line.startswith("row 4: family_name:") for line in lines)
    assert any(line.startswith("row 4: given_names:") for line in lines)
    assert any(line.startswith("row 5: index_date:") for line in lines)
    assert any(line.startswith("row 5: prior_offences:") for line in lines)
    assert any(line.startswith("row 5: disposal:") for line in lines)
    assert any(line.startswith("row 6: date_of_birth:") for line in lines)
    assert any(line.startswith("row 7: pnc_id:") for line in lines)
    assert not any(line.startswith("row 2:") for line in lines)
    assert cases() == [] and people() == before


def test_a_missing_column_is_reported_on_line_one(app, tmp_path, on_record):
    result = run_import(app, tmp_path, "force_code,family_name,given_names,date_of_birth\n"
                                       "WYP,Newman,Ann,1985-07-08\n")
    assert result.exit_code == 1
    assert "row 1: index_date: This column is missing" in result.stderr.splitlines()
    assert cases() == []


def test_a_reference_used_for_someone_else_is_refused(app, tmp_path, on_record):
    assert run_import(app, tmp_path, GOOD).exit_code == 0
    result = run_import(app, tmp_path, HEADER + "WYP,,o'brien,Liam,06/05/1990,2024-04-01,0,"
                                                "cautioned,CMP-1\n")
    assert result.exit_code == 1
    assert "row 2: source_reference: This source reference is already used for someone else" \
        in result.stderr.splitlines()


def test_a_dry_run_writes_nothing(app, tmp_path, on_record):
    result = run_import(app, tmp_path, GOOD, "--dry-run")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == "dry run: would import 4; nothing written"
    assert cases() == []


def test_the_upload_page_checks_then_imports(app, client, login_as, on_record):
    login_as("manager")
    response = client.post("/reoffences/comparison/import", data={
        "file": (io.BytesIO(GOOD.encode()), "comparison.csv")}, content_type="multipart/form-data")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "4 new cases will be imported" in page and "Ann Newman (new)" in page
    assert cases() == []
    content = re.search(r'name="content" type="hidden" value="([^"]+)"', page)
    assert content is not None
    done = client.post("/reoffences/comparison/import/confirm", data={"content": content.group(1)})
    assert done.status_code == 302
    assert len(cases()) == 4


def test_the_upload_page_lists_every_problem_under_an_error_summary(app, client, login_as,
                                                                   on_record):
    login_as("manager")
    bad = HEADER + ("XXX,,Newman,Ann,1985-07-08,2024-05-01,1,charged,CMP-1\n"
                    "xxx,,Newman,Bob,1985-07-08,2024-05-01,x,charged,CMP-2\n")
    response = client.post("/reoffences/comparison/import", data={
        "file": (io.BytesIO(bad.encode()), "comparison.csv")}, content_type="multipart/form-data")
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "govuk-error-summary" in page and "The file has 3 problems" in page
    assert "Row 2, force_code: No force has this code" in page
    assert "Row 3, prior_offences:" in page and "Row 3, force_code: No force has this code" in page
    assert cases() == []


def test_only_managers_may_upload_a_comparison_cohort(app, client, login_as, on_record):
    login_as("police")
    assert client.get("/reoffences/comparison/import").status_code == 403
