"""A facilitator takes the register of twenty at the door, on a tablet and on a phone.

Each test makes its own session of twenty that started ten minutes ago (the real clock: the
live server reads it), run by a facilitator of its own, so tests do not share a register.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from diversion.attendance import register as attendance_register
from diversion.attendance.models import RegisterState
from diversion.core.extensions import db
from diversion.core.timeutils import now_utc
from diversion.referrals.models import Referral, ReferralStatus
from tests.browser.conftest import (
    ConsoleWatch,
    LiveServer,
    assert_accessible,
    has_horizontal_scroll,
    sign_in,
)
from tests.builders import DEFAULT_PASSWORD, create_user, live_session_with_people

pytestmark = pytest.mark.browser

TABLET = {"width": 768, "height": 1024}
PHONE = {"width": 375, "height": 667}


@dataclass
class Door:
    """A session of twenty, its facilitator signed in on a device of the given size."""

    page: Page
    session_id: int
    references: list[str]
    names: list[str]
    email: str

    def row(self, index: int) -> Locator:
        return self.page.locator(f'[data-app-row="{self.references[index]}"]')

    def mark(self, index: int, status: str) -> None:
        # The status buttons are radios drawn as buttons: a tap on the label chooses one.
        self.row(index).get_by_text(status, exact=True).click()

    def stored(self) -> dict[str, tuple[str | None, bool, str | None]]:
        register = attendance_register.get_register(self.session_id)
        result = {} if register is None else {
            e.referral.reference: (e.status.value if e.status else None, e.id_checked, e.reason)
            for e in register.entries}
        db.session.remove()
        return result


@pytest.fixture
def door(browser: Browser, console: ConsoleWatch, live_server: LiveServer,
         ) -> Iterator[Callable[[dict[str, int]], Door]]:
    contexts = []

    def open_register(viewport: dict[str, int]) -> Door:
        with live_server.app.app_context():
            facilitator = create_user("facilitator", now=now_utc())
            session, referrals = live_session_with_people(
                20, facilitator=facilitator, now=now_utc(), started_minutes_ago=10)
            referrals[2].person.access_needs = "Uses a wheelchair"
            referrals[2].person.needs_step_free = True
            db.session.commit()
            ordered = sorted(referrals, key=lambda r: (r.person.family_name.lower(),
                                                       r.person.given_names.lower(), r.id))
            door = (session.id, [r.reference for r in ordered],
                    [r.person.full_name for r in ordered], facilitator.email)
            db.session.remove()
        context = browser.new_context(viewport=viewport, locale="en-GB", has_touch=True)
        context.set_default_timeout(10_000)
        contexts.append(context)
        page = context.new_page()
        page.on("console", console.on_console)
        page.on("pageerror", console.on_page_error)
        sign_in(page, live_server, door[3], DEFAULT_PASSWORD)
        page.goto(live_server(f"/sessions/{door[0]}/register"))
        expect(page.get_by_role("heading", level=1)).to_contain_text("Register for")
        return Door(page, door[0], door[1], door[2], door[3])

    yield open_register
    for context in contexts:
        context.close()
    uncaught = [e for e in console.errors if e.startswith("uncaught:")]
    assert not console.csp_violations() + uncaught, console.errors


def _saved(page: Page) -> None:
    expect(page.locator("[data-app-save-state]")).to_have_text("All changes saved.")


def test_twenty_people_with_set_all_and_three_changes_then_check_and_submit(
        door: Callable[[dict[str, int]], Door], live_server: LiveServer) -> None:
    at = door(TABLET)
    page = at.page
    # Twenty people in about three screens of a 768 × 1024 tablet, nothing off to the side.
    assert page.evaluate("document.documentElement.scrollHeight") <= 3 * TABLET["height"]
    assert not has_horizontal_scroll(page)
    expect(at.row(2)).to_contain_text("Access needs: step-free access. Uses a wheelchair")
    counts = page.locator("[data-app-counts]")
    expect(counts).to_have_text("20 not yet marked")
    assert_accessible(page)

    tools = page.locator(".app-register__tools")
    tools.get_by_role("button", name="Attended", exact=True).click()
    tools.get_by_role("button", name="Tick ID checked for everyone who came").click()
    expect(counts).to_have_text("20 attended · everyone marked")
    at.mark(0, "Absent")
    at.mark(1, "Late, refused")
    at.mark(2, "Excused")
    # Excused asks for its reason: the field opens by itself.
    reason = at.row(2).get_by_label("Reason or detail")
    expect(reason).to_be_visible()
    _saved(page)
    # A typed change waits for the next keystroke before it is sent; in that moment the bar
    # must already say it is not yet saved (the same tick as the keystroke, so no race).
    assert reason.evaluate(
        """(field) => {
            field.value = 'In hospital';
            field.dispatchEvent(new Event('input', {bubbles: true}));
            return document.querySelector('[data-app-save-state]').textContent.trim();
        }""") == "Saving…"
    reason.fill("In hospital: letter from the ward")
    expect(counts).to_have_text("17 attended · 1 late, refused · 1 absent · 1 excused · everyone marked")
    expect(at.row(0).get_by_role("checkbox", name="ID checked")).not_to_be_checked()
    _saved(page)
    assert_accessible(page)
    with live_server.app.app_context():
        stored = at.stored()
    assert stored[at.references[0]] == ("absent", False, None)
    assert stored[at.references[2]] == ("excused", False, "In hospital: letter from the ward")
    assert stored[at.references[5]] == ("attended", True, None)

    page.get_by_role("button", name="Check and submit").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Check the register before you submit it")
    expect(page.get_by_role("heading", name="Attended, fee outstanding: 17")).to_be_visible()
    expect(page.get_by_role("heading", name="Missed: 2")).to_be_visible()
    expect(page.get_by_role("heading", name="Excused: to be rebooked: 1")).to_be_visible()
    assert not has_horizontal_scroll(page)
    assert_accessible(page)
    with live_server.app.app_context():
        assert attendance_register.get_register(at.session_id).state is RegisterState.DRAFT
        db.session.remove()

    page.get_by_role("button", name="Submit register").click()
    expect(page.locator(".govuk-notification-banner--success")).to_contain_text(
        "Register submitted: 20 outcomes recorded")
    assert_accessible(page)
    # The submitted register on a phone: each person's line reads as a short list (the reason
    # under the mark), nothing off to the side of the screen.
    page.set_viewport_size(PHONE)
    assert not has_horizontal_scroll(page)
    expect(page.get_by_role("rowheader", name=at.names[2], exact=True)).to_be_visible()
    assert_accessible(page)
    with live_server.app.app_context():
        statuses = {r.reference: r.status for r in db.session.query(Referral).filter(
            Referral.reference.in_(at.references))}
        db.session.remove()
    assert statuses[at.references[0]] is ReferralStatus.MISSED
    assert statuses[at.references[1]] is ReferralStatus.MISSED
    assert statuses[at.references[2]] is ReferralStatus.AWAITING_BOOKING  # excused: rebook
    assert {statuses[r] for r in at.references[3:]} == {ReferralStatus.BOOKED}  # fee owed


def test_on_a_phone_the_register_fits_and_the_filter_shows_who_is_left(
        door: Callable[[dict[str, int]], Door]) -> None:
    at = door(PHONE)
    page = at.page
    assert not has_horizontal_scroll(page)
    for index in range(3):
        at.mark(index, "Attended")
    _saved(page)
    page.get_by_role("link", name="Show only people not yet marked").click()
    expect(page.locator("[data-app-row]:visible")).to_have_count(17)
    expect(at.row(0)).to_be_hidden()
    assert not has_horizontal_scroll(page)
    assert_accessible(page)
    page.get_by_role("link", name="Show everyone").click()
    expect(page.locator("[data-app-row]:visible")).to_have_count(20)
    # Every target is at least 44 × 44 CSS pixels (WCAG 2.5.8).
    sizes = page.locator(".app-choice").evaluate_all(
        "els => els.map(e => [e.getBoundingClientRect().width, e.getBoundingClientRect().height])")
    assert sizes and min(w for w, _ in sizes) >= 44 and min(h for _, h in sizes) >= 44


def test_a_lost_connection_loses_no_mark_and_says_so(
        door: Callable[[dict[str, int]], Door], live_server: LiveServer) -> None:
    at = door(TABLET)
    page = at.page
    state = page.locator("[data-app-save-state]")
    at.mark(0, "Attended")
    _saved(page)

    page.context.set_offline(True)
    at.mark(1, "Absent")
    at.mark(2, "Attended")
    expect(state).to_contain_text("Waiting to send 2 changes")
    assert_accessible(page)
    # Submitting while offline is stopped, not lost to a browser error page.
    page.get_by_role("button", name="Check and submit").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Register for")
    expect(state).to_be_focused()
    page.context.set_offline(False)
    _saved(page)
    with live_server.app.app_context():
        stored = at.stored()
    assert stored[at.references[1]][0] == "absent" and stored[at.references[2]][0] == "attended"

    # The server cannot be reached, and the page is reloaded before it can be: the mark
    # comes back from the browser, and is sent when the server answers again.
    page.route("**/register/draft", lambda route: route.abort("internetdisconnected"))
    at.mark(3, "Absent")
    expect(state).to_contain_text("Waiting to send 1 change")
    page.reload()
    expect(at.row(3).get_by_role("radio", name="Absent")).to_be_checked()
    with live_server.app.app_context():
        assert at.stored()[at.references[3]][0] is None
    page.unroute("**/register/draft")
    page.evaluate("window.dispatchEvent(new Event('online'))")
    _saved(page)
    with live_server.app.app_context():
        assert at.stored()[at.references[3]][0] == "absent"
    assert_accessible(page)


def test_signed_out_mid_register_the_marks_wait_for_the_sign_in(
        door: Callable[[dict[str, int]], Door], live_server: LiveServer) -> None:
    at = door(TABLET)
    page = at.page
    page.context.clear_cookies()  # the sign-in has ended, as after a time-out
    at.mark(4, "Left early")
    state = page.locator("[data-app-save-state]")
    expect(state).to_contain_text("You have been signed out. 1 change kept on this device")
    assert_accessible(page)
    state.get_by_role("link", name="Sign in again").click()
    page.get_by_label("Email address").fill(at.email)
    page.get_by_label("Password", exact=True).fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Register for")
    expect(at.row(4).get_by_role("radio", name="Left early")).to_be_checked()
    _saved(page)
    with live_server.app.app_context():
        assert at.stored()[at.references[4]][0] == "left_early"


def test_without_javascript_the_register_is_a_plain_form(
        browser: Browser, live_server: LiveServer) -> None:
    with live_server.app.app_context():
        facilitator = create_user("facilitator", now=now_utc())
        session, referrals = live_session_with_people(
            3, facilitator=facilitator, now=now_utc(), started_minutes_ago=10)
        session_id, email = session.id, facilitator.email
        db.session.remove()
    context = browser.new_context(viewport=TABLET, java_script_enabled=False)
    try:
        page = context.new_page()
        sign_in(page, live_server, email, DEFAULT_PASSWORD)
        page.goto(live_server(f"/sessions/{session_id}/register"))
        page.locator(".app-register__tools").get_by_role("button", name="Attended").click()
        expect(page.locator(".govuk-notification-banner--success")).to_contain_text(
            "3 people marked attended")
        page.get_by_role("button", name="Check and submit").click()
        # Nobody's ID was ticked: refused, with every problem at once, and the marks kept.
        expect(page.locator(".govuk-error-summary")).to_contain_text("Check their ID")
        expect(page.locator(".govuk-error-summary li")).to_have_count(3)
        page.locator(".app-register__tools").get_by_role(
            "button", name="Tick ID checked for everyone who came").click()
        page.get_by_role("button", name="Check and submit").click()
        expect(page.get_by_role("heading", name="Attended, fee outstanding: 3")).to_be_visible()
        page.get_by_role("button", name="Submit register").click()
        expect(page.locator(".govuk-notification-banner--success")).to_contain_text(
            "Register submitted")
    finally:
        context.close()


@pytest.mark.parametrize("width", [375, 320])
def test_on_a_phone_the_registers_list_shows_take_register_without_scrolling_sideways(
        door: Callable[[dict[str, int]], Door], width: int) -> None:
    # At the door he opens the day's list on his phone: the link to the register is on the
    # screen, not in a table's hidden right-hand column reached by scrolling it sideways.
    at = door({"width": width, "height": 667})
    page = at.page
    page.get_by_role("link", name="Back to registers").click()
    take = page.get_by_role("link", name="Take register")
    expect(take).to_be_visible()
    box = take.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width
    scrolling = page.evaluate("""() => [...document.querySelectorAll('main *')]
      .filter((e) => !e.classList.contains('govuk-visually-hidden')
        && e.scrollWidth > e.clientWidth + 1 && getComputedStyle(e).overflowX !== 'visible')
      .map((e) => e.tagName + '.' + e.className)""")
    assert scrolling == []
    assert not has_horizontal_scroll(page)
    assert_accessible(page)
    page.goto(page.url.split("/registers")[0] + "/registers/overdue")
    assert not has_horizontal_scroll(page)
    assert_accessible(page)
