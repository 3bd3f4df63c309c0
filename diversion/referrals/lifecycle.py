"""The referral lifecycle: its moves defined once as data, and the one function that makes them.

`transition` is the only writer of a referral's status (with `start` for a new referral,
`transition_many` for bulk moves and `record_past_move` for demonstration history; `lock`
holds rows while a move is decided from other tables). Each move
writes a history row (ReferralEvent) and an audit row; a move from an open to a terminal state
also puts a notice to the referring officer in the outbox (not for historical imports, whose
outcome is long known).
Other features react to moves through the `referral_moved` signal (diversion.referrals.signals;
bookings end a place, reminders are planned or cancelled). `transition_many` makes one move for
many referrals at once with bulk writes (auto-allocation) and sends `referrals_moved` once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, select, update
from sqlalchemy.orm.attributes import instance_dict, set_committed_value

from diversion.audit.models import AuditCategory, AuditEvent
from diversion.audit.services import actor_label_for, record
from diversion.core.bulk import insert_rows, one_of, sent_ahead
from diversion.core.errors import InvalidTransition
from diversion.core.extensions import db
from diversion.core.links import external_url
from diversion.core.timeutils import london_today
from diversion.outbox.models import Channel
from diversion.outbox.services import enqueue
from diversion.referrals.models import (
    TERMINAL_STATUSES,
    Referral,
    ReferralEvent,
    ReferralEventType,
    ReferralStatus,
)
from diversion.referrals.signals import referral_moved, referrals_moved

S = ReferralStatus
E = ReferralEventType

INITIAL_STATUS = S.AWAITING_BOOKING

# (from, event) -> to. The whole of DESIGN.md's "Referral lifecycle", and nothing else.
TRANSITIONS: dict[tuple[ReferralStatus, ReferralEventType], ReferralStatus] = {
    (S.AWAITING_BOOKING, E.BOOKED): S.BOOKED,
    (S.BOOKED, E.BOOKING_CANCELLED): S.AWAITING_BOOKING,
    (S.BOOKED, E.ATTENDED_COMPLETED): S.COMPLETED,
    (S.BOOKED, E.COMPLETED_AFTER_FEE): S.COMPLETED,
    (S.BOOKED, E.MISSED): S.MISSED,
    (S.MISSED, E.EXCUSE_ACCEPTED): S.AWAITING_BOOKING,
    (S.MISSED, E.GRACE_EXPIRED): S.NOT_COMPLETED,
    (S.AWAITING_BOOKING, E.DEADLINE_PASSED): S.NOT_COMPLETED,
    (S.BOOKED, E.DEADLINE_PASSED): S.NOT_COMPLETED,
    (S.AWAITING_BOOKING, E.WITHDRAWN): S.WITHDRAWN,
    (S.BOOKED, E.WITHDRAWN): S.WITHDRAWN,
    (S.MISSED, E.WITHDRAWN): S.WITHDRAWN,
    # Historical records brought in by import: created, then closed with their known outcome.
    (S.AWAITING_BOOKING, E.IMPORTED_COMPLETED): S.COMPLETED,
    (S.AWAITING_BOOKING, E.IMPORTED_NOT_COMPLETED): S.NOT_COMPLETED,
    (S.AWAITING_BOOKING, E.IMPORTED_WITHDRAWN): S.WITHDRAWN,
}

# Moves that tell no one: the outcome of a historical record was settled long ago.
SILENT_EVENTS = frozenset({E.IMPORTED_COMPLETED, E.IMPORTED_NOT_COMPLETED, E.IMPORTED_WITHDRAWN})

IMPORT_OUTCOME_EVENTS = {
    S.COMPLETED: E.IMPORTED_COMPLETED,
    S.NOT_COMPLETED: E.IMPORTED_NOT_COMPLETED,
    S.WITHDRAWN: E.IMPORTED_WITHDRAWN,
}

EVENT_LABELS = {
    E.CREATED: "Referral received",
    E.BOOKED: "Booked onto a session",
    E.BOOKING_CANCELLED: "Booking cancelled",
    E.ATTENDED_COMPLETED: "Attended and completed",
    E.COMPLETED_AFTER_FEE: "Completed when the fee was settled",
    E.MISSED: "Did not complete the session",
    E.EXCUSE_ACCEPTED: "Excuse accepted",
    E.GRACE_EXPIRED: "No excuse accepted in time",
    E.DEADLINE_PASSED: "Completion deadline passed",
    E.WITHDRAWN: "Offer withdrawn",
    E.IMPORTED_COMPLETED: "Imported as completed",
    E.IMPORTED_NOT_COMPLETED: "Imported as not completed",
    E.IMPORTED_WITHDRAWN: "Imported as withdrawn",
}

OFFICER_TEMPLATE = "referral_outcome_officer"


@dataclass(frozen=True)
class Moved:
    """What a listener is told after a move."""

    referral: Referral
    event: ReferralEventType
    from_status: ReferralStatus
    to_status: ReferralStatus
    actor: Any
    now: dt.datetime
    reason: str | None


def lock(referral_ids: Sequence[int]) -> None:
    """Hold these referrals' rows until the transaction ends (PostgreSQL; a SQLite writer
    holds the whole database), taken in order of id so two callers cannot deadlock: for a
    decision read from more than the referral row, such as completing a course on a fee
    waived, against a manager taking the waiver back at the same moment. Their status is
    read again."""
    if referral_ids:
        db.session.scalars(select(Referral).where(Referral.id.in_(sorted(set(referral_ids))))
                           .order_by(Referral.id).with_for_update(of=Referral)
                           .execution_options(populate_existing=True)).all()


def allowed_events(status: ReferralStatus) -> list[ReferralEventType]:
    """The events that can happen to a referral in this status."""
    return [event for (start, event) in TRANSITIONS if start is status]


def can_transition(referral: Referral, event: ReferralEventType) -> bool:
    return (referral.status, event) in TRANSITIONS


def _history(referral: Referral, *, event: ReferralEventType, from_status: ReferralStatus | None,
             to_status: ReferralStatus, actor: Any, now: dt.datetime,
             reason: str | None) -> ReferralEvent:
    row = ReferralEvent(event=event, from_status=from_status, to_status=to_status, at=now,
                        actor_user_id=getattr(actor, "id", None),
                        actor_label=actor_label_for(actor), reason=reason)
    referral.events.append(row)
    return row


def start(referral: Referral, *, actor: Any, now: dt.datetime) -> ReferralEvent:
    """Give a new referral its first status and the first row of its history."""
    if referral._status is not None:
        raise InvalidTransition("This referral has already started")
    referral._status = INITIAL_STATUS
    return _history(referral, event=E.CREATED, from_status=None, to_status=INITIAL_STATUS,
                    actor=actor, now=now, reason=None)


def tells_officer(from_status: ReferralStatus, to_status: ReferralStatus,
                  event: ReferralEventType) -> bool:
    """Whether a move sends the referring officer a notice: only open -> terminal moves, and
    never for a historical import."""
    return (from_status not in TERMINAL_STATUSES and to_status in TERMINAL_STATUSES
            and event not in SILENT_EVENTS)


def _target(referral: Referral, event: ReferralEventType) -> ReferralStatus:
    """The status `event` moves the referral to; InvalidTransition when the table has no move."""
    from_status = referral.status
    to_status = TRANSITIONS.get((from_status, event))
    if to_status is None:
        raise InvalidTransition(
            f"A referral that is {from_status.label.lower()} cannot be moved by "
            f"'{EVENT_LABELS[event].lower()}'",
            current_status=from_status.value, event=event.value)
    return to_status


def transition(referral: Referral, event: ReferralEventType | str, *, actor: Any,
               now: dt.datetime, reason: str | None = None,
               closed_on: dt.date | None = None) -> ReferralEvent:
    """Move a referral by an event: check, set the status, write history, audit, notices.

    `actor` is a user or None for the system. `closed_on` dates a terminal move (default:
    today in London); imports use it for a historical outcome date.
    """
    event = ReferralEventType(event)
    from_status = referral.status
    to_status = _target(referral, event)
    if referral.id is None:
        db.session.flush()
    referral._status = to_status
    if to_status in TERMINAL_STATUSES:
        referral.closed_on = closed_on or london_today(now)
    row = _history(referral, event=event, from_status=from_status, to_status=to_status,
                   actor=actor, now=now, reason=reason)
    record(action=f"referral.{event.value}", category=AuditCategory.ALTERATION, now=now,
           actor=actor, object_type="referral", object_id=referral.id,
           details={"from": from_status.value, "to": to_status.value})
    if tells_officer(from_status, to_status, event):
        _notify_officer(referral, to_status=to_status, reason=reason, now=now)
    moved = Moved(referral=referral, event=event, from_status=from_status, to_status=to_status,
                  actor=actor, now=now, reason=reason)
    referral_moved.send(moved)
    return row


def record_past_move(referral: Referral, event: ReferralEventType, *, actor: Any,
                     at: dt.datetime, reason: str | None = None) -> ReferralEvent:
    """Write a move that happened before the app recorded it (demonstration history), dated
    `at`: checked against the table, the status, `closed_on` and the history row as `transition`
    writes them. No audit row, notice or signal per move: the loader records one audit row for
    the whole history, and builds the bookings and registers the listeners would have."""
    from_status = referral.status
    to_status = _target(referral, event)
    referral._status = to_status
    if to_status in TERMINAL_STATUSES:
        referral.closed_on = london_today(at)
    return _history(referral, event=event, from_status=from_status, to_status=to_status,
                    actor=actor, now=at, reason=reason)


def transition_many(referrals: Sequence[Referral], event: ReferralEventType | str, *,
                    actor: Any, now: dt.datetime,
                    reason: str | Sequence[str | None] | None = None) -> list[Moved]:
    """Make the same move for many referrals, with bulk writes: what `transition` does for each.

    Every move is checked against the table first, so one refused move changes nothing. History
    and audit rows are written in bulk (`core.bulk.insert_rows`); listeners are told once with the
    whole batch (`referrals_moved`). `reason` is one text for all, or
    one per referral. Returns the moves made.
    """
    event = ReferralEventType(event)
    reasons = ([reason] * len(referrals) if reason is None or isinstance(reason, str)
               else list(reason))
    if len(reasons) != len(referrals):
        raise ValueError("one reason per referral")
    targets = [_target(referral, event) for referral in referrals]
    if not referrals:
        return []
    if any(referral.id is None for referral in referrals):
        db.session.flush()
    actor_id, label = getattr(actor, "id", None), actor_label_for(actor)
    # One UPDATE per 900 ids for each (status, closed_on) the moves share (usually one for the
    # whole batch), not row by row; the loaded objects are told the new values.
    closed_on = london_today(now)
    changes = [(referral.id, to_status, closed_on if to_status in TERMINAL_STATUSES
                else referral.closed_on)
               for referral, to_status in zip(referrals, targets, strict=True)]
    db.session.flush()
    table = cast(Table, Referral.__table__)
    alike: dict[tuple[ReferralStatus, dt.date | None], list[int]] = {}
    for referral_id, new_status, new_closed_on in changes:
        alike.setdefault((new_status, new_closed_on), []).append(referral_id)
    # On PostgreSQL the moves, the history and the audit rows are made while the server runs
    # the UPDATEs.
    with sent_ahead():
        for (new_status, new_closed_on), ids in alike.items():
            for start in range(0, len(ids), 900):
                db.session.execute(
                    update(table).where(one_of(table.c.id, ids[start:start + 900]))
                    .values(status=new_status, closed_on=new_closed_on)
                    .execution_options(synchronize_session=False))
        moves = [Moved(referral=referral, event=event, from_status=referral.status,
                       to_status=to_status, actor=actor, now=now, reason=why)
                 for referral, to_status, why in zip(referrals, targets, reasons, strict=True)]
        history = [
            {"referral_id": m.referral.id, "event": event, "from_status": m.from_status,
             "to_status": m.to_status, "at": now, "actor_user_id": actor_id,
             "actor_label": label, "reason": m.reason} for m in moves]
        # One details object per (from, to): a bulk write converts a shared object to JSON once.
        details = {(m.from_status, m.to_status): {"from": m.from_status.value,
                                                  "to": m.to_status.value} for m in moves}
        audit = [
            {"at": now, "actor_user_id": actor_id, "actor_label": label,
             "action": f"referral.{event.value}", "category": AuditCategory.ALTERATION,
             "object_type": "referral", "object_id": str(m.referral.id), "address": None,
             "details": details[m.from_status, m.to_status]} for m in moves]
    # The loaded objects are told their new values once the UPDATEs have succeeded (on
    # PostgreSQL their results come at the end of the block above).
    for m, (_, new_status, new_closed_on) in zip(moves, changes, strict=True):
        set_committed_value(m.referral, "_status", new_status)
        if new_closed_on != m.referral.closed_on:
            set_committed_value(m.referral, "closed_on", new_closed_on)
    insert_rows(cast(Table, ReferralEvent.__table__), history)
    insert_rows(cast(Table, AuditEvent.__table__), audit)
    for m in moves:
        # The rows went in without the ORM: a loaded history is read again when next used.
        if "events" in instance_dict(m.referral):
            db.session.expire(m.referral, ["events"])
        if tells_officer(m.from_status, m.to_status, event):
            _notify_officer(m.referral, to_status=m.to_status, reason=m.reason, now=now)
    referrals_moved.send(moves)
    return moves


def _notify_officer(referral: Referral, *, to_status: ReferralStatus, reason: str | None,
                    now: dt.datetime) -> None:
    enqueue(
        dedupe_key=f"referral-outcome:{referral.id}:{to_status.value}",
        channel=Channel.EMAIL,
        recipient=referral.officer_email,
        template=OFFICER_TEMPLATE,
        due_at=now,
        now=now,
        context={
            "reference": referral.reference,
            "crime_reference": referral.crime_reference,
            "outcome": to_status.value,
            "outcome_label": to_status.label.lower(),
            "reason": reason or "",
            # A London calendar date, written as people read it ("2 October 2026").
            "closed_on": (f"{referral.closed_on.day} {referral.closed_on:%B %Y}"
                          if referral.closed_on else ""),
            # One click to the referral's page (he signs in first), not a search for it.
            "referral_url": external_url("referrals.show_referral",
                                         reference=referral.reference),
        },
        subject_type="referral",
        subject_id=referral.id,
    )
