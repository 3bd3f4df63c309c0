"""A booking whose session has begun is never moved or cancelled: the register says what
happened. A man who attended but still owes the fee keeps his booking (his referral stays
booked), so the pages that offered "Move" and "Cancel" for it must not, and the services
refuse it whoever asks (manager page, API, the man's own pages)."""

from __future__ import annotations

import datetime as dt

import pytest

from diversion.bookings import places as bookings_places
from diversion.bookings import queries as bookings_queries
from diversion.core.extensions import db
from diversion.referrals.models import ReferralStatus
from tests.builders import (
    create_booking,
    create_token,
    create_user,
    future_session,
    known_referral,
)
from tests.selfservice.helpers import sign_in

pytestmark = pytest.mark.usefixtures("clock")


@pytest.fixture
def begun(app, clock):
    """A man booked on a session that began an hour ago; another session to move to."""
    known = known_referral()
    session, later = future_session(days=2), future_session(days=9)
    booking = create_booking(known.referral, session)
    db.session.commit()
    clock.set(session.starts_at + dt.timedelta(hours=1))
    return known, booking, later


def test_the_services_refuse_to_move_or_cancel_it(begun, clock):
    known, booking, later = begun
    with pytest.raises(bookings_places.SessionBegun) as refused:
        bookings_places.cancel_booking(referral=known.referral, actor=None, now=clock.now)
    assert refused.value.status == 409 and "has begun" in refused.value.message
    with pytest.raises(bookings_places.SessionBegun):
        bookings_places.transfer_booking(referral=known.referral, session=later, actor=None,
                                         now=clock.now)
    db.session.expire_all()
    assert bookings_queries.get_active_booking(known.referral).id == booking.id
    assert known.referral.status is ReferralStatus.BOOKED


def test_the_managers_booking_page_offers_neither_and_a_post_is_refused(begun, client, login_as):
    known, booking, later = begun
    login_as("manager")
    page = client.get(f"/bookings/referral/{known.reference}").get_data(as_text=True)
    assert 'id="session-begun"' in page
    assert "Cancel booking" not in page and "Move to another session" not in page
    answer = client.post(f"/bookings/referral/{known.reference}/cancel",
                         data={"reason": "Wants another date"})
    assert answer.status_code == 409
    assert "govuk-error-summary" in answer.get_data(as_text=True)
    moved = client.post(f"/bookings/referral/{known.reference}/book",
                        data={"session_id": later.id, "confirmed": "yes"})
    assert moved.status_code in (409, 422)
    db.session.expire_all()
    assert bookings_queries.get_active_booking(known.referral).id == booking.id


def test_the_api_answers_409_problem_json(begun, client):
    known, booking, _ = begun
    token = create_token(create_user("manager"))
    db.session.commit()
    answer = client.delete(f"/api/v1/referrals/{known.reference}/booking",
                           headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 409
    assert answer.mimetype == "application/problem+json"
    assert "has begun" in answer.get_json()["detail"]
    db.session.expire_all()
    assert bookings_queries.get_active_booking(known.referral).id == booking.id


def test_his_own_page_offers_neither_and_the_links_lead_back(begun, client):
    known, booking, later = begun
    assert sign_in(client, known).status_code == 302
    page = client.get("/book/your-course").get_data(as_text=True)
    assert 'id="course-begun"' in page
    assert "Cancel my place" not in page and "Change date" not in page
    for path in ("/book/cancel", "/book/choose", f"/book/check?session_id={later.id}"):
        assert client.get(path).headers.get("Location") == "/book/your-course", path
    assert client.post("/book/cancel").headers.get("Location") == "/book/your-course"
    db.session.expire_all()
    assert bookings_queries.get_active_booking(known.referral).id == booking.id


def test_before_it_begins_both_are_still_offered(client, login_as):
    known = known_referral()
    create_booking(known.referral, future_session(days=2))
    future_session(days=9)
    db.session.commit()
    login_as("manager")
    page = client.get(f"/bookings/referral/{known.reference}").get_data(as_text=True)
    assert "Cancel booking" in page and "Move to another session" in page
    assert 'id="session-begun"' not in page
