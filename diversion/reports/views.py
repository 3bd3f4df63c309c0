"""Report pages: filters, figures, CSV / PDF / JSON downloads, for managers and (their own
force's figures only) police users; the Justice Data Lab export and the monthly PDFs the
scheduler prepares, for managers."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, Response, abort, render_template, request
from sqlalchemy import or_, select

from diversion.auth.access import current_actor, roles
from diversion.auth.models import Force, Role, User
from diversion.core.errors import Forbidden, NotFound, ValidationFailed
from diversion.core.extensions import db
from diversion.core.forms import attach_errors
from diversion.core.timeutils import add_months, london_today, now_utc
from diversion.core.transactions import savepoint
from diversion.courses.models import Venue, session_facilitators
from diversion.programmes.models import Programme
from diversion.reports import kinds, producing, reoffending, reoffending_report
from diversion.reports import monthly as reports_monthly
from diversion.reports.charts import svg_data_uri
from diversion.reports.forms import JusticeDataLabForm, ReportFilterForm

bp = Blueprint("reports", __name__, url_prefix="/reports")

_FIELD_FOR = {"from": "date_from", "to": "date_to", "as_of": "as_of", "scope": "scope",
              "group": "group"}
FILTERS = ("force", "programme", "venue", "facilitator")
# The attendance page's table of sessions lists this many; the CSV has every session (a year of
# a national programme holds thousands: the whole table made a page of some 18 MB).
SESSION_ROWS_SHOWN = 200


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
@roles(Role.MANAGER, Role.POLICE)
def index() -> Any:
    actor = current_actor()
    manager = actor is not None and actor.role is Role.MANAGER
    return render_template("reports/index.html", reports=producing.REPORTS, manager=manager,
                           archived=reports_monthly.list_archived_reports() if manager else [],
                           police_force=None if manager or actor is None else actor.force)


@bp.get("/<kind>")
@roles(Role.MANAGER, Role.POLICE)
def show_report(kind: str) -> Any:
    """A report's page and downloads. A police user's report is always his own force's: no
    force asked means his; another force asked is refused (403), in every format."""
    if kind not in producing.REPORTS:
        abort(404)
    report_kind = producing.REPORTS[kind]
    actor = current_actor()
    police_force = actor.force if actor is not None and actor.role is Role.POLICE else None
    try:
        forces = producing.forces_for(actor, request.args.getlist("force"))
    except Forbidden:
        abort(403)
    now = now_utc()
    today = london_today(now)
    # Any of the form's own boxes asked for (not only the dates): an as-of date or a scope
    # alone is checked too, never replaced by the defaults without a word.
    boxes = ("date_from", "date_to", *(("as_of",) if report_kind.uses_as_of else ()),
             *(("scope",) if report_kind.uses_scope else ()))
    submitted = any(key.startswith(boxes) for key in request.args)
    form = ReportFilterForm(request.args if submitted else None)
    if not report_kind.uses_scope:
        form.scope.data = "any"
    if not submitted:
        defaults = default_parameters(kind, today)
        form = ReportFilterForm(data={"date_from": defaults.date_from,
                                      "date_to": defaults.date_to, "scope": "any",
                                      **{name: request.args.get(name, "")
                                         for name in FILTERS[1:]}})
    form.force.data = list(forces)
    if not report_kind.uses_as_of:
        # No as-of box on this report's page, and nothing in it depends on one: ignored (even
        # malformed), rather than an error about a box the page does not show.
        del form["as_of"]
    _set_choices(form, report_kind, police=police_force is not None)
    fmt = request.args.get("format", "html")
    if fmt not in producing.FORMATS:
        abort(404)
    report = None
    errors: dict[str, str] = {}
    venue = _whole_number("venue", form.venue.data, errors)
    facilitator = _whole_number("facilitator", form.facilitator.data, errors)
    form_valid = form.validate() or not submitted
    # The form's own problems (dates) stand; the parameters' rules add theirs (an unknown
    # force, say), so every problem is shown in one round.
    errors.update({name: form[field].errors[0] for name, field in _FIELD_FOR.items()
                   if field in form and form[field].errors})
    try:
        with savepoint():
            parameters = producing.validate_parameters(
                kind=kind, date_from=form.date_from.data, date_to=form.date_to.data,
                as_of=form.as_of.data if "as_of" in form else None, scope=form.scope.data,
                today=today, errors=errors,
                forces=forces, programme=form.programme.data or None, venue=venue,
                facilitator=facilitator)
            if form_valid:
                produced = producing.produce_report(kind=kind, parameters=parameters, fmt=fmt,
                                                   actor=actor, now=now)
    except ValidationFailed as error:
        _attach(form, ValidationFailed({
            name: message for name, message in error.errors.items()
            if not getattr(getattr(form, _FIELD_FOR.get(name, name), None), "errors", None)}))
    else:
        if form_valid:
            if fmt != "html":
                return _download(produced)
            report = produced.report
    _unlinked_when_not_shown(form, report_kind)
    query: dict[str, Any] = {k: v for k, v in request.args.lists() if k != "format"}
    if not submitted and report is not None:
        query = _query_for(report.parameters)
    return render_template(
        "reports/report.html", kind=report_kind, form=form, report=report,
        parameters=report_kind.parameter_labels(report.parameters) if report else None,
        query=query, definitions=report_kind.definitions, police_force=police_force,
        chart=svg_data_uri(report.chart_svg) if report and report.chart_svg else None,
        jdl_minimum=reoffending.JDL_MINIMUM, session_rows_shown=SESSION_ROWS_SHOWN,
    ), 200 if report is not None else 400


def _unlinked_when_not_shown(form: ReportFilterForm, kind: kinds.ReportKind) -> None:
    """A venue or facilitator asked of a report without those filters (a hand-edited address)
    stays an error, named in the summary without a link to a box the page does not have."""
    if kind.uses_venue:
        return
    for field in (form.venue, form.facilitator):
        form.form_errors.extend(field.errors)
        field.errors = []


def _whole_number(name: str, text: str | None, errors: dict[str, str]) -> int | None:
    text = (text or "").strip()
    if not text:
        return None
    # ASCII digits: str.isdigit() alone also passes "²", which int() refuses.
    if not (text.isascii() and text.isdigit()) or len(text) > 9:
        errors[name] = f"There is no {name} with the id {text[:40]}"
        return None
    return int(text)


def _set_choices(form: ReportFilterForm, kind: kinds.ReportKind, *, police: bool) -> None:
    """The filters' choices from what is stored: one query for each filter shown."""
    if not police:
        form.force.choices = [(code, name) for code, name in db.session.execute(
            select(Force.code, Force.name).order_by(Force.name, Force.code))]
    everything = [("", "All")]
    form.programme.choices = everything + [(code, name) for code, name in db.session.execute(
        select(Programme.code, Programme.name).order_by(Programme.name, Programme.code))]
    if kind.uses_venue:
        form.venue.choices = everything + [(str(i), name) for i, name in db.session.execute(
            select(Venue.id, Venue.name).order_by(Venue.name, Venue.id))]
        form.facilitator.choices = everything + [
            (str(i), name) for i, name in db.session.execute(
                select(User.id, User.name).where(or_(
                    User.role == Role.FACILITATOR,
                    User.id.in_(select(session_facilitators.c.user_id))))
                .order_by(User.name, User.id))]


