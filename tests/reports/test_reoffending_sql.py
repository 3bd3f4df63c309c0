"""The reoffending report's figures added up by the database equal the pure measure's
(reoffending.py) on the same rows: month ends, leap days, the as-of boundary, several
referrals of a person, both scopes, and the time-to-reoffence curves."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from diversion.core.extensions import db
from diversion.core.timeutils import add_months
from diversion.referrals.models import Referral, ReferralStatus
from diversion.reoffences.models import Reoffence
from diversion.reports import kinds as reports_kinds
from diversion.reports import reoffending
from diversion.reports import reoffending_report as reports_reoffending_report
from tests.builders import create_reoffence, referral_with_outcome

D = dt.date
ACCEPTED = "SOA2003-S51A"  # the default programme accepts it; TH68001 it does not


def _reoffence(referral, offence_date, outcome_date, ref, outcome="conviction", code=ACCEPTED):
    create_reoffence(person_id=referral.person_id, offence_date=offence_date, outcome=outcome,
                     outcome_date=outcome_date, reference=ref, offence_code=code)


@pytest.fixture()
def tricky(app):
    """People whose windows end on month ends, leap days and the as-of date itself."""
    jan = referral_with_outcome(family_name="Janend", referral_date=D(2024, 1, 31),
                                outcome="completed")
    _reoffence(jan, D(2025, 1, 31), D(2025, 7, 31), "J1")  # both on the last day: counts
    _reoffence(jan, D(2025, 2, 1), D(2025, 3, 1), "J2")  # a day after the window: does not
    leap = referral_with_outcome(family_name="Leapday", referral_date=D(2024, 2, 29),
                                 outcome="not_completed")
    _reoffence(leap, D(2025, 2, 28), D(2025, 8, 29), "L1")  # 28 Feb 2025, 29 Aug 2025: counts
    _reoffence(leap, D(2025, 3, 1), D(2025, 4, 1), "L2", code="TH68001")  # too late
    _reoffence(leap, D(2024, 3, 1), D(2025, 8, 30), "L3")  # proven a day too late
    _reoffence(leap, D(2024, 3, 2), D(2024, 4, 1), "L4", code="TH68001")  # counts (any scope)
    _reoffence(leap, D(2024, 3, 3), None, "L5", outcome="arrest")  # never counts
    # Index + 18 months is 28 Feb 2025 for 31 Aug 2023: reportable on exactly that as-of date.
    aug = referral_with_outcome(family_name="Augend", referral_date=D(2023, 8, 31),
                                outcome="completed")
    _reoffence(aug, D(2023, 9, 1), D(2023, 10, 1), "A1", outcome="caution")
    # A person referred twice in a quarter and again in the next: earliest per period.
    again = referral_with_outcome(family_name="Again", referral_date=D(2023, 11, 30),
                                  outcome="not_completed")
    referral_with_outcome(family_name="Again", referral_date=D(2023, 12, 31), outcome="completed")
    referral_with_outcome(family_name="Again", referral_date=D(2024, 1, 15), outcome="completed")
    _reoffence(again, D(2024, 1, 20), D(2024, 2, 1), "G1")
    _reoffence(again, D(2024, 11, 30), D(2025, 5, 30), "G2")
    referral_with_outcome(family_name="Gone", referral_date=D(2023, 12, 1), outcome="withdrawn")
    referral_with_outcome(family_name="Waits", referral_date=D(2024, 2, 1), outcome=None)
    # Enough people in 2023-Q4 for rates, reoffending on different days.
    for n in range(12):
        member = referral_with_outcome(family_name=f"Many {'abcdefghijkl'[n]}",
                                       referral_date=D(2023, 10, 1 + n),
                                       outcome="completed" if n % 3 else "not_completed")
        if n % 2:
            _reoffence(member, D(2023, 12, 1 + n), D(2024, 2, 1), f"M{n}")
            _reoffence(member, D(2024, 6, 1 + n), D(2024, 7, 1), f"N{n}")
    db.session.commit()


def _rows():
    referrals = [
        reoffending.CohortReferral(
            referral_id=r.id, person_id=r.person_id, referral_date=r.referral_date,
            outcome=r.status.value if r.status.is_terminal else "open")
        for r in db.session.scalars(select(Referral))]
    reoffences = [
        reoffending.Reoffence(person_id=o.person_id, offence_date=o.offence_date,
                              outcome=o.outcome.value, outcome_date=o.outcome_date,
                              offence_code=o.offence_code)
        for o in db.session.scalars(select(Reoffence))]
    return referrals, reoffences


@pytest.mark.parametrize("scope", ["any", "programme"])
@pytest.mark.parametrize(("date_from", "date_to", "as_of"), [
    (D(2023, 7, 1), D(2024, 6, 30), D(2025, 2, 28)),
    (D(2023, 7, 1), D(2024, 6, 30), D(2025, 2, 27)),
    (D(2023, 8, 31), D(2024, 2, 29), D(2026, 6, 15)),
    (D(2023, 12, 1), D(2023, 12, 31), D(2025, 8, 29)),
])
def test_the_database_adds_up_what_the_pure_measure_counts(tricky, scope, date_from, date_to,
                                                            as_of):
    parameters = reports_kinds.ReportParameters(date_from=date_from, date_to=date_to,
                                                as_of=as_of, scope=scope)
    report = reports_reoffending_report.build_reoffending(parameters, with_chart=True)
    referrals, reoffences = _rows()
    arguments = {"date_from": date_from, "date_to": date_to, "as_of": as_of, "scope": scope,
                 "programme_offence_codes": reports_reoffending_report.programme_offence_codes(
                     parameters)}
    expected = reoffending.proven_reoffending(referrals, reoffences, follow_up_detail=True,
                                              **arguments)
    detailed = dict(report.detailed)
    detailed.pop("comparison")
    assert detailed == expected
    assert sum(row["people"] + row["follow_up_incomplete"] for row in expected["cohorts"]) > 0
    curves = reoffending.time_to_first_reoffence(referrals, reoffences, **arguments)
    assert reports_reoffending_report.time_to_first_reoffence(
        parameters, arguments["programme_offence_codes"]) == curves


def test_the_figures_cover_what_the_fixture_was_made_to_show(tricky):
    """The cases above are live: the window's last days count, the day after does not."""
    parameters = reports_kinds.ReportParameters(date_from=D(2024, 1, 1), date_to=D(2024, 3, 31),
                                                as_of=D(2026, 6, 15))
    rows = {(r["period"], r["group"]): r
            for r in reports_reoffending_report.build_reoffending(parameters).data["cohorts"]}
    # Janend 1 (J1), Leapday 2 (L1, L4), Again 2 (G1 and G2, after his 15 January referral).
    assert rows["2024-Q1", "completed"]["reoffences"] == 3
    assert rows["2024-Q1", "not_completed"]["reoffences"] == 2
    assert rows["2024-Q1", "all"]["people"] == 3


