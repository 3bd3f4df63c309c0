"""When reminders are planned and cancelled: on the referral's moves and a booking's transfer
(signal receivers), and by the `plan_reminders` sweep.

- `follow_referral(moved)`, `follow_referrals(moves)`: plan on booking, stop deadline messages
  once booked or closed, tell a person whose offer is withdrawn
- `plan_transferred_booking(booking, now=)`
- `run_reminder_sweep(now=)` -> counts
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import update

from diversion.bookings.queries import get_active_booking
from diversion.core.bulk import one_of
from diversion.core.extensions import db
from diversion.outbox.models import MessageStatus, OutboxMessage
from diversion.outbox.services import cancel_pending
from diversion.referrals import lifecycle
from diversion.referrals.models import ReferralEventType, ReferralStatus
from diversion.reminders.messages import chunks
from diversion.reminders.offer_notices import (
    DEADLINE_TEMPLATE,
    REFERRAL,
    cancel_outdated_deadline_reminders,
    plan_deadline_reminders,
    send_offer_withdrawn,
)
from diversion.reminders.session_reminders import (
    cancel_outdated_session_reminders,
    forget_finished_states,
    plan_booking_reminders,
    plan_unplanned_bookings,
    plan_unplanned_of_referrals,
)


def follow_referral(moved: lifecycle.Moved) -> None:
    """Plan reminders on booking; stop deadline messages once booked or closed; tell a person
    whose offer is withdrawn."""
    referral = moved.referral
    if moved.to_status is not ReferralStatus.AWAITING_BOOKING:
        cancel_pending(subject_type=REFERRAL, subject_id=referral.id, now=moved.now,
                       templates={DEADLINE_TEMPLATE})
    if moved.to_status is ReferralStatus.BOOKED:
        booking = get_active_booking(referral)
        if booking is not None:
            plan_booking_reminders(booking, now=moved.now)
    elif moved.event is ReferralEventType.WITHDRAWN:
        send_offer_withdrawn(referral, now=moved.now)


def follow_referrals(moves: Sequence[lifecycle.Moved]) -> None:
    """`follow_referral` for a batch of moves (auto-allocation): the deadline messages
    cancelled and the bookings' reminders planned in bulk, once, after every move is made."""
    if not moves:
        return
    now = moves[0].now
    leaving = [m.referral.id for m in moves
               if m.to_status is not ReferralStatus.AWAITING_BOOKING]
    for part in chunks(leaving):
        db.session.execute(
            update(OutboxMessage).where(
                OutboxMessage.subject_type == REFERRAL,
                one_of(OutboxMessage.subject_id, [str(i) for i in part]),
                OutboxMessage.status == MessageStatus.PENDING,
                OutboxMessage.template == DEADLINE_TEMPLATE)
            .values(status=MessageStatus.CANCELLED, last_error=None)
            .execution_options(synchronize_session=False))
    plan_unplanned_of_referrals(
        [m.referral.id for m in moves if m.to_status is ReferralStatus.BOOKED], now=now)
    for m in moves:
        if m.to_status is not ReferralStatus.BOOKED and m.event is ReferralEventType.WITHDRAWN:
            send_offer_withdrawn(m.referral, now=m.now)


def run_reminder_sweep(*, now: dt.datetime) -> dict[str, int]:
    """Cancel outdated reminders, plan missing ones and the deadline messages."""
    cancelled = cancel_outdated_session_reminders(now=now) + cancel_outdated_deadline_reminders()
    planned = plan_unplanned_bookings(now=now)
    deadline = plan_deadline_reminders(now=now)
    forgotten = forget_finished_states(now=now)
    return {"cancelled": cancelled, "bookings_planned": planned, "deadline_planned": deadline,
            "states_forgotten": forgotten}


def plan_transferred_booking(booking: Any, *, now: dt.datetime) -> None:
    """Plan the reminders of a booking moved to another session (receiver of bookings'
    `booking_transferred`)."""
    plan_booking_reminders(booking, now=now)
