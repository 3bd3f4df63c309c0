"""A manager checks a completion certificate's verification code in a real browser."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from diversion.attendance.certificates import ensure_certificate_code
from diversion.core.extensions import db
from diversion.core.timeutils import now_utc
from tests.browser.conftest import LiveServer, assert_accessible, has_horizontal_scroll, sign_in
from tests.builders import completed_referral

pytestmark = pytest.mark.browser

SHOTS = Path("/tmp/shots-public")


def test_a_manager_checks_a_genuine_and_a_wrong_code(page: Page, live_server: LiveServer) -> None:
    with live_server.app.app_context():
        _, referral = completed_referral()
        code = ensure_certificate_code(referral, now=now_utc())
        name = referral.person.full_name
        db.session.commit()
        db.session.remove()
    SHOTS.mkdir(parents=True, exist_ok=True)
    sign_in(page, live_server, "manager@diversion.example")
    page.get_by_role("navigation", name="Menu").get_by_role("link", name="More").click()
    page.get_by_role("link", name="Verify a certificate").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Check a completion certificate")
    assert_accessible(page)

    page.get_by_label("Verification code").fill("AAAA-BBBB-CCCC")
    page.get_by_role("button", name="Check certificate").click()
    expect(page.locator(".govuk-error-summary")).to_contain_text("No certificate matches")
    assert_accessible(page)
    page.screenshot(path=str(SHOTS / "verify-wrong-1280.png"), full_page=True)

    page.get_by_label("Verification code").fill(f"{code[:4]}-{code[4:8]}-{code[8:]}")
    page.get_by_role("button", name="Check certificate").click()
    expect(page.locator(".govuk-panel")).to_contain_text("This certificate is genuine")
    expect(page.locator("#verified")).to_contain_text(name)
    assert_accessible(page)
    page.screenshot(path=str(SHOTS / "verify-genuine-1280.png"), full_page=True)
    page.set_viewport_size({"width": 375, "height": 800})
    assert not has_horizontal_scroll(page)
    page.screenshot(path=str(SHOTS / "verify-genuine-375.png"), full_page=True)
