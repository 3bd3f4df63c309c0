"""The printable register sheet: a tagged A4 PDF of the register, for the day the tablet fails.

The facilitator ticks it by hand at the door; afterwards a manager (or the facilitator) enters it
in Diversion through the register page, by the end of the day after the session, when the
register becomes overdue. It lists the register's roster, in its order, with what a facilitator
may see of each person (name, reference, access needs) and nothing else of their record.

- `render_register_pdf(session=, actor=, now=)` -> PDF bytes; Conflict for a cancelled session.
  Audited (CONSULTATION, the number of people).
- `register_pdf_filename(session)` -> "register-2026-06-17-42.pdf"
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from diversion.attendance import register as attendance_register
from diversion.attendance.rules import AttendanceStatus, close_out_due_at, late_cutoff_at
from diversion.audit.models import AuditCategory
from diversion.audit.services import record
from diversion.auth.models import User
from diversion.core.errors import Conflict
from diversion.core.links import external_url
from diversion.core.pdf import render_pdf
from diversion.core.timeutils import format_london, london_today
from diversion.courses.models import CourseSession, SessionStatus

DAY_FORMAT = "%A %-d %B %Y"


@dataclass(frozen=True)
class PrintableRegister:
    """What the sheet shows: the session's facts and one line per person booked."""

    title: str
    programme: str
    venue: str
    day: str
    times: str
    facilitators: str
    late_cutoff: str
    late_cutoff_minutes: int
    enter_by: str
    register_url: str
    statuses: list[AttendanceStatus]
    lines: list[attendance_register.Line]


def _clock(value: dt.datetime) -> str:
    """9:30am, in London time."""
    return format_london(value, "%-I:%M%p").replace("AM", "am").replace("PM", "pm")


def _venue(session: CourseSession) -> str:
    venue = session.venue
    parts = [venue.name, venue.address_line_1, venue.address_line_2, venue.town, venue.postcode]
    return ", ".join(part for part in parts if part)


def printable_register(*, session: CourseSession, actor: User,
                       now: dt.datetime) -> PrintableRegister:
    """The facts the printed sheet shows; Conflict for a cancelled session."""
    if session.status is SessionStatus.CANCELLED:
        raise Conflict("This session was cancelled: it has no register to print")
    lines = attendance_register.roster_lines(session, attendance_register.get_register(session.id))
    day = format_london(session.starts_at, DAY_FORMAT)
    minutes = session.programme.late_cutoff_minutes
    # The register is overdue from close_out_due_at (midnight), so the last day is the one before.
    last_day = close_out_due_at(session.starts_at) - dt.timedelta(microseconds=1)
    return PrintableRegister(
        title=f"Register: {session.venue.name}, {day}",
        programme=session.programme.name, venue=_venue(session), day=day,
        times=f"{_clock(session.starts_at)} to {_clock(session.ends_at)}",
        facilitators=", ".join(user.name for user in session.facilitators) or "None assigned",
        late_cutoff=_clock(late_cutoff_at(session.starts_at, minutes)),
        late_cutoff_minutes=minutes,
        enter_by=format_london(last_day, DAY_FORMAT),
        register_url=external_url("attendance.take_register", session_id=session.id),
        statuses=list(AttendanceStatus), lines=lines)


def render_register_pdf(*, session: CourseSession, actor: User, now: dt.datetime) -> bytes:
    """The printable register sheet's PDF bytes (tagged, A4 landscape). Audited."""
    facts = printable_register(session=session, actor=actor, now=now)
    pdf = render_pdf("attendance/register_sheet_pdf.html", title=facts.title,
                     sheet=facts, generated_at=now)
    record(action="register.print", category=AuditCategory.CONSULTATION, now=now, actor=actor,
           object_type="session", object_id=session.id, details={"people": len(facts.lines)})
    return pdf


def register_pdf_filename(session: CourseSession) -> str:
    return f"register-{london_today(session.starts_at).isoformat()}-{session.id}.pdf"
