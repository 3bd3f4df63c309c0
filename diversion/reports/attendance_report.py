"""The attendance report: per session, and per month, programme, venue and facilitator.

- `load_session_attendance(date_from, date_to, forces=, programme=, venue=, facilitator=)`:
  sessions held in the period with their counts
- `build_attendance(parameters, with_chart=False)` -> Report; `attendance_csv(report)` -> bytes
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, and_, case, exists, func, or_, select
from sqlalchemy.orm import aliased

from diversion.attendance.models import Register, RegisterEntry, RegisterState
from diversion.auth.models import Force, User
from diversion.bookings.models import Booking
from diversion.core.extensions import db
from diversion.core.timeutils import london_midnight_in_utc, london_today
from diversion.courses.models import CourseSession, SessionStatus, Venue, session_facilitators
from diversion.programmes.models import Programme
from diversion.referrals.models import Referral
from diversion.reports import measures, summaries
from diversion.reports.charts import attendance_by_month_svg
from diversion.reports.csvout import to_csv
from diversion.reports.kinds import Report, ReportParameters

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
    "Fill rate": "Booked / places. Blank when there were no places, and when the report is "
                 "filtered by force: a session's places are shared by every force's people, "
                 "so they cannot be split between forces.",
    "Force": "Filtered by force, a session counts when one of the force's referrals was booked "
             "on it or is on its register, and its figures count only those people; its places "
             "are the session's places in full.",
    "Attendance rate": "Attended / booked. Blank when nobody was booked.",
    "Facilitator": "A session run by two facilitators counts once for each of them, so the "
                   "facilitator rows add up to more than the total.",
    "Run with others": "Of a facilitator's sessions, those run with at least one other "
                       "facilitator.",
    "Month": "The calendar month of the session's date.",
}


_STATUS_COUNTS = ("attended", "late_refused", "left_early", "removed", "absent", "excused")


def load_session_attendance(
        date_from: dt.date, date_to: dt.date, *, forces: Sequence[str] = (),
        programme: str | None = None, venue: int | None = None, facilitator: int | None = None,
) -> tuple[list[measures.SessionAttendance], dict[str, int]]:
    """Sessions starting on London dates [date_from, date_to] with their registers counted,
    and how many were left out (cancelled, register not submitted): two queries.

    Filters (codes and ids): a programme's sessions, a venue's, the sessions a facilitator ran.
    With forces, only the sessions on which one of their referrals was booked or is on the
    register, and only those referrals' register rows are counted."""
    start = london_midnight_in_utc(date_from)
    end = london_midnight_in_utc(date_to + dt.timedelta(days=1))
    in_range: list[ColumnElement[bool]] = [CourseSession.starts_at >= start,
                                           CourseSession.starts_at < end]
    if programme is not None:
        in_range.append(CourseSession.programme_id == select(Programme.id).where(
            Programme.code == programme).scalar_subquery())
    if venue is not None:
        in_range.append(CourseSession.venue_id == venue)
    if facilitator is not None:
        ran = session_facilitators.alias()  # not the facilitators query's own rows
        in_range.append(exists().where(ran.c.session_id == CourseSession.id,
                                       ran.c.user_id == facilitator))
    entry_join: ColumnElement[bool] = RegisterEntry.register_id == Register.id
    if forces:
        of_forces = (select(Referral.id).join(Force, Force.id == Referral.force_id)
                     .where(Force.code.in_(forces)))
        entry_join = and_(entry_join, RegisterEntry.referral_id.in_(of_forces))
        held, entry = aliased(Register), aliased(RegisterEntry)  # not the outer query's rows
        in_range.append(or_(
            exists().where(Booking.session_id == CourseSession.id,
                           Booking.referral_id.in_(of_forces)),
            exists().where(held.session_id == CourseSession.id, entry.register_id == held.id,
                           entry.referral_id.in_(of_forces))))
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
        .outerjoin(RegisterEntry, entry_join)
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


def co_run_sessions(sessions: list[measures.SessionAttendance]) -> dict[str, Any]:
    """Sessions run by more than one facilitator: how many in all, and per facilitator."""
    shared = [s for s in sessions if len(s.facilitators) > 1]
    per_facilitator: dict[str, int] = {}
    for session in shared:
        for name in session.facilitators:
            per_facilitator[name] = per_facilitator.get(name, 0) + 1
    return {"sessions": len(shared), "by_facilitator": per_facilitator}


def build_attendance(parameters: ReportParameters, with_chart: bool = False) -> Report:
    sessions, excluded = load_session_attendance(
        parameters.date_from, parameters.date_to, forces=parameters.forces,
        programme=parameters.programme, venue=parameters.venue,
        facilitator=parameters.facilitator)
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
    if parameters.forces:
        _without_fill_rate(data)
    report = Report(kind="attendance", parameters=parameters, data=data,
                    summary=summaries.attendance_summary(data),
                    extra={"co_run": co_run_sessions(sessions)})
    if with_chart and sessions:
        # Every month from the first session to the last, so a month without one shows as a gap.
        months = list(by_month)
        report.chart_svg = attendance_by_month_svg(
            {month: by_month.get(month, measures.AttendanceSummary())
             for month in measures.months_between(months[0], months[-1])})
        report.chart_alt = summaries.attendance_chart_alt(data)
    return report


def _without_fill_rate(data: dict[str, Any]) -> None:
    """Filtered by force, no fill rate: a session's places are not the force's (null)."""
    rows = [data["total"], *data["sessions"]]
    rows.extend(summary for key in ("by_month", "by_programme", "by_venue", "by_facilitator")
                for summary in data[key].values())
    for row in rows:
        row["fill_rate"] = None


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
