"""Irreversible staff actions are checked first, and the referral form reports every problem
at once: each page at 1280, 768 and 375 px, checked with axe, no sideways scroll."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from diversion.auth.services import get_force_by_code
from diversion.core.extensions import db
from diversion.core.timeutils import now_utc
from diversion.demo import DEMO_USERS
from tests.browser.conftest import LiveServer, assert_accessible, check_at_every_width, sign_in
from tests.builders import create_booking, future_session, known_referral

pytestmark = pytest.mark.browser

ADMIN, MANAGER, OFFICER = DEMO_USERS[0][1], DEMO_USERS[1][1], DEMO_USERS[3][1]
SHOTS = Path("/tmp/wt-safe-shots")


def _referral(*, booked: bool, force_code: str | None = None) -> tuple[str, str]:
    with_force = {"force_code": force_code} if force_code else {}
    now = now_utc()
    known = known_referral(now=now, **with_force)
    if booked:
        create_booking(known.referral, future_session(8, now=now), now=now)
    db.session.commit()
    return known.reference, known.referral.person.full_name


def test_a_manager_checks_then_cancels_a_booking_with_a_reason(
        page: Page, live_server: LiveServer) -> None:
    with live_server.app.app_context():
        reference, name = _referral(booked=True)
        db.session.remove()
    sign_in(page, live_server, MANAGER)
    page.goto(live_server(f"/bookings/referral/{reference}"))

    page.get_by_role("button", name="Cancel booking").click()

    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Are you sure you want to cancel this booking?")
    expect(page.locator(".govuk-summary-list")).to_contain_text(name)
    expect(page.locator("[data-consequences]")).to_contain_text("He is sent a message")
    check_at_every_width(page, "cancel-booking", SHOTS)
    page.get_by_role("button", name="Cancel booking").click()
    expect(page.locator(".govuk-error-summary")).to_contain_text(
        "Enter why the booking is cancelled")
    assert_accessible(page)
    page.get_by_label("Why is the booking cancelled?").fill("He asked to change month")
    page.get_by_role("button", name="Cancel booking").click()

    expect(page).to_have_url(live_server(f"/bookings/referral/{reference}"))
    expect(page.get_by_text("Booking cancelled.")).to_be_visible()
    expect(page.get_by_text("He asked to change month")).to_be_visible()
    assert_accessible(page)


def test_an_officer_checks_then_issues_a_new_pin_shown_once_without_a_button_under_it(
        page: Page, live_server: LiveServer) -> None:
    with live_server.app.app_context():
        assert get_force_by_code("WYP") is not None
        reference, _name = _referral(booked=False, force_code="WYP")
        db.session.remove()
    sign_in(page, live_server, OFFICER)
    page.goto(live_server(f"/referrals/{reference}"))

    page.get_by_role("link", name="Issue a new PIN").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Issue a new PIN?")
    expect(page.locator("[data-consequences]")).to_contain_text("The old PIN stops working")
    check_at_every_width(page, "new-pin-check", SHOTS)
    page.get_by_role("button", name="Issue a new PIN").click()

    expect(page.locator(".govuk-panel__title")).to_have_text("New PIN issued")
    expect(page.locator("[data-pin]")).to_have_text(re.compile(r"^\d{6}$"))
    expect(page.get_by_role("button", name="Issue a new PIN")).to_have_count(0)
    expect(page.get_by_role("link", name="issue a new PIN")).to_have_count(0)
    check_at_every_width(page, "new-pin-issued", SHOTS)


def test_an_administrator_checks_a_token_before_revoking_it(
        page: Page, live_server: LiveServer) -> None:
    sign_in(page, live_server, ADMIN)
    page.goto(live_server("/admin/tokens"))
    page.get_by_role("combobox", name="Account").select_option(
        label="Frankie Facilitator (Facilitator)")
    page.get_by_role("button", name="Create token").click()
    prefix = page.locator("#new-token").inner_text()[:12]

    page.get_by_role("row").filter(has_text="Frankie Facilitator").filter(
        has_not_text="Revoked").first.get_by_role("link", name="Revoke").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Revoke this API token?")
    expect(page.locator(".govuk-summary-list")).to_contain_text("Frankie Facilitator")
    expect(page.locator(".govuk-summary-list")).to_contain_text("Never")
    assert prefix[:8] in page.locator(".govuk-summary-list").inner_text()
    check_at_every_width(page, "revoke-token", SHOTS)
    page.get_by_role("button", name="Revoke token").click()
    expect(page.locator(".govuk-notification-banner")).to_contain_text(f"Token {prefix[:8]}")


def test_the_referral_form_reports_every_problem_in_one_summary(
        page: Page, live_server: LiveServer) -> None:
    sign_in(page, live_server, OFFICER)
    page.goto(live_server("/referrals/new"))
    dob = page.get_by_role("group", name="Date of birth")
    dob.get_by_label("Day").fill("31")
    dob.get_by_label("Month").fill("2")
    dob.get_by_label("Year").fill("1980")
    page.get_by_role("group", name="Did the person consent to the diversion?").get_by_label(
        "No").check()

    page.get_by_role("button", name="Continue").click()

    summary = page.locator(".govuk-error-summary")
    expect(summary).to_be_focused()
    for message in ("Date of birth must be a real date", "Enter the family name",
                    "Enter the given names", "Enter the crime reference",
                    "The person did not consent to the diversion"):
        expect(summary).to_contain_text(message)
    check_at_every_width(page, "referral-form-errors", SHOTS)
    summary.get_by_role("link", name="Enter the family name").click()
    expect(page.get_by_label("Family name")).to_be_focused()
