"""The three report pages at desk, tablet and phone widths: the summary first, tables that
reflow on a phone (down to 320 CSS px), no sideways scroll of the page, no axe violations (issue 15)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect

from tests.browser.conftest import LiveServer, assert_accessible, has_horizontal_scroll, sign_in

pytestmark = pytest.mark.browser

WIDTHS = (1280, 768, 375, 320)


def test_the_report_pages_fit_every_width_and_are_accessible(browser: Browser,
                                                            live_server: LiveServer) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    try:
        sign_in(page, live_server, "manager@diversion.example")
        for kind in ("outcomes", "attendance", "reoffending"):
            page.goto(live_server(f"/reports/{kind}"))
            expect(page.get_by_role("heading", name="Summary", level=2)).to_be_visible()
            for width in WIDTHS:
                page.set_viewport_size({"width": width, "height": 900})
                if width < 768:  # reflowed: each cell says which column it is
                    cell = page.locator(".app-table--reflow td[data-label]").first
                    assert ":" in cell.evaluate("el => getComputedStyle(el, '::before').content")
                assert not has_horizontal_scroll(page), (kind, width)
                assert_accessible(page)
    finally:
        context.close()
