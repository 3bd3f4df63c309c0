"""Managers' booking pages: book, pay, cancel a session, allocate."""

from __future__ import annotations

import pytest

from diversion.bookings import fees
from diversion.bookings.forms import pence_from_pounds
from diversion.bookings.queries import get_active_booking, transfers_remaining
from diversion.bookings.waiting_list import join_waiting_list
from diversion.core.extensions import db
from diversion.courses.models import SessionStatus
from diversion.referrals.models import ReferralStatus
from tests.builders import NOW, create_booking, create_referral, future_session

pytestmark = pytest.mark.usefixtures("clock")  # the app reads a clock stopped at NOW


def test_a_manager_books_a_session_and_records_a_payment_on_the_booking_page(client, login_as):
    login_as("manager")
    session, referral = future_session(5), create_referral()
    db.session.commit()
    page = client.get(f"/bookings/referral/{referral.reference}")
    assert page.status_code == 200 and "Book a session" in page.text
    booked = client.post(f"/bookings/referral/{referral.reference}/book",
                         data={"session_id": str(session.id)}, follow_redirects=True)
    assert "Booked" in booked.text and "Move to another session" in booked.text
    # The session is a link, not its markup printed as text.
    assert f'<a class="govuk-link" href="/sessions/{session.id}">' in booked.text
    assert "&lt;a" not in booked.text
    paid = client.post(f"/bookings/referral/{referral.reference}/payments",
                       data={"amount": "£55.50", "method": "card", "reference": "R1"},
                       follow_redirects=True)
    assert "Payment recorded" in paid.text and "£144.50" in paid.text
    bad = client.post(f"/bookings/referral/{referral.reference}/payments",
                      data={"amount": "lots", "method": "card"})
    assert bad.status_code == 422 and "Enter an amount in pounds" in bad.text
    db.session.expire_all()
    assert referral.status is ReferralStatus.BOOKED
    session_page = client.get(f"/sessions/{session.id}")
    assert referral.person.full_name in session_page.text


def test_moving_a_booking_asks_first_and_says_what_follows(client, login_as):
    login_as("manager")
    old, new = future_session(5), future_session(12)
    referral = create_referral()
    booking = create_booking(referral, old)
    db.session.commit()
    url = f"/bookings/referral/{referral.reference}/book"

    check = client.post(url, data={"session_id": str(new.id)})

    assert check.status_code == 200
    assert "<title>Check before moving the booking" in check.text
    assert "His place on" in check.text and "given back for someone else to book" in check.text
    assert "1 move left after this" in check.text
    assert 'name="confirmed" value="yes"' in check.text
    db.session.expire_all()
    assert get_active_booking(referral).id == booking.id  # nothing moved yet
    assert transfers_remaining(referral) == 2

    moved = client.post(url, data={"session_id": str(new.id), "confirmed": "yes"},
                        follow_redirects=True)
    assert "Booking moved" in moved.text
    db.session.expire_all()
    assert get_active_booking(referral).session_id == new.id
    assert transfers_remaining(referral) == 1


def test_moving_a_booking_off_a_full_session_warns_his_place_goes_to_the_waiting_list(
        client, login_as):
    login_as("manager")
    old, new = future_session(5, capacity=1), future_session(12)
    referral, waiting = create_referral(), create_referral()
    create_booking(referral, old)
    join_waiting_list(referral=waiting, session=old, actor=None, now=NOW)
    db.session.commit()
    check = client.post(f"/bookings/referral/{referral.reference}/book",
                        data={"session_id": str(new.id)})
    assert check.status_code == 200
    assert "goes to the first of the 1 person on that session" in check.text
    assert "he may not be able to move back" in check.text


def test_a_move_that_cannot_be_made_is_refused_on_the_booking_page_not_checked(client, login_as):
    login_as("manager")
    old = future_session(5)
    referral = create_referral()
    create_booking(referral, old)
    db.session.commit()
    page = client.post(f"/bookings/referral/{referral.reference}/book",
                       data={"session_id": str(old.id)})
    assert page.status_code == 422
    assert "Choose a different session from the one booked" in page.text
    assert "Check before moving" not in page.text


def test_police_cannot_open_the_booking_page(client, login_as):
    login_as("police")
    referral = create_referral()
    db.session.commit()
    assert client.get(f"/bookings/referral/{referral.reference}").status_code == 403


