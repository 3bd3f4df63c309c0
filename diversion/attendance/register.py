"""Taking the register: the sheet of who is booked, saving marks, submitting.

Submitting decides each referral's outcome through `outcomes.apply_outcome`; a submitted
register is locked (RegisterLocked) until a manager reopens it (corrections.py). Every change
to a line is a RegisterChange row.

- `get_register(session_id)` -> Register | None
- `register_sheet(session=, actor=, now=)` -> RegisterSheet (audited), `roster_lines(session,
  register)` (not); `check_can_take(session, now=)`
- `save_register(session=, marks=, submit=, actor=, now=)` -> SaveResult (the API's one step)
- `save_draft(session=, marks=, actor=, now=)` -> DraftResult: keeps every line it can and
  reports the others (the page's autosave and "Save"); never refuses for one bad line
- `set_everyone(session=, status=|id_checked=, actor=, now=)`: the page's "set all"
- `preview_submission(session)` -> Preview (each line's outcome, and a fingerprint of the
  marks), then `submit_checked(session=, fingerprint=, actor=, now=)`: the page submits only
  the register its user checked
- `snapshot`, `apply_mark`, `changed_facts`, `add_change`, `check_entries`: the steps of a
  change to a line, shared with amendments
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, false, select, union
from sqlalchemy.orm import selectinload

from diversion.attendance.models import Register, RegisterAction, RegisterChange, RegisterEntry, RegisterState
from diversion.attendance.outcomes import apply_outcome, mark_of
from diversion.attendance.rules import (
    AttendanceStatus,
    Outcome,
    is_register_open,
    mark_problems,
    outcome_for,
    register_opens_at,
)
from diversion.audit.models import AuditCategory
from diversion.audit.services import actor_label_for, record, shown_details
from diversion.auth.models import User
from diversion.bookings import fees
from diversion.bookings import queries as bookings_queries
from diversion.bookings.models import Booking
from diversion.core.errors import Conflict, ValidationFailed
from diversion.core.extensions import db
from diversion.core.timeutils import format_london
from diversion.core.transactions import savepoint
from diversion.courses.models import CourseSession, SessionStatus
from diversion.referrals import lifecycle
from diversion.referrals.models import Person, Referral

MAX_TEXT = 1000
# How a length error names each box of a line ("… must be 1,000 characters or fewer").
TEXT_NAMES = {"reason": "The reason", "participation_note": "The note on how they took part"}


class RegisterLocked(Conflict):
    """The register has been submitted; a manager must reopen or amend it."""

    title = "Register already submitted"


class RegisterChanged(Conflict):
    """The marks changed between the check before submitting and the submission."""

    title = "The register has changed"


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
    bookings = bookings_queries.list_session_bookings(session.id)
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


def roster_lines(session: CourseSession, register: Register | None) -> list[Line]:
    """The register's lines, in its order. Not audited: the caller records its own read."""
    return [_line(r, e) for r, e, _ in _roster(session, register)]


def _sheet_lines(session: CourseSession, register: Register | None) -> list[Line]:
    """`roster_lines` read as plain rows in one query (no Booking, Referral, Person or entry
    objects, which cost the page more to build than it takes to render): everyone with an
    active booking, and the lines with an outcome whose booking has ended."""
    on_roster: Any = bookings_queries.active_booking_referral_ids(session.id)
    if register is not None:
        on_roster = union(on_roster, select(RegisterEntry.referral_id).where(
            RegisterEntry.register_id == register.id, RegisterEntry.outcome.is_not(None)))
    entry = (RegisterEntry.register_id == register.id) if register is not None else false()
    rows = list(db.session.execute(
        select(Referral.id, Referral.reference, Person.given_names, Person.family_name,
               Person.access_needs, Person.needs_step_free, RegisterEntry.status,
               RegisterEntry.arrived_at, RegisterEntry.id_checked, RegisterEntry.reason,
               RegisterEntry.participation_note, RegisterEntry.outcome, RegisterEntry.id)
        .join(Person, Person.id == Referral.person_id)
        .outerjoin(RegisterEntry, and_(entry, RegisterEntry.referral_id == Referral.id))
        .where(Referral.id.in_(on_roster))))
    rows.sort(key=lambda r: (r.family_name.lower(), r.given_names.lower(), r.id))
    return [Line(referral_id=r[0], reference=r[1], name=f"{r.given_names} {r.family_name}",
                 access_needs=r[4], needs_step_free=r[5], status=r[6], arrived_at=r[7],
                 id_checked=bool(r[8]) if r[12] is not None else False, reason=r[9],
                 participation_note=r[10], outcome=r[11], entry_id=r[12])
            for r in rows]