def test_people_referred_on_one_day_are_counted_once(tricky):
    again = db.session.scalars(select(Referral).where(Referral.referral_date == D(2023, 12, 31))
                               ).one()
    twin = referral_with_outcome(family_name="Again", referral_date=D(2023, 12, 31),
                                 outcome="not_completed")
    db.session.commit()
    parameters = reports_kinds.ReportParameters(date_from=D(2023, 12, 2), date_to=D(2023, 12, 31),
                                                as_of=D(2026, 6, 15))
    rows = {(r["period"], r["group"]): r
            for r in reports_reoffending_report.build_reoffending(parameters).data["cohorts"]}
    assert rows["all", "all"]["people"] == 1
    # Ties go to the referral whose id, as text, comes first (reoffending.py's rule).
    chosen = min([again.id, twin.id], key=str)
    assert ReferralStatus(db.session.get_one(Referral, chosen).status).value == (
        "completed" if rows["all", "completed"]["people"] else "not_completed")


@pytest.mark.parametrize("months", [1, 12, 18])
def test_the_cutoff_is_the_last_referral_date_whose_follow_up_is_over(months):
    """`is_over` compares the referral date with this cutoff instead of doing month arithmetic
    on every row: it must be exactly the last day whose add_months is on or before the as-of
    date, month ends and leap days included."""
    first = dt.date(2023, 1, 1)
    for offset in range(0, 800, 3):
        end = first + dt.timedelta(days=offset)
        cutoff = reports_reoffending_report.latest_start_ending_by(end, months)
        assert add_months(cutoff, months) <= end
        assert add_months(cutoff + dt.timedelta(days=1), months) > end