def test_cancelling_a_session_with_people_on_it_returns_them(client, login_as):
    login_as("manager")
    session, referral = future_session(5), create_referral()
    db.session.commit()
    client.post(f"/bookings/referral/{referral.reference}/book", data={"session_id": session.id})
    db.session.expire_all()
    booking = get_active_booking(referral)
    assert booking is not None
    check = client.post(f"/bookings/session/{session.id}/cancel",
                        data={"reason": "Venue closed", f"after-{booking.id}": "return"})
    assert check.status_code == 200 and "Check before you cancel" in check.text
    db.session.expire_all()
    assert session.status is SessionStatus.SCHEDULED  # nothing happens before the confirmation
    response = client.post(f"/bookings/session/{session.id}/cancel",
                           data={"reason": "Venue closed", f"after-{booking.id}": "return",
                                 "people": str(booking.id), "action": "confirm"})
    assert "0 rebooked, 1 returned" in response.text and "Session cancelled" in response.text
    db.session.expire_all()
    assert session.status is SessionStatus.CANCELLED
    assert referral.status is ReferralStatus.AWAITING_BOOKING


def test_the_allocate_button_previews_then_books(client, login_as):
    login_as("manager")
    session, referral = future_session(5, capacity=1), create_referral()
    db.session.commit()
    preview = client.get("/bookings/allocate")
    assert "1 can be booked" in preview.text and referral.person.full_name in preview.text
    fingerprint = preview.text.split('name="fingerprint" value="')[1].split('"')[0]
    done = client.post("/bookings/allocate", data={"fingerprint": fingerprint,
                                                   "referral": str(referral.id)})
    assert done.status_code == 200 and "1 person booked" in done.text
    db.session.expire_all()
    assert referral.status is ReferralStatus.BOOKED and session.booked_count == 1


def test_the_allocation_tables_reflow_on_a_phone(client, login_as):
    """Each row of the preview, and of those who cannot be booked, becomes a block on a phone
    whose cells say their column: the session chosen is not off the screen's edge."""
    login_as("manager")
    future_session(5, capacity=1)
    placed, unplaced = create_referral(), create_referral()
    db.session.commit()

    preview = client.get("/bookings/allocate").text
    done = client.post("/bookings/allocate", data={
        "fingerprint": preview.split('name="fingerprint" value="')[1].split('"')[0],
        "referral": [str(placed.id), str(unplaced.id)]}).text

    for page, tables in ((preview, 2), (done, 1)):  # the done page links to who was not booked
        assert 'class="app-table-scroll"' not in page
        assert page.count('class="govuk-table app-table--reflow"') == tables
        for label in ("Name", "Reference", "Force", "Needs", "Book by", "Session",
                      "On a waiting list"):
            assert f'data-label="{label}"' in page, label
    assert 'data-label="Complete by"' in preview and 'data-label="Why"' in preview
    assert preview.count('data-label="Book"') == 1


@pytest.mark.parametrize(("amount", "problem"), [
    ("0", "The amount must be more than £0"),
    ("-5", "Enter an amount in pounds"),
    ("1000000", "The amount is too large"),
    ("£1,000,000", "The amount is too large"),
    ("250", "The amount is more than the £200.00 still owed"),
    ("lots", "Enter an amount in pounds"),
])
def test_a_payment_with_no_method_and_a_bad_amount_says_both_in_one_round(client, login_as,
                                                                          amount, problem):
    login_as("manager")
    referral = create_referral()
    create_booking(referral, future_session(5))
    db.session.commit()

    page = client.post(f"/bookings/referral/{referral.reference}/payments",
                       data={"amount": amount})

    assert page.status_code == 422
    assert "<title>Error: " in page.text
    summary = page.text.split('class="govuk-error-summary"')[1].split("</ul>")[0]
    assert problem in summary and 'href="#amount"' in summary
    assert "Choose how it was paid" in summary and 'href="#method' in summary
    assert f'value="{amount}"' in page.text  # nothing typed is lost


@pytest.mark.parametrize("amount", ["1,50", "20,50", "£1,5"])
def test_a_comma_written_as_a_decimal_point_is_refused_not_read_as_pounds(client, login_as,
                                                                            amount):
    """"1,50" is £1.50 written the continental way: reading it as £150 would record a hundred
    times what was paid. Only a thousands comma ("1,000") is read."""
    login_as("manager")
    referral = create_referral()
    create_booking(referral, future_session(5))
    db.session.commit()

    page = client.post(f"/bookings/referral/{referral.reference}/payments",
                       data={"amount": amount, "method": "cash"})

    assert page.status_code == 422 and "Enter an amount in pounds" in page.text
    assert f'value="{amount}"' in page.text
    db.session.expire_all()
    assert fees.fee_status(referral).paid_pence == 0


def test_a_thousands_comma_is_still_read(client, login_as, monkeypatch):
    assert pence_from_pounds("£1,000") == 100000
    assert pence_from_pounds("1,000.50") == 100050
    assert pence_from_pounds("20.50") == 2050 and pence_from_pounds("£ 20.5") == 2050
