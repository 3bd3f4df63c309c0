"""The reports built from the database: the reoffending JSON against a hand-computed
expectation, the outcomes funnel, parameter errors, and a constant number of queries."""

from __future__ import annotations

import datetime as dt
import math

import pytest
from sqlalchemy import event

from diversion.core.errors import ValidationFailed
from diversion.core.extensions import db
from diversion.reports import kinds as reports_kinds
from diversion.reports import outcomes_report as reports_outcomes_report
from diversion.reports import producing as reports_producing
from diversion.reports import reoffending_report as reports_reoffending_report
from tests.builders import create_force, create_reoffence, referral_with_outcome

D = dt.date


def wilson(successes: int, n: int, z: float = 1.959964) -> list[float]:
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return [centre - half, centre + half]


@pytest.fixture()
def seeded(app):
    """Six people in 2024 H1 with known outcomes and reoffences, and ten completers without."""
    p1 = referral_with_outcome(family_name="One", referral_date=D(2024, 1, 10), outcome="completed")
    create_reoffence(person_id=p1.person_id, offence_date=D(2024, 6, 1), outcome="conviction",
              outcome_date=D(2024, 8, 1), reference="R1")
    p2 = referral_with_outcome(family_name="Two", referral_date=D(2024, 2, 15), outcome="not_completed")
    # On index + 12 months exactly: counts. The arrest never does.
    create_reoffence(person_id=p2.person_id, offence_date=D(2025, 2, 15), outcome="caution",
              outcome_date=D(2025, 3, 1), reference="R2")
    create_reoffence(person_id=p2.person_id, offence_date=D(2024, 5, 1), outcome="arrest",
              outcome_date=None, reference="R3")
    p3 = referral_with_outcome(family_name="Three", referral_date=D(2024, 3, 1), outcome="completed")
    # Proven one day after index + 18 months: does not count.
    create_reoffence(person_id=p3.person_id, offence_date=D(2024, 4, 1), outcome="conviction",
              outcome_date=D(2025, 9, 2), reference="R4")
    referral_with_outcome(family_name="Four", referral_date=D(2024, 1, 20), outcome="withdrawn")
    p5 = referral_with_outcome(family_name="Five", referral_date=D(2024, 4, 10), outcome="completed")
    # On the index date itself: not after it, so it does not count.
    create_reoffence(person_id=p5.person_id, offence_date=D(2024, 4, 10), outcome="conviction",
              outcome_date=D(2024, 5, 1), reference="R5")
    referral_with_outcome(family_name="Six", referral_date=D(2024, 6, 20), outcome="completed")  # too recent
    for n in range(10):
        referral_with_outcome(family_name=f"Extra {'abcdefghij'[n]}", referral_date=D(2024, 1, 5),
                 outcome="completed")
    db.session.commit()


FROM, TO, AS_OF = D(2024, 1, 1), D(2024, 6, 30), D(2025, 12, 15)


def params(date_from=FROM, date_to=TO, as_of=AS_OF, scope="any") -> reports_kinds.ReportParameters:
    return reports_producing.validate_parameters(kind="reoffending", date_from=date_from,
                                                 date_to=date_to, as_of=as_of, scope=scope,
                                                 today=D(2026, 6, 15))


def row(period, group, people, reoffenders, reoffences):
    suppressed = people < 10
    rate = None if suppressed else reoffenders / people
    return {
        "period": period, "group": group, "people": people, "reoffenders": reoffenders,
        "reoffences": reoffences, "rate": rate,
        "ci95": None if suppressed else pytest.approx(wilson(reoffenders, people)),
        "per_offender": None if suppressed else reoffences / people,
        "per_reoffender": None if suppressed or not reoffenders else reoffences / reoffenders,
        "suppressed": suppressed,
        "warning": "too few for a Justice Data Lab comparison" if people < 60 else None,
    }


def test_the_reoffending_json_from_the_database_equals_the_hand_computed_report(seeded):
    report = reports_reoffending_report.build_reoffending(params()).data
    # The comparison group is one key more (additive); with no comparison cohort it says why.
    comparison = report.pop("comparison")
    assert comparison["available"] is False and comparison["comparison_people"] == 0
    assert comparison["programme_people"] == 14 and "at least 60" in comparison["reason"]
    assert report == {
        "measure": "proven_reoffending", "scope": "any", "as_of": "2025-12-15",
        "from": "2024-01-01", "to": "2024-06-30", "follow_up_months": 12, "waiting_months": 6,
        "cohorts": [
            row("2024-Q1", "completed", 12, 1, 1),
            row("2024-Q1", "not_completed", 1, 1, 1),
            row("2024-Q1", "all", 13, 2, 2),
            row("2024-Q2", "completed", 1, 0, 0),
            row("2024-Q2", "not_completed", 0, 0, 0),
            row("2024-Q2", "all", 1, 0, 0),
            row("all", "completed", 13, 1, 1),
            row("all", "not_completed", 1, 1, 1),
            row("all", "all", 14, 2, 2),
        ],
        "excluded": {"withdrawn": 1, "open": 0, "follow_up_incomplete": 1},
    }
    assert report["cohorts"][0]["rate"] == 1 / 12


