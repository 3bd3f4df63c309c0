"""A manager preparing a board report types a wrong period: a range the wrong way round, a
hand-edited filter. Every report page says what is wrong
in the error summary, each link takes him to the box at fault, and the page stays accessible
and no wider than a phone (board reports, 2026-12-05)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect

from tests.browser.conftest import LiveServer, assert_accessible, has_horizontal_scroll, sign_in

pytestmark = pytest.mark.browser


def period(start: tuple[int, int, int], end: tuple[int, int, int]) -> str:
    return "&".join(f"{name}-{part}={value}"
                    for name, day in (("date_from", start), ("date_to", end))
                    for part, value in zip(("day", "month", "year"), day, strict=True))


WRONG = {
    "reversed": (period((1, 6, 2025), (1, 1, 2025)),
                 "The end date must be the same as or after the start date"),
    "no such force": (period((1, 1, 2025), (31, 3, 2025)) + "&force=%C2%B2",
                      "There is no force with the code ²"),
}


@pytest.mark.parametrize("kind", ["outcomes", "attendance", "reoffending"])
def test_a_wrong_period_is_named_linked_to_its_box_and_the_page_stays_accessible(
        browser: Browser, live_server: LiveServer, kind: str) -> None:
    context = browser.new_context(viewport={"width": 320, "height": 800})
    page = context.new_page()
    try:
        sign_in(page, live_server, "manager@diversion.example")
        for query, message in WRONG.values():
            response = page.goto(live_server(f"/reports/{kind}?scope=any&{query}"))
            assert response is not None and response.status == 400
            summary = page.locator(".govuk-error-summary")
            expect(summary).to_contain_text(message)
            expect(page.get_by_role("link", name="Download CSV")).to_have_count(0)
            assert not has_horizontal_scroll(page), (kind, message)
            assert_accessible(page)
            link = summary.get_by_role("link", name=message, exact=False).first
            target = link.get_attribute("href")
            assert target is not None and page.locator(target).count() == 1, target
            link.click()
            expect(page.locator(target)).to_be_focused()
    finally:
        context.close()
