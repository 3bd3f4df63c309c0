"""The reoffending report's comparison group (DESIGN.md "Comparison group"): loads both sides
and hands them to the pure arithmetic of comparison.py.

- `comparison_for(parameters, *, force_codes=(), programme=None)` -> the report's `comparison`
  JSON (a dict), computed from four queries whatever the size of the cohorts
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Collection, Hashable
from typing import Any

from sqlalchemy import Select, select

from diversion.auth.models import Force
from diversion.core.extensions import db
from diversion.core.timeutils import add_months
from diversion.programmes.models import Programme
from diversion.referrals.models import Person, Referral, ReferralStatus
from diversion.reoffences.models import ComparisonCase, Reoffence
from diversion.reports import comparison, reoffending, summaries
from diversion.reports.kinds import ReportParameters


def _referrals(parameters: ReportParameters, force_codes: Collection[str], programme: str | None,
               ) -> Select[int, int, dt.date, ReferralStatus, dt.date, str]:
    query = (select(Referral.id, Referral.person_id, Referral.referral_date,
                    Referral.status.label("status"), Person.date_of_birth, Force.code)
             .join(Person, Person.id == Referral.person_id)
             .join(Force, Force.id == Referral.force_id)
             .where(Referral.referral_date >= parameters.date_from,
                    Referral.referral_date <= parameters.date_to,
                    Referral.status.in_([ReferralStatus.COMPLETED, ReferralStatus.NOT_COMPLETED])))
    if force_codes:
        query = query.where(Force.code.in_(sorted(force_codes)))
    if programme:
        query = query.join(Programme, Programme.id == Referral.programme_id).where(
            Programme.code == programme)
    return query


def _cases(parameters: ReportParameters, force_codes: Collection[str],
           ) -> Select[int, dt.date, int, dt.date, str]:
    query = (select(ComparisonCase.person_id, ComparisonCase.index_date,
                    ComparisonCase.prior_offences, Person.date_of_birth, Force.code)
             .join(Person, Person.id == ComparisonCase.person_id)
             .join(Force, Force.id == ComparisonCase.force_id)
             .where(ComparisonCase.index_date >= parameters.date_from,
                    ComparisonCase.index_date <= parameters.date_to))
    if force_codes:
        query = query.where(Force.code.in_(sorted(force_codes)))
    return query


def _members(parameters: ReportParameters, query: Select[int, int, dt.date, ReferralStatus, dt.date, str],
             ) -> tuple[list[reoffending.CohortReferral], dict[Hashable, tuple[int, dt.date, str]]]:
    """The report's `period: "all"` members among the query's referrals, and each referral's
    person, date of birth and force."""
    referral_rows = list(db.session.execute(query))
    details: dict[Hashable, tuple[int, dt.date, str]] = {}
    cohort = []
    for referral_id, person_id, referral_date, status, born, force in referral_rows:
        details[referral_id] = (person_id, born, force)
        cohort.append(reoffending.CohortReferral(
            referral_id=referral_id, person_id=person_id, referral_date=referral_date,
            outcome=ReferralStatus(status).value))
    members = reoffending.report_members(cohort, date_from=parameters.date_from,
                                         date_to=parameters.date_to, as_of=parameters.as_of)
    return members, details


def comparison_for(parameters: ReportParameters, *, force_codes: Collection[str] = (),
                   programme: str | None = None,
                   programme_people: int | None = None) -> dict[str, Any]:
    """The programme's people (the report's `period: "all"`, group `all` members, optionally
    only those of `force_codes` and `programme`) against the comparison cohort (index dates in
    the report's range, optionally only those of `force_codes`), as JSON.

    The programme's prior offences are its people's proven offences recorded in the
    reoffences table in the 2 years before the referral date; the comparison cohort's are as
    imported. Scope `programme` counts only the offences programmes accept, as the report does.

    `programme_people`, when the caller has counted the programme's side already (the report's
    `period: "all"`, group `all` people): with fewer than 60 reportable comparison cases there
    is no comparison, and the programme's people are then not loaded one by one.
    """
    case_rows = list(db.session.execute(_cases(parameters, force_codes)))
    comparison_side = [
        comparison.Subject(person_id=person_id, index_date=index_date, date_of_birth=born,
                           prior_offences=prior, force=force)
        for person_id, index_date, prior, born, force in case_rows]
    if programme_people is not None:
        candidates = comparison.reportable_cases(comparison_side, as_of=parameters.as_of)
        if len(candidates) < reoffending.JDL_MINIMUM:
            # No comparison whatever the programme's side: its count is the caller's, and only
            # these few people need looking for on it.
            query = _referrals(parameters, force_codes, programme).where(
                Referral.person_id.in_(sorted({c.person_id for c in candidates})))
            on_programme = {m.person_id for m in _members(parameters, query)[0]}
            return comparison.no_comparison(
                programme_people, sum(1 for c in candidates if c.person_id not in on_programme))
    members, details = _members(parameters, _referrals(parameters, force_codes, programme))

    earliest_prior = add_months(parameters.date_from, -12 * comparison.PRIOR_YEARS)
    people = (select(Referral.person_id).where(Referral.referral_date >= parameters.date_from,
                                               Referral.referral_date <= parameters.date_to)
              .union(select(ComparisonCase.person_id)
                     .where(ComparisonCase.index_date >= parameters.date_from,
                            ComparisonCase.index_date <= parameters.date_to)))
    reoffences = [
        reoffending.Reoffence(person_id=person_id, offence_date=offence_date,
                              outcome=outcome.value, outcome_date=outcome_date, offence_code=code)
        for person_id, offence_date, outcome, outcome_date, code in db.session.execute(
            select(Reoffence.person_id, Reoffence.offence_date, Reoffence.outcome,
                   Reoffence.outcome_date, Reoffence.offence_code)
            .where(Reoffence.person_id.in_(people), Reoffence.offence_date >= earliest_prior))
    ]
    by_person: dict[Hashable, list[reoffending.Reoffence]] = defaultdict(list)
    for reoffence in reoffences:
        by_person[reoffence.person_id].append(reoffence)

    programme_side = []
    for member in members:
        person_id, born, force = details[member.referral_id]
        programme_side.append(comparison.Subject(
            person_id=person_id, index_date=member.referral_date,
            date_of_birth=born, force=force,
            prior_offences=comparison.prior_offences(member.referral_date,
                                                     by_person.get(member.person_id, ()))))
    codes = None
    if parameters.scope == "programme":
        # As the report: the offences any programme accepts (or, for one programme, its own).
        accepted = select(Programme.eligible_offence_codes)
        if programme:
            accepted = accepted.where(Programme.code == programme)
        codes = sorted({code for programme_codes in db.session.scalars(accepted)
                        for code in programme_codes or ()})
    result = comparison.compare_groups(programme_side, comparison_side, reoffences,
                                       as_of=parameters.as_of, offence_codes=codes)
    _name_the_levels(result["balance"])
    return result


def _name_the_levels(balance: list[dict[str, Any]]) -> None:
    """Balance rows labelled as a board reads them: forces by name, quarters in words."""
    forces = {row["covariate"].partition(":")[2] for row in balance
              if row["covariate"].startswith("force:")}
    names: dict[str, str] = {}
    if forces:
        rows = db.session.execute(select(Force.code, Force.name).where(Force.code.in_(forces)))
        names = {code: name for code, name in rows}
    for row in balance:
        kind, _, level = row["covariate"].partition(":")
        if kind == "force":
            row["label"] = names.get(level, level)
        elif kind == "quarter":
            row["label"] = f"Dealt with in {summaries.quarter_label(level)}"
