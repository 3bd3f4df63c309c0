"""The attendance report: per session, and per month, programme, venue and facilitator.

- `load_session_attendance(date_from, date_to, forces=, programme=, venue=, facilitator=)`:
  sessions held in the period with their counts
- `load_attendance_totals(...)` (same arguments) -> AttendanceTotals: the same sessions added
  up by the database, without a row per session
- `build_attendance(parameters, with_chart=False)` -> Report; `attendance_csv(report)` -> bytes
- `build_attendance_totals(parameters, with_chart=False)`: the same without "sessions" (the PDF)
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, case, exists, func, or_, select
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
    "Small numbers": "A fill rate worked out from fewer than 10 places, or an attendance rate "
                     "from fewer than 10 people booked, is marked \u2020 in the tables of "
                     "totals: too few for the rate to mean much, so it is no trend to act on.",
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
    counted, in_range = _counted_sessions(date_from, date_to, forces=forces,
                                          programme=programme, venue=venue,
                                          facilitator=facilitator)
    rows = db.session.execute(
        counted.order_by(CourseSession.starts_at, CourseSession.id)).all()
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
            facilitators=tuple(facilitators.get(row.id, ())) or (NO_FACILITATOR,),
            places=row.capacity, booked=row.booked,
            **{status: int(getattr(row, status)) for status in _STATUS_COUNTS}))
    return sessions, excluded


NO_FACILITATOR = "No facilitator recorded"


def _counted_sessions(
        date_from: dt.date, date_to: dt.date, *, forces: Sequence[str], programme: str | None,
        venue: int | None, facilitator: int | None,
) -> tuple[Select[*tuple[Any, ...]], list[ColumnElement[bool]]]:
    """The query of the sessions `load_session_attendance` describes, a row each with its
    register counted (unordered), and the conditions that choose the sessions."""
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
    of_forces = None
    if forces:
        of_forces = (select(Referral.id).join(Force, Force.id == Referral.force_id)
                     .where(Force.code.in_(forces)))
        held, entry = aliased(Register), aliased(RegisterEntry)  # not the outer query's rows
        in_range.append(or_(
            exists().where(Booking.session_id == CourseSession.id,
                           Booking.referral_id.in_(of_forces)),
            exists().where(held.session_id == CourseSession.id, entry.register_id == held.id,
                           entry.referral_id.in_(of_forces))))
    # Each register's entries are counted first, read in their index's order (grouping the
    # joined rows by session sorted every entry): a row per register, joined to its session.
    entries_of: list[ColumnElement[bool]] = [RegisterEntry.register_id.in_(
        select(Register.id).join(CourseSession, CourseSession.id == Register.session_id)
        .where(*in_range))]
    if of_forces is not None:
        entries_of.append(RegisterEntry.referral_id.in_(of_forces))
    entries = (
        select(RegisterEntry.register_id, func.count(RegisterEntry.id).label("booked"),
               *(func.count(case((RegisterEntry.status == status, 1))).label(status)
                 for status in _STATUS_COUNTS))
        .where(*entries_of).group_by(RegisterEntry.register_id).subquery())
    counted = (
        select(CourseSession.id, CourseSession.starts_at, CourseSession.capacity,
               CourseSession.status.label("session_status"), Register.state.label("state"),
               Programme.name.label("programme"), Venue.name.label("venue"),
               *(func.coalesce(entries.c[name], 0).label(name)
                 for name in ("booked", *_STATUS_COUNTS)))
        .join(Programme, Programme.id == CourseSession.programme_id)
        .join(Venue, Venue.id == CourseSession.venue_id)
        .outerjoin(Register, Register.session_id == CourseSession.id)
        .outerjoin(entries, entries.c.register_id == Register.id)
        .where(*in_range))
    return counted, in_range


@dataclass
class AttendanceTotals:
    """The report's figures without its sessions: what `measures.summarise_attendance`,
    `measures.attendance_by` and `co_run_sessions` make of `load_session_attendance`."""

    total: measures.AttendanceSummary
    by_month: dict[str, measures.AttendanceSummary]
    by_programme: dict[str, measures.AttendanceSummary]
    by_venue: dict[str, measures.AttendanceSummary]
    by_facilitator: dict[str, measures.AttendanceSummary]
    co_run: dict[str, Any]
    excluded: dict[str, int]


def load_attendance_totals(
        date_from: dt.date, date_to: dt.date, *, forces: Sequence[str] = (),
        programme: str | None = None, venue: int | None = None, facilitator: int | None = None,
) -> AttendanceTotals:
    """`load_session_attendance`'s sessions added up by the database (same arguments, same
    figures), for what shows no session: one query, whose rows are bounded by months x
    programmes x venues x facilitators, however many sessions there are (issue 17).

    Each session's register is counted as `load_session_attendance` counts it, then joined to
    its facilitators (a row each, or one with none); `first` marks one of those rows, so the
    breakdowns other than by facilitator count each session once."""
    counted, _ = _counted_sessions(date_from, date_to, forces=forces, programme=programme,
                                   venue=venue, facilitator=facilitator)
    held = counted.subquery()
    ran = session_facilitators.alias()  # the facilitators of the session on the row
    run_by = select(func.count()).where(ran.c.session_id == held.c.id).scalar_subquery()
    first_to_run = select(func.min(ran.c.user_id)).where(
        ran.c.session_id == held.c.id).scalar_subquery()
    sessions = (
        select(*held.c,
               case((held.c.session_status == SessionStatus.CANCELLED, "cancelled"),
                    (or_(held.c.state.is_(None), held.c.state != RegisterState.SUBMITTED),
                     "register_not_submitted"), else_="held").label("kind"),
               _london_month(held.c.starts_at, date_from, date_to).label("month"),
               case((run_by > 1, 1), else_=0).label("co_run"),
               User.name.label("facilitator"),
               case((or_(session_facilitators.c.user_id.is_(None),
                         session_facilitators.c.user_id == first_to_run), 1),
                    else_=0).label("first"))
        .select_from(held)
        .outerjoin(session_facilitators, session_facilitators.c.session_id == held.c.id)
        .outerjoin(User, User.id == session_facilitators.c.user_id)).subquery()
    keys = [sessions.c.kind, sessions.c.month, sessions.c.programme, sessions.c.venue,
            sessions.c.facilitator, sessions.c.first]
    groups = db.session.execute(
        select(*keys, func.count().label("sessions"), func.sum(sessions.c.co_run).label("co_run"),
               func.sum(sessions.c.capacity).label("places"),
               *(func.sum(sessions.c[name]).label(name) for name in measures.COUNT_FIELDS[1:]))
        .group_by(*keys)).all()
    excluded = {"cancelled": 0, "register_not_submitted": 0}
    total = measures.AttendanceSummary()
    by_month: dict[str, measures.AttendanceSummary] = defaultdict(measures.AttendanceSummary)
    by_programme: dict[str, measures.AttendanceSummary] = defaultdict(measures.AttendanceSummary)
    by_venue: dict[str, measures.AttendanceSummary] = defaultdict(measures.AttendanceSummary)
    by_facilitator: dict[str, measures.AttendanceSummary] = defaultdict(
        measures.AttendanceSummary)
    co_run, co_run_by = 0, defaultdict[str, int](int)
    for row in groups:
        if row.kind != "held":
            excluded[row.kind] += int(row.sessions) if row.first else 0
            continue
        name = NO_FACILITATOR if row.facilitator is None else row.facilitator
        _add(by_facilitator[name], row)
        co_run_by[name] += int(row.co_run)
        if row.first:
            for summary in (total, by_month[row.month], by_programme[row.programme],
                            by_venue[row.venue]):
                _add(summary, row)
            co_run += int(row.co_run)
    return AttendanceTotals(
        total=total, by_month=_sorted(by_month), by_programme=_sorted(by_programme),
        by_venue=_sorted(by_venue), by_facilitator=_sorted(by_facilitator),
        co_run={"sessions": co_run,
                "by_facilitator": {name: n for name, n in co_run_by.items() if n}},
        excluded=excluded)


def _london_month(starts_at: ColumnElement[dt.datetime], date_from: dt.date,
                  date_to: dt.date) -> ColumnElement[str]:
    """The London month ("2026-03") of a session starting on a London day in [date_from,
    date_to]: a CASE over the UTC instants at which those months end, so exact across clock
    changes on any database, one WHEN a month."""
    months = measures.months_between(f"{date_from:%Y-%m}", f"{date_to:%Y-%m}")
    return case(*((starts_at < london_midnight_in_utc(_month_after(month)), month)
                  for month in months), else_=months[-1])


def _month_after(month: str) -> dt.date:
    year, number = int(month[:4]), int(month[5:7])
    return dt.date(year + 1, 1, 1) if number == 12 else dt.date(year, number + 1, 1)


def _add(summary: measures.AttendanceSummary, row: Any) -> None:
    """Add a row of summed sessions (`sessions` and the `measures.COUNT_FIELDS`) to `summary`."""
    summary.add(int(row.sessions), {name: int(getattr(row, name))
                                    for name in measures.COUNT_FIELDS})


def _sorted(groups: dict[str, measures.AttendanceSummary]) -> dict[str, measures.AttendanceSummary]:
    return {group: groups[group] for group in sorted(groups)}


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
    totals = AttendanceTotals(
        total=measures.summarise_attendance(sessions),
        by_month=measures.attendance_by(sessions, measures.by_session_month),
        by_programme=measures.attendance_by(sessions, measures.by_programme),
        by_venue=measures.attendance_by(sessions, measures.by_venue),
        by_facilitator=measures.attendance_by(sessions, measures.by_facilitator),
        co_run=co_run_sessions(sessions), excluded=excluded)
    return _attendance_report(parameters, totals, [_session_row(s) for s in sessions],
                              with_chart)


def build_attendance_totals(parameters: ReportParameters, with_chart: bool = False) -> Report:
    """`build_attendance` without its "sessions" key, counted by the database
    (`load_attendance_totals`): for the PDF, which shows no session."""
    totals = load_attendance_totals(
        parameters.date_from, parameters.date_to, forces=parameters.forces,
        programme=parameters.programme, venue=parameters.venue,
        facilitator=parameters.facilitator)
    return _attendance_report(parameters, totals, None, with_chart)


def _attendance_report(parameters: ReportParameters, totals: AttendanceTotals,
                       sessions: list[dict[str, Any]] | None, with_chart: bool) -> Report:
    data = {
        "report": "attendance",
        "from": parameters.date_from.isoformat(),
        "to": parameters.date_to.isoformat(),
        "total": totals.total.as_dict(),
        "by_month": measures.summaries_as_dict(totals.by_month),
        "by_programme": measures.summaries_as_dict(totals.by_programme),
        "by_venue": measures.summaries_as_dict(totals.by_venue),
        "by_facilitator": measures.summaries_as_dict(totals.by_facilitator),
        **({} if sessions is None else {"sessions": sessions}),
        "excluded": totals.excluded,
    }
    if parameters.forces:
        _without_fill_rate(data)
    report = Report(kind="attendance", parameters=parameters, data=data,
                    summary=summaries.attendance_summary(data),
                    extra={"co_run": totals.co_run})
    if with_chart and totals.total.sessions:
        # Every month from the first session to the last, so a month without one shows as a gap.
        months = list(totals.by_month)
        report.chart_svg = attendance_by_month_svg(
            {month: totals.by_month.get(month, measures.AttendanceSummary())
             for month in measures.months_between(months[0], months[-1])})
        report.chart_alt = summaries.attendance_chart_alt(data)
    return report


def _without_fill_rate(data: dict[str, Any]) -> None:
    """Filtered by force, no fill rate: a session's places are not the force's (null)."""
    rows = [data["total"], *data.get("sessions", ())]
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
