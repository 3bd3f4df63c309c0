"""The time-out warning in a real browser: it opens before the sign-in ends, holds focus, passes
axe, "Stay signed in" extends the sign-in, other tabs' activity counts, and a long form filled in
when the time runs out keeps its data through signing in again and sending it.

The live server is shared by the session, so each test shortens its limits for a while only
(`short_limits`); the script reads the warning's lead time from the page, as it reads the limit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from diversion.core.timeutils import london_today, now_utc
from diversion.demo import DEMO_PASSWORD
from tests.browser.conftest import LiveServer, assert_accessible, has_horizontal_scroll, sign_in

pytestmark = pytest.mark.browser

SHOTS = Path("/tmp/shots-timeout")


@contextmanager
def short_limits(live_server: LiveServer, *, warning: int, idle: int | None = None,
                 absolute: int | None = None) -> Iterator[None]:
    config = live_server.app.config
    names = ("IDLE_TIMEOUT_SECONDS", "ABSOLUTE_TIMEOUT_SECONDS", "SIGN_OUT_WARNING_SECONDS")
    saved = {name: config[name] for name in names}
    config.update(SIGN_OUT_WARNING_SECONDS=warning)
    if idle is not None:
        config.update(IDLE_TIMEOUT_SECONDS=idle)
    if absolute is not None:
        config.update(ABSOLUTE_TIMEOUT_SECONDS=absolute)
    try:
        yield
    finally:
        config.update(saved)


def _dialog_has_focus(page: Page) -> bool:
    return bool(page.evaluate(
        "() => !!document.activeElement && !!document.activeElement.closest('dialog[open]')"))


def test_the_warning_opens_holds_focus_passes_axe_and_stay_signed_in_extends(
        page: Page, live_server: LiveServer) -> None:
    sign_in(page, live_server, "manager@diversion.example")
    with short_limits(live_server, idle=14, warning=12):
        page.goto(live_server("/dashboard"))
        search = page.locator("a").first
        search.focus()
        dialog = page.get_by_role("dialog", name="You’re about to be signed out")
        expect(dialog).to_be_visible(timeout=8000)
        expect(dialog).to_contain_text("For your security, we will sign you out in")
        assert _dialog_has_focus(page)
        expect(page.get_by_role("button", name="Stay signed in")).to_be_focused()
        # The countdown a screen reader hears changes at sensible intervals, not every second.
        live = page.locator("[data-app-timeout-announce]")
        assert live.get_attribute("aria-live") == "polite"
        heard, seen = live.inner_text(), page.locator("[data-app-timeout-countdown]").inner_text()
        assert heard.startswith("For your security, we will sign you out in")
        page.wait_for_timeout(1500)
        assert page.locator("[data-app-timeout-countdown]").inner_text() != seen
        assert live.inner_text() == heard
        assert_accessible(page)
        SHOTS.mkdir(parents=True, exist_ok=True)
        for width in (375, 768, 1280):
            page.set_viewport_size({"width": width, "height": 800})
            assert not has_horizontal_scroll(page)
            page.screenshot(path=str(SHOTS / f"warning-{width}.png"))
        page.set_viewport_size({"width": 1280, "height": 900})

        with page.expect_response(lambda r: r.url.endswith("/sign-in/keep-alive")) as answer:
            page.get_by_role("button", name="Stay signed in").click()
        assert answer.value.status == 200
        assert answer.value.json()["idle_seconds_left"] == 14
        expect(dialog).to_be_hidden()
        # Focus goes back where it was.
        assert page.evaluate("() => document.activeElement === document.querySelector('a')")

        # Escape is "stay signed in" too.
        expect(dialog).to_be_visible(timeout=8000)
        with page.expect_response(lambda r: r.url.endswith("/sign-in/keep-alive")):
            page.keyboard.press("Escape")
        expect(dialog).to_be_hidden()
        # Past the first limit (14 s after the page loaded): still signed in.
        page.wait_for_timeout(4000)
        page.goto(live_server("/dashboard"))
        assert page.url.endswith("/dashboard")
        expect(page.get_by_role("heading", level=1)).not_to_have_text("Sign in to Diversion")


def test_activity_in_another_tab_closes_the_warning(page: Page, live_server: LiveServer) -> None:
    sign_in(page, live_server, "manager@diversion.example")
    with short_limits(live_server, idle=14, warning=12):
        page.goto(live_server("/dashboard"))
        dialog = page.get_by_role("dialog", name="You’re about to be signed out")
        expect(dialog).to_be_visible(timeout=8000)
        other = page.context.new_page()
        other.goto(live_server("/dashboard"))  # a request: the other tab's time restarts
        other.close()
        expect(dialog).to_be_hidden(timeout=3000)
        # A page that saves by fetch() says so with `app:activity`, which counts the same way.
        expect(dialog).to_be_visible(timeout=8000)
        page.evaluate("() => document.dispatchEvent(new CustomEvent('app:activity'))")
        expect(dialog).to_be_hidden(timeout=3000)


def test_when_the_12_hour_limit_is_ending_the_warning_says_so_then_the_page_signs_in_again(
        page: Page, live_server: LiveServer) -> None:
    sign_in(page, live_server, "manager@diversion.example")
    with short_limits(live_server, absolute=12, warning=10):  # the sign-in lasts 12 s in all
        page.goto(live_server("/dashboard"))
        dialog = page.get_by_role("dialog", name="You’re about to be signed out")
        expect(dialog).to_be_visible(timeout=6000)
        expect(dialog).to_contain_text("cannot be extended")
        expect(page.get_by_role("button", name="Stay signed in")).to_be_hidden()
        expect(page.get_by_role("button", name="Continue")).to_be_focused()
        assert_accessible(page)
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "absolute-1280.png"))
        page.get_by_role("button", name="Continue").click()
        expect(dialog).to_be_hidden()
        # Nothing typed on the page: at the end it goes to sign in, and back here after.
        page.wait_for_url("**/sign-in?next=%2Fdashboard", timeout=20000)
    expect(page.get_by_text("You have been signed out")).to_be_visible()
    page.get_by_label("Email address").fill("manager@diversion.example")
    page.get_by_label("Password", exact=True).fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/dashboard")


def test_a_long_form_filled_in_when_the_time_runs_out_is_kept_and_sent_after_signing_in(
        page: Page, live_server: LiveServer) -> None:
    sign_in(page, live_server, "officer@wyp.police.example")
    offence = london_today(now_utc()) - dt.timedelta(days=3)
    with short_limits(live_server, idle=10, warning=8):
        page.goto(live_server("/referrals/new"))
        page.get_by_label("Family name").fill("Keptforme")
        page.get_by_label("Given names").fill("Timothy")
        birth = page.get_by_role("group", name="Date of birth")
        birth.get_by_label("Day").fill("2")
        birth.get_by_label("Month").fill("11")
        birth.get_by_label("Year").fill("1981")
        page.get_by_label("Email", exact=True).check()
        page.get_by_label("Email address (optional)").fill("timothy.k@example.com")
        page.get_by_label("Soliciting (Sexual Offences Act 2003, section 51A)").check()
        when = page.get_by_role("group", name="Date of the offence")
        when.get_by_label("Day").fill(str(offence.day))
        when.get_by_label("Month").fill(str(offence.month))
        when.get_by_label("Year").fill(str(offence.year))
        page.get_by_label("Crime reference").fill("13/4242/26")
        page.get_by_label("Conditional caution").check()
        page.get_by_role("group", name="Did the person admit the offence?").get_by_label(
            "Yes").check()
        page.get_by_role("group", name="Did the person consent to the diversion?").get_by_label(
            "Yes").check()
        page.get_by_label("I have checked: no relevant previous convictions").check()
        # No answer to the warning: the time runs out.
        ended = page.get_by_role("dialog", name="You have been signed out")
        expect(ended).to_be_visible(timeout=20000)
        expect(ended).to_contain_text("What you entered on this page has been kept")
        expect(page.get_by_role("button", name="Sign in again")).to_be_focused()
        assert page.url.endswith("/referrals/new")
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / "ended-1280.png"))
        assert_accessible(page)

    page.get_by_role("button", name="Sign in again").click()
    expect(page.get_by_text("What you entered has been kept")).to_be_visible()
    page.get_by_label("Email address").fill("officer@wyp.police.example")
    page.get_by_label("Password", exact=True).fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()

    expect(page.get_by_role("heading", name="Send your changes")).to_be_visible()
    expect(page.get_by_text("You were signed out before your changes were sent")).to_be_visible()
    assert_accessible(page)
    page.screenshot(path=str(SHOTS / "send-your-changes-1280.png"))
    page.get_by_role("button", name="Send your changes").click()
    # The referral form's own next step, with everything typed before the time-out.
    expect(page.get_by_role("heading", name="Check your answers before making the referral")) \
        .to_be_visible()
    expect(page.get_by_text("Keptforme")).to_be_visible()
