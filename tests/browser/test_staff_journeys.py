"""Staff journeys walked in Chromium where only a real browser shows the problem: the headers
it sends with a form post, what a person sees at phone and tablet widths."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from diversion.demo import DEMO_PASSWORD
from tests.browser.conftest import LiveServer, assert_accessible, sign_in

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
