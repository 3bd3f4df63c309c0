"""Setting up the second factor and signing in with it, in a real browser, with axe-core
checking each page (the QR code included)."""

from __future__ import annotations

import pyotp
import pytest
from playwright.sync_api import Page, expect

from diversion.core.extensions import db
from tests.browser.conftest import LiveServer, assert_accessible, has_horizontal_scroll, sign_in
from tests.builders import DEFAULT_PASSWORD, create_user

pytestmark = pytest.mark.browser


def test_a_manager_sets_up_an_authenticator_then_signs_in_with_a_code(
        page: Page, live_server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(live_server.app.config, "REQUIRE_SECOND_FACTOR_ROLES",
                        frozenset({"manager"}))
    with live_server.app.app_context():
        email = create_user("manager", email="second.factor@diversion.example").email
        db.session.commit()
        db.session.remove()

    sign_in(page, live_server, email, password=DEFAULT_PASSWORD)
    expect(page).to_have_url(live_server("/sign-in/set-up-authenticator"))
    expect(page.get_by_role("img", name="QR code for your authenticator app")).to_be_visible()
    page.get_by_text("I cannot scan the QR code").click()
    key = page.locator(".app-secret").inner_text().replace(" ", "")
    assert_accessible(page)
    page.set_viewport_size({"width": 375, "height": 800})
    assert not has_horizontal_scroll(page)
    page.goto(live_server("/referrals"))  # half signed in: nothing else opens
    expect(page).to_have_url(live_server("/sign-in?next=/referrals"))
    page.goto(live_server("/sign-in/set-up-authenticator"))
    page.get_by_label("Code from your authenticator app").fill(pyotp.TOTP(key).now())
    page.get_by_role("button", name="Switch on").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Keep your recovery codes")
    expect(page.locator(".app-recovery-codes li")).to_have_count(10)
    recovery = page.locator(".app-recovery-codes li").first.inner_text()
    assert_accessible(page)
    page.get_by_role("link", name="I have kept my codes, continue").click()
    expect(page).to_have_url(live_server("/dashboard"))
    page.get_by_role("button", name="Sign out").click()

    sign_in(page, live_server, email, password=DEFAULT_PASSWORD)
    expect(page).to_have_url(live_server("/sign-in/code"))
    page.get_by_label("Code").fill("12345")
    page.get_by_role("button", name="Continue").click()
    expect(page.locator(".govuk-error-summary")).to_be_visible()
    assert_accessible(page)
    page.get_by_label("Code").fill(recovery)
    page.get_by_role("button", name="Continue").click()
    expect(page).to_have_url(live_server("/dashboard"))
    expect(page.locator(".govuk-notification-banner")).to_contain_text("You have 9 left")
