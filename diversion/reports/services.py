"""Report services: load plain records in a fixed number of queries, feed the pure arithmetic
(reoffending.py, measures.py), and render the result as JSON, CSV or PDF.

Every report is a `ReportKind` in REPORTS: a `build` function from parameters to the report's
JSON, a CSV writer, a PDF template and the page template. Adding the attendance report is one
more `ReportKind`. `produce_report` is what views, the CLI and the API call: it validates the
parameters, builds, renders and writes the audit row.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import case, exists, func, select

from diversion.attendance.models import Register, RegisterEntry, RegisterState
from diversion.audit.models import AuditCategory
from diversion.audit.services import record
from diversion.auth.models import Force, Role, User
from diversion.core.errors import NotFound, ValidationFailed
from diversion.core.extensions import db
from diversion.core.pdf import render_pdf
from diversion.core.timeutils import london_midnight_in_utc, london_today
from diversion.courses.models import CourseSession, SessionStatus, Venue, session_facilitators
from diversion.outbox.models import Channel
from diversion.outbox.services import enqueue
from diversion.programmes.models import Programme
from diversion.referrals.models import (
    Person,
    Referral,
    ReferralEvent,
    ReferralEventType,
    ReferralStatus,
)
from diversion.reoffences.models import Reoffence
from diversion.reports import measures, reoffending
from diversion.reports.charts import (
    attendance_by_month_svg,
    svg_data_uri,
    time_to_reoffence_svg,
)
from diversion.reports.csvout import to_csv
from diversion.reports.models import ArchivedReport

FORMATS = ("html", "json", "csv", "pdf")
MIME_TYPES = {"json": "application/json", "csv": "text/csv; charset=utf-8",
              "pdf": "application/pdf", "html": "text/html; charset=utf-8"}
JDL_GROUPS = ("completed", "not_completed", "all")

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
                                 "their completion deadline.",
    "Month": "The calendar month of the referral date.",
}


@dataclass(frozen=True)
class ReportParameters:
    date_from: dt.date
    date_to: dt.date
    as_of: dt.date
    scope: str = "any"

    def as_details(self) -> dict[str, str]:
        return {"from": self.date_from.isoformat(), "to": self.date_to.isoformat(),
                "as_of": self.as_of.isoformat(), "scope": self.scope}


@dataclass
class Report:
    """A built report: its JSON (`data`) and what only the page and the PDF show."""

    kind: str
    parameters: ReportParameters
    data: dict[str, Any]
    chart_svg: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ReportKind:
    name: str
    title: str
    build: Callable[[ReportParameters, bool], Report]  # (parameters, with_chart)
    csv: Callable[[Report], bytes]
    pdf_template: str
    definitions: dict[str, str]
    uses_as_of: bool = False
    uses_scope: bool = False
    dates_of: str = "referral"  # what the From and To dates select: referral or session dates

    def parameter_labels(self, parameters: ReportParameters) -> dict[str, str]:
        """The parameters as people read them, for pages and PDFs."""
        labels = {"From": _long_date(parameters.date_from), "To": _long_date(parameters.date_to)}
        if self.uses_as_of:
            labels["As of"] = _long_date(parameters.as_of)
        if self.uses_scope:
            labels["Offences counted"] = ("Any offence" if parameters.scope == "any"
                                          else "Offences the programme accepts")
        return labels


def _long_date(day: dt.date) -> str:
    return f"{day.day} {day:%B %Y}"


# Parameters -----------------------------------------------------------------------------------

def validate_parameters(*, kind: str, date_from: dt.date | None, date_to: dt.date | None,
                        as_of: dt.date | None, scope: str | None, today: dt.date,
                        errors: dict[str, str] | None = None) -> ReportParameters:
    """Check a report's parameters; ValidationFailed with every problem at once.

    `errors` carries problems the caller already found (a date that is not a date, say).
    """
    errors = dict(errors or {})
    if kind not in REPORTS:
        errors["report"] = "Report must be one of " + ", ".join(sorted(REPORTS))
    if date_from is None and "from" not in errors:
        errors["from"] = "Enter the start date"
    if date_to is None and "to" not in errors:
        errors["to"] = "Enter the end date"
    as_of = as_of or today
    if date_from and date_to and date_to < date_from:
        errors["to"] = "The end date must be the same as or after the start date"
    if (kind in REPORTS and REPORTS[kind].uses_as_of and date_to and as_of < date_to
            and "as_of" not in errors):
        errors["as_of"] = "The as-of date must be the same as or after the end date"
    scope = (scope or "any").strip().lower()
    if scope not in reoffending.SCOPES:
        errors["scope"] = "Scope must be 'any' or 'programme'"
    if errors or date_from is None or date_to is None:
        raise ValidationFailed(errors, "The report's parameters are not valid")
    return ReportParameters(date_from=date_from, date_to=date_to, as_of=as_of, scope=scope)


# Outcomes -------------------------------------------------------------------------------------

def load_referral_records(date_from: dt.date, date_to: dt.date) -> list[measures.ReferralRecord]:
    """Referrals received in [date_from, date_to], as plain records: one query."""
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
        .where(Referral.referral_date >= date_from, Referral.referral_date <= date_to)
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


def build_outcomes(parameters: ReportParameters, with_chart: bool = False) -> Report:
    records = load_referral_records(parameters.date_from, parameters.date_to)
    data = {
        "report": "referral_outcomes",
        "from": parameters.date_from.isoformat(),
        "to": parameters.date_to.isoformat(),
        "total": measures.summarise_outcomes(records).as_dict(),
        "by_force": measures.summaries_as_dict(measures.outcomes_by(records, measures.by_force)),
        "by_month": measures.summaries_as_dict(
            measures.outcomes_by(records, measures.by_referral_month)),
    }
    return Report(kind="outcomes", parameters=parameters, data=data)


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


# Proven reoffending ---------------------------------------------------------------------------

def load_cohort(parameters: ReportParameters) -> tuple[
        list[reoffending.CohortReferral], list[reoffending.Reoffence], list[str] | None]:
    """Referrals in the range, their people's reoffences, and (scope programme) the offence
    codes programmes accept: three queries whatever the size of the cohort."""
    statuses = db.session.execute(
        select(Referral.id, Referral.person_id, Referral.referral_date, Referral.status.label("status"))
        .where(Referral.referral_date >= parameters.date_from,
               Referral.referral_date <= parameters.date_to)
        .order_by(Referral.referral_date, Referral.id))
    referrals = []
    for referral_id, person_id, referral_date, status in statuses:
        status = ReferralStatus(status)
        outcome = status.value if status.is_terminal else "open"
        referrals.append(reoffending.CohortReferral(referral_id=referral_id, person_id=person_id,
                                                     referral_date=referral_date, outcome=outcome))
    in_cohort = (select(Referral.person_id)
                 .where(Referral.referral_date >= parameters.date_from,
                        Referral.referral_date <= parameters.date_to))
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
        codes = sorted({code for programme_codes in db.session.scalars(
            select(Programme.eligible_offence_codes)) for code in programme_codes or ()})
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
    data = reoffending.proven_reoffending(referrals, reoffences, **arguments)
    report = Report(kind="reoffending", parameters=parameters, data=data)
    if with_chart:
        curves = reoffending.time_to_first_reoffence(referrals, reoffences, **arguments)
        labelled = {
            f"Completed (n={curves['completed'][0].at_risk})": curves["completed"],
            f"Not completed (n={curves['not_completed'][0].at_risk})": curves["not_completed"],
        }
        report.chart_svg = time_to_reoffence_svg(labelled)
    return report


def reoffending_csv(report: Report) -> bytes:
    return to_csv(reoffending.CSV_HEADER, reoffending.csv_rows(report.data), bom=True)


# Attendance ---------------------------------------------------------------------------------

ATTENDANCE_DEFINITIONS = {
    "Sessions": "Sessions starting in the period (London dates) whose register has been "
                "submitted. Cancelled sessions, and sessions whose register is not yet "
                "submitted, are counted apart and left out of every figure.",
    "Places": "The places the session offered (its capacity).",
    "Booked": "People on the session's register: everyone still booked when it started.",
    "Attended": "Marked attended in full (arrived before the late cut-off and stayed to the "
                "end).",
    "Late refused": "Arrived after the late cut-off and were refused entry.",
    "Left early": "Left before the end of the course.",
    "Removed": "Asked to leave for disruptive behaviour.",
    "Absent": "Did not come, with no excuse accepted.",
    "Excused": "Did not come, with a reason accepted on the day; they are booked again.",
    "Fill rate": "Booked / places. Blank when there were no places.",
    "Attendance rate": "Attended / booked. Blank when nobody was booked.",
    "Facilitator": "A session run by two facilitators counts once for each of them, so the "
                   "facilitator rows add up to more than the total.",
    "Month": "The calendar month of the session's date.",
}

_STATUS_COUNTS = ("attended", "late_refused", "left_early", "removed", "absent", "excused")


def load_session_attendance(date_from: dt.date, date_to: dt.date) -> tuple[
        list[measures.SessionAttendance], dict[str, int]]:
    """Sessions starting on London dates [date_from, date_to] with their registers counted,
    and how many were left out (cancelled, register not submitted): two queries."""
    start = london_midnight_in_utc(date_from)
    end = london_midnight_in_utc(date_to + dt.timedelta(days=1))
    in_range = (CourseSession.starts_at >= start, CourseSession.starts_at < end)
    counts = [func.coalesce(func.sum(case((RegisterEntry.status == status, 1), else_=0)), 0)
              .label(status) for status in _STATUS_COUNTS]
    rows = db.session.execute(
        select(CourseSession.id, CourseSession.starts_at, CourseSession.capacity,
               CourseSession.status.label("session_status"), Register.state.label("state"),
               Programme.name.label("programme"), Venue.name.label("venue"),
               func.count(RegisterEntry.id).label("booked"), *counts)
        .join(Programme, Programme.id == CourseSession.programme_id)
        .join(Venue, Venue.id == CourseSession.venue_id)
        .outerjoin(Register, Register.session_id == CourseSession.id)
        .outerjoin(RegisterEntry, RegisterEntry.register_id == Register.id)
        .where(*in_range)
        .group_by(CourseSession.id, CourseSession.starts_at, CourseSession.capacity,
                  CourseSession.status, Register.state, Programme.name, Venue.name)
        .order_by(CourseSession.starts_at, CourseSession.id)).all()
    facilitators: dict[int, list[str]] = {}
    for session_id, name in db.session.execute(
            select(session_facilitators.c.session_id, User.name)
            .join(User, User.id == session_facilitators.c.user_id)
            .join(CourseSession, CourseSession.id == session_facilitators.c.session_id)
            .where(*in_range).order_by(User.name, User.id)):
        facilitators.setdefault(session_id, []).append(name)
    excluded = {"cancelled": 0, "register_not_submitted": 0}
    sessions = []
    for row in rows:
        if SessionStatus(row.session_status) is SessionStatus.CANCELLED:
            excluded["cancelled"] += 1
            continue
        if row.state is None or RegisterState(row.state) is not RegisterState.SUBMITTED:
            excluded["register_not_submitted"] += 1
            continue
        sessions.append(measures.SessionAttendance(
            session_id=row.id, session_date=london_today(row.starts_at),
            programme=row.programme, venue=row.venue,
            facilitators=tuple(facilitators.get(row.id, ())) or ("No facilitator recorded",),
            places=row.capacity, booked=row.booked,
            **{status: int(getattr(row, status)) for status in _STATUS_COUNTS}))
    return sessions, excluded


def _session_row(session: measures.SessionAttendance) -> dict[str, Any]:
    summary = measures.summarise_attendance([session]).as_dict()
    del summary["sessions"]
    return {"session_id": session.session_id, "date": session.session_date.isoformat(),
            "programme": session.programme, "venue": session.venue,
            "facilitators": list(session.facilitators), **summary}


def build_attendance(parameters: ReportParameters, with_chart: bool = False) -> Report:
    sessions, excluded = load_session_attendance(parameters.date_from, parameters.date_to)
    by_month = measures.attendance_by(sessions, measures.by_session_month)
    data = {
        "report": "attendance",
        "from": parameters.date_from.isoformat(),
        "to": parameters.date_to.isoformat(),
        "total": measures.summarise_attendance(sessions).as_dict(),
        "by_month": measures.summaries_as_dict(by_month),
        "by_programme": measures.summaries_as_dict(
            measures.attendance_by(sessions, measures.by_programme)),
        "by_venue": measures.summaries_as_dict(measures.attendance_by(sessions, measures.by_venue)),
        "by_facilitator": measures.summaries_as_dict(
            measures.attendance_by(sessions, measures.by_facilitator)),
        "sessions": [_session_row(session) for session in sessions],
        "excluded": excluded,
    }
    report = Report(kind="attendance", parameters=parameters, data=data)
    if with_chart and sessions:
        report.chart_svg = attendance_by_month_svg(by_month)
    return report


ATTENDANCE_CSV_HEADER = ("breakdown", "group", "session_id", "sessions", *measures.COUNT_FIELDS,
                         "fill_rate", "attendance_rate")
ATTENDANCE_SECTIONS = (("month", "by_month"), ("programme", "by_programme"),
                       ("venue", "by_venue"), ("facilitator", "by_facilitator"))


def attendance_csv(report: Report) -> bytes:
    data = report.data
    values = ATTENDANCE_CSV_HEADER[3:]
    rows: list[list[Any]] = [["total", "all", None, *(data["total"][n] for n in values)]]
    for breakdown, key in ATTENDANCE_SECTIONS:
        rows.extend([breakdown, group, None, *(summary[n] for n in values)]
                    for group, summary in data[key].items())
    rows.extend(["session", f"{s['date']} {s['venue']}", s["session_id"], 1,
                 *(s[n] for n in values[1:])] for s in data["sessions"])
    return to_csv(ATTENDANCE_CSV_HEADER, rows, bom=True)


REPORTS: dict[str, ReportKind] = {
    "outcomes": ReportKind(
        name="outcomes", title="Referral outcomes", build=build_outcomes, csv=outcomes_csv,
        pdf_template="reports/outcomes_pdf.html", definitions=OUTCOME_DEFINITIONS),
    "reoffending": ReportKind(
        name="reoffending", title="Proven reoffending", build=build_reoffending,
        csv=reoffending_csv, pdf_template="reports/reoffending_pdf.html",
        definitions=reoffending.DEFINITIONS, uses_as_of=True, uses_scope=True),
    "attendance": ReportKind(
        name="attendance", title="Attendance", build=build_attendance, csv=attendance_csv,
        pdf_template="reports/attendance_pdf.html", definitions=ATTENDANCE_DEFINITIONS,
        dates_of="session"),
}


# Producing and auditing -------------------------------------------------------------------

@dataclass(frozen=True)
class Produced:
    report: Report
    format: str
    content: bytes | None  # None for html: the page renders the report itself
    filename: str

    @property
    def mimetype(self) -> str:
        return MIME_TYPES[self.format]


def render_report_pdf(report: Report, *, generated_at: dt.datetime) -> bytes:
    kind = REPORTS[report.kind]
    return render_pdf(kind.pdf_template, report=report.data, title=kind.title,
                      chart=svg_data_uri(report.chart_svg) if report.chart_svg else None,
                      parameters=kind.parameter_labels(report.parameters),
                      generated_at=generated_at, definitions=kind.definitions)


def filename_for(kind: str, parameters: ReportParameters, fmt: str) -> str:
    return f"{kind}-{parameters.date_from.isoformat()}-to-{parameters.date_to.isoformat()}.{fmt}"


def produce_report(*, kind: str, parameters: ReportParameters, fmt: str, actor: User | None,
                   now: dt.datetime, actor_label: str | None = None) -> Produced:
    """Build a report in a format and write its audit row (a download is a DISCLOSURE)."""
    import json

    if fmt not in FORMATS:
        raise ValidationFailed({"format": "Format must be one of " + ", ".join(FORMATS)})
    report = REPORTS[kind].build(parameters, fmt in ("html", "pdf"))
    content: bytes | None = None
    if fmt == "json":
        content = json.dumps(report.data, indent=2).encode("utf-8")
    elif fmt == "csv":
        content = REPORTS[kind].csv(report)
    elif fmt == "pdf":
        content = render_report_pdf(report, generated_at=now)
    record(action="report.viewed" if fmt == "html" else "report.downloaded",
           category=AuditCategory.CONSULTATION if fmt == "html" else AuditCategory.DISCLOSURE,
           now=now, actor=actor, actor_label=actor_label, object_type="report", object_id=kind,
           details={"format": fmt, **parameters.as_details()})
    return Produced(report=report, format=fmt, content=content,
                    filename=filename_for(kind, parameters, fmt))


# Justice Data Lab ---------------------------------------------------------------------------

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


# The monthly report ---------------------------------------------------------------------------

def previous_month(day: dt.date) -> tuple[dt.date, dt.date]:
    """The first and last day of the month before `day`'s month."""
    last = day.replace(day=1) - dt.timedelta(days=1)
    return last.replace(day=1), last


