"""The subject access export, in a browser: the manager goes from the referral page to the
check page (axe, no sideways scroll at 1280, 768 and 375 px), downloads the PDF with the CSRF
token of the real form, and the referral page then shows the export."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from diversion.core.extensions import db
from diversion.core.timeutils import now_utc
from diversion.demo import DEMO_USERS
from tests.browser.conftest import LiveServer, assert_accessible, has_horizontal_scroll, sign_in
from tests.builders import known_referral

pytestmark = pytest.mark.browser

MANAGER = DEMO_USERS[1][1]


def test_a_manager_checks_then_downloads_the_pdf(page: Page, live_server: LiveServer) -> None:
    with live_server.app.app_context():
        known = known_referral(now=now_utc())
        db.session.commit()
        reference, name = known.reference, known.referral.person.full_name
        db.session.remove()
    sign_in(page, live_server, MANAGER)
    page.goto(live_server(f"/referrals/{reference}"))
    expect(page.locator("[data-subject-access]")).to_contain_text(
        "No subject access export has been made")

    page.get_by_role("link", name="Subject access export").click()

    expect(page.get_by_role("heading", level=1)).to_have_text(
        f"Check before you download everything held about {name}")
    for width in (1280, 768, 375):
        page.set_viewport_size({"width": width, "height": 900})
        assert_accessible(page)
        assert not has_horizontal_scroll(page), f"the check page scrolls sideways at {width} px"
    page.get_by_label("A readable PDF document").check()
    with page.expect_download() as download:
        page.get_by_role("button", name="Download the export").click()
    assert download.value.suggested_filename.startswith(f"subject-access-{reference}-")
    assert download.value.suggested_filename.endswith(".pdf")

    page.goto(live_server(f"/referrals/{reference}"))
    expect(page.locator("[data-subject-access]")).to_contain_text("Last subject access export:")