def _query_for(parameters: kinds.ReportParameters) -> dict[str, Any]:
    query: dict[str, Any] = {"scope": parameters.scope}
    for name, day in (("date_from", parameters.date_from), ("date_to", parameters.date_to)):
        query.update({f"{name}-day": str(day.day), f"{name}-month": str(day.month),
                      f"{name}-year": str(day.year)})
    if parameters.forces:
        query["force"] = list(parameters.forces)
    for name in FILTERS[1:]:
        value = getattr(parameters, name)
        if value is not None:
            query[name] = str(value)
    return query


@bp.route("/justice-data-lab", methods=["GET", "POST"])
@roles(Role.MANAGER)
def justice_data_lab() -> Any:
    form = JusticeDataLabForm()
    form.force.choices = [("", "All forces")] + [(code, name) for code, name in db.session.execute(
        select(Force.code, Force.name).order_by(Force.name, Force.code))]
    if form.validate_on_submit():
        assert form.date_from.data is not None and form.date_to.data is not None
        force = form.force.data or None
        try:
            with savepoint():
                content, _ = reoffending_report.justice_data_lab_csv(
                    date_from=form.date_from.data, date_to=form.date_to.data,
                    group=form.group.data or "", force=force, actor=current_actor(),
                    now=now_utc())
        except ValidationFailed as error:
            _attach(form, error)
        else:
            filename = (f"justice-data-lab-{force + '-' if force else ''}"
                        f"{form.date_from.data.isoformat()}-to-"
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
