"""Waiting lists for full sessions, first in line first.

- `waiting_list(session_id)`; `waiting_positions(referral)` -> [(entry, position)]
- `join_waiting_list(referral=, session=, actor=, now=)`;
  `leave_waiting_list(referral=, session_id=, actor=, now=)`
- `leave_all_waiting_lists(referral_ids)`: once a referral holds a place
- `waiting_counts(session_ids)` -> {session id: people waiting}, one grouped query;
  `has_waiting_list()`: a condition on sessions, for lists of sessions with a queue
- `get_entry(session_id=, entry_id=)` (NotFound); `queued_sessions(referral_ids)`
- `remove_from_waiting_list(entry=, actor=, now=)`: a manager takes someone out of a line (he
  is told)
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
from diversion.bookings import notices
from diversion.bookings.capacity import check_suitable
from diversion.bookings.models import WaitingListEntry
from diversion.core.bulk import one_of
from diversion.core.errors import Conflict, InvalidTransition, NotFound
from diversion.core.extensions import db
from diversion.courses.models import CourseSession
from diversion.referrals.models import Referral, ReferralStatus


def leave_all_waiting_lists(referral_ids: Sequence[int]) -> None:
    if referral_ids:
        # "fetch": the deleted rows' ids come back (RETURNING) and only those entries are
        # taken out of the database session, rather than every loaded object being tested
        # against the criteria (tens of thousands in an allocation).
        db.session.execute(delete(WaitingListEntry).where(
            one_of(WaitingListEntry.referral_id, referral_ids))
            .execution_options(synchronize_session="fetch"))


def has_waiting_list() -> ColumnElement[bool]:
    """"Someone is waiting for a place on this session", as a clause over CourseSession (the
    sessions list's `?queue=1` filter, `SessionFilter.full_with_queue`; `ix_waiting_list_session_order`)."""
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


def waiting_counts(session_ids: Sequence[int]) -> dict[int, int]:
    """People waiting per session, in one grouped query bounded to the sessions given."""
    ids = sorted(set(session_ids))
    if not ids:
        return {}
    rows = db.session.execute(
        select(WaitingListEntry.session_id, func.count()).where(
            WaitingListEntry.session_id.in_(ids)).group_by(WaitingListEntry.session_id))
    return {session_id: int(count) for session_id, count in rows}


def get_entry(*, session_id: int, entry_id: int) -> WaitingListEntry:
    """One entry of a session's waiting list; NotFound if it is not on that session's list."""
    entry = db.session.get(WaitingListEntry, entry_id)
    if entry is None or entry.session_id != session_id:
        raise NotFound("This person is no longer on the waiting list")
    return entry


def position_of(entry: WaitingListEntry) -> int:
    """The entry's place in its line (1 = next)."""
    return next((number for number, other in enumerate(waiting_list(entry.session_id), start=1)
                 if other.id == entry.id), 0)


def queued_sessions(referral_ids: Sequence[int]) -> dict[int, list[tuple[int, dt.datetime, int]]]:
    """For each referral, the waiting lists it is on: (session id, joined at, entry id)."""
    found: dict[int, list[tuple[int, dt.datetime, int]]] = {}
    ids = list(referral_ids)
    for start in range(0, len(ids), 900):
        for row in db.session.execute(
                select(WaitingListEntry.referral_id, WaitingListEntry.session_id,
                       WaitingListEntry.joined_at, WaitingListEntry.id)
                .where(one_of(WaitingListEntry.referral_id, ids[start:start + 900]))
                .order_by(WaitingListEntry.joined_at, WaitingListEntry.id)):
            found.setdefault(row.referral_id, []).append((row.session_id, row.joined_at, row.id))
    return found


def remove_from_waiting_list(*, entry: WaitingListEntry, actor: User | None,
                             now: dt.datetime) -> None:
    """A manager takes someone out of a session's line (audited; he is told by email or text
    message)."""
    position = position_of(entry)
    referral, session, entry_id = entry.referral, entry.session, entry.id
    referral_id, session_id, joined_at = entry.referral_id, entry.session_id, entry.joined_at
    db.session.delete(entry)
    db.session.flush()
    notices.tell_removed_from_waiting_list(referral=referral, session=session, entry_id=entry_id,
                                           joined_at=joined_at, now=now)
    record(action="waiting_list.remove", category=AuditCategory.ALTERATION, now=now, actor=actor,
           object_type="referral", object_id=referral_id,
           details={"session_id": session_id, "position": position})
