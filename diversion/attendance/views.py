"""Pages for taking the register (facilitators, managers), amendments, excuses, certificates."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)

from diversion.attendance import corrections, printable
from diversion.attendance import outcomes as attendance_outcomes
from diversion.attendance import register as attendance_register
from diversion.attendance import sessions as attendance_sessions
from diversion.attendance.certificates import (
    CodeNotRecognised,
    NoCertificate,
    Verified,
    certificate_filename,
    render_certificate,
    verify_certificate,
)
from diversion.attendance.forms import AmendEntryForm, ReasonForm, RegisterForm, VerifyCertificateForm
from diversion.attendance.models import RegisterEntry
from diversion.attendance.register_rows import register_rows
from diversion.attendance.rules import AttendanceStatus, is_register_open, marks_summary
from diversion.audit.models import AuditCategory
from diversion.audit.services import record
from diversion.auth.access import acting_user, roles
from diversion.auth.models import Role, User
from diversion.auth.throttle import Throttled
from diversion.auth.views import client_address
from diversion.core import parsing
from diversion.core.dashboard import Line, Panel
from diversion.core.errors import Conflict, NotFound, ValidationFailed
from diversion.core.forms import attach_errors, parse_time
from diversion.core.problems import problem
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

TO_TAKE = "to-take"  # /registers?show=to-take: today's registers still to take (the dashboard's)


@bp.get("/registers")
@roles(Role.FACILITATOR, Role.MANAGER)
def today() -> Any:
    now = now_utc()
    user = acting_user()
    lines = attendance_sessions.list_sessions_for_day(user=user, day=london_today(now))
    to_take = request.args.get("show") == TO_TAKE
    if to_take:
        lines = [line for line in lines if attendance_sessions.is_to_take(line)]
    return render_template(
        "attendance/today.html", today=lines, to_take=to_take,
        upcoming=attendance_sessions.list_upcoming_sessions(user=user, now=now, limit=20),
        overdue=attendance_sessions.overdue_registers(now=now, facilitator_id=_own(user)),
        now=now, is_open=is_register_open)


def _own(user: User) -> int | None:
    """A facilitator sees his own sessions only; a manager every one."""
    return user.id if user.role is Role.FACILITATOR else None


@bp.get("/registers/overdue")
@roles(Role.FACILITATOR, Role.MANAGER)
def overdue() -> Any:
    return render_template("attendance/overdue.html", sessions=attendance_sessions.overdue_registers(
        now=now_utc(), facilitator_id=_own(acting_user())))


# The register --------------------------------------------------------------------------------
#
# One form of one row per person, read by field name (`<reference>-status` …). With JavaScript
# (static/js/register.mjs) every change is also sent at once to `register_draft` as JSON, and
# kept in the browser until it is saved. Submitting goes through a check page that shows each
# outcome; only its confirmation locks the register.

TEXT_FIELDS = ("arrived_at", "reason", "participation_note")
AM_OR_PM = re.compile(r"[ap]m", re.IGNORECASE)


def _arrival(session: CourseSession, text: str) -> dt.datetime:
    """An arrival time as written at the door or on the paper sheet (London time, the session's
    day). A time without am or pm on the 12-hour clock ("2:50", "9.30") is the reading nearest
    the session's start: "2:50" at an afternoon session is ten to three in the afternoon."""
    parsed = parse_time(text)
    if parsed is None:
        raise ValueError
    day = to_london(session.starts_at).date()
    readings = [parsed]
    if 1 <= parsed.hour <= 11 and not AM_OR_PM.search(text):
        readings.append(parsed.replace(hour=parsed.hour + 12))
    instants = [london_to_utc(dt.datetime.combine(day, reading)) for reading in readings]
    return min(instants, key=lambda instant: abs(instant - session.starts_at))


