"""The proven reoffending report (the contract in DESIGN.md), and the Justice Data Lab
extract of the same cohort.

- `load_cohort(parameters)`: cohort members (of the forces and programme filtered on) and their
  reoffences, for reoffending.py
- `build_reoffending(parameters, with_chart=False)` -> Report; `reoffending_csv(report)` -> bytes
- `justice_data_lab_csv(date_from=, date_to=, group=, actor=, now=)` -> (bytes, rows)
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from diversion.audit.models import AuditCategory
from diversion.audit.services import record
from diversion.auth.models import Force, User
from diversion.core.errors import ValidationFailed
from diversion.core.extensions import db
from diversion.programmes.models import Programme
from diversion.referrals.models import Person, Referral, ReferralStatus
from diversion.reoffences.models import Reoffence
from diversion.reports import comparison, reoffending, summaries
from diversion.reports.charts import time_to_reoffence_svg
from diversion.reports.comparison_report import comparison_for
from diversion.reports.csvout import to_csv
from diversion.reports.kinds import Report, ReportParameters

JDL_GROUPS = ("completed", "not_completed", "all")


def load_cohort(parameters: ReportParameters) -> tuple[
        list[reoffending.CohortReferral], list[reoffending.Reoffence], list[str] | None]:
    """Referrals in the range, their people's reoffences, and (scope programme) the offence
    codes programmes accept: three queries whatever the size of the cohort.

    Filtered by force or programme, the cohort is that force's (programme's) referrals; their
    people's reoffences count wherever they were recorded. With a programme, scope
    "programme" counts the offences that programme accepts."""
    cohort = [Referral.referral_date >= parameters.date_from,
              Referral.referral_date <= parameters.date_to]
    if parameters.forces:
        cohort.append(Referral.force_id.in_(
            select(Force.id).where(Force.code.in_(parameters.forces))))
    if parameters.programme is not None:
        cohort.append(Referral.programme_id == select(Programme.id).where(
            Programme.code == parameters.programme).scalar_subquery())
    statuses = db.session.execute(
        select(Referral.id, Referral.person_id, Referral.referral_date, Referral.status.label("status"))
        .where(*cohort)
        .order_by(Referral.referral_date, Referral.id))
    referrals = []
    for referral_id, person_id, referral_date, status in statuses:
        status = ReferralStatus(status)
        outcome = status.value if status.is_terminal else "open"
        referrals.append(reoffending.CohortReferral(referral_id=referral_id, person_id=person_id,
                                                     referral_date=referral_date, outcome=outcome))
    in_cohort = select(Referral.person_id).where(*cohort)
    reoffences = [
        reoffending.Reoffence(person_id=person_id, offence_date=offence_date,
                              outcome=outcome.value, outcome_date=outcome_date,
                              offence_code=code)
        for person_id, offence_date, outcome, outcome_date, code in db.session.execute(
            select(Reoffence.person_id, Reoffence.offence_date, Reoffence.outcome,
                   Reoffence.outcome_date, Reoffence.offence_code)
            .where(Reoffence.person_id.in_(in_cohort)))
    ]
    codes = None
    if parameters.scope == "programme":
        # One measure over every programme: the offences any of them accepts.
        accepting = select(Programme.eligible_offence_codes)
        if parameters.programme is not None:
            accepting = accepting.where(Programme.code == parameters.programme)
        codes = sorted({code for programme_codes in db.session.scalars(accepting)
                        for code in programme_codes or ()})
    return referrals, reoffences, codes


def build_reoffending(parameters: ReportParameters, with_chart: bool = False) -> Report:
    referrals, reoffences, codes = load_cohort(parameters)
    if parameters.scope == "programme" and not codes:
        raise ValidationFailed({"scope": "No programme lists the offences it accepts, so the "
                                         "programme scope cannot be measured"})
    arguments: dict[str, Any] = {
        "date_from": parameters.date_from, "date_to": parameters.date_to,
        "as_of": parameters.as_of, "scope": parameters.scope, "programme_offence_codes": codes,
    }
    detailed = reoffending.proven_reoffending(referrals, reoffences, follow_up_detail=True,
                                              **arguments)
    # Additive: DESIGN.md "Comparison group".
    detailed["comparison"] = comparison_for(parameters, force_codes=parameters.forces,
                                            programme=parameters.programme)
    report = Report(kind="reoffending", parameters=parameters,
                    data=reoffending.without_follow_up_detail(detailed), detailed=detailed,
                    summary=summaries.reoffending_summary(detailed))
    if with_chart:
        curves = reoffending.time_to_first_reoffence(referrals, reoffences, **arguments)
        labelled = {
            f"Completed (n={curves['completed'][0].at_risk})": curves["completed"],
            f"Not completed (n={curves['not_completed'][0].at_risk})": curves["not_completed"],
        }
        report.chart_svg = time_to_reoffence_svg(labelled)
        report.chart_alt = summaries.reoffending_chart_alt(
            {name: (curves[group][0].at_risk,
                    curves[group][-1].reoffended if curves[group][0].at_risk else None)
             for name, group in (("Those who completed", "completed"),
                                 ("Those who did not", "not_completed"))},
            reoffending.FOLLOW_UP_MONTHS)
    return report


def reoffending_csv(report: Report) -> bytes:
    # The comparison's rows come after the cohort rows, in the same columns (additive).
    rows = reoffending.csv_rows(report.data) + comparison.csv_rows(report.data.get("comparison"))
    return to_csv(reoffending.CSV_HEADER, rows, bom=True)


JDL_HEADER = ("surname", "forename", "date_of_birth", "gender", "index_date")


def justice_data_lab_csv(*, date_from: dt.date, date_to: dt.date, group: str,
                         actor: User | None, now: dt.datetime) -> tuple[bytes, int]:
    """The Justice Data Lab's file for a cohort: each person once, at their earliest referral
    in the range that ended completed or not completed (the report's `period: "all"` members),
    filtered to `group`. Dates DD/MM/YYYY as the Data Lab asks. Audited as a DISCLOSURE."""
    errors: dict[str, str] = {}
    if date_to < date_from:
        errors["to"] = "The end date must be the same as or after the start date"
    if group not in JDL_GROUPS:
        errors["group"] = "Group must be completed, not_completed or all"
    if errors:
        raise ValidationFailed(errors, "The export's parameters are not valid")
    rows = db.session.execute(
        select(Referral.person_id, Referral.id, Referral.referral_date, Referral.status.label("status"),
               Person.family_name, Person.given_names, Person.date_of_birth, Person.gender)
        .join(Person, Person.id == Referral.person_id)
        .where(Referral.referral_date >= date_from, Referral.referral_date <= date_to,
               Referral.status.in_([ReferralStatus.COMPLETED, ReferralStatus.NOT_COMPLETED]))
        .order_by(Referral.referral_date, Referral.id))
    earliest: dict[int, Any] = {}
    for row in rows:
        earliest.setdefault(row.person_id, row)
    chosen = [r for r in earliest.values()
              if group == "all" or ReferralStatus(r.status).value == group]
    lines = [[r.family_name, r.given_names, f"{r.date_of_birth:%d/%m/%Y}", r.gender or "",
              f"{r.referral_date:%d/%m/%Y}"] for r in chosen]
    record(action="report.justice_data_lab_export", category=AuditCategory.DISCLOSURE, now=now,
           actor=actor, object_type="report", object_id="justice_data_lab",
           details={"from": date_from.isoformat(), "to": date_to.isoformat(), "group": group,
                    "rows": len(lines)})
    return to_csv(JDL_HEADER, lines, bom=True), len(lines)
