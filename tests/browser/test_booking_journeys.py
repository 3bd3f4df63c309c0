"""Issue 4's journeys: a manager schedules a weekly series (a bank holiday skipped) and books a
man onto one of its sessions; the man books and then changes his own place on a phone. axe runs
on every page visited."""

from __future__ import annotations

import datetime as dt
import re
import uuid

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from diversion.bookings import queries as bookings_queries
from diversion.core.extensions import db
from diversion.core.timeutils import london_today, now_utc
from diversion.courses.models import CourseSession
from diversion.courses.rules import Frequency, bank_holiday_name, series_dates
from diversion.referrals.models import Referral, ReferralStatus
from tests.browser.conftest import (
    LiveServer,
    assert_accessible,
    has_horizontal_scroll,
    sign_in,
)
from tests.builders import create_programme, create_user, create_venue, future_session, known_referral

pytestmark = pytest.mark.browser

MANAGER = "manager@diversion.example"


def _next_bank_holiday(after: dt.date) -> dt.date:
    day = after
    while bank_holiday_name(day) is None:
        day += dt.timedelta(days=1)
    return day


def test_a_manager_schedules_a_weekly_series_skipping_a_bank_holiday_and_books_a_man(
        page: Page, live_server: LiveServer) -> None:
    tag = uuid.uuid4().hex[:6]
    with live_server.app.app_context():
        today = london_today(now_utc())
        holiday = _next_bank_holiday(today + dt.timedelta(days=9))
        first_day = holiday - dt.timedelta(weeks=1)
        programme = create_programme()
        venue = create_venue(name=f"Journey Hall {tag}", capacity=20)
        facilitator = create_user("facilitator", name=f"Fay Journey {tag}")
        known = known_referral(completion_deadline=holiday + dt.timedelta(weeks=12), now=now_utc())
        db.session.commit()
        ids = programme.id, venue.id, facilitator.id
        reference, man = known.reference, known.referral.person.full_name
        db.session.remove()
    plan = series_dates(first_day, frequency=Frequency.WEEKLY, count=3)
    assert holiday in [day for day, _ in plan.skipped]

    sign_in(page, live_server, MANAGER)
    page.goto(live_server("/sessions/new"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Schedule sessions")
    assert_accessible(page)
    page.get_by_label("Programme").select_option(str(ids[0]))
    page.get_by_label("Venue").select_option(str(ids[1]))
    page.get_by_label("Day").first.fill(str(first_day.day))
    page.get_by_label("Month").first.fill(str(first_day.month))
    page.get_by_label("Year").first.fill(str(first_day.year))
    page.get_by_label("Start time").fill("9:30")
    page.get_by_label("End time").fill("4:30pm")
    page.get_by_label("Places").fill("12")
    page.get_by_label(f"Fay Journey {tag}").check()
    page.get_by_label("Every week").check()
    page.get_by_label("After a number of sessions").check()
    page.get_by_role("textbox", name="Number of sessions").fill("3")
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Check the 3 sessions before scheduling them")
    assert_accessible(page)
    page.get_by_role("button", name="Schedule 3 sessions").click()

    banner = page.locator(".govuk-notification-banner--success")
    expect(banner).to_contain_text("3 sessions created")
    expect(banner).to_contain_text(f"Skipped bank holidays: {holiday:%-d %B %Y}")
    assert_accessible(page)
    page.goto(live_server(f"/sessions?venue={ids[1]}"))
    rows = page.locator("tbody tr", has_text=f"Journey Hall {tag}")
    expect(rows).to_have_count(3)
    assert_accessible(page)

    page.goto(live_server(f"/bookings/referral/{reference}"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Booking and fee")
    expect(page.get_by_text(man)).to_be_visible()
    assert_accessible(page)
    page.get_by_role("radio", name=re.compile(f"Journey Hall {tag}")).first.check()
    page.get_by_role("button", name="Book or join waiting list").click()
    expect(page.locator(".govuk-notification-banner--success")).to_contain_text("Booked")
    expect(page.locator(".govuk-summary-list").first).to_contain_text("Booked")
    expect(page.get_by_role("heading", name="Move to another session")).to_be_visible()
    assert_accessible(page)

    with live_server.app.app_context():
        referral = db.session.scalar(select(Referral).where(Referral.reference == reference))
        assert referral is not None and referral.status is ReferralStatus.BOOKED
        booking = bookings_queries.get_active_booking(referral)
        assert booking is not None and booking.session.venue_id == ids[1]
        starts = [s.starts_at for s in db.session.scalars(
            select(CourseSession).where(CourseSession.venue_id == ids[1]))]
        assert len(starts) == 3 and booking.session.starts_at == min(starts)
        db.session.remove()


def test_the_man_books_then_changes_his_own_place_on_a_phone(
        phone: Page, live_server: LiveServer) -> None:
    with live_server.app.app_context():
        known = known_referral(now=now_utc())  # the live server reads the real clock
        future_session(days=9, now=now_utc())
        future_session(days=16, now=now_utc())
        db.session.commit()
        reference, pin, dob = known.reference, known.pin, known.date_of_birth
        db.session.remove()

    phone.goto(live_server("/book"))
    assert_accessible(phone)
    phone.get_by_label("Reference").fill(reference)
    phone.get_by_label("PIN").fill(pin)
    phone.get_by_label("Day").fill(str(dob.day))
    phone.get_by_label("Month").fill(str(dob.month))
    phone.get_by_label("Year").fill(str(dob.year))
    phone.get_by_role("button", name="Continue").click()
    expect(phone.get_by_role("heading", level=1)).to_have_text("Your course")
    assert_accessible(phone)

    phone.get_by_role("button", name="Choose a course date").click()
    assert_accessible(phone)
    phone.get_by_role("radio").first.check()
    phone.get_by_role("button", name="Continue").click()
    expect(phone.get_by_role("heading", level=1)).to_have_text("Check your booking")
    phone.get_by_role("button", name="Confirm booking").click()
    expect(phone.locator(".govuk-panel")).to_contain_text("Place booked")
    assert_accessible(phone)
    with live_server.app.app_context():
        referral = db.session.scalar(select(Referral).where(Referral.reference == reference))
        assert referral is not None
        first = bookings_queries.get_active_booking(referral)
        assert first is not None
        first_session = first.session_id
        db.session.remove()

    phone.get_by_role("link", name="Back to your course").click()
    expect(phone.get_by_text("You can change your booking 2 more times")).to_be_visible()
    assert_accessible(phone)
    phone.get_by_role("button", name="Change date").click()
    expect(phone.get_by_role("heading", level=1)).to_have_text("Choose a new course date")
    assert_accessible(phone)
    assert not has_horizontal_scroll(phone)
    phone.get_by_role("radio").first.check()
    phone.get_by_role("button", name="Continue").click()
    expect(phone.get_by_role("heading", level=1)).to_have_text("Check your new course date")
    assert_accessible(phone)
    phone.get_by_role("button", name="Confirm new date").click()
    expect(phone.locator(".govuk-panel")).to_contain_text("Booking changed")
    assert_accessible(phone)
    assert not has_horizontal_scroll(phone)

    phone.get_by_role("link", name="Back to your course").click()
    expect(phone.get_by_text("You can change your booking 1 more time")).to_be_visible()
    assert_accessible(phone)
    with live_server.app.app_context():
        referral = db.session.scalar(select(Referral).where(Referral.reference == reference))
        assert referral is not None and referral.status is ReferralStatus.BOOKED
        now_booked = bookings_queries.get_active_booking(referral)
        assert now_booked is not None and now_booked.session_id != first_session
        db.session.remove()
