from sqlalchemy import func, select

from diversion.bookings.models import Booking, BookingStatus
from diversion.bookings.queries import PLACE_HOLDING
from diversion.core.extensions import db
from diversion.courses.models import CourseSession
from diversion.demo import load_demo_data
from diversion.referrals.models import Referral, ReferralStatus
from tests.builders import NOW


def test_demo_booked_referrals_get_places_on_demo_sessions_once(app):
    load_demo_data(now=NOW)
    first = db.session.scalar(select(func.count()).select_from(Booking))
    load_demo_data(now=NOW)
    assert first and db.session.scalar(select(func.count()).select_from(Booking)) == first
    active = db.session.scalars(select(Booking).where(Booking.status == BookingStatus.ACTIVE)).all()
    assert all(b.referral.status is ReferralStatus.BOOKED for b in active)
    holding = db.session.scalar(select(func.count()).select_from(Booking).where(
        Booking.status.in_(PLACE_HOLDING)))
    assert active and db.session.scalar(select(func.sum(CourseSession.booked_count))) == holding
    booked = db.session.scalar(select(func.count()).select_from(Referral).where(
        Referral.status == ReferralStatus.BOOKED))
    assert booked and len(active) <= booked
