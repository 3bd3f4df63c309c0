"""The public pages read as written for him: no staff marking, privacy and cookies, help on every
page, the channel the confirmation went by, what to do on the day, a check before booking, and
the waiting list of a full session."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from diversion.audit.models import AuditEvent
from diversion.bookings import queries as bookings_queries
from diversion.bookings import waiting_list
from diversion.core.extensions import db
from diversion.outbox.rules import mask_email, mask_mobile
from diversion.referrals.models import ReferralStatus
from tests.builders import (
    NOW,
    create_booking,
    create_venue,
    future_session,
    known_referral,
)
from tests.selfservice.helpers import book, sign_in

pytestmark = pytest.mark.usefixtures("clock")  # the app reads a clock stopped at NOW

OVERVIEW = "/book/your-course"
PUBLIC_PAGES = ["/book", "/book/signed-out", "/accessibility", "/privacy", "/cookies"]


def text(response) -> str:  # type: ignore[no-untyped-def]
    return response.get_data(as_text=True)


@pytest.fixture
def signed_in(client):  # type: ignore[no-untyped-def]
    known = known_referral()
    assert sign_in(client, known).status_code == 302
    return known


def full_session(days: float = 10, **overrides):  # type: ignore[no-untyped-def]
    session = future_session(days, capacity=1, **overrides)
    create_booking(session=session)
    db.session.commit()
    return session


# 1-3. The frame of every public page ----------------------------------------------------------

@pytest.mark.parametrize("url", PUBLIC_PAGES)
def test_a_public_page_has_no_staff_marking_and_offers_help_by_phone(client, url):
    page = text(client.get(url))
    assert "official-sensitive" not in page.lower()
    assert 'href="tel:01134960000"' in page and "0113 496 0000" in page
    assert "Monday to Friday, 9am to 5pm" in page and "mailto:diversion@example.org" in page
    assert 'href="/privacy"' in page and 'href="/cookies"' in page
    assert 'href="/accessibility"' in page


def test_his_pages_once_signed_in_have_no_staff_marking_and_offer_help(client, signed_in):
    future_session()
    for url in (OVERVIEW, "/book/choose"):
        page = text(client.get(url))
        assert "official-sensitive" not in page.lower()
        assert 'href="tel:01134960000"' in page


def test_staff_pages_keep_the_official_sensitive_marking_and_link_privacy(client, login_as):
    login_as("manager")
    page = text(client.get("/dashboard"))
    assert "Official-sensitive" in page and "OFFICIAL-SENSITIVE" in page
    assert 'href="/privacy"' in page and 'href="/cookies"' in page
    assert "Get help" not in page


def test_the_provider_and_its_contact_details_are_settings(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "DIVERSION_PROVIDER_NAME", "Change Programmes Ltd")
    monkeypatch.setitem(app.config, "DIVERSION_BOOKING_PHONE", "+44 20 7946 0000")
    monkeypatch.setitem(app.config, "DIVERSION_BOOKING_HOURS", "Monday to Saturday, 8am to 6pm")
    monkeypatch.setitem(app.config, "DIVERSION_CONTACT_EMAIL", "help@change.example")
    page = text(client.get("/privacy"))
    assert "Change Programmes Ltd" in page and 'href="tel:+442079460000"' in page
    assert "Monday to Saturday, 8am to 6pm" in page and "help@change.example" in page


def test_the_privacy_notice_says_who_what_why_who_else_how_long_and_his_rights(client):
    response = client.get("/privacy")
    assert response.status_code == 200
    page = text(response)
    for words in ("on behalf of the police force that referred you", "date of birth",
                  "Part 3 of the Data Protection Act 2018", "whether you booked, attended and completed",
                  "6 years after your case with us ends", "Information Commissioner",
                  "0303 123 1113", "for a copy of the information"):
        assert words in page, words


def test_the_cookies_page_names_the_one_essential_cookie_and_no_analytics(client):
    response = client.get("/cookies")
    assert response.status_code == 200
    page = text(response)
    assert "<code>diversion_session</code>" in page
    assert "We do not use analytics cookies" in page


# 4. The confirmation names the channel --------------------------------------------------------

EMAILED = "We have emailed a confirmation, with a calendar file, to d•••@example.com"
TEXTED = "We have sent a text to 07••• ••• 456"
BOTH = {"email": "david@example.com", "mobile": "07911 123456"}


@pytest.mark.parametrize(("contact", "expected", "absent"), [
    ({"email": "david@example.com"}, EMAILED, "text"),
    ({"email": None, "mobile": "07911 123456", "preferred_contact": "sms"}, TEXTED, "emailed"),
    # Both held: the confirmation goes by his preferred channel only, and the page says which.
    ({**BOTH, "preferred_contact": "sms"}, TEXTED, "emailed"),
    ({**BOTH, "preferred_contact": "email"}, EMAILED, "sent a text"),
    ({"email": None, "mobile": None, "preferred_contact": "post",
      "address_line_1": "1 High Street", "town": "Leeds", "postcode": "LS1 1AA"},
     "We do not have your email address or mobile number, so please write down these details", "emailed"),
])
def test_the_confirmation_page_names_where_the_confirmation_went(client, contact, expected, absent):
    known = known_referral(**contact)
    sign_in(client, known)
    session = future_session(venue=create_venue())
    page = text(client.get(book(client, session.id).headers["Location"]))
    assert expected in page
    assert absent not in page.split('id="sent-to"')[1].split("</p>")[0]
    assert "david@example.com" not in page and "123456" not in page


def test_masking_shows_only_enough_to_recognise_the_address():
    assert mask_email("david@example.com") == "d•••@example.com"
    assert mask_mobile("+447911123456") == "07••• ••• 456"
    assert mask_email("not-an-address") == "•••"
    assert mask_mobile("07911 123456") == "07••• ••• 456"


# 5. What happens on the day, by kind of session ------------------------------------------------

def test_an_in_person_booking_says_bring_photo_id_arrive_by_the_start_and_the_cut_off(client, signed_in):
    session = future_session(venue=create_venue(name="Park Row Centre"))
    page = text(client.get(book(client, session.id).headers["Location"]))
    assert "Bring photo ID" in page and "Arrive by 10:00am at Park Row Centre" in page
    # The programme's late cut-off (15 minutes by default), in London time (BST in June).
    assert "after 10:15am you will not be let in" in page
    assert "joining link" not in page


def test_an_online_booking_says_how_to_join_and_not_to_bring_id_to_a_venue(client, signed_in):
    online = future_session(venue=create_venue(is_online=True, joining_link="https://meet.example/secret",
                                               address_line_1=None, town=None, postcode=None))
    page = text(client.get(book(client, online.id).headers["Location"]))
    assert "How to join your online course" in page and "email you the joining link 2 days before" in page
    assert "show it to the camera" in page and "If you join after 10:15am" in page
    assert "Bring photo ID" not in page and "meet.example" not in page
    overview = text(client.get(OVERVIEW))
    assert "How to join your online course" in overview and "Bring photo ID" not in overview


def test_the_confirmation_email_says_what_to_do_by_kind_of_session(app):
    from diversion.bookings.notices import arrival_context, session_context

    online = future_session(venue=create_venue(is_online=True, joining_link="https://meet.example/x",
                                               address_line_1=None, town=None, postcode=None))
    in_person = future_session()
    with app.test_request_context():
        from flask import render_template

        online_text = render_template("messages/booking_confirmation.txt", reference="R",
                                      **session_context(online), **arrival_context(online))
        person_text = render_template("messages/booking_confirmation.txt", reference="R",
                                      **session_context(in_person), **arrival_context(in_person))
    assert "show it to the camera" in online_text and "Bring photo ID" not in online_text
    assert "Bring photo ID" in person_text and "10:15am" in person_text


# 6. Nothing is booked before "Confirm booking" ---------------------------------------------------

def test_choosing_a_date_leads_to_a_check_page_and_books_nothing(client, signed_in):
    session = future_session(venue=create_venue(name="Park Row Centre"))
    chosen = client.post("/book/choose", data={"session_id": session.id})
    assert chosen.headers["Location"] == f"/book/check?session_id={session.id}"
    check = client.get(chosen.headers["Location"])
    page = text(check)
    assert check.status_code == 200
    assert "Check your booking" in page and "Confirm booking" in page
    assert "Choose a different date" in page and "Park Row Centre" in page and "£200" in page
    db.session.expire_all()
    assert bookings_queries.get_active_booking(signed_in.referral) is None
    assert signed_in.referral.status is ReferralStatus.AWAITING_BOOKING
    confirmed = client.post(chosen.headers["Location"])
    assert confirmed.headers["Location"] == "/book/booked?changed=0"
    db.session.expire_all()
    assert bookings_queries.get_active_booking(signed_in.referral).session_id == session.id


def test_changing_the_date_also_needs_the_check(client, signed_in):
    first, second = future_session(10), future_session(12)
    book(client, first.id)
    client.post("/book/choose", data={"session_id": second.id})
    page = text(client.get(f"/book/check?session_id={second.id}"))
    assert "Check your new course date" in page and "Confirm new date" in page
    db.session.expire_all()
    assert bookings_queries.get_active_booking(signed_in.referral).session_id == first.id


def test_the_check_page_refuses_a_date_he_cannot_book(client, signed_in):
    late = future_session(days=200)
    for answer in (client.get(f"/book/check?session_id={late.id}"),
                   client.post(f"/book/check?session_id={late.id}"),
                   client.get("/book/check?session_id=x")):
        assert answer.headers["Location"] == "/book/choose"
    db.session.expire_all()
    assert bookings_queries.get_active_booking(signed_in.referral) is None


def test_a_date_that_fills_up_while_he_checks_is_refused_with_an_error_summary(client, signed_in):
    session = future_session(capacity=1)
    client.post("/book/choose", data={"session_id": session.id})
    create_booking(session=session)
    db.session.commit()
    answer = client.post(f"/book/check?session_id={session.id}")
    assert answer.headers["Location"] == "/book/choose"  # no longer offered as bookable
    assert bookings_queries.get_active_booking(signed_in.referral) is None


# 7. The waiting list of a full session ----------------------------------------------------------

def test_a_full_date_is_offered_as_full_join_the_waiting_list(client, signed_in):
    full = full_session()
    page = text(client.get("/book/choose"))
    assert f'value="{full.id}"' in page and "Full — join the waiting list" in page
    chosen = client.post("/book/choose", data={"session_id": full.id})
    assert chosen.headers["Location"] == f"/book/waiting-list?session_id={full.id}"


def test_he_joins_a_waiting_list_after_checking_and_sees_his_place_in_line(client, signed_in):
    full = full_session()
    other = known_referral()
    waiting_list.join_waiting_list(referral=other.referral, session=full, actor=None, now=NOW)
    db.session.commit()
    review = client.get(f"/book/waiting-list?session_id={full.id}")
    page = text(review)
    assert "you would be number 2 in line" in page and "How the waiting list works" in page
    assert "we book the place for you straight away" in page
    # Where it is, as the check page of a date with places says it: he may need step-free access.
    venue = full.venue
    assert venue.address_line_1 in page and venue.postcode in page and "Step-free access" in page
    assert waiting_list.waiting_positions(signed_in.referral) == []
    joined = client.post(f"/book/waiting-list?session_id={full.id}")
    assert joined.headers["Location"] == OVERVIEW
    overview = text(client.get(OVERVIEW))
    assert "Waiting lists you are on" in overview and "Number 2 in line" in overview
    assert [p for _, p in waiting_list.waiting_positions(signed_in.referral)] == [2]
    actions = db.session.scalars(select(AuditEvent.action).where(
        AuditEvent.actor_label == f"person:{signed_in.reference}")).all()
    assert "selfservice.join_waiting_list" in actions


def test_he_leaves_a_waiting_list(client, signed_in):
    full = full_session()
    client.post(f"/book/waiting-list?session_id={full.id}")
    left = client.post("/book/waiting-list/leave", data={"session_id": full.id})
    assert left.headers["Location"] == OVERVIEW
    assert "You have left the waiting list" in text(client.get(OVERVIEW))
    db.session.expire_all()
    assert waiting_list.waiting_positions(signed_in.referral) == []
    again = client.post("/book/waiting-list/leave", data={"session_id": full.id})
    assert again.headers["Location"] == OVERVIEW
    assert "You are not on that waiting list" in text(client.get(OVERVIEW))


def test_he_cannot_queue_for_a_date_with_places(client, signed_in):
    open_date = future_session()
    for answer in (client.get(f"/book/waiting-list?session_id={open_date.id}"),
                   client.post(f"/book/waiting-list?session_id={open_date.id}")):
        assert answer.headers["Location"] == "/book/choose"
    assert waiting_list.waiting_positions(signed_in.referral) == []


def test_he_cannot_queue_once_booked_or_for_a_date_he_may_not_take(client, signed_in):
    full = full_session()
    # A full date after his completion deadline is not his to queue for.
    late_full = future_session(days=200, capacity=1)
    answer = client.post(f"/book/waiting-list?session_id={late_full.id}")
    assert answer.headers["Location"] == "/book/choose"
    book(client, future_session(12).id)
    answer = client.post(f"/book/waiting-list?session_id={full.id}")
    assert answer.headers["Location"] == OVERVIEW
    assert waiting_list.waiting_positions(signed_in.referral) == []


def test_signed_out_he_cannot_reach_the_check_or_waiting_list_pages(client):
    for url in ("/book/check?session_id=1", "/book/waiting-list?session_id=1"):
        assert client.get(url).headers["Location"] == "/book"
    assert client.post("/book/waiting-list/leave", data={"session_id": 1}).headers["Location"] == "/book"


def test_error_pages_use_the_public_frame_for_anonymous_visitors_and_the_staff_one_for_staff(
        client, login_as):
    missing = client.get("/book/no-such-page")
    assert missing.status_code == 404
    assert "official-sensitive" not in text(missing).lower() and "Get help" in text(missing)
    login_as("manager")
    staff = text(client.get("/no-such-page"))
    assert "OFFICIAL-SENSITIVE" in staff and "Get help" not in staff
