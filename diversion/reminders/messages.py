"""What every reminder is made of: the programme's plan as stored, one outbox row planned (or
revived, or re-timed) under its dedupe key, and what a message says about the person and the
session.

- `get_plan(programme_id)` -> {ReminderKind: PlanItem}, defaults for kinds never saved
- `put_message(key=, channel=, recipient=, template=, due_at=, now=, context=, …)` -> bool
- `person_context(referral)`, `session_context(session)`; `chunks(values)` for IN lists
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import select

from diversion.bookings.notices import arrival_context, links_context
from diversion.core.extensions import db
from diversion.core.timeutils import format_london
from diversion.outbox.models import Channel, MessageStatus, OutboxMessage, ReminderKind, ReminderPlanItem
from diversion.outbox.services import enqueue
from diversion.referrals.models import Referral
from diversion.reminders import rules
from diversion.reminders.rules import PlanItem

CHUNK = 500


def get_plan(programme_id: int) -> dict[ReminderKind, PlanItem]:
    """A programme's plan: its saved lines over the default plan."""
    plan = dict(rules.DEFAULT_PLAN)
    for row in db.session.scalars(
            select(ReminderPlanItem).where(ReminderPlanItem.programme_id == programme_id)):
        plan[row.kind] = PlanItem(row.kind, row.enabled, row.offset_days, row.time_of_day)
    return plan


def put_message(*, key: str, channel: Channel, recipient: str, template: str, due_at: dt.datetime,
                now: dt.datetime, context: dict[str, Any], subject_type: str, subject_id: int,
                expires_at: dt.datetime | None) -> bool:
    """Enqueue under `key`; a reminder cancelled earlier under the same key is revived.

    Revival matters when a session moves and then moves back, or a plan line is switched off
    and on again: the key is the same, and a plain enqueue would find it taken and do nothing.
    """
    # populate_existing: bulk cancellations (cancel_pending) do not refresh loaded rows.
    existing = db.session.scalar(select(OutboxMessage).where(OutboxMessage.dedupe_key == key)
                                 .execution_options(populate_existing=True))
    if existing is None:
        return enqueue(dedupe_key=key, channel=channel, recipient=recipient, template=template,
                       due_at=due_at, now=now, context=context, subject_type=subject_type,
                       subject_id=subject_id, expires_at=expires_at) is not None
    if existing.status is not MessageStatus.CANCELLED:
        return False
    existing.status = MessageStatus.PENDING
    existing.channel, existing.recipient, existing.context = channel, recipient, context
    existing.due_at = existing.next_attempt_at = due_at
    existing.expires_at = expires_at
    existing.attempts = 0
    existing.last_error = None
    existing.claimed_at = existing.send_started_at = None
    db.session.flush()
    return True


def person_context(referral: Referral) -> dict[str, Any]:
    given = referral.person.given_names.split()
    return {"reference": referral.reference, "given_name": given[0] if given else "",
            **links_context(referral.reference)}


def session_context(session: Any) -> dict[str, Any]:
    venue = session.venue
    return {
        "starts_at": format_london(session.starts_at, "%A %-d %B %Y at %-I:%M%p"),
        "starts_on": format_london(session.starts_at, "%A %-d %B"),
        "ends_at": format_london(session.ends_at, "%-I:%M%p"),
        "is_online": venue.is_online,
        "venue_name": venue.name,
        "venue_address": ", ".join(p for p in (venue.address_line_1, venue.address_line_2,
                                               venue.town, venue.postcode) if p),
        # When to arrive and the late cut-off, as his booking confirmation gives them.
        **arrival_context(session),
    }


def chunks(values: Sequence[int], size: int = CHUNK) -> Iterable[Sequence[int]]:
    for start in range(0, len(values), size):
        yield values[start:start + size]
