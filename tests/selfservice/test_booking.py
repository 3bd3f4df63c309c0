"""Booking, changing and cancelling through the person's own page."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from diversion.audit.models import AuditCategory, AuditEvent
from diversion.bookings import queries as bookings_queries
from diversion.core.extensions import db
from diversion.referrals import amending as referral_amending
from diversion.referrals.models import ReferralStatus
from tests.builders import create_user, future_session, known_referral
from tests.selfservice.helpers import book, sign_in

pytestmark = pytest.mark.usefixtures("clock")  # the app reads a clock stopped at NOW

OVERVIEW = "/book/your-course"


def person_alterations(reference: str) -> list[str]:
    return list(db.session.scalars(select(AuditEvent.action).where(
        AuditEvent.actor_label == f"person:{reference}",
        AuditEvent.category == AuditCategory.ALTERATION).order_by(AuditEvent.id)))


@pytest.fixture
def signed_in(client):  # type: ignore[no-untyped-def]
    known = known_referral()
    assert sign_in(client, known).status_code == 302
    return known


def test_the_page_lists_the_sessions_he_can_take_with_places_left(client, signed_in):
    first = future_session(days=10, capacity=12)
    future_session(days=200)  # after his completion deadline
    page = client.get("/book/choose").get_data(as_text=True)
    assert f'value="{first.id}"' in page
    assert "12 places left" in page and "Leeds" in page and "step-free access" in page
    assert page.count('type="radio"') == 1


def test_he_books_a_place_and_sees_the_confirmation(client, signed_in):
    session = future_session()
    response = book(client, session.id)
    assert response.headers["Location"] == "/book/booked?changed=0"
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Place booked" in page and signed_in.reference in page
    db.session.expire_all()
    assert signed_in.referral.status is ReferralStatus.BOOKED
    booking = bookings_queries.get_active_booking(signed_in.referral)
    assert booking is not None and booking.session_id == session.id
    assert person_alterations(signed_in.reference) == ["selfservice.book"]


def test_his_page_shows_the_booking_without_any_joining_link(client, signed_in):
    from tests.builders import create_venue

    online = future_session(venue=create_venue(is_online=True, joining_link="https://meet.example/secret",
                                                 address_line_1=None, town=None, postcode=None))
    book(client, online.id)
    page = client.get(OVERVIEW).get_data(as_text=True)
    assert "Online" in page and "joining link 48 hours before" in page
    assert "meet.example" not in page


def test_choosing_nothing_asks_him_to_choose(client, signed_in):
    future_session()
    page = client.post("/book/choose", data={}).get_data(as_text=True)
    assert "Select the course date you want" in page


def test_a_session_not_offered_to_him_is_refused(client, signed_in):
    late = future_session(days=200)
    page = client.post("/book/choose", data={"session_id": late.id}).get_data(as_text=True)
    assert "There is a problem" in page
    db.session.expire_all()
    assert signed_in.referral.status is ReferralStatus.AWAITING_BOOKING


def test_he_changes_his_booking_and_is_told_how_many_changes_are_left(client, signed_in):
    first, second, third = future_session(10), future_session(12), future_session(14)
    book(client, first.id)
    assert "change your booking 2 more times" in client.get(OVERVIEW).get_data(as_text=True)
    response = book(client, second.id)
    assert response.headers["Location"] == "/book/booked?changed=1"
    assert "Booking changed" in client.get(response.headers["Location"]).get_data(as_text=True)
    assert "change your booking 1 more time." in client.get(OVERVIEW).get_data(as_text=True)
    book(client, third.id)
    page = client.get(OVERVIEW).get_data(as_text=True)
    assert "cannot change this booking again" in page
    assert client.get("/book/choose").headers["Location"] == OVERVIEW
    assert bookings_queries.get_active_booking(signed_in.referral).session_id == third.id
    assert person_alterations(signed_in.reference) == [
        "selfservice.book", "selfservice.change", "selfservice.change"]


def test_cancelling_asks_for_confirmation_first(client, signed_in):
    session = future_session()
    book(client, session.id)
    confirm = client.get("/book/cancel").get_data(as_text=True)
    assert "Are you sure you want to cancel your place?" in confirm
    assert bookings_queries.get_active_booking(signed_in.referral) is not None
    response = client.post("/book/cancel")
    assert response.headers["Location"] == OVERVIEW
    db.session.expire_all()
    assert bookings_queries.get_active_booking(signed_in.referral) is None
    assert signed_in.referral.status is ReferralStatus.AWAITING_BOOKING
    assert "Your place has been cancelled" in client.get(OVERVIEW).get_data(as_text=True)
    assert person_alterations(signed_in.reference) == ["selfservice.book", "selfservice.cancel"]


def test_he_downloads_his_booking_as_a_calendar_file(client, signed_in):
    assert client.get("/book/course-booking.ics").status_code == 404
    session = future_session()
    book(client, session.id)
    response = client.get("/book/course-booking.ics")
    assert response.mimetype == "text/calendar"
    assert "attachment" in response.headers["Content-Disposition"]
    body = response.get_data(as_text=True)
    assert "BEGIN:VEVENT" in body and session.starts_at.strftime("%Y%m%dT%H%M%SZ") in body


def test_cancelling_only_ever_touches_his_own_booking(app):
    his, other = known_referral(), known_referral()
    session = future_session()
    his_client, other_client = app.test_client(), app.test_client()
    sign_in(his_client, his)
    sign_in(other_client, other)
    book(his_client, session.id)
    book(other_client, session.id)
    his_client.post("/book/cancel")
    db.session.expire_all()
    assert bookings_queries.get_active_booking(his.referral) is None
    assert bookings_queries.get_active_booking(other.referral) is not None


def test_a_withdrawn_offer_shows_its_status_and_no_booking_actions(client, signed_in):
    future_session()
    police = create_user("police", force=signed_in.referral.force)
    from diversion.core.timeutils import now_utc

    referral_amending.withdraw_referral(reference=signed_in.reference, reason="Charged instead",
                                        actor=police, now=now_utc())
    db.session.commit()
    page = client.get(OVERVIEW).get_data(as_text=True)
    assert "This offer has been withdrawn" in page
    assert "/book/choose" not in page and "/book/cancel" not in page
    assert client.get("/book/choose").headers["Location"] == OVERVIEW
    assert client.get("/book/cancel").headers["Location"] == OVERVIEW


def test_his_page_shows_the_fee_and_what_is_still_to_pay(client, signed_in):
    from diversion.bookings import fees
    from diversion.core.timeutils import now_utc

    page = client.get(OVERVIEW).get_data(as_text=True)
    assert "£200" in page and "Still to pay" in page
    fees.record_payment(referral=signed_in.referral, amount_pence=5050, method="card",
                        reference="R1", actor=create_user("manager"), now=now_utc())
    db.session.commit()
    page = client.get(OVERVIEW).get_data(as_text=True)
    assert "£50.50" in page and "£149.50" in page
