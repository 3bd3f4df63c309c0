"""The report page with its filters, as a manager (force checkboxes) and as an officer (his
force as fixed text): it fits 375, 768 and 1280 px and passes axe-core, errors included."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from diversion.auth.models import Role
from diversion.demo import DEMO_USERS
from tests.browser.conftest import LiveServer, assert_accessible, has_horizontal_scroll, sign_in

pytestmark = pytest.mark.browser

DEMO_EMAIL = {role: email for role, email, _ in DEMO_USERS}
YEAR = ("date_from-day=1&date_from-month=1&date_from-year=2025&date_to-day=31&date_to-month=12"
        "&date_to-year=2025&scope=any")


@pytest.mark.parametrize("role", [Role.MANAGER, Role.POLICE], ids=["manager", "police"])
def test_the_filtered_report_page_fits_every_width_and_is_accessible(
        page: Page, live_server: LiveServer, role: Role) -> None:
    sign_in(page, live_server, DEMO_EMAIL[role])
    chosen = "&force=WYP" if role is Role.MANAGER else ""
    for width in (1280, 768, 375):
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(live_server(f"/reports/attendance?{YEAR}{chosen}"))
        expect(page.get_by_role("heading", level=1)).to_have_text("Attendance")
        if role is Role.MANAGER:
            expect(page.get_by_label("West Yorkshire Police")).to_be_checked()
        else:
            expect(page.locator("input[name=force]")).to_have_count(0)
        expect(page.get_by_text("Not shown when filtered by force").first).to_be_visible()
        assert not has_horizontal_scroll(page), width
        assert_accessible(page)
    page.goto(live_server(f"/reports/outcomes?{YEAR}&programme=NOPE"))
    expect(page.locator(".govuk-error-summary")).to_contain_text(
        "There is no programme with the code NOPE")
    assert_accessible(page)