def first_working_day(year: int, month: int) -> dt.date:
    """The first weekday of a month that is not an England and Wales bank holiday."""
    import holidays

    bank_holidays = holidays.country_holidays("GB", subdiv="ENG", years=year)
    day = dt.date(year, month, 1)
    while day.weekday() >= 5 or day in bank_holidays:
        day += dt.timedelta(days=1)
    return day


MONTHLY_KINDS = ("outcomes", "attendance")


def prepare_monthly_reports(*, today: dt.date, now: dt.datetime,
                            link_for: Callable[[ArchivedReport], str]) -> dict[str, Any]:
    """On or after the month's first working day: store last month's PDFs (once) and enqueue
    an email with a link to them for every active manager (once each: dedupe keys)."""
    if today < first_working_day(today.year, today.month):
        return {"prepared": 0, "emails": 0, "reason": "not yet the first working day"}
    date_from, date_to = previous_month(today)
    period = f"{date_from:%Y-%m}"
    prepared = 0
    archived = []
    for kind in MONTHLY_KINDS:
        stored = db.session.scalar(select(ArchivedReport).where(
            ArchivedReport.kind == kind, ArchivedReport.period == period))
        if stored is None:
            parameters = ReportParameters(date_from=date_from, date_to=date_to, as_of=date_to)
            report = REPORTS[kind].build(parameters, True)
            stored = ArchivedReport(
                kind=kind, period=period, date_from=date_from, date_to=date_to,
                filename=filename_for(kind, parameters, "pdf"),
                content=render_report_pdf(report, generated_at=now), created_at=now)
            db.session.add(stored)
            db.session.flush()
            record(action="report.archived", category=AuditCategory.COLLECTION, now=now,
                   object_type="report", object_id=kind, details={"period": period})
            prepared += 1
        archived.append(stored)
    managers = db.session.scalars(
        select(User).where(User.role == Role.MANAGER, User.is_active_account.is_(True))
        .order_by(User.id))
    emails = 0
    for manager in managers:
        message = enqueue(
            dedupe_key=f"monthly-report:{period}:user:{manager.id}", channel=Channel.EMAIL,
            recipient=manager.email, template="monthly_report", due_at=now, now=now,
            context={"name": manager.name, "month": f"{date_from:%B %Y}",
                     "links": [{"title": REPORTS[a.kind].title, "url": link_for(a)}
                               for a in archived]},
            subject_type="reports_month", subject_id=period)
        emails += message is not None
    return {"period": period, "prepared": prepared, "emails": emails}


def list_archived_reports() -> list[ArchivedReport]:
    return list(db.session.scalars(
        select(ArchivedReport).order_by(ArchivedReport.period.desc(), ArchivedReport.kind)))


def download_archived_report(*, archive_id: int, actor: User, now: dt.datetime) -> ArchivedReport:
    """A stored monthly PDF, for a manager; the download is audited as a DISCLOSURE."""
    archived = db.session.get(ArchivedReport, archive_id)
    if archived is None:
        raise NotFound("There is no such report")
    record(action="report.downloaded", category=AuditCategory.DISCLOSURE, now=now, actor=actor,
           object_type="report", object_id=archived.kind,
           details={"format": "pdf", "period": archived.period, "archive_id": archived.id})
    return archived
