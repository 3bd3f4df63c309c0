"""The proven reoffending report (the contract in DESIGN.md), and the Justice Data Lab
extract of the same cohort.

- `cohort_figures(parameters, codes)`: each cohort group's figures, added up in SQL (the
  definitions are reoffending.py's; `report_from_figures` turns them into the JSON)
- `build_reoffending(parameters, with_chart=False)` -> Report; `reoffending_csv(report)` -> bytes
- `justice_data_lab_csv(date_from=, date_to=, group=, actor=, now=)` -> (bytes, rows)
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Date,
    Integer,
    case,
    cast,
    extract,
    false,
    func,
    literal,
    or_,
    select,
    type_coerce,
    union_all,
)

from diversion.audit.models import AuditCategory
from diversion.audit.services import record
from diversion.auth.models import Force, User
from diversion.core.errors import ValidationFailed
from diversion.core.extensions import db
from diversion.core.timeutils import add_months
from diversion.programmes.models import Programme
from diversion.referrals.models import Person, Referral, ReferralStatus
from diversion.reoffences.models import Reoffence, ReoffenceOutcome
from diversion.reports import comparison, reoffending, summaries
from diversion.reports.charts import time_to_reoffence_svg
from diversion.reports.comparison_report import comparison_for
from diversion.reports.csvout import to_csv
from diversion.reports.kinds import Report, ReportParameters
from diversion.reports.sqldates import sql_add_months, sql_days_between, sql_id_text

JDL_GROUPS = ("completed", "not_completed", "all")


def _cohort_filters(parameters: ReportParameters) -> list[ColumnElement[bool]]:
    """Referrals in the range, of the forces and programme filtered on."""
    cohort = [Referral.referral_date >= parameters.date_from,
              Referral.referral_date <= parameters.date_to]
    if parameters.forces:
        cohort.append(Referral.force_id.in_(
            select(Force.id).where(Force.code.in_(parameters.forces))))
    if parameters.programme is not None:
        cohort.append(Referral.programme_id == select(Programme.id).where(
            Programme.code == parameters.programme).scalar_subquery())
    return cohort


def programme_offence_codes(parameters: ReportParameters) -> list[str] | None:
    """Scope programme: the offence codes the programme (any programme, unfiltered) accepts."""
    if parameters.scope != "programme":
        return None
    # One measure over every programme: the offences any of them accepts.
    accepting = select(Programme.eligible_offence_codes)
    if parameters.programme is not None:
        accepting = accepting.where(Programme.code == parameters.programme)
    return sorted({code for programme_codes in db.session.scalars(accepting)
                   for code in programme_codes or ()})


def _members(parameters: ReportParameters, codes: list[str] | None, *,
             first_reoffence: bool = False) -> Any:
    """SQL: the cohort's members, one row per referral chosen for a quarter (`in_quarter`) or
    for the whole range (`in_range`) or both, measured once: its quarter, outcome, whether its
    follow-up is over by the as-of date, its windows' ends, and (when over) its proven
    reoffences, or with `first_reoffence` the first one's offence date. With
    `first_reoffence` (the chart) only what the chart reads is chosen and measured: each
    person's earliest referral over the range whose follow-up is over.

    Filtered by force or programme, the cohort is that force's (programme's) referrals; their
    people's reoffences count wherever they were recorded."""
    year = cast(extract("year", Referral.referral_date), Integer)
    month = cast(extract("month", Referral.referral_date), Integer)
    # A person's earliest referral first; ties broken by the id as text, as reoffending.py does.
    earliest_first = (Referral.referral_date, sql_id_text(Referral.id))
    quarter = (year * 4 + (month - 1) // 3).label("quarter")
    # A follow-up is over by the as-of date exactly when the referral is on or before `cutoff`
    # (add_months never goes back as the day moves on): a comparison of the indexed column,
    # not month arithmetic on every row.
    cutoff = latest_start_ending_by(parameters.as_of,
                                    reoffending.FOLLOW_UP_MONTHS + reoffending.WAITING_MONTHS)
    ranks = [func.row_number().over(partition_by=Referral.person_id,
                                    order_by=earliest_first).label("rank_in_range")]
    if not first_reoffence:
        ranks.append(func.row_number().over(partition_by=(Referral.person_id, quarter),
                                            order_by=earliest_first).label("rank_in_quarter"))
    cohort = (
        select(Referral.id, Referral.person_id, Referral.referral_date,
               Referral.status.label("status"), quarter, *ranks)
        .where(*_cohort_filters(parameters),
               Referral.status.in_([ReferralStatus.COMPLETED, ReferralStatus.NOT_COMPLETED]),
               # The chart reads only follow-ups that are over; leaving the later referrals out
               # before ranking keeps each person's earliest (his earliest is either over or
               # not, and then so are all his others).
               *([Referral.referral_date <= cutoff] if first_reoffence else []))
        .subquery("cohort"))
    follow_up_ends = sql_add_months(cohort.c.referral_date,
                                    reoffending.FOLLOW_UP_MONTHS + reoffending.WAITING_MONTHS)
    if first_reoffence:
        in_quarter: ColumnElement[bool] = false()
        wanted = cohort.c.rank_in_range == 1
    else:
        in_quarter = cohort.c.rank_in_quarter == 1
        wanted = or_(in_quarter, cohort.c.rank_in_range == 1)
    # Each chosen referral's windows, worked out once (not again for each reoffence read).
    chosen = (
        select(cohort.c.person_id, cohort.c.quarter, cohort.c.status, cohort.c.referral_date,
               in_quarter.label("in_quarter"), (cohort.c.rank_in_range == 1).label("in_range"),
               sql_add_months(cohort.c.referral_date, reoffending.FOLLOW_UP_MONTHS)
               .label("window_end"),
               follow_up_ends.label("follow_up_ends"))
        .where(wanted)
        .cte("chosen").prefix_with("MATERIALIZED"))
    proven = [Reoffence.person_id == chosen.c.person_id,
              Reoffence.outcome.in_([ReoffenceOutcome.CONVICTION, ReoffenceOutcome.CAUTION]),
              Reoffence.outcome_date.is_not(None),
              Reoffence.offence_date > chosen.c.referral_date,
              Reoffence.offence_date <= chosen.c.window_end,
              Reoffence.outcome_date <= chosen.c.follow_up_ends]
    if codes is not None:
        proven.append(Reoffence.offence_code.in_(codes))
    is_over = chosen.c.referral_date <= cutoff
    measured = (case((is_over, select(func.min(Reoffence.offence_date)).where(*proven)
                      .correlate(chosen).scalar_subquery())).label("first_reoffence")
                if first_reoffence else
                case((is_over, select(func.count()).where(*proven).correlate(chosen)
                      .scalar_subquery()), else_=0).label("reoffences"))
    return (
        select(chosen.c.quarter, chosen.c.status, chosen.c.referral_date, chosen.c.in_quarter,
               chosen.c.in_range, chosen.c.window_end, chosen.c.follow_up_ends,
               case((is_over, 1), else_=0).label("is_over"), measured))


def latest_start_ending_by(end: dt.date, months: int) -> dt.date:
    """The last day whose `add_months(day, months)` is on or before `end` (add_months is
    non-decreasing in the day, so every earlier day's is too)."""
    day = add_months(end, -months)
    while add_months(day + dt.timedelta(days=1), months) <= end:
        day += dt.timedelta(days=1)
    while add_months(day, months) > end:
        day -= dt.timedelta(days=1)
    return day


def _quarter_name(number: int) -> str:
    year, quarter = divmod(number, 4)
    return f"{year}-Q{quarter + 1}"


def cohort_figures(parameters: ReportParameters, codes: list[str] | None) -> dict[
        tuple[str, str], reoffending.GroupFigures]:
    """Each cohort group's figures, keyed (quarter or "all", outcome), added up by the
    database in one query: as `reoffending.proven_reoffending` works them out in Python."""
    members = _members(parameters, codes).cte("members")  # read twice, worked out once
    waiting = members.c.is_over == 0
    figures = (
        func.sum(members.c.is_over),
        func.sum(case((members.c.reoffences > 0, 1), else_=0)),
        func.sum(members.c.reoffences),
        func.sum(case((waiting, 1), else_=0)),
        type_coerce(func.max(case((waiting, members.c.follow_up_ends))), Date))
    by_quarter = (select(members.c.quarter, members.c.status, *figures)
                  .where(members.c.in_quarter).group_by(members.c.quarter, members.c.status))
    whole_range = (select(literal(-1, Integer), members.c.status, *figures)
                   .where(members.c.in_range).group_by(members.c.status))
    found = {}
    for number, status, people, reoffenders, reoffences, incomplete, ends in db.session.execute(
            union_all(by_quarter, whole_range)):
        period = "all" if number == -1 else _quarter_name(int(number))
        if isinstance(ends, str):  # SQLite hands back a union's dates as text
            ends = dt.date.fromisoformat(ends)
        found[period, ReferralStatus(status).value] = reoffending.GroupFigures(
            people=int(people or 0), reoffenders=int(reoffenders or 0),
            reoffences=int(reoffences or 0), follow_up_incomplete=int(incomplete or 0),
            follow_up_ends=ends)
    return found


def excluded_counts(parameters: ReportParameters) -> tuple[int, int]:
    """Referrals in the range withdrawn, and still open (not completed, not_completed or
    withdrawn), in one query."""
    counts = dict(db.session.execute(
        select(Referral.status, func.count()).where(*_cohort_filters(parameters))
        .group_by(Referral.status)).all())
    withdrawn = counts.pop(ReferralStatus.WITHDRAWN, 0)
    still_open = sum(n for status, n in counts.items() if not ReferralStatus(status).is_terminal)
    return withdrawn, still_open


def time_to_first_reoffence(parameters: ReportParameters, codes: list[str] | None) -> dict[
        str, list[reoffending.SurvivalStep]]:
    """`reoffending.time_to_first_reoffence` with the days counted by the database: one row per
    outcome, day and event, not one per person."""
    members = _members(parameters, codes, first_reoffence=True).subquery("members")
    reoffended = members.c.first_reoffence.is_not(None)
    observed = (
        select(members.c.status,
               case((reoffended, sql_days_between(members.c.first_reoffence,
                                                  members.c.referral_date)),
                    else_=sql_days_between(members.c.window_end, members.c.referral_date))
               .label("days"),
               case((reoffended, 1), else_=0).label("event"))
        .where(members.c.in_range, members.c.is_over == 1)
        .subquery("observed"))
    events: dict[str, dict[int, int]] = {group: {} for group in reoffending.GROUPS}
    censored: dict[str, dict[int, int]] = {group: {} for group in reoffending.GROUPS}
    for status, day, event, count in db.session.execute(
            select(observed.c.status, observed.c.days, observed.c.event, func.count())
            .group_by(observed.c.status, observed.c.days, observed.c.event)):
        for group in (ReferralStatus(status).value, "all"):
            counts = events[group] if event else censored[group]
            counts[int(day)] = counts.get(int(day), 0) + int(count)
    return {group: reoffending.kaplan_meier_counts(events[group], censored[group])
            for group in reoffending.GROUPS}


def build_reoffending(parameters: ReportParameters, with_chart: bool = False) -> Report:
    """The report, its figures added up by the database: a few queries whatever the size of
    the cohort, no row per person brought into Python."""
    codes = programme_offence_codes(parameters)
    reoffending.validate_parameters(
        date_from=parameters.date_from, date_to=parameters.date_to, as_of=parameters.as_of,
        scope=parameters.scope, programme_offence_codes=codes or None)
    withdrawn, still_open = excluded_counts(parameters)
    figures = cohort_figures(parameters, codes)
    detailed = reoffending.report_from_figures(
        figures, withdrawn=withdrawn, open_=still_open, date_from=parameters.date_from,
        date_to=parameters.date_to, as_of=parameters.as_of, scope=parameters.scope,
        follow_up_detail=True)
    everyone = sum((figures.get(("all", outcome), reoffending.GroupFigures())
                    for outcome in reoffending.COHORT_OUTCOMES), reoffending.GroupFigures())
    # Additive: DESIGN.md "Comparison group".
    detailed["comparison"] = comparison_for(parameters, force_codes=parameters.forces,
                                            programme=parameters.programme,
                                            programme_people=everyone.people)
    report = Report(kind="reoffending", parameters=parameters,
                    data=reoffending.without_follow_up_detail(detailed), detailed=detailed,
                    summary=summaries.reoffending_summary(detailed))
    if with_chart:
        curves = time_to_first_reoffence(parameters, codes)
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
                         actor: User | None, now: dt.datetime,
                         force: str | None = None) -> tuple[bytes, int]:
    """The Justice Data Lab's file for a cohort: each person once, at their earliest referral
    in the range that ended completed or not completed (the report's `period: "all"` members),
    filtered to `group`; with `force` (a force's code), that force's referrals only, as the
    report filters its cohort. Dates DD/MM/YYYY as the Data Lab asks. Audited as a
    DISCLOSURE."""
    errors: dict[str, str] = {}
    if date_to < date_from:
        errors["to"] = "The end date must be the same as or after the start date"
    if group not in JDL_GROUPS:
        errors["group"] = "Group must be completed, not_completed or all"
    force_id = None
    if force is not None:
        force_id = db.session.scalar(select(Force.id).where(Force.code == force))
        if force_id is None:
            errors["force"] = "Choose a police force from the list"
    if errors:
        raise ValidationFailed(errors, "The export's parameters are not valid")
    rows = db.session.execute(
        select(Referral.person_id, Referral.id, Referral.referral_date, Referral.status.label("status"),
               Person.family_name, Person.given_names, Person.date_of_birth, Person.gender)
        .join(Person, Person.id == Referral.person_id)
        .where(Referral.referral_date >= date_from, Referral.referral_date <= date_to,
               Referral.status.in_([ReferralStatus.COMPLETED, ReferralStatus.NOT_COMPLETED]),
               *([Referral.force_id == force_id] if force_id is not None else []))
        # Same-day ties to the id as text, as the report chooses a person's earliest referral.
        .order_by(Referral.referral_date, sql_id_text(Referral.id)))
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
                    "force": force, "rows": len(lines)})
    return to_csv(JDL_HEADER, lines, bom=True), len(lines)
