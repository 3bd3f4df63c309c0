"""A manager's corrections, each with a reason: reopening a submitted register, amending a
line, accepting an excuse for a missed course.

- `reopen_register(session=, reason=, actor=, now=)`
- `get_entry(session=, entry_id=)`; `amend_entry(session=, entry=, mark=, reason=, actor=, now=)`
- `register_history(register, limit=)` -> (the latest changes, how many in all)
- `accept_excuse(referral=, reason=, actor=, now=)`: a missed referral back to awaiting booking
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from diversion.attendance.models import Register, RegisterAction, RegisterChange, RegisterEntry, RegisterState
from diversion.attendance.outcomes import apply_outcome, grace_window_closes_at
from diversion.attendance.register import (
    MarkInput,
    add_change,
    apply_mark,
    changed_facts,
    check_entries,
    get_register,
    snapshot,
)
from diversion.audit.models import AuditCategory
from diversion.audit.services import record
from diversion.auth.models import Role, User
from diversion.core.errors import Conflict, NotFound, ValidationFailed
from diversion.core.extensions import db
from diversion.core.timeutils import format_london
from diversion.courses.models import CourseSession
from diversion.referrals import lifecycle
from diversion.referrals.models import Referral, ReferralEventType, ReferralStatus

E = ReferralEventType


S = ReferralStatus


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
    add_change(register, action=RegisterAction.REOPENED, actor=actor, now=now, reason=reason)
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
    before = snapshot(entry)
    apply_mark(mark, entry)
    changes = changed_facts(before, snapshot(entry))
    if not changes:
        raise ValidationFailed({"status": "Nothing was changed"})
    check_entries(session, {entry.referral.reference: entry}, submitting=True,
                  prefix={entry.referral.reference: "entry"})
    entry.updated_at, entry.updated_by_id = now, getattr(actor, "id", None)
    lifecycle.lock([entry.referral_id])  # as a submission does (register._submit)
    apply_outcome(entry, session=session, actor=actor, now=now)
    add_change(register, action=RegisterAction.AMENDED, actor=actor, now=now, entry=entry,
               reason=reason, changes=changes)
    record(action="register.amend", category=AuditCategory.ALTERATION, now=now, actor=actor,
           object_type="register_entry", object_id=entry.id,
           details={"fields": sorted(changes), "reason": reason})
    db.session.flush()
    return entry


def register_history(register: Register, *, limit: int = 50) -> tuple[list[RegisterChange], int]:
    """The latest `limit` changes to a register, newest first, and how many there are in all."""
    changes = list(db.session.scalars(
        select(RegisterChange).where(RegisterChange.register_id == register.id)
        .options(joinedload(RegisterChange.actor))
        .order_by(RegisterChange.id.desc()).limit(limit)))
    if len(changes) < limit:  # all of them: no need to count
        return changes, len(changes)
    total = db.session.scalar(select(func.count()).select_from(RegisterChange)
                              .where(RegisterChange.register_id == register.id)) or 0
    return changes, total


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
