"""Taking the register, amending it, and what it decides for each referral.

Outcomes go through `lifecycle.transition` only. The lifecycle tells the referring officer of
every terminal move (completed, not completed); this module adds the person's completion
notice. Bookings follow the referral's moves by themselves (diversion.bookings listens).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import exists, func, select
from sqlalchemy.orm import joinedload, selectinload

from diversion.attendance.models import (
    Register,
    RegisterAction,
    RegisterChange,
    RegisterEntry,
    RegisterState,
)
from diversion.attendance.rules import (
    AttendanceStatus,
    Mark,
    Outcome,
    close_out_due_at,
    grace_closes_at,
    is_deadline_passed,
    is_register_open,
    mark_problems,
    outcome_for,
    register_opens_at,
)
from diversion.audit.models import AuditCategory
from diversion.audit.services import actor_label_for, record
from diversion.auth.models import Role, User
from diversion.bookings import fees
from diversion.bookings import services as booking_services
from diversion.bookings.models import Booking, BookingStatus
from diversion.core.errors import Conflict, DomainError, NotFound, ValidationFailed
from diversion.core.extensions import db
from diversion.core.timeutils import format_london, london_day_bounds, london_midnight_in_utc, london_today
from diversion.courses import services as scheduling_services
from diversion.courses.models import CourseSession, SessionStatus
from diversion.outbox.models import Channel
from diversion.outbox.services import enqueue
from diversion.referrals import lifecycle
from diversion.referrals.models import (
    ContactChannel,
    Referral,
    ReferralEvent,
    ReferralEventType,
    ReferralStatus,
)

log = logging.getLogger(__name__)

E = ReferralEventType
S = ReferralStatus
COMPLETION_TEMPLATE = "course_completed_person"
MAX_TEXT = 1000


class RegisterLocked(Conflict):
    """The register has been submitted; a manager must reopen or amend it."""

    title = "Register already submitted"


class OutcomeConflict(Conflict):
    """A changed mark would need a move the referral's present state does not allow."""

    title = "Outcome cannot be changed"


# Sessions for the day ---------------------------------------------------------------------

@dataclass
class SessionLine:
    session: CourseSession
    booked: int
    register_state: RegisterState | None

    @property
    def register_label(self) -> str:
        return self.register_state.label if self.register_state else "Not started"


def _session_lines(rows: Sequence[scheduling_services.SessionRow]) -> list[SessionLine]:
    ids = [row.session.id for row in rows]
    states: dict[int, RegisterState] = {}
    if ids:
        for session_id, state in db.session.execute(
                select(Register.session_id, Register.state).where(Register.session_id.in_(ids))):
            states[session_id] = state
    return [SessionLine(row.session, row.booked, states.get(row.session.id)) for row in rows]


def list_sessions_for_day(*, user: User, day: dt.date) -> list[SessionLine]:
    """Sessions starting on a London day: a facilitator's own, or every one for a manager."""
    start, end = london_day_bounds(day)
    return _session_lines(scheduling_services.sessions_between(
        start=start, end=end, facilitator_id=_facilitator_scope(user)))


def list_upcoming_sessions(*, user: User, now: dt.datetime, limit: int = 50) -> list[SessionLine]:
    """Sessions after today (London), earliest first, cancelled ones left out."""
    _, end_of_today = london_day_bounds(london_today(now))
    page = scheduling_services.list_sessions(
        where=scheduling_services.SessionFilter(starts_from=end_of_today,
                                                facilitator_id=_facilitator_scope(user),
                                                status=SessionStatus.SCHEDULED),
        per_page=limit, count_total=False)
    return _session_lines(page.rows)


def _facilitator_scope(user: User) -> int | None:
    return user.id if user.role is Role.FACILITATOR else None


def get_session_for(*, session_id: int, actor: User) -> CourseSession:
    """The session, if this user may take its register: a facilitator only their own (else 404)."""
    session = scheduling_services.get_session(session_id)
    if actor.role is Role.FACILITATOR and not scheduling_services.is_facilitating(session, actor):
        raise NotFound("No such session")
    if actor.role not in (Role.FACILITATOR, Role.MANAGER):
        raise NotFound("No such session")
    return session


# The register ------------------------------------------------------------------------------