def _parse_line(session: CourseSession, line: attendance_register.Line, *, status_text: str,
                id_checked: bool, arrival_text: str, reason: str, note: str,
                ) -> tuple[attendance_register.MarkInput, dict[str, str]]:
    """One person's line as entered: the change to make, and what cannot be read, by field.
    A field that cannot be read is left as it was; the rest of the line is still kept."""
    errors = {}
    status = None
    if status_text:
        try:
            status = AttendanceStatus(status_text)
        except ValueError:
            errors["status"] = f"{line.name}: Select whether they attended"
    arrived_at = None
    if arrival_text.strip():
        try:
            arrived_at = _arrival(session, arrival_text)
        except ValueError:
            errors["arrived_at"] = f"{line.name}: Enter the arrival time like 9:25 or 9:25am"
    for name, text, multiline in (("reason", reason, False), ("participation_note", note, True)):
        if parsing.has_control_characters(text, multiline=multiline):
            errors[name] = f"{line.name}: " + (
                "Write the note without special characters" if multiline
                else "Write the reason on one line, without special characters")
    mark = attendance_register.MarkInput(
        reference=line.reference, status=status, id_checked=id_checked, arrived_at=arrived_at,
        clear_arrival=not arrival_text.strip(),
        reason=None if "reason" in errors else reason,
        participation_note=None if "participation_note" in errors else note)
    return mark, errors


def _is_posted(reference: str) -> bool:
    """Whether the form carried this person's row (a filtered page carries only some)."""
    return (f"{reference}-present" in request.form
            or any(f"{reference}-{name}" in request.form for name in ("status", *TEXT_FIELDS)))


def _marks_from_form(session: CourseSession, lines: list[attendance_register.Line],
                     ) -> tuple[list[attendance_register.MarkInput], dict[str, str]]:
    marks, errors = [], {}
    form = request.form
    for line in lines:
        ref = line.reference
        if not _is_posted(ref):
            continue
        mark, problems = _parse_line(
            session, line, status_text=form.get(f"{ref}-status", ""),
            id_checked=form.get(f"{ref}-id_checked") == "yes",
            arrival_text=form.get(f"{ref}-arrived_at", ""), reason=form.get(f"{ref}-reason", ""),
            note=form.get(f"{ref}-participation_note", ""))
        errors.update({f"{ref}.{name}": message for name, message in problems.items()})
        marks.append(mark)
    return marks, errors


def _overlay(lines: list[attendance_register.Line]) -> dict[str, str]:
    """Show what was posted, not what is stored, when the page comes back with errors.
    Returns the arrival times as typed."""
    form = request.form
    arrivals = {}
    for line in lines:
        ref = line.reference
        if not _is_posted(ref):
            continue
        text = form.get(f"{ref}-status", "")
        if text in {s.value for s in AttendanceStatus}:
            line.status = AttendanceStatus(text)
        line.id_checked = form.get(f"{ref}-id_checked") == "yes"
        line.reason = form.get(f"{ref}-reason", "")
        line.participation_note = form.get(f"{ref}-participation_note", "")
        arrivals[ref] = form.get(f"{ref}-arrived_at", "")
    return arrivals


ROW_FIELDS = ("reference", "status", "id_checked", *TEXT_FIELDS)


def _in_page_order(errors: dict[str, str],
                   lines: list[attendance_register.Line]) -> dict[str, str]:
    """`<reference>.<field>` errors in the order of the rows and fields on the page."""
    rows = {line.reference: index for index, line in enumerate(lines)}

    def place(key: str) -> tuple[int, int]:
        reference, _, name = key.rpartition(".")
        return (rows.get(reference, len(rows)),
                ROW_FIELDS.index(name) if name in ROW_FIELDS else len(ROW_FIELDS))

    return dict(sorted(errors.items(), key=lambda item: place(item[0])))


def _render_register(session: CourseSession, sheet: attendance_register.RegisterSheet, *,
                     errors: dict[str, str] | None = None, status: int = 200,
                     arrivals: dict[str, str] | None = None) -> Any:
    register = sheet.register
    errors = _in_page_order(errors or {}, sheet.lines)
    history, history_total = (corrections.register_history(register) if register is not None
                              else ([], 0))
    now = now_utc()
    only_unmarked = request.args.get("show") == "unmarked"
    statuses = list(AttendanceStatus)
    return render_template(
        "attendance/register.html", session=session, sheet=sheet, errors=errors,
        form=RegisterForm(), statuses=statuses, history=history,
        # Called by the template only when it shows the form.
        rows=lambda: register_rows(sheet.lines, statuses, errors=errors, arrivals=arrivals or {},
                                   only_unmarked=only_unmarked),
        history_total=history_total,
        is_open=is_register_open(session.starts_at, now=now),
        is_cancelled=session.status is SessionStatus.CANCELLED,
        has_started=now >= session.starts_at, has_ended=now >= session.ends_at,
        only_unmarked=only_unmarked,
        summary=marks_summary(line.status for line in sheet.lines),
        arrivals=arrivals or {},
        # A submitted register links each line to its amendment: the address is built once
        # and each entry's id appended, which costs the page less than a url_for call a line.
        amend_href=url_for("attendance.amend", session_id=session.id,
                           entry_id=0).removesuffix("0")), status


