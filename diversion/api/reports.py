"""API: reports as JSON (DESIGN.md; the reoffending JSON is a contract)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from flask import Response, request
from pydantic import BaseModel, ConfigDict, Field

from diversion.api.frame import bp
from diversion.api.schema import CalendarDate, operation, parse_query
from diversion.auth.access import current_actor, roles
from diversion.auth.models import Role
from diversion.core import parsing
from diversion.core.errors import ValidationFailed
from diversion.core.timeutils import london_today, now_utc
from diversion.reports.producing import produce_report, validate_parameters


class ReportQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_: CalendarDate = Field(alias="from",
                                description="First referral (attendance: session) date")
    to: CalendarDate = Field(description="Last referral (attendance: session) date")
    as_of: CalendarDate | None = Field(default=None, description="Default today (reoffending)")
    scope: Literal["any", "programme"] | None = Field(default=None,
                                                      description="Default any (reoffending)")


PERIOD_RULES = ("Invalid, or a period no schema can state: `from` on or before `to`; for "
                "reoffending, `as_of` (default today) on or after `to`")


def _lenient_date(text: str | None) -> dt.date | None:
    try:
        return parsing.parse_date(text) if text else None
    except parsing.ParseError:
        return None


def _report(kind: str) -> Any:
    now = now_utc()
    try:
        query = parse_query(ReportQuery)
    except ValidationFailed as refused:
        # Every problem in one round: the period rules too, for the dates that did parse.
        args = request.args
        validate_parameters(kind=kind, date_from=_lenient_date(args.get("from")),
                            date_to=_lenient_date(args.get("to")),
                            as_of=_lenient_date(args.get("as_of")), scope=args.get("scope"),
                            today=london_today(now), errors=refused.errors)
        raise
    parameters = validate_parameters(kind=kind, date_from=query.from_,
                                     date_to=query.to, as_of=query.as_of,
                                     scope=query.scope, today=london_today(now))
    produced = produce_report(kind=kind, parameters=parameters, fmt="json",
                              actor=current_actor(), now=now)
    return Response(produced.content, mimetype="application/json")


@bp.get("/reports/reoffending")
@roles(Role.MANAGER)
@operation("Proven reoffending (Ministry of Justice measure)", query=ReportQuery,
           responses={200: None, 422: None}, tags=("reports",),
           descriptions={422: PERIOD_RULES})
def reoffending_report() -> Any:
    return _report("reoffending")


@bp.get("/reports/outcomes")
@roles(Role.MANAGER)
@operation("Referral outcomes: funnel, completion rate, times", query=ReportQuery,
           responses={200: None, 422: None}, tags=("reports",),
           descriptions={422: PERIOD_RULES})
def outcomes_report() -> Any:
    return _report("outcomes")


@bp.get("/reports/attendance")
@roles(Role.MANAGER)
@operation("Attendance: sessions' registers by month, programme, venue, facilitator",
           query=ReportQuery, responses={200: None, 422: None}, tags=("reports",),
           descriptions={422: PERIOD_RULES})
def attendance_report() -> Any:
    return _report("attendance")
