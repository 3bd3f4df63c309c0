"""The referred person books his own place on a phone-sized screen, axe checking every page."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from diversion.core.extensions import db
from diversion.core.timeutils import now_utc
from tests.browser.conftest import LiveServer, assert_accessible, has_horizontal_scroll
from tests.builders import create_booking, create_venue, future_session, known_referral

pytestmark = pytest.mark.browser


@dataclass(frozen=True)
class Person:
    reference: str
    pin: str
    dob: tuple[int, int, int]


@pytest.fixture
def person(live_server: LiveServer) -> Person:
    """A referral with a known PIN and a session he can book, in the live server's database."""
    with live_server.app.app_context():
        known = known_referral(now=now_utc())  # the live server reads the real clock
        future_session(days=9, now=now_utc())
        db.session.commit()
        dob = known.date_of_birth
        result = Person(known.reference, known.pin, (dob.day, dob.month, dob.year))
        db.session.remove()
    return result


def fill_in_details(page: Page, reference: str, pin: str, dob: tuple[int, int, int]) -> None:
    page.get_by_label("Reference").fill(reference)
    page.get_by_label("PIN").fill(pin)
    page.get_by_label("Day").fill(str(dob[0]))
    page.get_by_label("Month").fill(str(dob[1]))
    page.get_by_label("Year").fill(str(dob[2]))
    page.get_by_role("button", name="Continue").click()


def test_he_signs_in_on_a_phone_books_a_session_and_sees_the_confirmation(
        phone: Page, live_server: LiveServer, person: Person) -> None:
    reference, dob = person.reference, person.dob
    phone.goto(live_server("/book"))
    expect(phone.get_by_role("heading", level=1)).to_have_text("Book your course")
    assert_accessible(phone)
    assert not has_horizontal_scroll(phone)

    fill_in_details(phone, reference, "000000" if person.pin != "000000" else "111111", dob)
    expect(phone.locator(".govuk-error-summary")).to_contain_text("could not find")
    assert_accessible(phone)

    fill_in_details(phone, reference, person.pin, dob)
    expect(phone).to_have_url(live_server("/book/your-course"))
    expect(phone.get_by_role("heading", level=1)).to_have_text("Your course")
    expect(phone.locator(".govuk-summary-list")).to_contain_text(reference)
    assert_accessible(phone)
    assert not has_horizontal_scroll(phone)

    phone.get_by_role("button", name="Choose a course date").click()
    expect(phone.get_by_role("radio").first).to_be_visible()
    assert_accessible(phone)
    assert not has_horizontal_scroll(phone)
    phone.set_viewport_size({"width": 320, "height": 640})  # the smallest phones too
    assert not has_horizontal_scroll(phone)
    phone.get_by_role("radio").first.check()
    phone.get_by_role("button", name="Continue").click()

    # Choosing books nothing: the check page first, then "Confirm booking".
    expect(phone.get_by_role("heading", level=1)).to_have_text("Check your booking")
    expect(phone.get_by_role("heading", name="What to bring and when to arrive")).to_be_visible()
    expect(phone.get_by_role("link", name="Choose a different date")).to_be_visible()
    assert_accessible(phone)
    assert not has_horizontal_scroll(phone)
    phone.get_by_role("button", name="Confirm booking").click()

    expect(phone.locator(".govuk-panel")).to_contain_text("Place booked")
    expect(phone.locator(".govuk-panel")).to_contain_text(reference)
    expect(phone.locator("#sent-to")).to_contain_text("We have emailed a confirmation")
    expect(phone.locator("#get-help").get_by_role("link", name="0113 496 0000")).to_have_attribute(
        "href", "tel:01134960000")
    # Online payment is off here: he is told to phone to pay, with a number he can tap.
    expect(phone.locator("[data-pay-by-phone]").get_by_role(
        "link", name="0113 496 0000")).to_have_attribute("href", "tel:01134960000")
    assert_accessible(phone)
    assert not has_horizontal_scroll(phone)

    phone.get_by_role("link", name="Back to your course").click()
    expect(phone.get_by_role("heading", name="Your booking")).to_be_visible()
    expect(phone.get_by_text("You can change your booking 2 more times")).to_be_visible()
    assert_accessible(phone)

    phone.get_by_role("link", name="Cancel my place").click()
    expect(phone.get_by_role("heading", level=1)).to_have_text(
        "Are you sure you want to cancel your place?")
    assert_accessible(phone)
    phone.get_by_role("button", name="Yes, cancel my place").click()
    expect(phone.locator(".govuk-notification-banner--success")).to_contain_text(
        "Your place has been cancelled")
    assert_accessible(phone)

    phone.get_by_role("button", name="Sign out").click()
    expect(phone.get_by_role("heading", level=1)).to_have_text("You have signed out")
    assert_accessible(phone)
    phone.goto(live_server("/book/your-course"))
    expect(phone).to_have_url(live_server("/book"))


