"""Waiting lists for full sessions, first in line first.

- `waiting_list(session_id)`; `waiting_positions(referral)` -> [(entry, position)]
- `join_waiting_list(referral=, session=, actor=, now=)`;
  `leave_waiting_list(referral=, session_id=, actor=, now=)`
- `leave_all_waiting_lists(referral_ids)`: once a referral holds a place
(A freed place goes to the first in line: places.promote_waiting_list.)
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import ColumnElement, delete, exists, func, select
from sqlalchemy.exc import IntegrityError

from diversion.audit.models import AuditCategory
from diversion.audit.services import record
from diversion.auth.models import User
from diversion.bookings.capacity import check_suitable
from diversion.bookings.models import WaitingListEntry
from diversion.core.errors import Conflict, InvalidTransition, NotFound
from diversion.core.extensions import db
from diversion.courses.models import CourseSession
from diversion.referrals.models import Referral, ReferralStatus


def leave_all_waiting_lists(referral_ids: Sequence[int]) -> None:
    if referral_ids:
        db.session.execute(delete(WaitingListEntry).where(
            WaitingListEntry.referral_id.in_(list(referral_ids))))


def has_waiting_list() -> ColumnElement[bool]:
    """"Someone is waiting for a place on this session", as a clause over CourseSession (the
    sessions list's `full_with_queue` filter; `ix_waiting_list_session_order`)."""
    return exists().where(WaitingListEntry.session_id == CourseSession.id)


def waiting_list(session_id: int) -> list[WaitingListEntry]:
    """A session's waiting list, first in line first."""
    return list(db.session.scalars(
        select(WaitingListEntry).where(WaitingListEntry.session_id == session_id)
        .order_by(WaitingListEntry.joined_at, WaitingListEntry.id)))


def waiting_positions(referral: Referral) -> list[tuple[WaitingListEntry, int]]:
    """The waiting lists the referral is on, with their place in each line (1 = next)."""
    entries = list(db.session.scalars(
        select(WaitingListEntry).where(WaitingListEntry.referral_id == referral.id)
        .order_by(WaitingListEntry.joined_at)))
    result = []
    for entry in entries:
        ahead = db.session.scalar(select(func.count()).select_from(WaitingListEntry).where(
            WaitingListEntry.session_id == entry.session_id,
            (WaitingListEntry.joined_at < entry.joined_at)
            | ((WaitingListEntry.joined_at == entry.joined_at)
               & (WaitingListEntry.id < entry.id)))) or 0
        result.append((entry, ahead + 1))
    return result


def join_waiting_list(*, referral: Referral, session: CourseSession, actor: User | None,
                      now: dt.datetime) -> WaitingListEntry:
    """Put a referral awaiting a booking in line for a full session it could take."""
    if referral.status is not ReferralStatus.AWAITING_BOOKING:
        raise InvalidTransition("Only someone waiting to book can join a waiting list")
    check_suitable(referral, session, now=now)
    if session.booked_count < session.capacity:
        raise Conflict("This session has places: book one instead", field="session_id")
    entry = WaitingListEntry(session_id=session.id, referral_id=referral.id, joined_at=now,
                             created_by_id=getattr(actor, "id", None))
    try:
        with db.session.begin_nested():
            db.session.add(entry)
    except IntegrityError as error:
        raise Conflict("Already on this session's waiting list", field="session_id") from error
    record(action="waiting_list.join", category=AuditCategory.ALTERATION, now=now, actor=actor,
           object_type="referral", object_id=referral.id, details={"session_id": session.id})
    return entry


def leave_waiting_list(*, referral: Referral, session_id: int, actor: User | None,
                       now: dt.datetime) -> None:
    result = db.session.execute(delete(WaitingListEntry).where(
        WaitingListEntry.referral_id == referral.id, WaitingListEntry.session_id == session_id))
    if not getattr(result, "rowcount", 0):
        raise NotFound("Not on that waiting list")
    record(action="waiting_list.leave", category=AuditCategory.ALTERATION, now=now, actor=actor,
           object_type="referral", object_id=referral.id, details={"session_id": session_id})
