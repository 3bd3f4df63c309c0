"""Producing a report: what views, the CLI and the API call. `produce_report` validates the
parameters, builds, renders (JSON, CSV or PDF) and writes the audit row.

- `REPORTS`: every ReportKind by name
- `validate_parameters(kind=, date_from=, date_to=, as_of=, scope=, today=, forces=, programme=,
  venue=, facilitator=)` -> ReportParameters (unknown codes and ids are errors like any other)
- `forces_for(actor, forces)`: the forces a user may see (police: his own, and only his own)
- `produce_report(kind=, parameters=, fmt=, actor=, now=)` -> Produced
- `render_report_pdf(report, generated_at=)`; `filename_for(kind, parameters, fmt)`
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import func, or_, select

from diversion.audit.models import AuditCategory
from diversion.audit.services import record
from diversion.auth.models import Force, Role, User
from diversion.core.bulk import cycle_collection_paused
from diversion.core.errors import Forbidden, ValidationFailed
from diversion.core.extensions import db
from diversion.core.pdf import render_pdf, start_import
from diversion.courses.models import Venue, session_facilitators
from diversion.programmes.models import Programme
from diversion.reports import reoffending
from diversion.reports.attendance_report import (
    ATTENDANCE_DEFINITIONS,
    attendance_csv,
    build_attendance,
    build_attendance_totals,
)
from diversion.reports.charts import svg_data_uri
from diversion.reports.kinds import Report, ReportKind, ReportParameters
from diversion.reports.outcomes_report import OUTCOME_DEFINITIONS, build_outcomes, outcomes_csv
from diversion.reports.reoffending_report import build_reoffending, reoffending_csv

FORMATS = ("html", "json", "csv", "pdf")


MIME_TYPES = {"json": "application/json", "csv": "text/csv; charset=utf-8",
              "pdf": "application/pdf", "html": "text/html; charset=utf-8"}


def validate_parameters(*, kind: str, date_from: dt.date | None, date_to: dt.date | None,
                        as_of: dt.date | None, scope: str | None, today: dt.date,
                        errors: dict[str, str] | None = None, forces: Iterable[str] = (),
                        programme: str | None = None, venue: int | None = None,
                        facilitator: int | None = None) -> ReportParameters:
    """Check a report's parameters; ValidationFailed with every problem at once.

    `errors` carries problems the caller already found (a date that is not a date, say). The
    filters are looked up, one query each when given: a force or programme code that names
    none, a venue or facilitator id that names none, is a problem like any other.
    """
    errors = dict(errors or {})
    names: dict[str, str] = {}
    force_codes = _known_forces(forces, errors, names)
    programme_code = _known_programme(programme, errors, names)
    uses_venue = kind in REPORTS and REPORTS[kind].uses_venue
    for name, value in (("venue", venue), ("facilitator", facilitator)):
        if value is not None and kind in REPORTS and not uses_venue:
            errors[name] = f"Only the attendance report can be filtered by {name}"
    if uses_venue and venue is not None:
        found = db.session.scalar(select(Venue.name).where(Venue.id == venue))
        if found is None:
            errors["venue"] = f"There is no venue with the id {venue}"
        names[f"venue:{venue}"] = found or ""
    if uses_venue and facilitator is not None:
        found = db.session.scalar(select(User.name).where(User.id == facilitator, or_(
            User.role == Role.FACILITATOR,
            User.id.in_(select(session_facilitators.c.user_id)))))
        if found is None:
            errors["facilitator"] = f"There is no facilitator with the id {facilitator}"
        names[f"facilitator:{facilitator}"] = found or ""
    if kind not in REPORTS:
        errors["report"] = "Report must be one of " + ", ".join(sorted(REPORTS))
    if date_from is None and "from" not in errors:
        errors["from"] = "Enter the start date"
    if date_to is None and "to" not in errors:
        errors["to"] = "Enter the end date"
    _check_period(date_from, date_to, as_of, today, errors,
                  uses_as_of=kind in REPORTS and REPORTS[kind].uses_as_of)
    as_of = as_of or today
    scope = (scope or "any").strip().lower()
    if scope not in reoffending.SCOPES:
        errors["scope"] = "Scope must be 'any' or 'programme'"
    if errors or date_from is None or date_to is None:
        raise ValidationFailed(errors, "The report's parameters are not valid")
    return ReportParameters(date_from=date_from, date_to=date_to, as_of=as_of, scope=scope,
                            forces=force_codes, programme=programme_code,
                            venue=venue if uses_venue else None,
                            facilitator=facilitator if uses_venue else None, names=names)


def _check_period(date_from: dt.date | None, date_to: dt.date | None, as_of: dt.date | None,
                  today: dt.date, errors: dict[str, str], *, uses_as_of: bool) -> None:
    """The period's rules, each problem on the box at fault: a range the right way round, and
    with an as-of date (reoffending) not before the end date. An as-of date left blank is
    today, so an end date after today is then the end date's problem, not the empty box's."""
    if date_to and "to" not in errors:
        if date_from and date_to < date_from:
            errors["to"] = "The end date must be the same as or after the start date"
        elif uses_as_of and as_of is None and "as_of" not in errors and date_to > today:
            errors["to"] = ("The date to must be today or in the past: the report counts "
                            "reoffences recorded up to today")
    if not uses_as_of or as_of is None or "as_of" in errors:
        return
    if date_to and as_of < date_to and "to" not in errors:
        errors["as_of"] = "The as-of date must be the same as or after the end date"


MAX_CODE = 16  # the columns' length: a longer code names nothing


def _may_be_a_code(text: str) -> bool:
    """Worth looking up: no longer than the column, no control character (which PostgreSQL
    would refuse in a query) — anything else names nothing."""
    return len(text) <= MAX_CODE and text.isprintable()


def _shown(code: str) -> str:
    """A code as the message repeats it: at most 40 characters, control characters as "?"."""
    return "".join(c if c.isprintable() else "?" for c in code[:40])


def _known_forces(forces: Iterable[str], errors: dict[str, str],
                  names: dict[str, str]) -> tuple[str, ...]:
    """The forces' codes as stored (sorted, unique), from codes in any case: one query."""
    wanted = {code.strip().upper() for code in forces if code.strip()}
    if not wanted:
        return ()
    rows = db.session.execute(select(Force.code, Force.name).where(
        func.upper(Force.code).in_(sorted(c for c in wanted if _may_be_a_code(c))))).all()
    found = {code.upper(): code for code, _ in rows}
    unknown = sorted(wanted - set(found))
    if unknown:
        errors["force"] = (f"There is no force with the code {_shown(unknown[0])}"
                           if len(unknown) == 1 else "There is no force with the codes "
                           + ", ".join(_shown(code) for code in unknown))
    names.update((f"force:{code}", name) for code, name in rows)
    return tuple(sorted(found.values()))


