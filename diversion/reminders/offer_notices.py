"""Messages about the offer itself: the booking deadline approaching, the offer withdrawn.

The booking-deadline message is planned by the sweep for `awaiting_booking` referrals whose
message falls due today or tomorrow; the offer-withdrawn notice is sent on the `withdrawn` move.

- `plan_deadline_reminder(referral, now=, plan=None)` -> bool; `plan_deadline_reminders(now=)`
- `cancel_outdated_deadline_reminders()`
- `send_offer_withdrawn(referral, now=)` -> bool
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping

from sqlalchemy import select

from diversion.core.extensions import db
from diversion.core.timeutils import london_today
from diversion.outbox.models import MessageStatus, OutboxMessage, ReminderKind
from diversion.outbox.rules import choose_contact
from diversion.outbox.services import enqueue
from diversion.programmes.models import Programme
from diversion.referrals.models import Referral, ReferralStatus
from diversion.reminders import rules
from diversion.reminders.messages import get_plan, person_context, put_message
from diversion.reminders.rules import PlanItem

log = logging.getLogger(__name__)


REFERRAL = "referral"


DEADLINE_TEMPLATE = rules.TEMPLATES[ReminderKind.DEADLINE_APPROACHING]


WITHDRAWN_TEMPLATE = rules.TEMPLATES[ReminderKind.OFFER_WITHDRAWN]


def plan_deadline_reminder(referral: Referral, *, now: dt.datetime,
                           plan: Mapping[ReminderKind, PlanItem] | None = None) -> bool:
    """Plan "booking deadline approaching" for a referral still awaiting a booking."""
    if referral.status is not ReferralStatus.AWAITING_BOOKING:
        return False
    person = referral.person
    contact = choose_contact(preferred=person.preferred_contact, email=person.email,
                             mobile=person.mobile)
    if contact is None:
        return False
    channel, recipient = contact
    item = (plan or get_plan(referral.programme_id))[ReminderKind.DEADLINE_APPROACHING]
    planned = rules.plan_deadline_reminder(item, deadline=referral.booking_deadline,
                                           channel=channel, now=now)
    if planned is None:
        return False
    context = {**person_context(referral),
               "booking_deadline": f"{referral.booking_deadline:%A} "
                                   f"{referral.booking_deadline.day} "
                                   f"{referral.booking_deadline:%B %Y}"}
    return put_message(key=rules.deadline_key(referral_id=referral.id,
                                       deadline=referral.booking_deadline),
                       channel=channel, recipient=recipient, template=DEADLINE_TEMPLATE,
                       due_at=planned.due_at, now=now, context=context, subject_type=REFERRAL,
                       subject_id=referral.id, expires_at=planned.expires_at)


def cancel_outdated_deadline_reminders() -> int:
    """Cancel pending deadline messages of referrals booked or closed since, or whose booking
    deadline has changed (a new message is planned for the new date)."""
    cancelled = 0
    for message in db.session.scalars(select(OutboxMessage).where(
            OutboxMessage.status == MessageStatus.PENDING, OutboxMessage.subject_type == REFERRAL,
            OutboxMessage.template == DEADLINE_TEMPLATE)):
        referral = db.session.get(Referral, int(message.subject_id or 0))
        if (referral is None or referral.status is not ReferralStatus.AWAITING_BOOKING
                or not message.dedupe_key.startswith(rules.deadline_key(
                    referral_id=referral.id, deadline=referral.booking_deadline))):
            message.status = MessageStatus.CANCELLED
            cancelled += 1
    db.session.flush()
    return cancelled


def plan_deadline_reminders(*, now: dt.datetime) -> int:
    """Plan the deadline messages falling due today or tomorrow (London) for referrals still
    awaiting a booking. Looking only two days ahead keeps the sweep to a few rows."""
    today = london_today(now)
    made = 0
    for programme_id in list(db.session.scalars(select(Programme.id).order_by(Programme.id))):
        plan = get_plan(programme_id)
        item = plan[ReminderKind.DEADLINE_APPROACHING]
        if not item.enabled:
            continue
        first = today + dt.timedelta(days=item.offset_days)
        referrals = list(db.session.scalars(select(Referral).where(
            Referral.status == ReferralStatus.AWAITING_BOOKING,
            Referral.programme_id == programme_id,
            Referral.booking_deadline >= first,
            Referral.booking_deadline <= first + dt.timedelta(days=1))))
        for referral in referrals:
            made += plan_deadline_reminder(referral, now=now, plan=plan)
    return made


def send_offer_withdrawn(referral: Referral, *, now: dt.datetime) -> bool:
    """Tell the person the offer of a course has been withdrawn (when the plan says so)."""
    if not get_plan(referral.programme_id)[ReminderKind.OFFER_WITHDRAWN].enabled:
        return False
    person = referral.person
    contact = choose_contact(preferred=person.preferred_contact, email=person.email,
                             mobile=person.mobile)
    if contact is None:
        log.info("referral %s: no email or mobile for the withdrawal notice", referral.id)
        return False
    channel, recipient = contact
    return enqueue(dedupe_key=f"offer-withdrawn:referral:{referral.id}", channel=channel,
                   recipient=recipient, template=WITHDRAWN_TEMPLATE, due_at=now, now=now,
                   # No link: he has nothing left to do on the booking page.
                   context={key: value for key, value in person_context(referral).items()
                            if key != "manage_url"}, subject_type=REFERRAL,
                   subject_id=referral.id) is not None
