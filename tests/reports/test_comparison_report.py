"""The reoffending report's comparison group, from the database to the JSON, CSV, PDF and page."""

from __future__ import annotations

import csv
import datetime as dt
import io

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from diversion.auth.models import Force
from diversion.core.extensions import db
from diversion.core.timeutils import now_utc
from diversion.referrals.models import Person
from diversion.reoffences.comparison import import_comparison_cases
from diversion.reports import producing
from diversion.reports.comparison import newcombe_difference
from diversion.reports.comparison_report import comparison_for
from diversion.reports.kinds import ReportParameters
from tests.builders import NOW, create_force, create_reoffence, referral_with_outcome

pytestmark = pytest.mark.usefixtures("clock")

D = dt.date
PARAMETERS = ReportParameters(date_from=D(2024, 1, 1), date_to=D(2024, 6, 30), as_of=D(2026, 6, 15))
CONTRACT_KEYS = {"measure", "scope", "as_of", "from", "to", "follow_up_months", "waiting_months",
                 "cohorts", "excluded"}


def _name(i: int) -> str:
    return "Prog" + chr(97 + i % 26) + chr(97 + i // 26)


@pytest.fixture()
def both_sides(app):
    """70 programme people (7 reoffend) and 100 comparison people (20 reoffend), all of West
    Yorkshire, referred or dealt with in the first half of 2024."""
    force = create_force("WYP")
    programme = []
    for i in range(70):
        referral = referral_with_outcome(
            family_name=_name(i), referral_date=D(2024, 1, 2) + dt.timedelta(days=2 * i),
            outcome="completed", force=force, date_of_birth=D(1970 + i % 30, 1 + i % 12, 10))
        programme.append(referral)
    for referral in programme[:7]:
        create_reoffence(person_id=referral.person_id,
                         offence_date=referral.referral_date + dt.timedelta(days=100),
                         outcome="conviction",
                         outcome_date=referral.referral_date + dt.timedelta(days=200),
                         reference=f"RO-P-{referral.person_id}")
    lines = ["force_code,family_name,given_names,date_of_birth,index_date,prior_offences,"
             "disposal,source_reference"]
    for i in range(100):
        index = D(2024, 1, 3) + dt.timedelta(days=(i * 7) % 175)
        lines.append(f"WYP,Comp{chr(97 + i % 26)}{chr(97 + i // 26)},Adam,"
                     f"{D(1968 + i % 34, 1 + i % 12, 12).isoformat()},{index.isoformat()},"
                     f"{i % 3},charged,CMP-{i}")
    import_comparison_cases(content="\n".join(lines).encode(), actor=None, now=NOW)
    db.session.flush()
    others = list(db.session.scalars(select(Person).where(Person.family_name.startswith("Comp"))
                                     .order_by(Person.id)))
    for person in others[:20]:
        create_reoffence(person_id=person.id, offence_date=D(2024, 8, 1), outcome="caution",
                         outcome_date=D(2024, 8, 20), reference=f"RO-C-{person.id}")
    db.session.commit()
    return programme, others


def test_the_report_json_gains_a_comparison_key_and_keeps_every_contract_key(both_sides):
    report = producing.REPORTS["reoffending"].build(PARAMETERS, False).data
    assert CONTRACT_KEYS | {"comparison"} == set(report)
    comparison = report["comparison"]
    assert comparison == comparison_for(PARAMETERS)
    assert comparison["available"] is True
    assert (comparison["programme_people"], comparison["comparison_people"]) == (70, 100)
    unmatched = comparison["unmatched"]
    assert unmatched["programme"]["reoffenders"] == 7
    assert unmatched["comparison"]["reoffenders"] == 20
    d, low, high = newcombe_difference(7, 70, 20, 100)
    assert unmatched["difference"] == pytest.approx(d)
    assert unmatched["difference_ci95"] == pytest.approx([low, high])
    assert comparison["balance"] and comparison["summary"]


def test_a_force_filter_leaves_too_few_and_says_so(both_sides):
    comparison = comparison_for(PARAMETERS, force_codes=("SYP",))
    assert comparison["available"] is False
    assert comparison["reason"].startswith("No comparison: the programme has 0 and the "
                                           "comparison group 0 people")


def test_the_csv_keeps_its_rows_and_adds_the_comparison_after_them(both_sides):
    produced = producing.produce_report(kind="reoffending", parameters=PARAMETERS, fmt="csv",
                                        actor=None, now=now_utc())
    rows = list(csv.reader(io.StringIO(produced.content.decode("utf-8-sig"))))
    periods = [row[0] for row in rows[1:]]
    first_comparison = periods.index("comparison")
    assert set(periods[:first_comparison]) <= {"2024-Q1", "2024-Q2", "all"}
    assert rows[1 + first_comparison][:4] == ["comparison", "programme", "70", "7"]
    assert rows[2 + first_comparison][:4] == ["comparison", "comparison", "100", "20"]
    assert rows[3 + first_comparison][1] == "difference"


def test_the_pdf_states_the_comparison_and_its_caution(both_sides):
    produced = producing.produce_report(kind="reoffending", parameters=PARAMETERS, fmt="pdf",
                                        actor=None, now=now_utc())
    text = " ".join(" ".join(page.extract_text().split())
                    for page in PdfReader(io.BytesIO(produced.content)).pages)
    assert "Compared with people dealt with otherwise" in text
    assert "People who took the course were proven to reoffend at" in text
    assert "does not remove it" in text
    assert "How alike the groups are" in text and "Reoffending compared" in text


def test_the_page_shows_the_comparison(both_sides, client, login_as):
    login_as("manager")
    response = client.get("/reports/reoffending?date_from-day=1&date_from-month=1"
                          "&date_from-year=2024&date_to-day=30&date_to-month=6&date_to-year=2024"
                          "&as_of-day=15&as_of-month=6&as_of-year=2026")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Compared with people dealt with otherwise" in page
    assert '<th scope="row" class="govuk-table__header">Age at index date (years)</th>' in page


def test_the_balance_table_names_quarters_and_forces_in_words(both_sides):
    create_force("SYP", "South Yorkshire Police")
    balance = comparison_for(PARAMETERS)["balance"]
    labels = {row["covariate"]: row["label"] for row in balance}
    assert labels["quarter:2024-Q1"] == "Dealt with in Jan to Mar 2024"
    assert not any(label.startswith(("Index quarter", "Force ")) for label in labels.values())
    wyp = db.session.scalars(select(Force).where(Force.code == "WYP")).one()
    assert labels["force:WYP"] == wyp.name != "WYP"


def test_with_few_comparison_cases_the_report_counts_without_loading_each_person(app):
    """Fewer than 60 reportable comparison cases: no comparison, and the counts the report
    gives (its own people, the cases not on the programme) equal the full calculation's."""
    force = create_force("WYP")
    for i in range(12):
        referral_with_outcome(family_name=_name(i), referral_date=D(2024, 1, 2 + i),
                              outcome="completed", force=force)
    referral_with_outcome(family_name="Recent", referral_date=D(2025, 6, 2), outcome="completed",
                          force=force)
    lines = ["force_code,family_name,given_names,date_of_birth,index_date,prior_offences,"
             "disposal,source_reference"]
    # Five cases: two of them programme people (the same name and date of birth), one too
    # recent to report, one person twice.
    for n, (name, index) in enumerate([(_name(0), D(2024, 2, 1)), (_name(1), D(2024, 3, 1)),
                                       ("Compa", D(2024, 2, 5)), ("Compa", D(2024, 5, 5)),
                                       ("Compb", D(2025, 6, 1))]):
        lines.append(f"WYP,{name},Adam,1980-01-02,{index.isoformat()},0,charged,CMP-{n}")
    import_comparison_cases(content="\n".join(lines).encode(), actor=None, now=NOW)
    db.session.commit()
    parameters = ReportParameters(date_from=D(2024, 1, 1), date_to=D(2025, 6, 30),
                                  as_of=D(2026, 6, 15))
    report = producing.REPORTS["reoffending"].build(parameters, False).data
    assert report["comparison"] == comparison_for(parameters)
    assert (report["comparison"]["programme_people"],
            report["comparison"]["comparison_people"]) == (12, 1)