def _known_programme(programme: str | None, errors: dict[str, str],
                     names: dict[str, str]) -> str | None:
    code = (programme or "").strip()
    if not code:
        return None
    row = db.session.execute(select(Programme.code, Programme.name).where(
        func.upper(Programme.code) == code.upper())).first() if _may_be_a_code(code) else None
    if row is None:
        errors["programme"] = f"There is no programme with the code {_shown(code)}"
        return None
    names[f"programme:{row.code}"] = row.name
    return str(row.code)


def forces_for(actor: User | None, forces: Iterable[str]) -> tuple[str, ...]:
    """The forces a report may cover for `actor`: what was asked, except that a police user
    sees his own force only: his force when none is asked, Forbidden when another is."""
    asked = tuple(code.strip().upper() for code in forces if code.strip())
    if actor is None or actor.role is not Role.POLICE:
        return asked
    assert actor.force is not None  # the police_have_a_force constraint
    own = actor.force.code
    if any(code != own.upper() for code in asked):
        raise Forbidden("You can only see reports for your own force")
    return (own,)


REPORTS: dict[str, ReportKind] = {
    "outcomes": ReportKind(
        name="outcomes", title="Referral outcomes", build=build_outcomes, csv=outcomes_csv,
        pdf_template="reports/outcomes_pdf.html", definitions=OUTCOME_DEFINITIONS,
        description="How the referrals received in a period stand: completed, not completed "
                    "(and why), withdrawn or still open, and how quickly."),
    "reoffending": ReportKind(
        name="reoffending", title="Proven reoffending", build=build_reoffending,
        csv=reoffending_csv, pdf_template="reports/reoffending_pdf.html",
        definitions=reoffending.DEFINITIONS, uses_as_of=True, uses_scope=True,
        description="The Ministry of Justice measure: the share of people referred in a period "
                    "who were proven to reoffend within 12 months, for those who completed and "
                    "those who did not."),
    "attendance": ReportKind(
        name="attendance", title="Attendance", build=build_attendance, csv=attendance_csv,
        pdf_template="reports/attendance_pdf.html", definitions=ATTENDANCE_DEFINITIONS,
        dates_of="session", uses_venue=True, build_for_pdf=build_attendance_totals,
        description="Who came to the sessions held in a period: places, bookings, attendance, "
                    "and who was late, left early, absent or excused."),
}


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
    return render_pdf(kind.pdf_template, report=report.published, title=kind.title,
                      chart=svg_data_uri(report.chart_svg) if report.chart_svg else None,
                      chart_alt=report.chart_alt, summary=report.summary, extra=report.extra,
                      parameters=kind.parameter_labels(report.parameters),
                      csv_filename=filename_for(report.kind, report.parameters, "csv"),
                      generated_at=generated_at, definitions=kind.definitions)