@dataclass
class Line:
    """One person on the register: what a facilitator may see of them, and their mark."""

    referral_id: int
    reference: str
    name: str
    access_needs: str | None
    needs_step_free: bool
    status: AttendanceStatus | None = None
    arrived_at: dt.datetime | None = None
    id_checked: bool = False
    reason: str | None = None
    participation_note: str | None = None
    outcome: Outcome | None = None
    entry_id: int | None = None


@dataclass
class RegisterSheet:
    session: CourseSession
    register: Register | None
    lines: list[Line] = field(default_factory=list)

    @property
    def state(self) -> RegisterState:
        return self.register.state if self.register else RegisterState.DRAFT

    @property
    def is_submitted(self) -> bool:
        return self.state is RegisterState.SUBMITTED


def get_register(session_id: int) -> Register | None:
    return db.session.scalar(
        select(Register).where(Register.session_id == session_id)
        .options(selectinload(Register.entries)))


def _line(referral: Referral, entry: RegisterEntry | None) -> Line:
    person = referral.person
    line = Line(referral_id=referral.id, reference=referral.reference, name=person.full_name,
                access_needs=person.access_needs, needs_step_free=person.needs_step_free)
    if entry is not None:
        line.status, line.arrived_at, line.id_checked = entry.status, entry.arrived_at, entry.id_checked
        line.reason, line.participation_note = entry.reason, entry.participation_note
        line.outcome, line.entry_id = entry.outcome, entry.id
    return line


RosterRow = tuple[Referral, RegisterEntry | None, Booking | None]


def _roster(session: CourseSession, register: Register | None) -> list[RosterRow]:
    """Who is on the register: lines already decided, and everyone with an active booking."""
    bookings = booking_services.list_session_bookings(session.id)
    entries = {e.referral_id: e for e in (register.entries if register else [])}
    rows: list[RosterRow] = []
    seen = set()
    for booking in bookings:
        rows.append((booking.referral, entries.get(booking.referral_id), booking))
        seen.add(booking.referral_id)
    for referral_id, entry in entries.items():
        # A line with an outcome stays even though its booking has ended (that is the outcome).
        if referral_id not in seen and entry.outcome is not None:
            rows.append((entry.referral, entry, None))
    rows.sort(key=lambda r: (r[0].person.family_name.lower(), r[0].person.given_names.lower(),
                             r[0].id))
    return rows


def register_sheet(*, session: CourseSession, actor: User, now: dt.datetime) -> RegisterSheet:
    """The register as a facilitator sees it: names and access needs only. Audited."""
    register = get_register(session.id)
    sheet = RegisterSheet(session, register,
                          [_line(r, e) for r, e, _ in _roster(session, register)])
    record(action="register.view", category=AuditCategory.CONSULTATION, now=now, actor=actor,
           object_type="session", object_id=session.id, details={"people": len(sheet.lines)})
    return sheet


def check_can_take(session: CourseSession, *, now: dt.datetime) -> None:
    """Refuse a register for a cancelled session, or before an hour ahead of its start."""
    if session.status is SessionStatus.CANCELLED:
        raise Conflict("This session was cancelled: it has no register")
    if not is_register_open(session.starts_at, now=now):
        raise Conflict("The register opens an hour before the session starts, at "
                       + format_london(register_opens_at(session.starts_at), "%-I:%M%p on %-d %B %Y")
                       .replace("AM", "am").replace("PM", "pm"))


@dataclass(frozen=True)
class MarkInput:
    """A change to one line, by the referral's reference. None leaves a value as it is."""

    reference: str
    status: AttendanceStatus | None = None
    id_checked: bool | None = None
    arrived_at: dt.datetime | None = None
    clear_arrival: bool = False
    reason: str | None = None
    participation_note: str | None = None


@dataclass
class LineResult:
    reference: str
    attendance: str | None
    outcome: str | None
    referral_status: str


@dataclass
class SaveResult:
    register: Register
    lines: list[LineResult]


def _ensure_register(session: CourseSession, *, now: dt.datetime) -> Register:
    register = get_register(session.id)
    if register is None:
        register = Register(session_id=session.id, state=RegisterState.DRAFT, created_at=now,
                            updated_at=now)
        db.session.add(register)
        db.session.flush()
    return register