def _render_check(session: CourseSession, *, changed: str | None = None) -> Any:
    return render_template("attendance/register_check.html", session=session,
                           preview=attendance_register.preview_submission(session),
                           form=RegisterForm(), changed=changed)


def _back_to_register(session: CourseSession) -> Any:
    return redirect(url_for("attendance.take_register", session_id=session.id))


@bp.route("/sessions/<int:session_id>/register", methods=["GET", "POST"])
@roles(Role.FACILITATOR, Role.MANAGER)
def take_register(session_id: int) -> Any:
    """The register. POST `action`: `save` (a draft), `submit` (check it: the check page),
    `confirm` (lock it, with the check page's `fingerprint`); `set_all`: a status for everyone
    not yet marked, or `id_checked`. Marks posted with any action are kept as a draft first."""
    session = _session_or_404(session_id)
    actor, now = acting_user(), now_utc()
    if request.method == "GET":
        sheet = attendance_register.register_sheet(session=session, actor=actor, now=now)
        return _render_register(session, sheet)
    if not RegisterForm().validate_on_submit():
        abort(400)
    action, set_all = request.form.get("action", "save"), request.form.get("set_all", "")
    if action == "confirm":
        return _confirm(session)
    sheet = attendance_register.register_sheet(session=session, actor=actor, now=now)
    marks, errors = _marks_from_form(session, sheet.lines)
    try:
        # Whatever can be kept is kept, even when the rest is refused: nothing entered is lost.
        draft = attendance_register.save_draft(session=session, marks=marks, actor=actor, now=now)
        errors.update({f"{ref}.{name}": message for ref, problems in draft.problems.items()
                       for name, message in problems.items()})
        if not errors and set_all:
            _set_all(session, set_all)
            return _back_to_register(session)
        if action == "submit":
            # Every problem in one round: what could not be kept, and what stops submitting.
            try:
                with savepoint():
                    attendance_register.check_submission(session=session, actor=actor, now=now)
            except ValidationFailed as error:
                errors = {**error.errors, **errors}
            else:
                if not errors:
                    return _render_check(session)
    except Conflict as error:
        flash(error.message, "error")
        return _back_to_register(session)
    if not errors:
        flash("Register saved as a draft", "success")
        return _back_to_register(session)
    session = _session_or_404(session_id)
    sheet = attendance_register.register_sheet(session=session, actor=actor, now=now)
    arrivals = _overlay(sheet.lines)
    return _render_register(session, sheet, errors=errors, status=422, arrivals=arrivals)


def _set_all(session: CourseSession, choice: str) -> None:
    actor, now = acting_user(), now_utc()
    if choice == "id_checked":
        count = attendance_register.set_everyone(session=session, id_checked=True, actor=actor,
                                                 now=now)
        flash(f"ID checked ticked for {count} {'person' if count == 1 else 'people'}", "success")
        return
    try:
        status = AttendanceStatus(choice)
    except ValueError:
        abort(400)
    count = attendance_register.set_everyone(session=session, status=status, actor=actor, now=now)
    flash(f"{count} {'person' if count == 1 else 'people'} marked {status.short_label.lower()}",
          "success")


def _confirm(session: CourseSession) -> Any:
    try:
        with savepoint():
            result = attendance_register.submit_checked(
                session=session, fingerprint=request.form.get("fingerprint", ""),
                actor=acting_user(), now=now_utc())
    except attendance_register.RegisterChanged as error:
        return _render_check(session, changed=error.message), 409
    except ValidationFailed as error:
        flash(error.message, "error")
        return _back_to_register(session)
    except Conflict as error:
        flash(error.message, "error")
        return _back_to_register(session)
    count = len(result.lines)
    flash(f"Register submitted: {count} {'outcome' if count == 1 else 'outcomes'} recorded",
          "success")
    return _back_to_register(session)


MAX_DRAFT_LINES = 1000


