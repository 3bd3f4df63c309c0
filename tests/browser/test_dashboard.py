"""Each role's dashboard and the staff menu in a real browser at 1280, 768 and 375 px: axe finds
nothing, nothing scrolls sideways, the menu is one line at 1280 px and opens from its toggle on
a phone, and the account (change password, sign out) is in the header."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from diversion.auth.models import Role
from diversion.demo import DEMO_USERS
from tests.browser.conftest import LiveServer, assert_accessible, has_horizontal_scroll, sign_in

pytestmark = pytest.mark.browser

DEMO_EMAIL = {role: email for role, email, _ in DEMO_USERS}
SHOTS = Path("/tmp/shots-dashboard")
WIDTHS = (1280, 768, 375)


def _menu_tops(page: Page) -> list[int]:
    return page.eval_on_selector_all(
        ".govuk-service-navigation__item", "items => items.map(item => item.offsetTop)")


@pytest.mark.parametrize("role", list(Role), ids=[role.value for role in Role])
def test_each_roles_dashboard_fits_every_width_and_its_menu_one_line_on_a_desktop(
        page: Page, live_server: LiveServer, role: Role) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    sign_in(page, live_server, DEMO_EMAIL[role])
    expect(page).to_have_url(live_server("/dashboard"))
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.reload()
        expect(page.get_by_role("heading", level=1)).to_have_text("Dashboard")
        assert not has_horizontal_scroll(page), width
        account = page.get_by_role("navigation", name="Account")
        expect(account.get_by_role("link", name="Change password")).to_be_visible()
        expect(account.get_by_role("button", name="Sign out")).to_be_visible()
        menu = page.get_by_role("navigation", name="Menu")
        expect(menu.get_by_role("link", name="Change password")).to_have_count(0)
        if width == 1280:
            tops = _menu_tops(page)
            assert len(tops) >= 3 and len(set(tops)) == 1, tops  # one line
        if width == 375:
            toggle = page.get_by_role("button", name="Menu")
            expect(toggle).to_be_visible()
            expect(menu.get_by_role("link", name="Dashboard")).to_be_hidden()
            toggle.click()
            expect(toggle).to_have_attribute("aria-expanded", "true")
            expect(menu.get_by_role("link", name="Dashboard")).to_be_visible()
            assert not has_horizontal_scroll(page)
            toggle.click()
        assert_accessible(page)
        page.screenshot(path=str(SHOTS / f"{role.value}-{width}.png"), full_page=True)


def test_a_manager_follows_a_dashboard_line_to_its_filtered_list_and_finds_venues_under_more(
        page: Page, live_server: LiveServer) -> None:
    sign_in(page, live_server, DEMO_EMAIL[Role.MANAGER])
    line = page.locator('[data-line="Attended, fee outstanding"]')
    expect(line).to_have_attribute("href", "/fees/outstanding?state=attended")
    line.click()
    expect(page).to_have_url(live_server("/fees/outstanding?state=attended"))
    expect(page.get_by_role("navigation", name="Menu").locator(
        ".govuk-service-navigation__item--active")).to_have_text("Fees")

    page.get_by_role("navigation", name="Menu").get_by_role("link", name="More").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("More")
    assert_accessible(page)
    page.get_by_role("link", name="Venues").click()
    expect(page.get_by_role("navigation", name="Menu").locator(
        ".govuk-service-navigation__item--active")).to_have_text("More")
