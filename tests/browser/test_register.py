"""A facilitator takes today's register on a tablet: mark all, adjust, submit; outcomes follow."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from diversion.attendance.models import Register, RegisterState
from diversion.core.extensions import db
from diversion.demo import DEMO_PASSWORD
from tests.browser.conftest import (
    ConsoleWatch,
    LiveServer,
    assert_accessible,
    has_horizontal_scroll,
)

pytestmark = pytest.mark.browser


@pytest.fixture
def tablet(browser: Browser, console: ConsoleWatch) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 768, "height": 1024}, locale="en-GB",
                                  has_touch=True)
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.on("console", console.on_console)
    page.on("pageerror", console.on_page_error)
    yield page
    context.close()
    assert not console.csp_violations(), console.errors


def test_a_facilitator_marks_and_submits_todays_register_on_a_tablet(
        tablet: Page, live_server: LiveServer) -> None:
    page = tablet
    page.goto(live_server("/sign-in"))
    page.get_by_label("Email address").fill("facilitator@diversion.example")
    page.get_by_label("Password", exact=True).fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    page.get_by_role("link", name="Registers").first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Registers")
    assert_accessible(page)
    page.get_by_role("link", name="Take register").first.click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Register for")
    assert not has_horizontal_scroll(page)
    assert_accessible(page)

    page.get_by_role("button", name="Mark everyone attended").click()
    expect(page.locator(".govuk-notification-banner--success")).to_contain_text("marked as attended")
    cards = page.locator(".app-register-card")
    count = cards.count()
    assert count >= 2
    for index in range(count):
        cards.nth(index).get_by_label("ID checked").check()
    absent_name = cards.nth(0).locator(".govuk-summary-card__title").inner_text()
    cards.nth(0).get_by_label("Absent").check()
    cards.nth(0).get_by_label("ID checked").uncheck()
    page.get_by_role("button", name="Submit register").click()

    expect(page.locator(".govuk-notification-banner--success")).to_contain_text("Register submitted")
    expect(page.get_by_role("table")).to_contain_text("Missed")
    assert_accessible(page)

    with live_server.app.app_context():
        session_id = int(page.url.rstrip("/").split("/")[-2])
        register = db.session.scalar(select(Register).where(Register.session_id == session_id))
        assert register is not None and register.state is RegisterState.SUBMITTED
        outcomes = {f"{e.referral.person.full_name}": e.referral.status.value
                    for e in register.entries}
        assert outcomes.pop(absent_name) == "missed"
        # The demo waived nobody's fee on today's session: attendees wait for their fee.
        assert set(outcomes.values()) == {"booked"}
        assert all(e.outcome is not None for e in register.entries)
        db.session.remove()