def _draft_lines(body: Any) -> list[dict[str, Any]] | None:
    """The lines of an autosave body, or None if it is not `{"lines": [{"reference": …}]}`."""
    lines = body.get("lines") if isinstance(body, dict) else None
    if not isinstance(lines, list) or len(lines) > MAX_DRAFT_LINES:
        return None
    for line in lines:
        if not (isinstance(line, dict) and isinstance(line.get("reference"), str)
                and all(isinstance(line.get(name, ""), str) for name in ("status", *TEXT_FIELDS))
                and isinstance(line.get("id_checked", False), bool)):
            return None
    return lines


@bp.post("/sessions/<int:session_id>/register/draft")
@roles(Role.FACILITATOR, Role.MANAGER)
def register_draft(session_id: int) -> Any:
    """The page's autosave: `{"lines": [{reference, status, id_checked, arrived_at, reason,
    participation_note}]}` (each line whole, as on the page; the CSRF token in `X-CSRFToken`).
    Answers `{"saved": [reference…], "problems": {reference: {field: message}}}`; 409
    problem+json when the register cannot be changed."""
    session = _session_or_404(session_id)
    lines = _draft_lines(request.get_json(silent=True))
    if lines is None:
        return problem(400, "Bad request", 'Send {"lines": [{"reference": "…", …}]}')
    actor, now = acting_user(), now_utc()
    lines_now = attendance_register.roster_lines(session, attendance_register.get_register(session.id))
    by_reference = {line.reference: line for line in lines_now}
    marks, problems = [], {}
    for raw in lines:
        line = by_reference.get(raw["reference"])
        if line is None:
            problems[raw["reference"]] = {"reference": "This person is not booked on this session"}
            continue
        mark, errors = _parse_line(
            session, line, status_text=raw.get("status", ""),
            id_checked=raw.get("id_checked", False), arrival_text=raw.get("arrived_at", ""),
            reason=raw.get("reason", ""), note=raw.get("participation_note", ""))
        if errors:
            problems[line.reference] = errors
        marks.append(mark)
    try:
        draft = attendance_register.save_draft(session=session, marks=marks, actor=actor, now=now)
    except Conflict as error:
        return problem(409, error.title, error.message)
    for reference, refused in draft.problems.items():
        problems.setdefault(reference, {}).update(refused)
    return jsonify(saved=[r for r in draft.saved if r not in problems], problems=problems)


@bp.post("/sessions/<int:session_id>/register/mark-all")
@roles(Role.FACILITATOR, Role.MANAGER)
def mark_all(session_id: int) -> Any:
    """Mark everyone not yet marked as attended (kept for links and scripts made before the
    register's own "set all")."""
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
    return _back_to_register(session)


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


@bp.route("/certificates/verify", methods=["GET", "POST"])
@roles(Role.MANAGER, Role.POLICE)
def verify_certificate_page() -> Any:
    """A court or force asks whether a certificate is genuine: its verification code is typed
    here. A police user sees only his force's referrals; any other code is "not recognised"."""
    form = VerifyCertificateForm()
    verified: Verified | None = None
    status = 200
    if form.validate_on_submit():
        try:
            verified = verify_certificate(code=form.code.data or "", actor=acting_user(),
                                          address=client_address(), now=now_utc())
        except (CodeNotRecognised, Throttled) as refusal:
            # Returned, not raised: the refusal's count and audit row are committed with it.
            form.code.errors = [refusal.message]
            status = refusal.status
    return render_template("attendance/verify_certificate.html", form=form,
                           verified=verified), status


# Dashboard panels ---------------------------------------------------------------------------

def registers_panel(user: User, now: dt.datetime) -> Panel:
    return Panel("Registers", [
        Line("Registers overdue (not submitted by the end of the day after the session)",
             attendance_sessions.count_overdue_registers_query(now=now), "attendance.overdue"),
    ])


def facilitator_registers_panel(user: User, now: dt.datetime) -> Panel:
    today = attendance_sessions.list_sessions_for_day(user=user, day=london_today(now))
    waiting = sum(1 for line in today if attendance_sessions.is_to_take(line))
    return Panel("Registers", [
        Line("Registers to take today", waiting, "attendance.today", {"show": TO_TAKE}),
        Line("Registers overdue (not submitted by the end of the day after the session)",
             attendance_sessions.count_overdue_registers_query(now=now, facilitator_id=user.id),
             "attendance.overdue"),
    ])
