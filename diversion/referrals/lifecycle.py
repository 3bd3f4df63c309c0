"""The referral lifecycle: its moves defined once as data, and the one function that makes them.

`transition` is the only writer of a referral's status. Each move writes a history row
(ReferralEvent) and an audit row; a move from an open to a terminal state also puts a notice to
the referring officer in the outbox (not for historical imports, whose outcome is long known).
Other features may react to moves with `on_transition` (e.g. scheduling cancels reminders).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from diversion.audit.models import AuditCategory
from diversion.audit.services import actor_label_for, record
from diversion.errors import InvalidTransition
from diversion.extensions import db
from diversion.notifications.models import Channel
from diversion.notifications.services import enqueue
from diversion.referrals.models import (
    TERMINAL_STATUSES,
    Referral,
    ReferralEvent,
    ReferralEventType,
    ReferralStatus,
)
from diversion.timeutils import london_today

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


_listeners: list[Callable[[Moved], None]] = []


def on_transition(listener: Callable[[Moved], None]) -> Callable[[Moved], None]:
    """Register a function called (in the same transaction) after every move."""
    if listener not in _listeners:
        _listeners.append(listener)
    return listener


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


def transition(referral: Referral, event: ReferralEventType | str, *, actor: Any,
               now: dt.datetime, reason: str | None = None,
               closed_on: dt.date | None = None) -> ReferralEvent:
    """Move a referral by an event: check, set the status, write history, audit, notices.

    `actor` is a user or None for the system. `closed_on` dates a terminal move (default:
    today in London); imports use it for a historical outcome date.
    """
    event = ReferralEventType(event)
    from_status = referral.status
    to_status = TRANSITIONS.get((from_status, event))
    if to_status is None:
        raise InvalidTransition(
            f"A referral that is {from_status.label.lower()} cannot be moved by "
            f"'{EVENT_LABELS[event].lower()}'",
            current_status=from_status.value, event=event.value)
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
    if (from_status not in TERMINAL_STATUSES and to_status in TERMINAL_STATUSES
            and event not in SILENT_EVENTS):
        _notify_officer(referral, to_status=to_status, reason=reason, now=now)
    moved = Moved(referral=referral, event=event, from_status=from_status, to_status=to_status,
                  actor=actor, now=now, reason=reason)
    for listener in list(_listeners):
        listener(moved)
    return row


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
            "closed_on": referral.closed_on.isoformat() if referral.closed_on else "",
        },
        subject_type="referral",
        subject_id=referral.id,
    )
