"""The provider cancelled his session after he paid online: on a phone he follows his link,
chooses his money back over a new date, checks it, and sees it is being paid back."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from diversion.bookings import session_cancellation as cancellation
from diversion.core.extensions import db
from diversion.core.timeutils import now_utc
from tests.browser.conftest import LiveServer, assert_accessible, has_horizontal_scroll
from tests.browser.test_paying_online import paying_on  # noqa: F401 (a fixture)
from tests.builders import create_booking, create_user, future_session, known_referral, pay_online
from tests.payments.servers import GovukPayStandIn

pytestmark = pytest.mark.browser


def test_he_asks_for_his_money_back_after_his_session_was_cancelled(
        phone: Page, live_server: LiveServer, paying_on: GovukPayStandIn) -> None:  # noqa: F811
    with live_server.app.app_context():
        now = now_utc()
        known = known_referral(now=now)
        session = future_session(10, now=now)
        future_session(12, now=now)
        booking = create_booking(known.referral, session, now=now)
        pay_online(known.referral, paying_on, now=now)
        cancellation.cancel_session_with_bookings(
            session=session, reason="The venue flooded",
            choices={booking.id: cancellation.AfterCancel.RETURN}, actor=create_user("manager"),
            now=now)
        db.session.commit()
        reference, pin, dob = known.reference, known.pin, known.date_of_birth
        db.session.remove()

    phone.goto(live_server(f"/book?ref={reference}&then=pay"))
    expect(phone.get_by_label("Reference")).to_have_value(reference)
    phone.get_by_label("PIN").fill(pin)
    phone.get_by_label("Day").fill(str(dob.day))
    phone.get_by_label("Month").fill(str(dob.month))
    phone.get_by_label("Year").fill(str(dob.year))
    phone.get_by_role("button", name="Continue").click()
    expect(phone).to_have_url(live_server("/book/your-course#fee"))

    expect(phone.get_by_role("heading", name="Your course date was cancelled")).to_be_visible()
    assert_accessible(phone)
    assert not has_horizontal_scroll(phone)
    phone.get_by_role("link", name="Ask for your money back").click()

    expect(phone.get_by_role("heading", level=1)).to_have_text("Do you want your money back?")
    expect(phone.get_by_text("Usually within 5 working days")).to_be_visible()
    assert_accessible(phone)
    assert not has_horizontal_scroll(phone)
    phone.get_by_role("button", name="Yes, pay my money back").click()

    expect(phone.locator(".govuk-panel__title")).to_have_text("Your money is being paid back")
    assert len(paying_on.refunds) == 1 and paying_on.refunds[0]["amount"] == 20000
    assert_accessible(phone)
    assert not has_horizontal_scroll(phone)
    phone.get_by_role("button", name="Go to your course page").click()
    expect(phone.get_by_role("heading", name="Your course date was cancelled")).to_have_count(0)
    expect(phone.get_by_role("button", name="Pay the course fee (£200)")).to_be_visible()