def register_sheet(*, session: CourseSession, actor: User, now: dt.datetime) -> RegisterSheet:
    """The register as a facilitator sees it: names and access needs only. Audited."""
    register = db.session.scalar(select(Register).where(Register.session_id == session.id))
    sheet = RegisterSheet(session, register, _sheet_lines(session, register))
    record(action="register.view", category=AuditCategory.CONSULTATION, now=now, actor=actor,
           object_type="session", object_id=session.id, details={"people": len(sheet.lines),
                                                     **shown_details(line.referral_id
                                                                     for line in sheet.lines)})
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


def snapshot(entry: RegisterEntry) -> dict[str, Any]:
    return {"status": entry.status.value if entry.status else None,
            "arrived_at": entry.arrived_at.isoformat() if entry.arrived_at else None,
            "id_checked": bool(entry.id_checked), "reason": entry.reason,
            "participation_note": entry.participation_note}


def apply_mark(mark: MarkInput, entry: RegisterEntry) -> None:
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


def changed_facts(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    for key in before:
        if before[key] != after[key]:
            # The note is the facilitator's opinion: the history says it changed, not what it says.
            changes[key] = (["changed"] if key == "participation_note"
                            else [before[key], after[key]])
    return changes


def add_change(register: Register, *, action: RegisterAction, actor: User | None, now: dt.datetime,
               entry: RegisterEntry | None = None, reason: str | None = None,
               changes: dict[str, Any] | None = None) -> None:
    db.session.add(RegisterChange(
        register_id=register.id, entry_id=entry.id if entry else None, action=action, at=now,
        actor_user_id=getattr(actor, "id", None), actor_label=actor_label_for(actor),
        reason=reason, changes=changes or {}))


def check_entries(session: CourseSession, entries: dict[str, RegisterEntry], *,
                  submitting: bool, prefix: dict[str, str]) -> None:
    errors: dict[str, str] = {}
    for reference, entry in entries.items():
        for name, message in mark_problems(
                mark_of(entry), starts_at=session.starts_at,
                late_cutoff_minutes=session.programme.late_cutoff_minutes,
                submitting=submitting).items():
            errors[f"{prefix.get(reference, reference)}.{name}"] = (
                f"{entry.referral.person.full_name}: {message}")
        for text, name in ((entry.reason, "reason"), (entry.participation_note, "participation_note")):
            if text and len(text) > MAX_TEXT:
                errors[f"{prefix.get(reference, reference)}.{name}"] = (
                    f"{entry.referral.person.full_name}: {TEXT_NAMES[name]} must be "
                    f"{MAX_TEXT:,} characters or fewer")
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
        before = snapshot(entry)
        apply_mark(mark, entry)
        changes = changed_facts(before, snapshot(entry))
        if changes:
            entry.updated_at, entry.updated_by_id = now, getattr(actor, "id", None)
            add_change(register, action=RegisterAction.SAVED, actor=actor, now=now, entry=entry,
                       changes=changes)
    check_entries(session, entries, submitting=submit, prefix=names)
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
    return set_everyone(session=session, status=AttendanceStatus.ATTENDED, actor=actor, now=now)


# Marks after which there is no ID to check: the person did not come in.
NOT_IN_THE_ROOM = frozenset({AttendanceStatus.ABSENT, AttendanceStatus.EXCUSED})


def set_everyone(*, session: CourseSession, actor: User | None, now: dt.datetime,
                 status: AttendanceStatus | None = None, id_checked: bool | None = None) -> int:
    """Set all, as a draft: `status` for everyone not yet marked, or "ID checked" for everyone
    not marked absent or excused. Marks already made are kept. Returns how many lines changed."""
    check_can_take(session, now=now)
    register = _ensure_register(session, now=now)
    if register.is_submitted:
        raise RegisterLocked("This register has been submitted")
    entries = _sync_entries(session, register, actor=actor, now=now)
    marks = []
    for reference, entry in entries.items():
        if status is not None and entry.status is None:
            marks.append(MarkInput(reference=reference, status=status))
        elif (id_checked is not None and entry.id_checked != id_checked
              and entry.status not in NOT_IN_THE_ROOM):
            marks.append(MarkInput(reference=reference, id_checked=id_checked))
    save_register(session=session, submit=False, actor=actor, now=now, marks=marks)
    return len(marks)


@dataclass
class DraftResult:
    saved: list[str]
    problems: dict[str, dict[str, str]]  # reference -> {field: message}


def _by_reference(errors: dict[str, str]) -> dict[str, dict[str, str]]:
    problems: dict[str, dict[str, str]] = {}
    for key, message in errors.items():
        reference, _, name = key.rpartition(".")
        problems.setdefault(reference, {})[name] = message
    return problems


def save_draft(*, session: CourseSession, marks: Sequence[MarkInput], actor: User | None,
               now: dt.datetime) -> DraftResult:
    """Keep every line that can be kept as a draft and report the others by reference.

    A draft may be incomplete but not contradictory (see rules.mark_problems): a line that is
    refused keeps its earlier draft. Refuses as a whole only what refuses the register
    (cancelled, not open yet, submitted).
    """
    problems: dict[str, dict[str, str]] = {}
    pending = list(marks)
    while True:
        try:
            with savepoint():
                save_register(session=session, marks=pending, submit=False, actor=actor, now=now)
        except ValidationFailed as error:
            refused = _by_reference(error.errors)
            remaining = [m for m in pending if m.reference not in refused]
            problems.update(refused)
            if len(remaining) == len(pending) or not remaining:
                # A refusal no line of this change explains (a line saved earlier): keep nothing.
                return DraftResult([], problems)
            pending = remaining
        else:
            return DraftResult([m.reference for m in pending], problems)


def check_submission(*, session: CourseSession, actor: User | None, now: dt.datetime) -> None:
    """Refuse (ValidationFailed, by `<reference>.<field>`) a register not ready to submit."""
    check_can_take(session, now=now)
    register = _ensure_register(session, now=now)
    if register.is_submitted:
        raise RegisterLocked("This register has been submitted")
    check_entries(session, _sync_entries(session, register, actor=actor, now=now),
                  submitting=True, prefix={})


@dataclass(frozen=True)
class PreviewLine:
    reference: str
    name: str
    status: AttendanceStatus | None
    outcome: Outcome | None


@dataclass
class Preview:
    lines: list[PreviewLine]
    fingerprint: str

    def by_outcome(self) -> list[tuple[Outcome, list[PreviewLine]]]:
        return [(outcome, [line for line in self.lines if line.outcome is outcome])
                for outcome in Outcome if any(line.outcome is outcome for line in self.lines)]


def preview_submission(session: CourseSession) -> Preview:
    """What submitting the register as it stands would decide for each person. Writes nothing.

    The fingerprint names these marks: `submit_checked` refuses if they change before it runs.
    """
    register = get_register(session.id)
    rows = _roster(session, register)
    cleared = fees.fee_statuses([referral for referral, _, _ in rows])
    lines, facts = [], []
    for referral, entry, _ in rows:
        mark = mark_of(entry) if entry is not None else None
        outcome = None
        if mark is not None and mark.status is not None:
            outcome = outcome_for(mark, is_fee_cleared=cleared[referral.id].is_cleared)
        lines.append(PreviewLine(referral.reference, referral.person.full_name,
                                 mark.status if mark else None, outcome))
        facts.append([referral.reference, snapshot(entry) if entry is not None else None])
    digest = hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()
    return Preview(lines, digest[:32])


def submit_checked(*, session: CourseSession, fingerprint: str, actor: User | None,
                   now: dt.datetime) -> SaveResult:
    """Submit the register its user checked (`preview_submission(...).fingerprint`)."""
    if preview_submission(session).fingerprint != fingerprint:
        raise RegisterChanged("The register changed after you checked it, perhaps on another "
                              "device. Check it again before you submit it")
    return save_register(session=session, marks=[], submit=True, actor=actor, now=now)


def _result(entry: RegisterEntry) -> LineResult:
    return LineResult(reference=entry.referral.reference,
                      attendance=entry.status.value if entry.status else None,
                      outcome=entry.outcome.value if entry.outcome else None,
                      referral_status=entry.referral.status.value)


def _submit(register: Register, session: CourseSession, entries: dict[str, RegisterEntry], *,
            actor: User | None, now: dt.datetime) -> None:
    # Each outcome reads the fee (waived, paid) before moving the referral: held meanwhile.
    lifecycle.lock([entry.referral_id for entry in entries.values()])
    for entry in entries.values():
        apply_outcome(entry, session=session, actor=actor, now=now)
    register.state = RegisterState.SUBMITTED
    register.submitted_at, register.submitted_by_id = now, getattr(actor, "id", None)
    add_change(register, action=RegisterAction.SUBMITTED, actor=actor, now=now,
               changes={"people": len(entries)})
    record(action="register.submit", category=AuditCategory.ALTERATION, now=now, actor=actor,
           object_type="session", object_id=session.id, details={"people": len(entries)})
    db.session.flush()
