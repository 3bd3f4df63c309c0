"""A manager waives a fee only after its check page, and reinstates it after another: each page
at 1280, 768 and 375 px, checked with axe, no sideways scroll."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from diversion.core.extensions import db
from diversion.core.timeutils import now_utc
from diversion.demo import DEMO_USERS
from diversion.referrals import lifecycle
from diversion.referrals.models import ReferralEventType
from tests.browser.conftest import LiveServer, assert_accessible, check_at_every_width, sign_in
from tests.builders import create_booking, future_session, known_referral

pytestmark = pytest.mark.browser

MANAGER, OFFICER = DEMO_USERS[1][1], DEMO_USERS[3][1]
SHOTS = Path("/tmp/wt-fees-shots")


def test_a_manager_checks_then_waives_a_fee_and_can_reinstate_it(
        page: Page, live_server: LiveServer) -> None:
    with live_server.app.app_context():
        now = now_utc()
        known = known_referral(now=now)
        create_booking(known.referral, future_session(8, now=now), now=now)
        db.session.commit()
        reference, name = known.reference, known.referral.person.full_name
        db.session.remove()
    sign_in(page, live_server, MANAGER)
    page.goto(live_server(f"/bookings/referral/{reference}"))

    page.get_by_role("button", name="Waive fee").click()  # no reason: named, nothing asked
    expect(page.locator(".govuk-error-summary")).to_contain_text("Enter why the fee is waived")
    assert_accessible(page)
    page.get_by_label("Why is the fee waived?").fill("Receiving benefits")
    page.get_by_role("button", name="Waive fee").click()

    expect(page.get_by_role("heading", level=1)).to_have_text(
        f"Are you sure you want to waive the £200 fee for {reference}?")
    expect(page.locator(".govuk-summary-list")).to_contain_text(name)
    expect(page.locator(".govuk-summary-list")).to_contain_text("Receiving benefits")
    check_at_every_width(page, "waive-check", SHOTS)
    page.get_by_role("link", name="Cancel").click()
    expect(page).to_have_url(live_server(f"/bookings/referral/{reference}"))
    expect(page.get_by_text("Still owed")).to_be_visible()

    page.get_by_label("Why is the fee waived?").fill("Receiving benefits")
    page.get_by_role("button", name="Waive fee").click()
    page.get_by_role("button", name="Waive fee").click()
    expect(page.get_by_text("Fee waived", exact=True)).to_be_visible()
    expect(page.get_by_text("Nothing: the fee was waived")).to_be_visible()
    check_at_every_width(page, "booking-page-waived", SHOTS)

    page.get_by_role("link", name="Reinstate the fee").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        f"Are you sure you want to reinstate the £200 fee for {reference}?")
    check_at_every_width(page, "reinstate-check", SHOTS)
    page.get_by_role("button", name="Reinstate fee").click()

    expect(page.get_by_text("The fee has been reinstated: £200 is owed")).to_be_visible()
    expect(page.locator("[data-fee-history]")).to_contain_text("Waived fee reinstated by")
    expect(page.get_by_role("heading", name="Record a payment")).to_be_visible()
    assert_accessible(page)


def test_a_withdrawn_case_owes_nothing_on_the_managers_and_the_officers_pages(
        page: Page, live_server: LiveServer) -> None:
    with live_server.app.app_context():
        known = known_referral(now=now_utc(), force_code="WYP")
        lifecycle.transition(known.referral, ReferralEventType.WITHDRAWN, actor=None,
                             now=now_utc(), reason="Charged instead")
        db.session.commit()
        reference = known.reference
        db.session.remove()
    sign_in(page, live_server, MANAGER)
    page.goto(live_server(f"/bookings/referral/{reference}"))

    expect(page.get_by_text("Nothing: the case has ended")).to_be_visible()
    expect(page.get_by_role("heading", name="Record a payment")).to_have_count(0)
    check_at_every_width(page, "booking-page-withdrawn", SHOTS)

    page.context.clear_cookies()
    sign_in(page, live_server, OFFICER)
    page.goto(live_server(f"/referrals/{reference}"))
    expect(page.locator("[data-booking-and-fee]")).to_contain_text("Nothing: the case has ended")
    check_at_every_width(page, "referral-page-withdrawn-officer", SHOTS)
