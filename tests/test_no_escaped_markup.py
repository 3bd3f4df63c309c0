"""No page prints HTML as text: every page each demo role (and the public) can reach by
following links from where they land, with the demo data, has no escaped tags in it."""

from __future__ import annotations

import pytest

from diversion.core.extensions import db
from diversion.demo import DEMO_PASSWORD, load_demo_data
from tests.builders import NOW
from tests.crawling import ESCAPED_MARKUP, crawl_key, links_to_follow

pytestmark = pytest.mark.usefixtures("clock")  # the app reads a clock stopped at NOW

PAGES_PER_ROLE = 200
PAGES_PER_KIND = 3  # e.g. three referrals' pages, in different states


def _crawl(client, start: list[str]) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """Path -> the escaped markup found on it, for every page reached from `start`."""
    kinds: dict[str, int] = {}
    seen: set[str] = set()
    queue = list(start)
    problems: dict[str, str] = {}
    visited = 0
    while queue and visited < PAGES_PER_ROLE:
        href = queue.pop(0)
        kind = crawl_key(href)
        if href in seen or kinds.get(kind, 0) >= PAGES_PER_KIND:
            continue
        seen.add(href)
        kinds[kind] = kinds.get(kind, 0) + 1
        response = client.get(href)
        visited += 1
        if response.status_code != 200 or response.mimetype != "text/html":
            continue
        html = response.get_data(as_text=True)
        if match := ESCAPED_MARKUP.search(html):
            problems[href] = html[max(0, match.start() - 80):match.end() + 80]
        queue.extend(links_to_follow(html))
    assert visited > 3, f"the crawl from {start} reached almost nothing"
    return problems


def test_no_page_any_role_can_reach_prints_markup_as_text(app, client) -> None:  # type: ignore[no-untyped-def]
    logins = load_demo_data(now=NOW)
    db.session.commit()
    problems: dict[str, str] = {}

    problems.update(_crawl(client, ["/", "/book", "/privacy", "/cookies", "/sign-in"]))
    for _role, email in logins:
        client.post("/sign-out")
        assert client.post("/sign-in", data={"email": email, "password": DEMO_PASSWORD}
                           ).status_code == 302
        problems.update(_crawl(client, ["/dashboard"]))

    assert problems == {}


def test_the_check_finds_escaped_markup() -> None:
    assert ESCAPED_MARKUP.search("<p>Name &lt;strong&gt;Smith&lt;/strong&gt;</p>")
    assert ESCAPED_MARKUP.search("&lt;a href=")
    assert not ESCAPED_MARKUP.search("<strong>Smith</strong> &lt; 5")
    assert links_to_follow('<a href="/referrals?page=2&amp;q=x">x</a><a href="/x.pdf">'
                           '</a><a href="https://elsewhere.example/">') == ["/referrals?page=2&q=x"]