def _sync_entries(session: CourseSession, register: Register, *, actor: User | None,
                  now: dt.datetime) -> dict[str, RegisterEntry]:
    """Give every booked person a line; drop undecided lines whose booking has gone."""
    entries: dict[str, RegisterEntry] = {}
    on_roster = set()
    for referral, entry, booking in _roster(session, register):
        if entry is None:
            entry = RegisterEntry(referral_id=referral.id, booking_id=booking.id if booking else None,
                                  id_checked=False, updated_at=now,
                                  updated_by_id=getattr(actor, "id", None))
            entry.referral = referral
            register.entries.append(entry)
        on_roster.add(referral.id)
        entries[referral.reference] = entry
    for entry in list(register.entries):
        if entry.referral_id not in on_roster:
            register.entries.remove(entry)
    db.session.flush()
    return entries


FACT_FIELDS = ("status", "arrived_at", "id_checked", "reason")


def _snapshot(entry: RegisterEntry) -> dict[str, Any]:
    return {"status": entry.status.value if entry.status else None,
            "arrived_at": entry.arrived_at.isoformat() if entry.arrived_at else None,
            "id_checked": bool(entry.id_checked), "reason": entry.reason,
            "participation_note": entry.participation_note}


def _change(mark: MarkInput, entry: RegisterEntry) -> None:
    if mark.status is not None:
        entry.status = mark.status
    if mark.id_checked is not None:
        entry.id_checked = mark.id_checked
    if mark.clear_arrival:
        entry.arrived_at = None
    elif mark.arrived_at is not None:
        entry.arrived_at = mark.arrived_at
    if mark.reason is not None:
        entry.reason = mark.reason.strip() or None
    if mark.participation_note is not None:
        entry.participation_note = mark.participation_note.strip() or None


def _diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    for key in before:
        if before[key] != after[key]:
            # The note is the facilitator's opinion: the history says it changed, not what it says.
            changes[key] = (["changed"] if key == "participation_note"
                            else [before[key], after[key]])
    return changes


def _history(register: Register, *, action: RegisterAction, actor: User | None, now: dt.datetime,
             entry: RegisterEntry | None = None, reason: str | None = None,
             changes: dict[str, Any] | None = None) -> None:
    db.session.add(RegisterChange(
        register_id=register.id, entry_id=entry.id if entry else None, action=action, at=now,
        actor_user_id=getattr(actor, "id", None), actor_label=actor_label_for(actor),
        reason=reason, changes=changes or {}))


def _mark_of(entry: RegisterEntry) -> Mark:
    return Mark(status=entry.status, id_checked=entry.id_checked, arrived_at=entry.arrived_at,
                reason=entry.reason)


def _check_entries(session: CourseSession, entries: dict[str, RegisterEntry], *,
                   submitting: bool, prefix: dict[str, str]) -> None:
    errors: dict[str, str] = {}
    for reference, entry in entries.items():
        for name, message in mark_problems(
                _mark_of(entry), starts_at=session.starts_at,
                late_cutoff_minutes=session.programme.late_cutoff_minutes,
                submitting=submitting).items():
            errors[f"{prefix.get(reference, reference)}.{name}"] = (
                f"{entry.referral.person.full_name}: {message}")
        for text, name in ((entry.reason, "reason"), (entry.participation_note, "participation_note")):
            if text and len(text) > MAX_TEXT:
                errors[f"{prefix.get(reference, reference)}.{name}"] = (
                    f"{entry.referral.person.full_name}: keep it to {MAX_TEXT} characters")
    if errors:
        raise ValidationFailed(errors)


