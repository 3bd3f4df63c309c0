"""The referred man on the narrowest phone (320px): he types his details as people do (the
reference in lower case with a dash, the PIN in two groups), books, and is told what he still
has to pay; axe checks each page and nothing scrolls sideways."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from diversion.core.extensions import db
from diversion.core.timeutils import now_utc
from tests.browser.conftest import (
    ConsoleWatch,
    LiveServer,
    assert_accessible,
    has_horizontal_scroll,
    phone_page,
)
from tests.builders import future_session, known_referral

pytestmark = pytest.mark.browser


@pytest.fixture
def narrow_phone(browser: Browser, console: ConsoleWatch) -> Iterator[Page]:
    yield from phone_page(browser, console, width=320, height=640)


def looks_right(page: Page) -> None:
    assert_accessible(page)
    assert not has_horizontal_scroll(page), page.url


def test_he_signs_in_as_he_types_his_details_books_and_is_told_what_is_left_to_pay(
        narrow_phone: Page, live_server: LiveServer) -> None:
    page = narrow_phone
    with live_server.app.app_context():
        known = known_referral(now=now_utc())  # the live server reads the real clock
        session_id = future_session(days=9, now=now_utc()).id
        db.session.commit()
        reference, pin, dob = known.reference, known.pin, known.date_of_birth
        db.session.remove()

    page.goto(live_server("/book"))
    page.get_by_label("Reference").fill(f" {reference[:4].lower()}-{reference[4:].lower()} ")
    page.get_by_label("PIN").fill(f"{pin[:3]} {pin[3:]}")
    page.get_by_label("Day").fill(str(dob.day))
    page.get_by_label("Month").fill("")
    page.get_by_label("Year").fill(str(dob.year))
    page.get_by_role("button", name="Continue").click()
    expect(page).to_have_title("Error: Book your course – Diversion")
    summary = page.locator(".govuk-error-summary")
    expect(summary.get_by_role("link")).to_have_text(["Date of birth must include a month"])
    looks_right(page)
    summary.get_by_role("link").click()
    expect(page.get_by_label("Month")).to_be_focused()

    page.get_by_label("Month").fill(str(dob.month))
    page.get_by_label("PIN").fill(f"{pin[:3]}-{pin[3:]}")  # the PIN is never filled in again
    page.get_by_role("button", name="Continue").click()
    expect(page).to_have_url(live_server("/book/your-course"))
    looks_right(page)

    page.get_by_role("button", name="Choose a course date").click()
    page.locator(f'input[name="session_id"][value="{session_id}"]').check()
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", name="If you need help to take part")).to_be_visible()
    looks_right(page)
    page.get_by_role("button", name="Confirm booking").click()

    expect(page.get_by_role("heading", level=1)).to_contain_text("Place booked")
    expect(page.locator("#fee")).to_have_text("Pay the course fee")
    expect(page.get_by_text("You still need to pay £200.")).to_be_visible()
    looks_right(page)
    page.get_by_role("link", name="Back to your course").click()
    expect(page.get_by_text("Book a place by")).to_have_count(0)
    looks_right(page)
