"""A manager cancels a booking only after checking who, which session and what follows."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from diversion.audit.models import AuditEvent
from diversion.bookings.models import BookingStatus
from diversion.bookings.queries import get_active_booking, list_bookings_for
from diversion.core.extensions import db
from diversion.referrals.models import ReferralStatus
from tests.builders import NOW, create_booking, create_referral, future_session

pytestmark = pytest.mark.usefixtures("clock")  # the app reads a clock stopped at NOW


def _booked():  # type: ignore[no-untyped-def]
    referral = create_referral()
    session = future_session(5)
    create_booking(referral, session)
    db.session.commit()
    return referral, session


def test_the_booking_page_links_to_a_check_page_rather_than_cancelling_at_once(client, login_as):
    login_as("manager")
    referral, _ = _booked()

    page = client.get(f"/bookings/referral/{referral.reference}").text

    assert f'href="/bookings/referral/{referral.reference}/cancel"' in page
    assert f'action="/bookings/referral/{referral.reference}/cancel"' not in page


def test_the_check_page_names_him_the_session_and_what_happens(client, login_as):
    login_as("manager")
    referral, session = _booked()

    page = client.get(f"/bookings/referral/{referral.reference}/cancel")

    assert page.status_code == 200
    assert "Are you sure you want to cancel this booking?" in page.text
    assert referral.person.full_name in page.text
    assert session.venue.name in page.text
    assert "He is sent a message" in page.text
    assert "He still owes the fee" in page.text
    assert referral.booking_deadline.strftime("%-d %B %Y") in page.text
    assert get_active_booking(referral) is not None  # looking changes nothing


def test_cancelling_without_a_reason_is_refused_and_keeps_the_booking(client, login_as):
    login_as("manager")
    referral, _ = _booked()

    response = client.post(f"/bookings/referral/{referral.reference}/cancel", data={"reason": " "})

    assert response.status_code == 422
    assert "Enter why the booking is cancelled" in response.text
    assert 'href="#reason"' in response.text
    db.session.expire_all()
    assert get_active_booking(referral) is not None


def test_cancelling_with_a_reason_ends_the_booking_and_says_so(client, login_as):
    manager = login_as("manager")
    referral, _ = _booked()

    response = client.post(f"/bookings/referral/{referral.reference}/cancel",
                           data={"reason": "He asked to move to another month"},
                           follow_redirects=True)

    assert response.status_code == 200
    assert "Booking cancelled" in response.text
    assert response.request.path == f"/bookings/referral/{referral.reference}"
    db.session.expire_all()
    assert get_active_booking(referral) is None
    assert referral.status is ReferralStatus.AWAITING_BOOKING
    [ended] = list_bookings_for(referral)
    assert ended.status is BookingStatus.CANCELLED
    assert ended.end_reason == "He asked to move to another month"
    assert db.session.scalar(select(AuditEvent).where(
        AuditEvent.action == "booking.cancel", AuditEvent.actor_user_id == manager.id))


def test_cancelling_needs_the_form_token(app, client, login_as):
    login_as("manager")
    referral, _ = _booked()
    app.config["WTF_CSRF_ENABLED"] = True

    response = client.post(f"/bookings/referral/{referral.reference}/cancel",
                           data={"reason": "No token"})

    assert response.status_code == 400
    db.session.expire_all()
    assert get_active_booking(referral) is not None


def test_with_no_booking_the_check_page_sends_the_manager_back(client, login_as):
    login_as("manager")
    referral = create_referral()
    db.session.commit()

    response = client.get(f"/bookings/referral/{referral.reference}/cancel")

    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/bookings/referral/{referral.reference}")


def test_taking_him_off_a_waiting_list_is_checked_first(client, login_as):
    from diversion.bookings import waiting_list

    manager = login_as("manager")
    session = future_session(5, capacity=1)
    create_booking(create_referral(), session)
    referral = create_referral()
    waiting_list.join_waiting_list(referral=referral, session=session, actor=manager, now=NOW)
    db.session.commit()
    url = f"/bookings/referral/{referral.reference}/waiting-list/{session.id}/leave"
    assert f'href="{url}"' in client.get(f"/bookings/referral/{referral.reference}").text

    check = client.get(url)

    assert check.status_code == 200
    assert "Take him off this waiting list?" in check.text and "Number 1" in check.text
    assert waiting_list.waiting_positions(referral)  # looking changes nothing
    assert client.post(url).status_code == 302
    db.session.expire_all()
    assert waiting_list.waiting_positions(referral) == []
    assert client.get(url).status_code == 404
