"""The sweeps that close what nobody closed: grace windows after a missed course, and
completion deadlines.

- `sweep_grace_window(now=)`: missed referrals whose grace window closed -> not completed
- `sweep_deadlines(now=)`: referrals past their completion deadline -> not completed (or
  completed, when an attendee's fee has cleared since)
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from diversion.attendance.models import RegisterEntry
from diversion.attendance.outcomes import attended_entry, on_fee_cleared
from diversion.attendance.register import get_register
from diversion.attendance.rules import Outcome, grace_closes_at, is_deadline_passed
from diversion.bookings import queries as bookings_queries
from diversion.core.extensions import db
from diversion.core.timeutils import london_today
from diversion.courses.models import SessionStatus
from diversion.referrals import lifecycle
from diversion.referrals.models import Referral, ReferralEvent, ReferralEventType, ReferralStatus

E = ReferralEventType


S = ReferralStatus


def sweep_grace_window(*, now: dt.datetime) -> dict[str, int]:
    """Close missed referrals whose grace window has passed: not completed."""
    latest_miss = (select(ReferralEvent.referral_id, func.max(ReferralEvent.at).label("at"))
                   .where(ReferralEvent.event == E.MISSED)
                   .group_by(ReferralEvent.referral_id).subquery())
    # Longest possible window first narrows the query; the exact rule is applied per referral.
    rows = db.session.execute(
        select(Referral, latest_miss.c.at).join(latest_miss, latest_miss.c.referral_id == Referral.id)
        .where(Referral.status == S.MISSED).order_by(Referral.id)).all()
    closed = 0
    for referral, at in rows:
        at = at if at.tzinfo else at.replace(tzinfo=dt.UTC)
        if now >= grace_closes_at(at, referral.programme.grace_days):
            lifecycle.transition(referral, E.GRACE_EXPIRED, actor=None, now=now,
                                 reason="Missed the session; no excuse accepted in the grace window")
            closed += 1
    db.session.flush()
    return {"not_completed": closed}


def _awaiting_outcome(referral: Referral) -> bool:
    """Booked on a session that is not cancelled and whose register is not yet submitted."""
    booking = bookings_queries.get_active_booking(referral)
    if booking is None or booking.session.status is SessionStatus.CANCELLED:
        return False
    register = get_register(booking.session_id)
    return register is None or not register.is_submitted


def sweep_deadlines(*, now: dt.datetime) -> dict[str, int]:
    """Complete attended referrals whose fee is now cleared; close the rest past the deadline."""
    completed = 0
    for entry in db.session.scalars(select(RegisterEntry).where(
            RegisterEntry.outcome == Outcome.FEE_OUTSTANDING)).all():
        if on_fee_cleared(entry.referral, None, now):
            completed += 1
    today = london_today(now)
    closed = 0
    for referral in db.session.scalars(
            select(Referral).where(Referral.status.in_([S.AWAITING_BOOKING, S.BOOKED]),
                                   Referral.completion_deadline < today)
            .order_by(Referral.id)).all():
        if not is_deadline_passed(referral.completion_deadline, now=now):
            continue
        if referral.status is S.BOOKED and _awaiting_outcome(referral):
            continue  # the register decides first
        attended = attended_entry(referral)
        reason = ("Attended, but the fee was not paid by the completion deadline"
                  if attended is not None and attended.outcome is Outcome.FEE_OUTSTANDING
                  else "The course was not completed by the completion deadline")
        lifecycle.transition(referral, E.DEADLINE_PASSED, actor=None, now=now, reason=reason)
        closed += 1
    db.session.flush()
    return {"completed_after_fee": completed, "not_completed": closed}
