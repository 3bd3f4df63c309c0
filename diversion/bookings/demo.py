"""Demo bookings: each demo referral already `booked` gets a place on a demo session."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from diversion.bookings import capacity, queries
from diversion.bookings.models import Booking, BookingStatus
from diversion.core.extensions import db
from diversion.referrals.models import Referral, ReferralStatus


def load_demo_bookings(*, now: dt.datetime) -> int:
    """Give booked referrals without a booking the earliest suitable session; idempotent.

    They are booked already (their history says so), so no transition and no message: only the
    place and the booking row. Returns how many bookings were made.
    """
    made = 0
    holding = select(Booking.referral_id).where(Booking.status == BookingStatus.ACTIVE)
    referrals = db.session.scalars(
        select(Referral).where(Referral.status == ReferralStatus.BOOKED,
                               Referral.id.not_in(holding)).order_by(Referral.id))
    for referral in referrals:
        for option in queries.list_bookable_sessions(referral=referral, now=now, limit=10):
            if capacity.take_place(option.session.id):
                db.session.add(Booking(referral_id=referral.id, session_id=option.session.id,
                                       status=BookingStatus.ACTIVE, created_at=now))
                db.session.flush()
                made += 1
                break
    return made