def save_register(*, session: CourseSession, marks: Sequence[MarkInput], submit: bool,
                  actor: User | None, now: dt.datetime,
                  field_names: dict[str, str] | None = None) -> SaveResult:
    """Record marks; with `submit`, lock the register and apply each line's outcome.

    Refused with nothing changed: a cancelled session, too early, a submitted register (409),
    a reference not on the register, or a line that is wrong (422, by field).
    `field_names` maps a reference to the name its errors are reported under.
    """
    check_can_take(session, now=now)
    register = _ensure_register(session, now=now)
    if register.is_submitted:
        raise RegisterLocked("This register has been submitted. A manager can reopen it or "
                             "amend one entry")
    entries = _sync_entries(session, register, actor=actor, now=now)
    names = field_names or {}
    unknown = {names.get(m.reference, m.reference): "This person is not booked on this session"
               for m in marks if m.reference not in entries}
    if unknown:
        raise ValidationFailed({f"{k}.reference": v for k, v in unknown.items()},
                               "Someone in the register is not booked on this session")
    for mark in marks:
        entry = entries[mark.reference]
        before = _snapshot(entry)
        _change(mark, entry)
        changes = _diff(before, _snapshot(entry))
        if changes:
            entry.updated_at, entry.updated_by_id = now, getattr(actor, "id", None)
            _history(register, action=RegisterAction.SAVED, actor=actor, now=now, entry=entry,
                     changes=changes)
    _check_entries(session, entries, submitting=submit, prefix=names)
    register.updated_at = now
    db.session.flush()
    record(action="register.save", category=AuditCategory.COLLECTION, now=now, actor=actor,
           object_type="session", object_id=session.id, details={"lines": len(marks)})
    if submit:
        _submit(register, session, entries, actor=actor, now=now)
    return SaveResult(register, [_result(e) for e in entries.values()])


def mark_everyone_attended(*, session: CourseSession, actor: User | None,
                           now: dt.datetime) -> int:
    """Mark every unmarked person attended (a draft); returns how many were marked."""
    check_can_take(session, now=now)
    register = _ensure_register(session, now=now)
    if register.is_submitted:
        raise RegisterLocked("This register has been submitted")
    entries = _sync_entries(session, register, actor=actor, now=now)
    unmarked = [r for r, e in entries.items() if e.status is None]
    save_register(session=session, submit=False, actor=actor, now=now,
                  marks=[MarkInput(reference=r, status=AttendanceStatus.ATTENDED) for r in unmarked])
    return len(unmarked)


def _result(entry: RegisterEntry) -> LineResult:
    return LineResult(reference=entry.referral.reference,
                      attendance=entry.status.value if entry.status else None,
                      outcome=entry.outcome.value if entry.outcome else None,
                      referral_status=entry.referral.status.value)


def _submit(register: Register, session: CourseSession, entries: dict[str, RegisterEntry], *,
            actor: User | None, now: dt.datetime) -> None:
    for entry in entries.values():
        _apply_outcome(entry, session=session, actor=actor, now=now)
    register.state = RegisterState.SUBMITTED
    register.submitted_at, register.submitted_by_id = now, getattr(actor, "id", None)
    _history(register, action=RegisterAction.SUBMITTED, actor=actor, now=now,
             changes={"people": len(entries)})
    record(action="register.submit", category=AuditCategory.ALTERATION, now=now, actor=actor,
           object_type="session", object_id=session.id, details={"people": len(entries)})
    db.session.flush()


# Outcomes -----------------------------------------------------------------------------------

# (referral status now, outcome wanted) -> the move that gets it there (None: no move needed).
OUTCOME_MOVES: dict[tuple[ReferralStatus, Outcome], ReferralEventType | None] = {
    (S.BOOKED, Outcome.COMPLETED): E.ATTENDED_COMPLETED,
    (S.BOOKED, Outcome.FEE_OUTSTANDING): None,
    (S.BOOKED, Outcome.MISSED): E.MISSED,
    (S.BOOKED, Outcome.EXCUSED): E.BOOKING_CANCELLED,
    (S.MISSED, Outcome.EXCUSED): E.EXCUSE_ACCEPTED,
    (S.MISSED, Outcome.MISSED): None,
}


def is_fee_cleared(referral: Referral) -> bool:
    """Paid in full or waived."""
    return fees.fee_status(referral).is_cleared


def _reason_for(entry: RegisterEntry, outcome: Outcome) -> str:
    assert entry.status is not None
    if outcome is Outcome.EXCUSED:
        return f"Excused from the session: {entry.reason}"
    text = f"Register: {entry.status.label.lower()}"
    return f"{text}. {entry.reason}" if entry.reason else text


