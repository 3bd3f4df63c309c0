"""API: reports as JSON (DESIGN.md; the reoffending JSON is a contract), filtered by force
(`force=`, repeatable), programme, and for attendance venue and facilitator. A police token's
report is its force's: another force asked is a 403."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from flask import Response, request
from pydantic import BaseModel, ConfigDict, Field

from diversion.api.frame import bp
from diversion.api.schema import CalendarDate, DatabaseId, FilledLine, operation, validate
from diversion.auth.access import current_actor, roles
from diversion.auth.models import Role
from diversion.core import parsing
from diversion.core.errors import ValidationFailed
from diversion.core.timeutils import london_today, now_utc
from diversion.reports.producing import forces_for, produce_report, validate_parameters


class ReportQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_: CalendarDate = Field(alias="from",
                                description="First referral (attendance: session) date")
    to: CalendarDate = Field(description="Last referral (attendance: session) date")
    as_of: CalendarDate | None = Field(default=None, description="Default today (reoffending)")
    scope: Literal["any", "programme"] | None = Field(default=None,
                                                      description="Default any (reoffending)")
    force: list[Annotated[FilledLine, Field(max_length=16)]] | None = Field(
        default=None, description="A force's code; repeat for several (force=WYP&force=NYP). "
                                  "Default every force; a police token: its own force only")
    programme: FilledLine | None = Field(default=None, max_length=16,
                                         description="A programme's code. Default every programme")


class AttendanceReportQuery(ReportQuery):
    venue: DatabaseId | None = Field(default=None, description="A venue's id: its sessions only")
    facilitator: DatabaseId | None = Field(default=None,
                                           description="A user's id: the sessions they ran only")


PERIOD_RULES = ("Invalid, or a period no schema can state: `from` today or earlier and on or "
                "before `to`; `to` less than 5 years after `from`; for reoffending, `as_of` "
                "(default today) today or earlier and on or after `to`; or a force, programme, "
                "venue or facilitator that does not exist")
FORCE_RULE = "A police token asking for a force other than its own"


def _lenient_date(text: str | None) -> dt.date | None:
    try:
        return parsing.parse_date(text) if text else None
    except parsing.ParseError:
        return None


def _lenient_id(text: str | None) -> int | None:
    return parsing.query_int(text) if text and text.isascii() and text.isdigit() else None


def _report(kind: str, model: type[ReportQuery] = ReportQuery) -> Any:
    now = now_utc()
    args = request.args
    actor = current_actor()
    # Refused before anything is looked up: a police token sees its own force only.
    forces = forces_for(actor, args.getlist("force"))
    payload: dict[str, Any] = dict(args.items())
    if "force" in args:
        payload["force"] = args.getlist("force")
    try:
        query = validate(model, payload)
    except ValidationFailed as refused:
        # Every problem in one round: the period and filter rules too, for what did parse.
        validate_parameters(kind=kind, date_from=_lenient_date(args.get("from")),
                            date_to=_lenient_date(args.get("to")),
                            as_of=_lenient_date(args.get("as_of")), scope=args.get("scope"),
                            today=london_today(now), errors=refused.errors,
                            forces=[] if "force" in refused.errors else forces,
                            programme=None if "programme" in refused.errors
                            else args.get("programme"),
                            venue=None if "venue" in refused.errors
                            else _lenient_id(args.get("venue")),
                            facilitator=None if "facilitator" in refused.errors
                            else _lenient_id(args.get("facilitator")))
        raise
    parameters = validate_parameters(kind=kind, date_from=query.from_,
                                     date_to=query.to, as_of=query.as_of,
                                     scope=query.scope, today=london_today(now),
                                     forces=forces, programme=query.programme,
                                     venue=getattr(query, "venue", None),
                                     facilitator=getattr(query, "facilitator", None))
    produced = produce_report(kind=kind, parameters=parameters, fmt="json", actor=actor, now=now)
    return Response(produced.content, mimetype="application/json")


@bp.get("/reports/reoffending")
@roles(Role.MANAGER, Role.POLICE)
@operation("Proven reoffending (Ministry of Justice measure)", query=ReportQuery,
           responses={200: None, 422: None}, tags=("reports",),
           descriptions={403: FORCE_RULE, 422: PERIOD_RULES})
def reoffending_report() -> Any:
    return _report("reoffending")


@bp.get("/reports/outcomes")
@roles(Role.MANAGER, Role.POLICE)
@operation("Referral outcomes: funnel, completion rate, times", query=ReportQuery,
           responses={200: None, 422: None}, tags=("reports",),
           descriptions={403: FORCE_RULE, 422: PERIOD_RULES})
def outcomes_report() -> Any:
    return _report("outcomes")


@bp.get("/reports/attendance")
@roles(Role.MANAGER, Role.POLICE)
@operation("Attendance: sessions' registers by month, programme, venue, facilitator",
           query=AttendanceReportQuery, responses={200: None, 422: None}, tags=("reports",),
           descriptions={403: FORCE_RULE, 422: PERIOD_RULES})
def attendance_report() -> Any:
    return _report("attendance", AttendanceReportQuery)
