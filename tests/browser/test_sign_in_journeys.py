"""Sign-in journeys for each role in a real browser, with axe-core checking every page visited."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from diversion.auth.models import Role
from diversion.demo import DEMO_USERS
from tests.browser.conftest import LiveServer, assert_accessible, has_horizontal_scroll, sign_in

pytestmark = pytest.mark.browser

ADMIN_ONLY_NAVIGATION = ["Users", "Forces", "API tokens", "Audit log"]
DEMO_EMAIL = {role: email for role, email, _ in DEMO_USERS}


def navigation_items(page: Page) -> list[str]:
    menu = page.get_by_role("navigation", name="Menu")
    return [text.strip() for text in menu.get_by_role("link").all_inner_texts()]


@pytest.mark.parametrize("role", list(Role), ids=[role.value for role in Role])
def test_each_role_signs_in_sees_its_dashboard_and_signs_out(
    page: Page, live_server: LiveServer, role: Role
) -> None:
    page.goto(live_server("/sign-in"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in to Diversion")
    assert_accessible(page)

    sign_in(page, live_server, DEMO_EMAIL[role])

    expect(page).to_have_url(live_server("/dashboard"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Dashboard")
    expect(page.locator(".govuk-caption-l")).to_contain_text(role.label)
    items = navigation_items(page)
    assert "Dashboard" in items
    if role is Role.ADMIN:
        assert set(ADMIN_ONLY_NAVIGATION) <= set(items)
    else:
        assert not set(ADMIN_ONLY_NAVIGATION) & set(items), items
    assert_accessible(page)

    page.get_by_role("button", name="Sign out").click()

    expect(page).to_have_url(live_server("/sign-in"))
    banner = page.locator(".govuk-notification-banner--success")
    expect(banner).to_contain_text("You have been signed out")
    assert_accessible(page)
    page.goto(live_server("/dashboard"))
    expect(page).to_have_url(live_server("/sign-in?next=/dashboard"))


def test_a_wrong_password_shows_the_error_summary_and_signs_nobody_in(
    page: Page, live_server: LiveServer
) -> None:
    sign_in(page, live_server, DEMO_EMAIL[Role.MANAGER], password="not the right password")

    summary = page.locator(".govuk-error-summary")
    expect(summary).to_be_visible()
    expect(summary.get_by_role("heading")).to_have_text("There is a problem")
    expect(page).to_have_title("Error: Sign in – Diversion")
    expect(summary.get_by_role("link")).to_have_attribute("href", "#email")
    expect(page.get_by_role("button", name="Sign out")).to_have_count(0)
    assert_accessible(page)


def test_an_empty_sign_in_form_names_each_missing_field(page: Page, live_server: LiveServer) -> None:
    page.goto(live_server("/sign-in"))
    page.get_by_role("button", name="Sign in").click()

    summary = page.locator(".govuk-error-summary")
    expect(summary).to_contain_text("Enter your email address")
    expect(summary).to_contain_text("Enter your password")
    # GOV.UK Frontend moves focus to the summary so screen readers announce it.
    expect(summary).to_be_focused()
    assert_accessible(page)


def test_admin_pages_and_the_add_user_form_with_errors_are_accessible(
    page: Page, live_server: LiveServer
) -> None:
    sign_in(page, live_server, DEMO_EMAIL[Role.ADMIN])
    page.get_by_role("navigation", name="Menu").get_by_role("link", name="Users").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Users")
    expect(page.get_by_role("table")).to_contain_text("admin@diversion.example")
    assert_accessible(page)

    page.get_by_role("link", name="Add a user").click()
    page.get_by_role("button", name="Add user").click()

    summary = page.locator(".govuk-error-summary")
    expect(summary).to_contain_text("Enter the person's full name")
    expect(summary).to_contain_text("Enter an email address")
    expect(page.locator("#name-error")).to_contain_text("Enter the person's full name")
    assert_accessible(page)


def test_the_page_not_found_page_is_accessible(page: Page, live_server: LiveServer) -> None:
    response = page.goto(live_server("/no-such-page"))

    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("Page not found")
    assert_accessible(page)


def test_a_signed_in_person_keeps_the_menu_and_sign_out_on_the_not_found_page(
    page: Page, live_server: LiveServer
) -> None:
    sign_in(page, live_server, DEMO_EMAIL[Role.POLICE])
    response = page.goto(live_server("/no-such-page"))

    assert response is not None and response.status == 404
    expect(page.get_by_role("button", name="Sign out")).to_be_visible(timeout=2_000)
    assert_accessible(page)


def test_sign_in_and_the_dashboard_fit_a_phone_screen(page: Page, live_server: LiveServer) -> None:
    page.set_viewport_size({"width": 375, "height": 812})
    page.goto(live_server("/sign-in"))
    assert not has_horizontal_scroll(page), "the sign-in page scrolls sideways at 375px"
    assert_accessible(page)

    sign_in(page, live_server, DEMO_EMAIL[Role.ADMIN])
    expect(page.get_by_role("heading", level=1)).to_have_text("Dashboard")
    assert not has_horizontal_scroll(page), "the dashboard scrolls sideways at 375px"
    assert_accessible(page)