def test_the_programme_scope_counts_only_the_offences_the_programme_accepts(seeded):
    report = reports_reoffending_report.build_reoffending(params(scope="programme")).data
    assert report["scope"] == "programme"
    assert sum(r["reoffences"] for r in report["cohorts"]) == 0


def test_an_empty_period_gives_an_honest_empty_report(app):
    report = reports_reoffending_report.build_reoffending(params(date_from=D(2020, 1, 1),
                                                                 date_to=D(2020, 3, 31))).data
    assert [r["people"] for r in report["cohorts"]] == [0] * 6
    assert report["excluded"] == {"withdrawn": 0, "open": 0, "follow_up_incomplete": 0}
    outcomes = reports_outcomes_report.build_outcomes(params(date_from=D(2020, 1, 1),
                                                             date_to=D(2020, 3, 31))).data
    assert outcomes["total"]["received"] == 0
    assert outcomes["total"]["completion_rate"] is None
    assert outcomes["by_force"] == {}


def test_the_outcomes_report_counts_the_funnel_by_force_and_month(app):
    west, south = create_force("WY"), create_force("SY")
    referral_with_outcome(family_name="A", referral_date=D(2026, 3, 2), outcome="completed", force=west,
             days_to_outcome=10)
    referral_with_outcome(family_name="B", referral_date=D(2026, 3, 20), outcome="completed", force=west,
             days_to_outcome=40)
    referral_with_outcome(family_name="C", referral_date=D(2026, 4, 1), outcome="not_completed", force=south)
    referral_with_outcome(family_name="D", referral_date=D(2026, 4, 2), outcome="withdrawn", force=south)
    referral_with_outcome(family_name="E", referral_date=D(2026, 4, 3), outcome=None, force=south)
    db.session.commit()
    data = reports_outcomes_report.build_outcomes(reports_producing.validate_parameters(
        kind="outcomes", date_from=D(2026, 3, 1), date_to=D(2026, 4, 30), as_of=None,
        scope=None, today=D(2026, 6, 15))).data
    total = data["total"]
    assert (total["received"], total["completed"], total["not_completed"], total["withdrawn"],
            total["open"]) == (5, 2, 1, 1, 1)
    assert total["completion_rate"] == 2 / 3
    assert total["median_days_referral_to_completion"] == 25.0
    assert total["median_days_offence_to_referral"] == 5.0
    assert total["not_completed_by_reason"] == {"Historical record (reason not recorded)": 1}
    assert set(data["by_force"]) == {"WY", "SY"}
    assert data["by_force"]["WY"]["completion_rate"] == 1.0
    assert set(data["by_month"]) == {"2026-03", "2026-04"}


@pytest.mark.parametrize(("arguments", "field", "message"), [
    ({"date_from": D(2024, 6, 1), "date_to": D(2024, 1, 1)}, "to",
     "The end date must be the same as or after the start date"),
    ({"as_of": D(2024, 3, 1)}, "as_of",
     "The as-of date must be the same as or after the end date"),
    ({"scope": "everything"}, "scope", "Scope must be 'any' or 'programme'"),
])
def test_bad_parameters_are_refused_with_a_clear_message(app, arguments, field, message):
    values = {"date_from": D(2024, 1, 1), "date_to": D(2024, 6, 30), "as_of": D(2026, 1, 1),
              "scope": "any", **arguments}
    with pytest.raises(ValidationFailed) as raised:
        reports_producing.validate_parameters(kind="reoffending", today=D(2026, 6, 15), **values)
    assert raised.value.errors[field] == message


def count_queries(action) -> int:
    statements: list[str] = []

    def listen(conn, cursor, statement, *args):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", listen)
    try:
        action()
    finally:
        event.remove(db.engine, "before_cursor_execute", listen)
    return len(statements)


@pytest.mark.parametrize("kind", ["reoffending", "outcomes"])
def test_a_report_page_runs_the_same_number_of_queries_however_many_referrals(
        app, client, login_as, kind):
    login_as("manager")
    url = (f"/reports/{kind}?date_from-day=1&date_from-month=1&date_from-year=2024"
           "&date_to-day=30&date_to-month=6&date_to-year=2024&scope=any")
    referral_with_outcome(family_name="Only", referral_date=D(2024, 1, 10), outcome="completed")
    db.session.commit()
    few = count_queries(lambda: client.get(url))
    for n in range(12):
        person = referral_with_outcome(family_name=f"Many {'abcdefghijkl'[n]}", referral_date=D(2024, 2, 1),
                          outcome="not_completed")
        create_reoffence(person_id=person.person_id, offence_date=D(2024, 5, 1), outcome="conviction",
                  outcome_date=D(2024, 6, 1), reference=f"Q{n}")
    db.session.commit()
    many = count_queries(lambda: client.get(url))
    assert few == many
    assert client.get(url).status_code == 200
