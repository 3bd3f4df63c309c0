"""Pages for taking the register (facilitators, managers), amendments, excuses, certificates."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for

from diversion.attendance import corrections, printable
from diversion.attendance import outcomes as attendance_outcomes
from diversion.attendance import register as attendance_register
from diversion.attendance import sessions as attendance_sessions
from diversion.attendance.certificates import NoCertificate, certificate_filename, render_certificate
from diversion.attendance.forms import AmendEntryForm, ReasonForm, RegisterForm
from diversion.attendance.models import RegisterEntry, RegisterState
from diversion.attendance.rules import AttendanceStatus, is_register_open
from diversion.audit.models import AuditCategory
from diversion.audit.services import record
from diversion.auth.access import acting_user, roles
from diversion.auth.models import Role, User
from diversion.core import parsing
from diversion.core.dashboard import Panel
from diversion.core.errors import Conflict, NotFound, ValidationFailed
from diversion.core.forms import attach_errors, parse_time
from diversion.core.timeutils import london_to_utc, london_today, now_utc, to_london
from diversion.core.transactions import savepoint
from diversion.courses.models import CourseSession, SessionStatus
from diversion.referrals import reading as referral_reading
from diversion.referrals.models import Referral

bp = Blueprint("attendance", __name__)


def _session_or_404(session_id: int) -> CourseSession:
    try:
        return attendance_sessions.get_session_for(session_id=session_id, actor=acting_user())
    except NotFound:
        abort(404)


# Today's sessions ---------------------------------------------------------------------------

@bp.get("/registers")
@roles(Role.FACILITATOR, Role.MANAGER)
def today() -> Any:
    now = now_utc()
    user = acting_user()
    return render_template(
        "attendance/today.html",
        today=attendance_sessions.list_sessions_for_day(user=user, day=london_today(now)),
        upcoming=attendance_sessions.list_upcoming_sessions(user=user, now=now, limit=20),
        overdue=attendance_sessions.overdue_registers(now=now) if user.role is Role.MANAGER else [],
        now=now, is_open=is_register_open)


@bp.get("/registers/overdue")
@roles(Role.MANAGER)
def overdue() -> Any:
    return render_template("attendance/overdue.html",
                           sessions=attendance_sessions.overdue_registers(now=now_utc()))


# The register --------------------------------------------------------------------------------

def _arrival(session: CourseSession, text: str) -> dt.datetime | None:
    parsed = parse_time(text)
    if parsed is None:
        raise ValueError
    return london_to_utc(dt.datetime.combine(to_london(session.starts_at).date(), parsed))


def _marks_from_form(session: CourseSession, lines: list[attendance_register.Line],
                     ) -> tuple[list[attendance_register.MarkInput], dict[str, str]]:
    marks, errors = [], {}
    form = request.form
    for line in lines:
        ref = line.reference
        status_text = form.get(f"{ref}-status", "")
        status = None
        if status_text:
            try:
                status = AttendanceStatus(status_text)
            except ValueError:
                errors[f"{ref}.status"] = f"{line.name}: select one of the options"
        arrival_text = form.get(f"{ref}-arrived_at", "").strip()
        arrived_at = None
        if arrival_text:
            try:
                arrived_at = _arrival(session, arrival_text)
            except ValueError:
                errors[f"{ref}.arrived_at"] = (f"{line.name}: enter the arrival time like 9:25 "
                                               "or 9:25am")
        reason = form.get(f"{ref}-reason", "")
        note = form.get(f"{ref}-participation_note", "")
        for name, text, multiline in (("reason", reason, False),
                                      ("participation_note", note, True)):
            if parsing.has_control_characters(text, multiline=multiline):
                errors[f"{ref}.{name}"] = f"{line.name}: " + (
                    "write the note without special characters" if multiline
                    else "write the reason on one line, without special characters")
        marks.append(attendance_register.MarkInput(
            reference=ref, status=status, id_checked=form.get(f"{ref}-id_checked") == "yes",
            arrived_at=arrived_at, clear_arrival=not arrival_text, reason=reason,
            participation_note=note))
    return marks, errors


def _overlay(lines: list[attendance_register.Line], session: CourseSession) -> None:
    """Show what was posted, not what is stored, when the page comes back with errors."""
    form = request.form
    for line in lines:
        ref = line.reference
        text = form.get(f"{ref}-status", "")
        line.status = AttendanceStatus(text) if text in {s.value for s in AttendanceStatus} else None
        line.id_checked = form.get(f"{ref}-id_checked") == "yes"
        line.reason = form.get(f"{ref}-reason", "")
        line.participation_note = form.get(f"{ref}-participation_note", "")


def _render_register(session: CourseSession, sheet: attendance_register.RegisterSheet, *,
                     errors: dict[str, str] | None = None, status: int = 200,
                     arrivals: dict[str, str] | None = None) -> Any:
    register = sheet.register
    history = corrections.register_history(register) if register is not None else []
    now = now_utc()
    return render_template(
        "attendance/register.html", session=session, sheet=sheet, errors=errors or {},
        form=RegisterForm(), statuses=list(AttendanceStatus), history=history,
        is_open=is_register_open(session.starts_at, now=now),
        is_cancelled=session.status is SessionStatus.CANCELLED,
        arrivals=arrivals or {}), status


@bp.route("/sessions/<int:session_id>/register", methods=["GET", "POST"])
@roles(Role.FACILITATOR, Role.MANAGER)
def take_register(session_id: int) -> Any:
    session = _session_or_404(session_id)
    actor, now = acting_user(), now_utc()
    if request.method == "GET":
        sheet = attendance_register.register_sheet(session=session, actor=actor, now=now)
        return _render_register(session, sheet)
    form = RegisterForm()
    if not form.validate_on_submit():
        abort(400)
    submit = request.form.get("action") == "submit"
    sheet = attendance_register.register_sheet(session=session, actor=actor, now=now)
    marks, errors = _marks_from_form(session, sheet.lines)
    if not errors:
        try:
            with savepoint():
                attendance_register.save_register(session=session, marks=marks, submit=submit, actor=actor,
                                       now=now)
        except ValidationFailed as error:
            errors = error.errors
        except Conflict as error:
            flash(error.message, "error")
            return redirect(url_for("attendance.take_register", session_id=session.id))
        else:
            flash("Register submitted: outcomes recorded" if submit else "Register saved as a draft",
                  "success")
            return redirect(url_for("attendance.take_register", session_id=session.id))
    session = _session_or_404(session_id)
    sheet = attendance_register.register_sheet(session=session, actor=actor, now=now)
    _overlay(sheet.lines, session)
    arrivals = {line.reference: request.form.get(f"{line.reference}-arrived_at", "")
                for line in sheet.lines}
    return _render_register(session, sheet, errors=errors, status=422, arrivals=arrivals)


@bp.post("/sessions/<int:session_id>/register/mark-all")
@roles(Role.FACILITATOR, Role.MANAGER)
def mark_all(session_id: int) -> Any:
    session = _session_or_404(session_id)
    if not RegisterForm().validate_on_submit():
        abort(400)
    try:
        with savepoint():
            count = attendance_register.mark_everyone_attended(session=session, actor=acting_user(),
                                                               now=now_utc())
    except (Conflict, ValidationFailed) as error:
        flash(error.message, "error")
    else:
        flash(f"{count} marked as attended. Now check IDs and change anyone who did not attend "
              "in full", "success")
    return redirect(url_for("attendance.take_register", session_id=session.id))


@bp.get("/sessions/<int:session_id>/register/sheet.pdf")
@roles(Role.FACILITATOR, Role.MANAGER)
def register_sheet_pdf(session_id: int) -> Any:
    """The printable register sheet, for ticking by hand when the tablet fails."""
    session = _session_or_404(session_id)
    pdf = printable.render_register_pdf(session=session, actor=acting_user(), now=now_utc())
    filename = printable.register_pdf_filename(session)
    return Response(pdf, mimetype="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"})


# Amendments (managers) -----------------------------------------------------------------------

@bp.route("/sessions/<int:session_id>/register/reopen", methods=["GET", "POST"])
@roles(Role.MANAGER)
def reopen(session_id: int) -> Any:
    session = _session_or_404(session_id)
    form = ReasonForm()
    if form.validate_on_submit():
        try:
            with savepoint():
                corrections.reopen_register(session=session, reason=form.reason.data or "",
                                         actor=acting_user(), now=now_utc())
        except ValidationFailed as error:
            attach_errors(form, error)
        except Conflict as error:
            flash(error.message, "error")
            return redirect(url_for("attendance.take_register", session_id=session.id))
        else:
            flash("Register reopened: it is a draft again", "success")
            return redirect(url_for("attendance.take_register", session_id=session.id))
    return render_template("attendance/reopen.html", session=session, form=form)


def _entry_or_404(session: CourseSession, entry_id: int) -> RegisterEntry:
    try:
        return corrections.get_entry(session=session, entry_id=entry_id)
    except NotFound:
        abort(404)


@bp.route("/sessions/<int:session_id>/register/entries/<int:entry_id>", methods=["GET", "POST"])
@roles(Role.MANAGER)
def amend(session_id: int, entry_id: int) -> Any:
    session = _session_or_404(session_id)
    entry = _entry_or_404(session, entry_id)
    form = AmendEntryForm()
    if request.method == "GET":
        form.status.data = entry.status.value if entry.status else None
        form.id_checked.data = entry.id_checked
        form.arrived_at.data = (to_london(entry.arrived_at).strftime("%H:%M")
                                if entry.arrived_at else "")
        form.excuse.data = entry.reason or ""
        form.participation_note.data = entry.participation_note or ""
    elif form.validate_on_submit():
        arrival_text = (form.arrived_at.data or "").strip()
        try:
            arrived_at = _arrival(session, arrival_text) if arrival_text else None
        except ValueError:
            form.arrived_at.errors = ["Enter the arrival time like 9:25 or 9:25am"]
        else:
            mark = attendance_register.MarkInput(
                reference=entry.referral.reference, status=AttendanceStatus(form.status.data),
                id_checked=bool(form.id_checked.data), arrived_at=arrived_at,
                clear_arrival=not arrival_text, reason=form.excuse.data or "",
                participation_note=form.participation_note.data or "")
            try:
                with savepoint():
                    corrections.amend_entry(session=session, entry=entry, mark=mark,
                                         reason=form.reason.data or "", actor=acting_user(), now=now_utc())
            except ValidationFailed as error:
                renamed = {"entry.reason": "excuse", "entry.status": "status",
                           "entry.id_checked": "id_checked", "entry.arrived_at": "arrived_at",
                           "entry.participation_note": "participation_note"}
                attach_errors(form, ValidationFailed({renamed.get(k, k): v.split(": ", 1)[-1]
                                                      for k, v in error.errors.items()}))
                session = _session_or_404(session_id)
                entry = _entry_or_404(session, entry_id)
            except Conflict as error:
                flash(error.message, "error")
                return redirect(url_for("attendance.take_register", session_id=session.id))
            else:
                flash(f"Entry for {entry.referral.person.full_name} amended", "success")
                return redirect(url_for("attendance.take_register", session_id=session.id))
    return render_template("attendance/amend.html", session=session, entry=entry, form=form)


# Referrals: excuses and certificates -------------------------------------------------------

def _referral_or_404(reference: str) -> Referral:
    try:
        return referral_reading.read_referral_audited(reference=reference, actor=acting_user(),
                                                  now=now_utc())
    except NotFound:
        abort(404)


@bp.route("/referrals/<reference>/excuse", methods=["GET", "POST"])
@roles(Role.MANAGER)
def accept_excuse(reference: str) -> Any:
    referral = _referral_or_404(reference)
    form = ReasonForm()
    closes = attendance_outcomes.grace_window_closes_at(referral)
    if form.validate_on_submit():
        try:
            with savepoint():
                corrections.accept_excuse(referral=referral, reason=form.reason.data or "",
                                       actor=acting_user(), now=now_utc())
        except ValidationFailed as error:
            attach_errors(form, error)
            referral = _referral_or_404(reference)
        except Conflict as error:
            referral = _referral_or_404(reference)
            form.reason.errors = [error.message]
        else:
            flash("Excuse accepted: the referral is awaiting a new booking", "success")
            return redirect(url_for("attendance.accept_excuse", reference=referral.reference))
    return render_template("attendance/excuse.html", referral=referral, form=form, closes=closes)


@bp.get("/referrals/<reference>/certificate.pdf")
@roles(Role.MANAGER, Role.POLICE)
def certificate(reference: str) -> Any:
    referral = _referral_or_404(reference)
    now = now_utc()
    try:
        pdf = render_certificate(referral, now=now)
    except NoCertificate:
        abort(404)
    record(action="certificate.download", category=AuditCategory.DISCLOSURE, now=now,
           actor=acting_user(), object_type="referral", object_id=referral.id)
    return Response(pdf, mimetype="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="{certificate_filename(referral)}"'})


# Dashboard panels ---------------------------------------------------------------------------

def registers_panel(user: User, now: dt.datetime) -> Panel:
    return Panel("Registers", [
        ("Registers overdue (not submitted by the end of the next day)",
         attendance_sessions.count_overdue_registers(now=now), "attendance.overdue"),
        ("Attended, fee outstanding", attendance_outcomes.count_fee_outstanding(), None),
    ])


def facilitator_registers_panel(user: User, now: dt.datetime) -> Panel:
    today = attendance_sessions.list_sessions_for_day(user=user, day=london_today(now))
    waiting = sum(1 for line in today if line.session.status is not SessionStatus.CANCELLED
                  and line.register_state is not RegisterState.SUBMITTED)
    return Panel("Registers", [("Registers to take today", waiting, "attendance.today")])