def filename_for(kind: str, parameters: ReportParameters, fmt: str) -> str:
    """outcomes-2025-01-01-to-2025-12-31.pdf; filtered by force, the codes follow the kind
    (outcomes-WYP-2025-...), and a programme's code follows them."""
    parts = [kind, *parameters.forces, *([parameters.programme] if parameters.programme else [])]
    safe = "-".join("".join(c for c in part if c.isalnum() or c in "_-") for part in parts)
    return f"{safe}-{parameters.date_from.isoformat()}-to-{parameters.date_to.isoformat()}.{fmt}"


def produce_report(*, kind: str, parameters: ReportParameters, fmt: str, actor: User | None,
                   now: dt.datetime, actor_label: str | None = None) -> Produced:
    """Build a report in a format and write its audit row (a download is a DISCLOSURE).
    The JSON echoes the filters under "filters" (added to the report's own keys)."""
    if fmt not in FORMATS:
        raise ValidationFailed({"format": "Format must be one of " + ", ".join(FORMATS)})
    content: bytes | None = None
    if fmt == "pdf":
        start_import()  # WeasyPrint imported while the database counts
        # The cycle collector held off (as in html_to_pdf): the count's and the PDF's
        # objects are freed by reference counting.
        with cycle_collection_paused():
            report = REPORTS[kind].build_for(parameters, fmt)
            content = render_report_pdf(report, generated_at=now)
    else:
        report = REPORTS[kind].build_for(parameters, fmt)
    if fmt == "json":
        content = json.dumps({**report.published, "filters": parameters.filters()},
                             indent=2).encode("utf-8")
    elif fmt == "csv":
        content = REPORTS[kind].csv(report)
    record(action="report.viewed" if fmt == "html" else "report.downloaded",
           category=AuditCategory.CONSULTATION if fmt == "html" else AuditCategory.DISCLOSURE,
           now=now, actor=actor, actor_label=actor_label, object_type="report", object_id=kind,
           details={"format": fmt, **parameters.as_details()})
    return Produced(report=report, format=fmt, content=content,
                    filename=filename_for(kind, parameters, fmt))