def _apply_outcome(entry: RegisterEntry, *, session: CourseSession, actor: User | None,
                   now: dt.datetime) -> None:
    referral = entry.referral
    wanted = outcome_for(_mark_of(entry), is_fee_cleared=is_fee_cleared(referral))
    if wanted is entry.outcome:
        return
    if entry.outcome is None and referral.status.is_terminal:
        # Withdrawn (or closed) before the register was submitted: attendance is kept, nothing moves.
        return
    key = (referral.status, wanted)
    if key not in OUTCOME_MOVES:
        raise OutcomeConflict(
            f"{referral.person.full_name} ({referral.reference}) is now "
            f"{referral.status.label.lower()}: they cannot be recorded as "
            f"'{wanted.label.lower()}' by changing the register", reference=referral.reference)
    event = OUTCOME_MOVES[key]
    if event is not None:
        lifecycle.transition(referral, event, actor=actor, now=now,
                             reason=_reason_for(entry, wanted))
    entry.outcome = wanted
    if wanted is Outcome.COMPLETED:
        notify_person_completed(referral, session=session, now=now)


def _contact(referral: Referral) -> tuple[Channel, str] | None:
    person = referral.person
    if person.preferred_contact is ContactChannel.SMS and person.mobile:
        return Channel.SMS, person.mobile
    if person.email:
        return Channel.EMAIL, person.email
    if person.mobile:
        return Channel.SMS, person.mobile
    return None


def notify_person_completed(referral: Referral, *, session: CourseSession | None,
                            now: dt.datetime) -> None:
    """Tell the person they completed, with their certificate's reference (once only)."""
    contact = _contact(referral)
    if contact is None:
        log.info("no email or mobile for the completion notice of referral %s", referral.id)
        return
    channel, recipient = contact
    attended_on = session.starts_at if session else now
    enqueue(dedupe_key=f"completion-person:{referral.id}", channel=channel, recipient=recipient,
            template=COMPLETION_TEMPLATE, due_at=now, now=now, subject_type="referral",
            subject_id=referral.id,
            context={"reference": referral.reference,
                     "given_name": referral.person.given_names.split()[0],
                     "attended_on": format_london(attended_on, "%-d %B %Y"),
                     # The dispatcher can render and attach the certificate from this reference.
                     "attachment": {"kind": "completion_certificate",
                                    "reference": referral.reference,
                                    "filename": f"certificate-{referral.reference}.pdf"}})


def attended_entry(referral: Referral) -> RegisterEntry | None:
    """The submitted register line that recorded the referral attending, if any."""
    return db.session.scalar(
        select(RegisterEntry).join(Register)
        .where(RegisterEntry.referral_id == referral.id,
               RegisterEntry.status == AttendanceStatus.ATTENDED,
               Register.state == RegisterState.SUBMITTED)
        .order_by(RegisterEntry.id.desc()).limit(1))


def on_fee_cleared(referral: Referral, actor: User | None, now: dt.datetime) -> bool:
    """Complete a referral that attended with the fee owed, now the fee is paid or waived.

    Connected to bookings' `fee_cleared` signal (see complete_after_fee) and called by the
    deadline sweep. Returns True when the
    referral completed; does nothing (False) in every other case.
    """
    entry = db.session.scalar(
        select(RegisterEntry).where(RegisterEntry.referral_id == referral.id,
                                    RegisterEntry.outcome == Outcome.FEE_OUTSTANDING)
        .options(joinedload(RegisterEntry.register).joinedload(Register.session)))
    if entry is None or referral.status is not S.BOOKED or not is_fee_cleared(referral):
        return False
    lifecycle.transition(referral, E.COMPLETED_AFTER_FEE, actor=actor, now=now,
                         reason="Attended in full; fee now cleared")
    entry.outcome = Outcome.COMPLETED
    notify_person_completed(referral, session=entry.register.session, now=now)
    return True


# Amendments ---------------------------------------------------------------------------------

def _require_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed({"reason": "Enter the reason for the change"})
    if len(reason) > 500:
        raise ValidationFailed({"reason": "Keep the reason to 500 characters"})
    return reason


def _require_manager(actor: User | None) -> None:
    if actor is None or actor.role is not Role.MANAGER:
        raise NotFound("No such register")


def reopen_register(*, session: CourseSession, reason: str, actor: User | None,
                    now: dt.datetime) -> Register:
    """A manager puts a submitted register back to draft; outcomes already applied stay."""
    _require_manager(actor)
    reason = _require_reason(reason)
    register = get_register(session.id)
    if register is None or not register.is_submitted:
        raise Conflict("This register has not been submitted, so there is nothing to reopen")
    register.state, register.submitted_at, register.submitted_by_id = (
        RegisterState.DRAFT, None, None)
    register.updated_at = now
    _history(register, action=RegisterAction.REOPENED, actor=actor, now=now, reason=reason)
    record(action="register.reopen", category=AuditCategory.ALTERATION, now=now, actor=actor,
           object_type="session", object_id=session.id, details={"reason": reason})
    db.session.flush()
    return register


