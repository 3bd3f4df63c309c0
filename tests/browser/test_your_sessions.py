""""Your sessions" in a real browser at 1280, 768 and 375 px: axe finds nothing, nothing scrolls
sideways, this device is marked, and "sign out everywhere else" signs the other browser out."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from diversion.auth import sessions
from diversion.auth.models import Role, User
from diversion.core.extensions import db
from diversion.core.timeutils import now_utc
from diversion.demo import DEMO_USERS
from tests.browser.conftest import LiveServer, assert_accessible, has_horizontal_scroll, sign_in

pytestmark = pytest.mark.browser

FACILITATOR = next(email for role, email, _ in DEMO_USERS if role is Role.FACILITATOR)


def test_your_sessions_fits_every_width_and_signs_out_the_others(
        page: Page, browser: Browser, live_server: LiveServer) -> None:
    # The live server's database lasts the whole run: end the sign-ins that earlier browser tests
    # on this worker left (test_no_overflow's as the facilitator), so this browser and the other
    # are the facilitator's only two.
    with live_server.app.app_context():
        user = db.session.scalar(select(User).where(User.email == FACILITATOR))
        sessions.end_all(user, now=now_utc(), reason="signed_out")
        db.session.commit()
    other = browser.new_context().new_page()
    sign_in(other, live_server, FACILITATOR)
    expect(other).to_have_url(live_server("/dashboard"))
    sign_in(page, live_server, FACILITATOR)
    page.get_by_role("link", name="Where you are signed in").click()
    expect(page.get_by_role("heading", name="Where you are signed in", level=1)).to_be_visible()
    expect(page.get_by_text("This device", exact=True)).to_have_count(1)
    for width in (1280, 768, 375):
        page.set_viewport_size({"width": width, "height": 900})
        assert not has_horizontal_scroll(page), width
        assert_accessible(page)
    page.get_by_role("button", name="Sign out of 1 other session").click()
    expect(page.get_by_text("Signed out of 1 other session")).to_be_visible()
    other.goto(live_server("/dashboard"))
    expect(other).to_have_url(live_server("/sign-in?next=/dashboard"))
    other.context.close()
