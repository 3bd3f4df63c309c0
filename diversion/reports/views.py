"""Report pages for managers: filters, figures, CSV / PDF / JSON downloads, the Justice Data
Lab export, and the monthly PDFs the scheduler prepares."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, Response, abort, render_template, request

from diversion.auth.access import current_actor, roles
from diversion.auth.models import Role
from diversion.core.errors import NotFound, ValidationFailed
from diversion.core.forms import attach_errors
from diversion.core.timeutils import add_months, london_today, now_utc
from diversion.core.transactions import savepoint
from diversion.reports import kinds, producing, reoffending, reoffending_report
from diversion.reports import monthly as reports_monthly
from diversion.reports.charts import svg_data_uri
from diversion.reports.forms import JusticeDataLabForm, ReportFilterForm

bp = Blueprint("reports", __name__, url_prefix="/reports")

_FIELD_FOR = {"from": "date_from", "to": "date_to", "as_of": "as_of", "scope": "scope",
              "group": "group"}


def default_parameters(kind: str, today: dt.date) -> kinds.ReportParameters:
    """Last year's referrals for outcomes; for reoffending the latest two years whose
    18-month follow-up is over."""
    if kind == "reoffending":
        end = add_months(today, -(reoffending.FOLLOW_UP_MONTHS
                                              + reoffending.WAITING_MONTHS))
        quarter_start = end.replace(month=(end.month - 1) // 3 * 3 + 1, day=1)
        end = quarter_start - dt.timedelta(days=1)
        start = add_months(quarter_start, -24)
        return kinds.ReportParameters(date_from=start, date_to=end, as_of=today)
    start = add_months(today.replace(day=1), -12)
    return kinds.ReportParameters(date_from=start, date_to=today, as_of=today)


def _attach(form: Any, error: ValidationFailed) -> None:
    attach_errors(form, ValidationFailed({_FIELD_FOR.get(k, k): v
                                          for k, v in error.errors.items()}))


def _download(produced: producing.Produced) -> Response:
    return Response(produced.content, content_type=produced.mimetype, headers={
        "Content-Disposition": f'attachment; filename="{produced.filename}"'})


@bp.get("")
@roles(Role.MANAGER)
def index() -> Any:
    return render_template("reports/index.html", reports=producing.REPORTS,
                           archived=reports_monthly.list_archived_reports())


@bp.get("/<kind>")
@roles(Role.MANAGER)
def show_report(kind: str) -> Any:
    if kind not in producing.REPORTS:
        abort(404)
    report_kind = producing.REPORTS[kind]
    now = now_utc()
    today = london_today(now)
    submitted = any(key.startswith(("date_from", "date_to")) for key in request.args)
    form = ReportFilterForm(request.args if submitted else None)
    if not submitted:
        defaults = default_parameters(kind, today)
        form = ReportFilterForm(data={"date_from": defaults.date_from,
                                      "date_to": defaults.date_to, "scope": "any"})
    fmt = request.args.get("format", "html")
    if fmt not in producing.FORMATS:
        abort(404)
    report = None
    if form.validate() or not submitted:
        try:
            with savepoint():
                parameters = producing.validate_parameters(
                    kind=kind, date_from=form.date_from.data, date_to=form.date_to.data,
                    as_of=form.as_of.data, scope=form.scope.data, today=today)
                produced = producing.produce_report(kind=kind, parameters=parameters, fmt=fmt,
                                                   actor=current_actor(), now=now)
        except ValidationFailed as error:
            _attach(form, error)
        else:
            if fmt != "html":
                return _download(produced)
            report = produced.report
    elif fmt != "html":
        fmt = "html"
    query = {k: v for k, v in request.args.items() if k != "format"}
    if not submitted and report is not None:
        query = _query_for(report.parameters)
    return render_template(
        "reports/report.html", kind=report_kind, form=form, report=report,
        parameters=report_kind.parameter_labels(report.parameters) if report else None,
        query=query, definitions=report_kind.definitions,
        chart=svg_data_uri(report.chart_svg) if report and report.chart_svg else None,
        jdl_minimum=reoffending.JDL_MINIMUM,
    ), 200 if report is not None else 400


def _query_for(parameters: kinds.ReportParameters) -> dict[str, str]:
    query: dict[str, str] = {"scope": parameters.scope}
    for name, day in (("date_from", parameters.date_from), ("date_to", parameters.date_to)):
        query.update({f"{name}-day": str(day.day), f"{name}-month": str(day.month),
                      f"{name}-year": str(day.year)})
    return query


@bp.route("/justice-data-lab", methods=["GET", "POST"])
@roles(Role.MANAGER)
def justice_data_lab() -> Any:
    form = JusticeDataLabForm()
    if form.validate_on_submit():
        assert form.date_from.data is not None and form.date_to.data is not None
        try:
            with savepoint():
                content, _ = reoffending_report.justice_data_lab_csv(
                    date_from=form.date_from.data, date_to=form.date_to.data,
                    group=form.group.data or "", actor=current_actor(), now=now_utc())
        except ValidationFailed as error:
            _attach(form, error)
        else:
            filename = (f"justice-data-lab-{form.date_from.data.isoformat()}-to-"
                        f"{form.date_to.data.isoformat()}.csv")
            return Response(content, content_type="text/csv; charset=utf-8", headers={
                "Content-Disposition": f'attachment; filename="{filename}"'})
    return render_template("reports/justice_data_lab.html", form=form), (
        400 if form.errors else 200)


@bp.get("/monthly/<int:archive_id>")
@roles(Role.MANAGER)
def download_monthly(archive_id: int) -> Any:
    actor = current_actor()
    assert actor is not None
    try:
        archived = reports_monthly.download_archived_report(archive_id=archive_id, actor=actor,
                                                            now=now_utc())
    except NotFound:
        abort(404)
    return Response(archived.content, mimetype="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="{archived.filename}"'})
