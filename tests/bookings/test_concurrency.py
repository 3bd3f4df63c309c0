"""Many people booking the last place at once, from separate connections: one wins."""

from __future__ import annotations

import threading

from sqlalchemy import func, select

from diversion.bookings import capacity as bookings_capacity
from diversion.bookings import places as bookings_places
from diversion.bookings.models import Booking, BookingStatus
from diversion.core.extensions import db
from diversion.courses.models import CourseSession
from diversion.referrals.models import Referral
from tests.builders import NOW, create_referral, future_session

THREADS = 20


def test_concurrent_bookings_for_the_last_place_give_it_to_exactly_one_person(app):
    session = future_session(capacity=3)
    for _ in range(2):
        bookings_places.book_place(referral=create_referral(), session=session, actor=None, now=NOW)
    referral_ids = [create_referral().id for _ in range(THREADS)]
    session_id = session.id
    db.session.commit()
    db.session.remove()

    start = threading.Barrier(THREADS)
    outcomes: list[str] = []
    lock = threading.Lock()

    def attempt(referral_id: int) -> None:
        with app.app_context():  # its own scoped session, so its own connection
            try:
                start.wait(timeout=60)
                # Loaded after the barrier: on SQLite even a read begins an IMMEDIATE
                # transaction, so nothing may hold one while others wait to start.
                referral = db.session.get(Referral, referral_id)
                target = db.session.get(CourseSession, session_id)
                assert referral is not None and target is not None
                bookings_places.book_place(referral=referral, session=target, actor=None, now=NOW)
                db.session.commit()
                result = "booked"
            except bookings_capacity.SessionFull:
                db.session.rollback()
                result = "full"
            except Exception as error:  # noqa: BLE001 - recorded, then asserted on below
                db.session.rollback()
                result = f"error: {error!r}"
            finally:
                db.session.remove()
            with lock:
                outcomes.append(result)

    threads = [threading.Thread(target=attempt, args=(rid,)) for rid in referral_ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert sorted(outcomes) == ["booked"] + ["full"] * (THREADS - 1)
    session = db.session.get(CourseSession, session_id)
    assert session is not None and session.booked_count == 3
    active = db.session.scalar(select(func.count()).select_from(Booking).where(
        Booking.session_id == session_id, Booking.status == BookingStatus.ACTIVE))
    assert active == 3
