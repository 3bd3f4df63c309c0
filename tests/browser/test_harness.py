"""The harness's own checks fail when they should: a CSP violation and an axe violation are seen."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, Route

from diversion.core.web import CSP
from tests.browser.conftest import ConsoleWatch, LiveServer, assert_accessible

pytestmark = pytest.mark.browser

BROKEN_PAGE = """<!DOCTYPE html><html><head><title>Broken</title></head>
<body><main><img src="/static/css/app.css"><script>document.title = 'ran'</script></main></body></html>"""


def serve_broken_page(route: Route) -> None:
    route.fulfill(status=200, body=BROKEN_PAGE, content_type="text/html",
                  headers={"Content-Security-Policy": CSP})


def test_an_inline_script_is_refused_by_the_policy_and_reported(
    page: Page, live_server: LiveServer, console: ConsoleWatch
) -> None:
    page.route(live_server("/harness-check"), serve_broken_page)
    page.goto(live_server("/harness-check"))

    assert page.title() == "Broken"
    violations = console.csp_violations()
    assert violations and "script-src" in violations[0]
    console.errors.clear()  # seen and expected: do not fail this test's teardown


def test_axe_is_injected_under_the_policy_and_reports_violations(
    page: Page, live_server: LiveServer, console: ConsoleWatch
) -> None:
    page.route(live_server("/harness-check"), serve_broken_page)
    page.goto(live_server("/harness-check"))

    with pytest.raises(pytest.fail.Exception) as failure:
        assert_accessible(page)

    message = str(failure.value)
    assert "image-alt" in message and "html-has-lang" in message
    console.errors.clear()