SHOTS = Path("/tmp/shots-public")
WIDTHS = (375, 768, 1280)


def test_he_joins_and_leaves_a_full_dates_waiting_list_on_a_phone(
        phone: Page, live_server: LiveServer, person: Person) -> None:
    with live_server.app.app_context():
        full = future_session(days=11, capacity=1, now=now_utc())
        create_booking(known_referral(now=now_utc()).referral, full, now=now_utc())
        db.session.commit()
        full_id = full.id
        db.session.remove()
    phone.goto(live_server("/book"))
    fill_in_details(phone, person.reference, person.pin, person.dob)
    phone.get_by_role("button", name="Choose a course date").click()
    expect(phone.get_by_text("Full — join the waiting list")).to_be_visible()
    phone.locator(f'input[name="session_id"][value="{full_id}"]').check()
    phone.get_by_role("button", name="Continue").click()
    expect(phone.get_by_role("heading", level=1)).to_have_text("Join the waiting list")
    expect(phone.get_by_role("heading", name="How the waiting list works")).to_be_visible()
    assert_accessible(phone)
    assert not has_horizontal_scroll(phone)
    phone.get_by_role("button", name="Join the waiting list").click()
    expect(phone.locator("#waiting-lists")).to_contain_text("Number 1 in line")
    assert_accessible(phone)
    assert not has_horizontal_scroll(phone)
    phone.locator("#waiting-lists").get_by_role("link", name="Leave").click()
    expect(phone.get_by_role("heading", level=1)).to_have_text(
        "Are you sure you want to leave the waiting list?")  # leaving loses his place: asked first
    assert_accessible(phone)
    assert not has_horizontal_scroll(phone)
    phone.get_by_role("button", name="Yes, leave the waiting list").click()
    expect(phone.locator(".govuk-notification-banner--success")).to_contain_text(
        "You have left the waiting list")


def test_the_public_pages_at_three_widths_are_accessible_and_carry_no_staff_marking(
        browser: Browser, live_server: LiveServer, person: Person) -> None:
    """Screenshots of every new public page at 375, 768 and 1280px, into /tmp/shots-public."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    with live_server.app.app_context():
        online = future_session(days=12, now=now_utc(), venue=create_venue(
            is_online=True, joining_link="https://meet.example/x", address_line_1=None,
            town=None, postcode=None))
        full = future_session(days=13, capacity=1, now=now_utc())
        create_booking(known_referral(now=now_utc()).referral, full, now=now_utc())
        db.session.commit()
        online_id, full_id = online.id, full.id
        db.session.remove()
    for width in WIDTHS:
        context = browser.new_context(viewport={"width": width, "height": 900}, locale="en-GB")
        page = context.new_page()
        pages = [("start", "/book"), ("privacy", "/privacy"), ("cookies", "/cookies"),
                 ("accessibility", "/accessibility")]
        for name, url in pages:
            page.goto(live_server(url))
            _check_public(page, f"{name}-{width}")
        page.goto(live_server("/book"))
        fill_in_details(page, person.reference, person.pin, person.dob)
        _check_public(page, f"overview-{width}")
        page.goto(live_server(f"/book/check?session_id={online_id}"))
        expect(page.get_by_role("heading", name="How to join your online course")).to_be_visible()
        _check_public(page, f"check-online-{width}")
        page.goto(live_server(f"/book/waiting-list?session_id={full_id}"))
        _check_public(page, f"waiting-list-{width}")
        page.goto(live_server("/book/choose"))
        _check_public(page, f"choose-{width}")
        context.close()


def _check_public(page: Page, name: str) -> None:
    expect(page.locator("#get-help")).to_contain_text("0113 496 0000")
    assert "official-sensitive" not in page.content().lower()
    assert_accessible(page)
    assert not has_horizontal_scroll(page)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
