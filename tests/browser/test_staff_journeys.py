"""Staff journeys walked in Chromium where only a real browser shows the problem: the headers
it sends with a form post, what a person sees at phone and tablet widths."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from diversion.core.extensions import db
from diversion.core.timeutils import now_utc
from diversion.demo import DEMO_PASSWORD
from tests.browser.conftest import LiveServer, assert_accessible, has_horizontal_scroll, sign_in
from tests.builders import create_booking, future_session, known_referral

pytestmark = pytest.mark.browser


def test_a_form_sent_after_signing_out_in_another_tab_is_kept_not_refused(
        page: Page, live_server: LiveServer) -> None:
    # Our Referrer-Policy makes Chromium send `Origin: null` with the post: the form must still
    # be kept, not answered with "the page you submitted had expired".
    sign_in(page, live_server, "officer@wyp.police.example")
    page.goto(live_server("/referrals/new"))
    page.get_by_label("Family name").fill("Keptacross")
    other = page.context.new_page()
    other.goto(live_server("/dashboard"))
    other.get_by_role("button", name="Sign out").first.click()
    other.close()

    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_text("What you entered has been kept")).to_be_visible()
    page.get_by_label("Email address").fill("officer@wyp.police.example")
    page.get_by_label("Password", exact=True).fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Send your changes")).to_be_visible()
    assert_accessible(page)
    page.get_by_role("button", name="Send your changes").click()
    expect(page.get_by_label("Family name")).to_have_value("Keptacross")


def test_moving_a_booking_on_a_phone_asks_first_and_fits_the_screen(
        page: Page, live_server: LiveServer) -> None:
    # Its own booking and a session to move it to: the first booked referral of the shared
    # database may be one another test made, with nowhere to move.
    with live_server.app.app_context():
        now = now_utc()
        known = known_referral(now=now)
        booked = future_session(12, now=now, programme=known.referral.programme)
        future_session(19, now=now, programme=known.referral.programme)
        create_booking(known.referral, booked, now=now)
        db.session.commit()
        reference = known.reference
        db.session.remove()
    page.set_viewport_size({"width": 375, "height": 800})
    sign_in(page, live_server, "manager@diversion.example")
    page.goto(live_server(f"/bookings/referral/{reference}"))
    booked_on = page.get_by_role("definition").filter(has_text=" at ").first.inner_text()
    page.locator("input[name=session_id]").first.check()
    page.get_by_role("button", name="Move booking").click()

    expect(page.get_by_role("heading", name="Check before moving this booking")).to_be_visible()
    expect(page.locator("[data-consequences]")).to_contain_text("moves he is allowed")
    assert not has_horizontal_scroll(page)
    assert_accessible(page)
    page.get_by_role("link", name="Do not move it").click()
    expect(page.get_by_role("heading", name="Booking and fee")).to_be_visible()
    expect(page.get_by_role("definition").filter(has_text=" at ").first).to_have_text(booked_on)
