"""The browser harness: the app served on a free loopback port, driven by Debian's Chromium.

The live server has its own migrated SQLite file, so these tests never share a database with the
`app` fixture and run the same alone or beside the rest of the suite. One browser serves the whole
session; each test gets a fresh context (no cookies carried over).
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import Browser, ConsoleMessage, Page, Playwright, sync_playwright
from werkzeug.serving import BaseWSGIServer, make_server

from diversion.core.extensions import db
from diversion.core.timeutils import now_utc
from diversion.demo import DEMO_PASSWORD, load_demo_data
from tests.conftest import PROJECT_ROOT, make_app

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
AXE_SOURCE_PATH = PROJECT_ROOT / "node_modules" / "axe-core" / "axe.min.js"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]


@dataclass(frozen=True)
class LiveServer:
    app: Flask
    url: str

    def __call__(self, path: str) -> str:
        return self.url + path


def _closed_before_sending(app: Any) -> Any:
    """The app with each response read whole and closed before the server writes it. When the
    browser drops a connection mid-response (it navigates on), werkzeug's development server can
    leave a static file open, which pytest reports as an unraisable ResourceWarning in whichever
    test runs next; responses here are small, so reading them first costs nothing."""

    def wrapped(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        iterable = app(environ, start_response)
        try:
            return [b"".join(iterable)]
        finally:
            if hasattr(iterable, "close"):
                iterable.close()

    return wrapped


def _build_demo_database(path: Path) -> None:
    from flask_migrate import upgrade

    app = make_app(f"sqlite:///{path}", path.parent)
    with app.app_context():
        upgrade(directory=str(PROJECT_ROOT / "migrations"))
        load_demo_data(now=now_utc())
        db.session.commit()
        db.session.remove()
        db.engine.dispose()


def _demo_database(path: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    """A migrated SQLite file with the demo loaded at `path`.

    The demo takes seconds to load, so under pytest-xdist the first worker to need it builds it
    once for the run (in the run's own temporary folder, under a lock) and every worker copies
    it; alone, the file is built in place.
    """
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        _build_demo_database(path)
        return
    shared = tmp_path_factory.getbasetemp().parent
    template = shared / "browser-demo.sqlite"
    with open(shared / "browser-demo.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not template.exists():
            building = shared / "browser-demo.building.sqlite"
            _build_demo_database(building)
            building.rename(template)
    source = sqlite3.connect(template)
    target = sqlite3.connect(path)
    try:
        source.backup(target)
    finally:
        source.close()
        target.close()


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The app on http://127.0.0.1:<free port>, CSRF on, demo users loaded, in a background thread."""
    folder = tmp_path_factory.mktemp("browser")
    database = folder / "browser.sqlite"
    _demo_database(database, tmp_path_factory)
    app = make_app(f"sqlite:///{database}", folder, WTF_CSRF_ENABLED=True)
    server: BaseWSGIServer = make_server("127.0.0.1", 0, _closed_before_sending(app),
                                         threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    try:
        yield LiveServer(app=app, url=f"http://127.0.0.1:{server.server_port}")
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        with app.app_context():
            db.engine.dispose()


@pytest.fixture(scope="session")
def playwright_instance() -> Iterator[Playwright]:
    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="session")
def browser(playwright_instance: Playwright) -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium package")
    browser = playwright_instance.chromium.launch(
        executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
    )
    yield browser
    browser.close()


@dataclass
class ConsoleWatch:
    """Console errors and uncaught exceptions seen by one page."""

    errors: list[str] = field(default_factory=list)

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(f"{message.location.get('url', '?')}: {message.text}")

    def on_page_error(self, error: Exception) -> None:
        self.errors.append(f"uncaught: {error}")

    def csp_violations(self) -> list[str]:
        return [e for e in self.errors if "Content Security Policy" in e or "Refused to" in e]


@pytest.fixture
def console() -> ConsoleWatch:
    return ConsoleWatch()


def _watched_page(browser: Browser, console: ConsoleWatch, **options: Any) -> Iterator[Page]:
    """A page in a fresh context (these options) whose console and script errors `console`
    records; the context is closed after the test."""
    context = browser.new_context(locale="en-GB", **options)
    context.set_default_timeout(10_000)
    page = context.new_page()
    page.on("console", console.on_console)
    page.on("pageerror", console.on_page_error)
    yield page
    context.close()


def phone_page(browser: Browser, console: ConsoleWatch, *, width: int = 375,
               height: int = 740) -> Iterator[Page]:
    """A page in a fresh context sized and behaving like a phone (touch, mobile viewport); fails
    the test on a CSP violation. For a fixture to `yield from`."""
    yield from _watched_page(browser, console, viewport={"width": width, "height": height},
                             is_mobile=True, has_touch=True)
    assert not console.csp_violations(), console.errors


@pytest.fixture
def phone(browser: Browser, console: ConsoleWatch) -> Iterator[Page]:
    """A 375px-wide page, like a small phone."""
    yield from phone_page(browser, console)


@pytest.fixture
def page(browser: Browser, console: ConsoleWatch) -> Iterator[Page]:
    """A page in a fresh browser context; fails the test on a CSP violation or a script error."""
    yield from _watched_page(browser, console, viewport={"width": 1280, "height": 900})
    uncaught = [e for e in console.errors if e.startswith("uncaught:")]
    problems = console.csp_violations() + uncaught
    assert not problems, "the browser reported:\n" + "\n".join(problems)


def sign_in(page: Page, live_server: LiveServer, email: str, password: str = DEMO_PASSWORD) -> None:
    """Sign in through the form, as a person would."""
    page.goto(live_server("/sign-in"))
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in").click()


_axe_source: str | None = None


def _axe() -> str:
    global _axe_source
    if _axe_source is None:
        if not AXE_SOURCE_PATH.exists():
            pytest.fail(f"{AXE_SOURCE_PATH} is missing: run `npm ci` (make test does)")
        _axe_source = AXE_SOURCE_PATH.read_text(encoding="utf-8")
    return _axe_source


def assert_accessible(page: Page) -> None:
    """Run axe-core on the page as it stands and fail with each WCAG 2.2 AA violation found."""
    # The app's CSP forbids inline scripts, so add_script_tag would be refused. page.evaluate runs
    # through the DevTools protocol, which CSP does not govern, so axe goes in without a weaker
    # policy. axe's UMD wrapper assigns window.axe when it runs inside a function.
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate("() => {\n" + _axe() + "\n}")
    results = page.evaluate(
        "async (tags) => await window.axe.run(document,"
        " {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']})",
        AXE_TAGS,
    )
    violations = results["violations"]
    if violations:
        lines = [f"axe found {len(violations)} accessibility problem(s) on {page.url}:"]
        for violation in violations:
            lines.append(f"- {violation['id']} ({violation['impact']}): {violation['help']}")
            for node in violation["nodes"][:5]:
                lines.append(f"    at {json.dumps(node['target'])}: {node['failureSummary']}")
        pytest.fail("\n".join(lines), pytrace=False)


def has_horizontal_scroll(page: Page) -> bool:
    return bool(page.evaluate(
        "() => document.documentElement.scrollWidth > document.documentElement.clientWidth"
    ))


WIDTHS = (1280, 768, 375)
# What sticks out of the page (outside a table's own scroll box), to name it when a page scrolls.
WIDE_ELEMENTS = """() => [...document.querySelectorAll('body *')]
  .filter(e => !(e.parentElement && e.parentElement.closest('.app-table-scroll'))
          && e.getBoundingClientRect().right > document.documentElement.clientWidth + 1)
  .slice(0, 8).map(e => e.tagName + '.' + e.className)"""


def check_at_every_width(page: Page, name: str, shots: Path) -> None:
    """The page at desktop, tablet and phone widths: accessible (axe) and no wider than the
    screen, each width's screenshot kept in `shots` (taken first, so a page that scrolls
    sideways leaves its picture, and its HTML, to look at)."""
    shots.mkdir(parents=True, exist_ok=True)
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        assert_accessible(page)
        page.screenshot(path=str(shots / f"{name}-{width}.png"), full_page=True)
        if has_horizontal_scroll(page):
            (shots / f"{name}-{width}.html").write_text(page.content())
            wide = page.evaluate(WIDE_ELEMENTS)
            raise AssertionError(f"{name} scrolls sideways at {width}px: {wide}")
