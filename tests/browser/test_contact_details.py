"""Correcting a refused email address on a phone: from the failed message to the correction
and back to "Send again", each page accessible and no wider than the screen."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import LiveServer, assert_accessible, has_horizontal_scroll, sign_in

pytestmark = pytest.mark.browser


def test_a_refused_address_is_corrected_on_a_phone_then_sent_again(
        phone: Page, live_server: LiveServer) -> None:
    page = phone
    sign_in(page, live_server, "manager@diversion.example")
    page.goto(live_server("/messages?status=failed"))
    page.locator("[data-correct-address]").first.click()

    expect(page.get_by_role("heading", name="Change contact details")).to_be_visible()
    page.get_by_label("Email address").fill("not an address")
    page.get_by_label("Mobile phone number").fill("12345")
    page.get_by_role("button", name="Save contact details").click()

    summary = page.locator(".govuk-error-summary")
    expect(summary).to_contain_text("Enter an email address in the correct format")
    expect(summary).to_contain_text("Enter a mobile phone number")
    expect(page).to_have_title(re.compile(r"^Error: Change contact details"))
    assert not has_horizontal_scroll(page)
    assert_accessible(page)

    page.get_by_label("Email address").fill("corrected.address@example.org")
    page.get_by_label("Mobile phone number").fill("")
    page.get_by_label("Email", exact=True).check()
    page.get_by_role("button", name="Save contact details").click()

    banner = page.locator(".govuk-notification-banner--success")
    expect(banner).to_contain_text("email address changed.")
    expect(banner).not_to_contain_text("corrected.address@example.org")  # no value in the cookie
    notice = page.locator("[data-failed-to-send-again]")
    expect(notice).to_contain_text("could not be sent")
    assert not has_horizontal_scroll(page)
    assert_accessible(page)

    notice.get_by_role("link", name="send the failed message again").click()
    expect(page.get_by_role("heading", name="Messages")).to_be_visible()
    page.get_by_role("button", name="Send again to the email address on record now").first.click()
    expect(page.locator(".govuk-notification-banner--success")).to_contain_text(
        "will be sent again")
    assert_accessible(page)
