"""API: reports as JSON (DESIGN.md; the reoffending JSON is a contract)."""

from __future__ import annotations

from typing import Any

from flask import Response
from pydantic import BaseModel, ConfigDict, Field

from diversion.access import current_actor, roles
from diversion.api import bp
from diversion.api.schema import operation, parse_query
from diversion.auth.models import Role
from diversion.extensions import db
from diversion.referrals.services import parse_date
from diversion.reports.services import produce_report, validate_parameters
from diversion.timeutils import london_today, now_utc


class ReportQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_: str = Field(alias="from", description="First referral (attendance: session) date, "
                                                  "YYYY-MM-DD")
    to: str = Field(description="Last referral (attendance: session) date, YYYY-MM-DD")
    as_of: str | None = Field(default=None, description="Default today (reoffending)")
    scope: str | None = Field(default=None, description="any | programme (reoffending)")


def _report(kind: str) -> Any:
    query = parse_query(ReportQuery)
    now = now_utc()
    errors: dict[str, str] = {}
    dates = {}
    for name, value in (("from", query.from_), ("to", query.to), ("as_of", query.as_of)):
        try:
            dates[name] = parse_date(value)
        except ValueError:
            errors[name] = "Give a real date, like 2026-03-27"
    parameters = validate_parameters(kind=kind, date_from=dates.get("from"),
                                     date_to=dates.get("to"), as_of=dates.get("as_of"),
                                     scope=query.scope, today=london_today(now), errors=errors)
    produced = produce_report(kind=kind, parameters=parameters, fmt="json",
                              actor=current_actor(), now=now)
    db.session.commit()
    return Response(produced.content, mimetype="application/json")


@bp.get("/reports/reoffending")
@roles(Role.MANAGER)
@operation("Proven reoffending (Ministry of Justice measure)", query=ReportQuery,
           responses={200: None, 422: None}, tags=("reports",))
def reoffending_report() -> Any:
    return _report("reoffending")


@bp.get("/reports/outcomes")
@roles(Role.MANAGER)
@operation("Referral outcomes: funnel, completion rate, times", query=ReportQuery,
           responses={200: None, 422: None}, tags=("reports",))
def outcomes_report() -> Any:
    return _report("outcomes")



@bp.get("/reports/attendance")
@roles(Role.MANAGER)
@operation("Attendance: sessions' registers by month, programme, venue, facilitator",
           query=ReportQuery, responses={200: None, 422: None}, tags=("reports",))
def attendance_report() -> Any:
    return _report("attendance")
