"""No page is wider than the screen: each demo role signs in and visits every page it can reach
by following links from its dashboard (bounded, same-origin, no downloads or sign-out), at
320 px (WCAG 2.2 1.4.10 Reflow); wide tables scroll inside their own container. The attendance
report also at 1280 px, and pages whose data once made them wide (long addresses and names)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Error, Page, expect

from diversion.core.extensions import db
from diversion.core.timeutils import now_utc
from diversion.demo import DEMO_USERS
from tests.browser.conftest import LiveServer, sign_in
from tests.builders import create_message, create_venue, future_session
from tests.crawling import ESCAPED_MARKUP, crawl_key, links_to_follow

pytestmark = pytest.mark.browser

PAGES_PER_ROLE = 120
PAGES_PER_KIND = 2
# Pages other engineers are reworking at the same time (issue 14): reported, not failed here.
REWORKED_ELSEWHERE: set[str] = set()

WIDER_THAN_THE_SCREEN = """() => {
  const width = document.documentElement.clientWidth;
  if (document.documentElement.scrollWidth <= width) return null;
  const wide = [...document.querySelectorAll('body *')].filter((e) => {
    const box = e.getBoundingClientRect();
    return box.right > width + 1 && getComputedStyle(e).position !== 'fixed';
  }).filter((e) => !e.parentElement || e.parentElement.getBoundingClientRect().right <= width + 1);
  // No box sticks out: a word longer than its line spills out of a box that fits (name the box).
  const spilling = [...document.querySelectorAll('body *')].filter((e) =>
    e.clientWidth > 0 && getComputedStyle(e).overflowX === 'visible'
    && e.getBoundingClientRect().left + e.scrollWidth > width + 1);
  const named = wide.length ? wide
    : spilling.filter((e) => !spilling.some((inner) => inner !== e && e.contains(inner)));
  return document.documentElement.scrollWidth + ' > ' + width + ': ' + named.slice(0, 3).map(
    (e) => e.tagName.toLowerCase() + (e.className ? '.' + String(e.className).split(' ').join('.') : '')
  ).join(', ');
}"""


def _overflowing_pages(page: Page, live_server: LiveServer, start: str, *,
                       at_least: int = 6) -> dict[str, str]:
    kinds: dict[str, int] = {}
    seen: set[str] = set()
    queue, wide, visited = [start], {}, 0
    while queue and visited < PAGES_PER_ROLE:
        href = queue.pop(0)
        kind = crawl_key(href)
        if href in seen or kinds.get(kind, 0) >= PAGES_PER_KIND:
            continue
        seen.add(href)
        kinds[kind] = kinds.get(kind, 0) + 1
        try:
            response = page.goto(live_server(href), wait_until="domcontentloaded", timeout=30_000)
        except Error as error:  # a link that downloads a file rather than showing a page
            if "Download is starting" in str(error):
                continue
            raise
        visited += 1
        if response is None or response.status != 200 or "text/html" not in (
                response.headers.get("content-type") or ""):
            continue
        html = page.content()
        assert not ESCAPED_MARKUP.search(html), f"{href} prints markup as text"
        if problem := page.evaluate(WIDER_THAN_THE_SCREEN):
            wide[href] = problem
        queue.extend(links_to_follow(html, origin=live_server.url))
    assert visited >= at_least, f"the crawl from {start} reached almost nothing"
    return wide


@pytest.mark.parametrize("email", [email for _role, email, _name in DEMO_USERS[:4]])
def test_no_page_a_role_can_reach_is_wider_than_a_phone(page: Page, live_server: LiveServer,
                                                         email: str) -> None:
    page.set_viewport_size({"width": 320, "height": 800})
    sign_in(page, live_server, email)

    wide = _overflowing_pages(page, live_server, "/dashboard")

    failing = {href: why for href, why in wide.items()
               if crawl_key(href) not in REWORKED_ELSEWHERE}
    assert failing == {}


def test_public_pages_are_no_wider_than_a_phone(page: Page, live_server: LiveServer) -> None:
    page.set_viewport_size({"width": 320, "height": 800})

    assert _overflowing_pages(page, live_server, "/", at_least=4) == {}


@pytest.mark.parametrize("width", [1280, 320])
def test_the_attendance_report_fits_the_page(page: Page, live_server: LiveServer,
                                             width: int) -> None:
    page.set_viewport_size({"width": width, "height": 900})
    sign_in(page, live_server, DEMO_USERS[1][1])

    page.goto(live_server("/reports/attendance"))

    assert page.evaluate(WIDER_THAN_THE_SCREEN) is None
    if width >= 1024:
        # On a desk every table's dozen figures fit its box: none scrolls sideways.
        scrolling = page.evaluate("""() => [...document.querySelectorAll('.app-table-container')]
          .filter((box) => box.scrollWidth > box.clientWidth)
          .map((box) => box.getAttribute('aria-label'))""")
        assert page.locator(".app-table-container").count() >= 6
        assert scrolling == []


# A domain name is one word the browser will not break on its own (nor will a web address).
LONG_DOMAIN = "westyorkshirecommunitysafetypartnership.example"


def test_a_message_to_a_long_address_fits_a_small_phone(page: Page,
                                                        live_server: LiveServer) -> None:
    with live_server.app.app_context():
        now = now_utc()
        create_message(recipient="someone@" + LONG_DOMAIN, due_at=now, now=now)
        db.session.commit()
        db.session.remove()
    page.set_viewport_size({"width": 320, "height": 800})
    sign_in(page, live_server, DEMO_USERS[1][1])

    page.goto(live_server("/messages?sort=newest"))

    expect(page.locator("[data-messages]")).to_contain_text(LONG_DOMAIN)
    assert page.evaluate(WIDER_THAN_THE_SCREEN) is None


def test_a_venue_named_without_spaces_fits_a_small_phone(page: Page,
                                                         live_server: LiveServer) -> None:
    name = "FeatherstonehaughCommunityWellbeingAndEnterpriseCentre"
    with live_server.app.app_context():
        now = now_utc()
        session = future_session(days=20, now=now, venue=create_venue(name=name))
        db.session.commit()
        pages = [f"/venues/{session.venue_id}", f"/sessions/{session.id}"]
        db.session.remove()
    page.set_viewport_size({"width": 320, "height": 800})
    sign_in(page, live_server, DEMO_USERS[1][1])

    for href in pages:
        page.goto(live_server(href))
        expect(page.locator("main")).to_contain_text(name)
        assert page.evaluate(WIDER_THAN_THE_SCREEN) is None, href
