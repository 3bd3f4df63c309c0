"""The staff lists at desk, tablet and phone widths: named rows, a count, no sideways scroll,
no axe violations (issue 14: messages, audit log, payments)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect
from sqlalchemy import select

from diversion.bookings.models import Booking, BookingStatus
from diversion.core.extensions import db
from tests.browser.conftest import LiveServer, assert_accessible, has_horizontal_scroll, sign_in

pytestmark = pytest.mark.browser

WIDTHS = {"desk": 1280, "tablet": 768, "phone": 375}
LISTS = [
    ("manager@diversion.example", "/messages", "data-messages", "message"),
    ("manager@diversion.example", "/fees/payments", "data-payments", "payment"),
    ("manager@diversion.example", "/fees/outstanding", "data-fees-outstanding", "fee"),
    ("admin@diversion.example", "/admin/audit", "data-audit", "event"),
]


@pytest.mark.parametrize("width", WIDTHS.values(), ids=WIDTHS.keys())
@pytest.mark.parametrize(("email", "path", "marker", "noun"), LISTS, ids=[p for _, p, _, _ in LISTS])
def test_a_staff_list_fits_the_screen_and_is_accessible(browser: Browser, live_server: LiveServer,
                                                         width: int, email: str, path: str,
                                                         marker: str, noun: str) -> None:
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    try:
        sign_in(page, live_server, email)
        page.goto(live_server(path))
        expect(page.locator(".app-result-count")).to_contain_text(noun)
        table = page.locator(f"[{marker}]")
        expect(table).to_be_visible()
        if width < 768:  # reflowed: each cell says which column it is
            label = table.locator("td[data-label]").first
            assert ":" in label.evaluate("el => getComputedStyle(el, '::before').content")
        assert not has_horizontal_scroll(page)
        assert_accessible(page)
    finally:
        context.close()


def test_a_message_search_by_name_answers_in_one_step(browser: Browser, live_server: LiveServer) -> None:
    context = browser.new_context(viewport={"width": 375, "height": 900})
    page = context.new_page()
    try:
        sign_in(page, live_server, "manager@diversion.example")
        page.goto(live_server("/messages"))
        person = page.locator("[data-messages] td[data-label='Person'] a").first
        reference = person.locator(".govuk-body-s").inner_text().strip()
        page.get_by_label("Name or reference").fill(reference)
        page.get_by_role("button", name="Apply filters").click()
        rows = page.locator("[data-messages] td[data-label='Person']")
        expect(rows.first).to_contain_text(reference)
        assert all(reference in text for text in rows.all_inner_texts())
        assert not has_horizontal_scroll(page)
    finally:
        context.close()


@pytest.mark.parametrize("width", [320, 1280])
def test_the_people_booked_on_a_session_reflow(browser: Browser, live_server: LiveServer,
                                              width: int) -> None:
    with live_server.app.app_context():
        session_id = db.session.scalar(select(Booking.session_id).where(
            Booking.status == BookingStatus.ACTIVE).order_by(Booking.id).limit(1))
        db.session.remove()
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    try:
        sign_in(page, live_server, "manager@diversion.example")
        page.goto(live_server(f"/sessions/{session_id}"))
        expect(page.locator("[data-booked-count]")).to_be_visible()
        expect(page.locator("[data-booked] tbody tr").first).to_be_visible()
        assert not has_horizontal_scroll(page)
        assert_accessible(page)
    finally:
        context.close()
