"""Producing a report: what views, the CLI and the API call. `produce_report` validates the
parameters, builds, renders (JSON, CSV or PDF) and writes the audit row.

- `REPORTS`: every ReportKind by name
- `validate_parameters(kind=, date_from=, date_to=, as_of=, scope=, today=)` -> ReportParameters
- `produce_report(kind=, parameters=, fmt=, actor=, now=)` -> Produced
- `render_report_pdf(report, generated_at=)`; `filename_for(kind, parameters, fmt)`
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from diversion.audit.models import AuditCategory
from diversion.audit.services import record
from diversion.auth.models import User
from diversion.core.errors import ValidationFailed
from diversion.core.pdf import render_pdf
from diversion.reports import reoffending
from diversion.reports.attendance_report import ATTENDANCE_DEFINITIONS, attendance_csv, build_attendance
from diversion.reports.charts import svg_data_uri
from diversion.reports.kinds import Report, ReportKind, ReportParameters
from diversion.reports.outcomes_report import OUTCOME_DEFINITIONS, build_outcomes, outcomes_csv
from diversion.reports.reoffending_report import build_reoffending, reoffending_csv

FORMATS = ("html", "json", "csv", "pdf")


MIME_TYPES = {"json": "application/json", "csv": "text/csv; charset=utf-8",
              "pdf": "application/pdf", "html": "text/html; charset=utf-8"}


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
        content = json.dumps(report.published, indent=2).encode("utf-8")
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