def get_entry(*, session: CourseSession, entry_id: int) -> RegisterEntry:
    entry = db.session.get(RegisterEntry, entry_id)
    if entry is None or entry.register.session_id != session.id:
        raise NotFound("No such entry")
    return entry


def amend_entry(*, session: CourseSession, entry: RegisterEntry, mark: MarkInput, reason: str,
                actor: User | None, now: dt.datetime) -> RegisterEntry:
    """A manager changes one line of a submitted register, with a reason; the outcome follows."""
    _require_manager(actor)
    reason = _require_reason(reason)
    register = entry.register
    if not register.is_submitted:
        raise Conflict("This register is a draft: change it on the register itself")
    before = _snapshot(entry)
    _change(mark, entry)
    changes = _diff(before, _snapshot(entry))
    if not changes:
        raise ValidationFailed({"status": "Nothing was changed"})
    _check_entries(session, {entry.referral.reference: entry}, submitting=True,
                   prefix={entry.referral.reference: "entry"})
    entry.updated_at, entry.updated_by_id = now, getattr(actor, "id", None)
    _apply_outcome(entry, session=session, actor=actor, now=now)
    _history(register, action=RegisterAction.AMENDED, actor=actor, now=now, entry=entry,
             reason=reason, changes=changes)
    record(action="register.amend", category=AuditCategory.ALTERATION, now=now, actor=actor,
           object_type="register_entry", object_id=entry.id,
           details={"fields": sorted(changes), "reason": reason})
    db.session.flush()
    return entry


def register_history(register: Register) -> list[RegisterChange]:
    return list(db.session.scalars(
        select(RegisterChange).where(RegisterChange.register_id == register.id)
        .order_by(RegisterChange.id.desc())))


# Excuses, grace window, deadlines -----------------------------------------------------------

def missed_at(referral: Referral) -> dt.datetime | None:
    """When the referral was last recorded as missing its session."""
    return db.session.scalar(
        select(ReferralEvent.at).where(ReferralEvent.referral_id == referral.id,
                                       ReferralEvent.event == E.MISSED)
        .order_by(ReferralEvent.id.desc()).limit(1))


def grace_window_closes_at(referral: Referral) -> dt.datetime | None:
    at = missed_at(referral)
    return None if at is None else grace_closes_at(at, referral.programme.grace_days)


def accept_excuse(*, referral: Referral, reason: str, actor: User | None,
                  now: dt.datetime) -> Referral:
    """A manager accepts an excuse for a missed session, within the grace window."""
    _require_manager(actor)
    reason = _require_reason(reason)
    if referral.status is not S.MISSED:
        raise Conflict(f"Only a missed session can be excused; this referral is "
                       f"{referral.status.label.lower()}")
    closes = grace_window_closes_at(referral)
    if closes is not None and now >= closes:
        raise Conflict("The grace window for an excuse closed on "
                       + format_london(closes - dt.timedelta(seconds=1), "%-d %B %Y"))
    lifecycle.transition(referral, E.EXCUSE_ACCEPTED, actor=actor, now=now, reason=reason)
    return referral


def sweep_grace_window(*, now: dt.datetime) -> dict[str, int]:
    """Close missed referrals whose grace window has passed: not completed."""
    latest_miss = (select(ReferralEvent.referral_id, func.max(ReferralEvent.at).label("at"))
                   .where(ReferralEvent.event == E.MISSED)
                   .group_by(ReferralEvent.referral_id).subquery())
    # Longest possible window first narrows the query; the exact rule is applied per referral.
    rows = db.session.execute(
        select(Referral, latest_miss.c.at).join(latest_miss, latest_miss.c.referral_id == Referral.id)
        .where(Referral.status == S.MISSED).order_by(Referral.id)).all()
    closed = 0
    for referral, at in rows:
        at = at if at.tzinfo else at.replace(tzinfo=dt.UTC)
        if now >= grace_closes_at(at, referral.programme.grace_days):
            lifecycle.transition(referral, E.GRACE_EXPIRED, actor=None, now=now,
                                 reason="Missed the session; no excuse accepted in the grace window")
            closed += 1
    db.session.flush()
    return {"not_completed": closed}


