"""Demonstration messages in every status, about demo referrals, so the messages page shows
what each status looks like. Loading twice changes nothing (fixed dedupe keys)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from diversion.bookings.notices import links_context
from diversion.core.extensions import db
from diversion.core.timeutils import london_today
from diversion.outbox.models import Channel, MessageStatus, OutboxMessage
from diversion.outbox.services import enqueue
from diversion.referrals.models import Referral
from diversion.reminders import triggers

# (status, template, hours from now it was due, attempts, last error)
DEMO_MESSAGES: list[tuple[MessageStatus, str, int, int, str | None]] = [
    (MessageStatus.PENDING, "reminder_final", 20, 0, None),
    (MessageStatus.SENT, "reminder_first", -30, 1, None),
    (MessageStatus.FAILED, "reminder_final", -6, 1,
     "550 5.1.1 The email account that you tried to reach does not exist"),
    (MessageStatus.EXPIRED, "reminder_final", -50, 0, None),
    (MessageStatus.CANCELLED, "reminder_first", -2, 0, None),
]


def _context(referral: Referral, now: dt.datetime) -> dict[str, Any]:
    day = london_today(now + dt.timedelta(days=7))  # the London day, whatever the machine's zone
    return {"reference": referral.reference,
            "given_name": referral.person.given_names.split()[0],
            "starts_at": f"{day:%A} {day.day} {day:%B %Y} at 9:30am",
            "starts_on": f"{day:%A} {day.day} {day:%B}", "ends_at": "4:30pm",
            "is_online": False, "venue_name": "Leeds Civic Hall",
            "venue_address": "Portland Crescent, Leeds, LS1 1UR",
            "booking_deadline": f"{day:%A} {day.day} {day:%B %Y}",
            **links_context(referral.reference)}


def load_demo_messages(*, now: dt.datetime) -> int:
    """Plan the demo bookings' reminders, and add one message per status; return how many
    demo messages were added."""
    triggers.run_reminder_sweep(now=now)
    referrals = list(db.session.scalars(
        select(Referral).where(Referral.crime_reference.like("DEMO/%"))
        .order_by(Referral.id).limit(len(DEMO_MESSAGES))))
    made = 0
    for number, (referral, (status, template, hours, attempts, error)) in enumerate(
            zip(referrals, DEMO_MESSAGES, strict=False), start=1):
        email = referral.person.email or f"demo{number}@example.com"
        due = now + dt.timedelta(hours=hours)
        message = enqueue(dedupe_key=f"demo:{status.value}:{number}", channel=Channel.EMAIL,
                          recipient=email, template=template, due_at=due, now=min(due, now),
                          context=_context(referral, now), subject_type="referral",
                          subject_id=referral.id,
                          expires_at=due + dt.timedelta(hours=1)
                          if status is MessageStatus.EXPIRED else None)
        if message is None:
            continue
        _settle(message, status=status, attempts=attempts, error=error, now=now)
        made += 1
    db.session.flush()
    return made


def _settle(message: OutboxMessage, *, status: MessageStatus, attempts: int, error: str | None,
            now: dt.datetime) -> None:
    """Give a freshly queued demo message the history its status implies."""
    message.status, message.attempts, message.last_error = status, attempts, error
    if status is MessageStatus.SENT:
        message.sent_at = message.due_at + dt.timedelta(seconds=20)
        message.provider_reference = f"log-{message.id}"
    elif status in (MessageStatus.FAILED, MessageStatus.EXPIRED):
        message.claimed_at = min(message.due_at + dt.timedelta(seconds=30), now)
