"""The referral outcomes report: plain records in a fixed number of queries, fed to the pure
arithmetic of measures.py.

- `load_referral_records(date_from, date_to, forces=, programme=)` -> list[measures.ReferralRecord]
- `build_outcomes(parameters, with_chart=False)` -> Report; `outcomes_csv(report)` -> bytes
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, exists, select

from diversion.auth.models import Force
from diversion.core.extensions import db
from diversion.programmes.models import Programme
from diversion.referrals.models import Referral, ReferralEvent, ReferralEventType, ReferralStatus
from diversion.reports import measures, summaries
from diversion.reports.charts import outcomes_by_month_svg
from diversion.reports.csvout import to_csv
from diversion.reports.kinds import Report, ReportParameters

NON_COMPLETION_REASONS = {
    ReferralEventType.DEADLINE_PASSED: "Completion deadline passed",
    ReferralEventType.GRACE_EXPIRED: "Missed the session, no excuse accepted",
    ReferralEventType.IMPORTED_NOT_COMPLETED: "Historical record (reason not recorded)",
}


OUTCOME_DEFINITIONS = {
    "Received": "Referrals whose referral date falls in the period.",
    "Booked": "Referrals that had a place booked on a session at any time.",
    "Completed": "Referrals that ended with the course completed (attended in full, identity "
                 "checked, fee paid or waived).",
    "Not completed": "Referrals that ended without a completed course, by the reason recorded "
                     "when they closed.",
    "Withdrawn": "Referrals whose offer the police withdrew.",
    "Open": "Referrals still awaiting a booking, booked, or in the grace window after a missed "
            "session.",
    "Completion rate": "Completed / (completed + not completed). Open and withdrawn referrals "
                       "are left out; blank when neither has happened.",
    "Days from offence to referral": "The median number of days from the offence to the "
                                     "referral, over every referral received.",
    "Days from referral to completion": "The median number of days from the referral to the "
                                        "day the course was completed, over completed referrals.",
    "Completed within deadline": "The share of completed referrals completed on or before "
                                 "their completion deadline. The tables show how many were "
                                 "completed after it only when some were.",
    "Month": "The calendar month of the referral date.",
}


def load_referral_records(date_from: dt.date, date_to: dt.date, *, forces: Sequence[str] = (),
                          programme: str | None = None) -> list[measures.ReferralRecord]:
    """Referrals received in [date_from, date_to] (of these forces and this programme, when
    given: codes), as plain records: one query."""
    filters: list[ColumnElement[bool]] = []
    if forces:
        filters.append(Force.code.in_(forces))
    if programme is not None:
        filters.append(Referral.programme_id == select(Programme.id)
                       .where(Programme.code == programme).scalar_subquery())
    was_booked = exists().where(ReferralEvent.referral_id == Referral.id,
                                ReferralEvent.to_status == ReferralStatus.BOOKED)
    reason = (select(ReferralEvent.event)
              .where(ReferralEvent.referral_id == Referral.id,
                     ReferralEvent.to_status == ReferralStatus.NOT_COMPLETED)
              .order_by(ReferralEvent.id.desc()).limit(1).scalar_subquery())
    rows = db.session.execute(
        select(Referral.id, Force.code, Referral.offence_date, Referral.referral_date,
               Referral.status.label("status"), Referral.completion_deadline, Referral.closed_on,
               was_booked.label("was_booked"), reason.label("reason"))
        .join(Force, Force.id == Referral.force_id)
        .where(Referral.referral_date >= date_from, Referral.referral_date <= date_to, *filters)
        .order_by(Referral.referral_date, Referral.id))
    records = []
    for (referral_id, force, offence_date, referral_date, status, deadline, closed_on,
         booked, event) in rows:
        status = ReferralStatus(status)
        reason_label = None
        if status is ReferralStatus.NOT_COMPLETED:
            reason_label = (NON_COMPLETION_REASONS.get(ReferralEventType(event))
                            if event else None) or measures.UNKNOWN_REASON
        records.append(measures.ReferralRecord(
            referral_id=referral_id, force=force, offence_date=offence_date,
            referral_date=referral_date, status=status.value, completion_deadline=deadline,
            was_booked=bool(booked),
            completed_on=closed_on if status is ReferralStatus.COMPLETED else None,
            non_completion_reason=reason_label,
        ))
    return records


def force_names() -> dict[str, str]:
    """Every force's name by its code ("WYP": "West Yorkshire Police"): one query."""
    return {code: name for code, name in db.session.execute(select(Force.code, Force.name))}


def build_outcomes(parameters: ReportParameters, with_chart: bool = False) -> Report:
    records = load_referral_records(parameters.date_from, parameters.date_to,
                                    forces=parameters.forces, programme=parameters.programme)
    data: dict[str, Any] = {
        "report": "referral_outcomes",
        "from": parameters.date_from.isoformat(),
        "to": parameters.date_to.isoformat(),
        "total": measures.summarise_outcomes(records).as_dict(),
        "by_force": measures.summaries_as_dict(measures.outcomes_by(records, measures.by_force)),
        "by_month": measures.summaries_as_dict(
            measures.outcomes_by(records, measures.by_referral_month)),
    }
    names = force_names()
    report = Report(kind="outcomes", parameters=parameters, data=data,
                    extra={"force_names": names},
                    summary=summaries.outcomes_summary(data, names))
    if with_chart and records:
        # Every month from the first referral to the last, so a month without one shows as a gap.
        empty = measures.OutcomeSummary().as_dict()
        months = list(data["by_month"])
        report.chart_svg = outcomes_by_month_svg(
            {month: data["by_month"].get(month, empty)
             for month in measures.months_between(months[0], months[-1])})
        report.chart_alt = summaries.outcomes_chart_alt(data)
    return report


OUTCOMES_CSV_HEADER = (
    "breakdown", "group", "received", "booked", "completed", "not_completed", "withdrawn", "open",
    "completion_rate", "median_days_offence_to_referral", "median_days_referral_to_completion",
    "completed_within_deadline", "completed_within_deadline_rate", "not_completed_by_reason")


def outcomes_csv(report: Report) -> bytes:
    rows = []
    sections = [("total", {"all": report.data["total"]}), ("force", report.data["by_force"]),
                ("month", report.data["by_month"])]
    for breakdown, groups in sections:
        for group, summary in groups.items():
            reasons = "; ".join(f"{reason}: {count}"
                                for reason, count in summary["not_completed_by_reason"].items())
            rows.append([breakdown, group, *(summary[name] for name in OUTCOMES_CSV_HEADER[2:-1]),
                         reasons])
    return to_csv(OUTCOMES_CSV_HEADER, rows, bom=True)