def _awaiting_outcome(referral: Referral) -> bool:
    """Booked on a session that is not cancelled and whose register is not yet submitted."""
    booking = booking_services.get_active_booking(referral)
    if booking is None or booking.session.status is SessionStatus.CANCELLED:
        return False
    register = get_register(booking.session_id)
    return register is None or not register.is_submitted


def sweep_deadlines(*, now: dt.datetime) -> dict[str, int]:
    """Complete attended referrals whose fee is now cleared; close the rest past the deadline."""
    completed = 0
    for entry in db.session.scalars(select(RegisterEntry).where(
            RegisterEntry.outcome == Outcome.FEE_OUTSTANDING)).all():
        if on_fee_cleared(entry.referral, None, now):
            completed += 1
    today = london_today(now)
    closed = 0
    for referral in db.session.scalars(
            select(Referral).where(Referral.status.in_([S.AWAITING_BOOKING, S.BOOKED]),
                                   Referral.completion_deadline < today)
            .order_by(Referral.id)).all():
        if not is_deadline_passed(referral.completion_deadline, now=now):
            continue
        if referral.status is S.BOOKED and _awaiting_outcome(referral):
            continue  # the register decides first
        attended = attended_entry(referral)
        reason = ("Attended, but the fee was not paid by the completion deadline"
                  if attended is not None and attended.outcome is Outcome.FEE_OUTSTANDING
                  else "The course was not completed by the completion deadline")
        lifecycle.transition(referral, E.DEADLINE_PASSED, actor=None, now=now, reason=reason)
        closed += 1
    db.session.flush()
    return {"completed_after_fee": completed, "not_completed": closed}


# Close-out ----------------------------------------------------------------------------------

def overdue_registers(*, now: dt.datetime, limit: int | None = None) -> list[CourseSession]:
    """Sessions with people booked whose register was not submitted by the end of the next day."""
    cutoff = london_midnight_in_utc(london_today(now) - dt.timedelta(days=1))
    submitted = exists().where(Register.session_id == CourseSession.id,
                               Register.state == RegisterState.SUBMITTED)
    has_people = (exists().where(Booking.session_id == CourseSession.id,
                                 Booking.status == BookingStatus.ACTIVE)
                  | exists().where(Register.session_id == CourseSession.id))
    query = (select(CourseSession).where(CourseSession.starts_at < cutoff,
                                         CourseSession.status != SessionStatus.CANCELLED,
                                         ~submitted, has_people)
             .order_by(CourseSession.starts_at))
    if limit:
        query = query.limit(limit)
    sessions = list(db.session.scalars(query))
    # The cut-off above is the exact rule for each session (close_out_due_at), applied in SQL.
    return [s for s in sessions if now >= close_out_due_at(s.starts_at)]


def count_overdue_registers(*, now: dt.datetime) -> int:
    return len(overdue_registers(now=now))


def count_fee_outstanding() -> int:
    """Referrals that attended in full and wait only for their fee."""
    return db.session.scalar(select(func.count()).select_from(RegisterEntry).join(Referral)
                             .where(RegisterEntry.outcome == Outcome.FEE_OUTSTANDING,
                                    Referral.status == S.BOOKED)) or 0


# Certificates -------------------------------------------------------------------------------

@dataclass(frozen=True)
class CertificateFacts:
    name: str
    reference: str
    course: str
    completed_on: dt.date


class NoCertificate(DomainError):
    status = 404
    title = "Not found"


def certificate_facts(referral: Referral) -> CertificateFacts:
    """What a completion certificate shows: nothing about the offence."""
    if referral.status is not S.COMPLETED:
        raise NoCertificate("There is a certificate only for a completed course")
    entry = attended_entry(referral)
    completed_on = (london_today(entry.register.session.starts_at) if entry is not None
                    else referral.closed_on or london_today(referral.created_at))
    return CertificateFacts(name=referral.person.full_name, reference=referral.reference,
                            course=f"Diversion course ({referral.programme.code})",
                            completed_on=completed_on)


def complete_after_fee(referral: Referral, *, actor: User | None, now: dt.datetime) -> None:
    """The receiver of bookings' `fee_cleared` signal (connected in attendance's init_app)."""
    on_fee_cleared(referral, actor, now)
