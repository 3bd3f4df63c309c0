"""A manager sees and manages a waiting list, checks an allocation and previews a series, in a
real browser at 1280, 768 and 375 px: axe finds nothing and no page scrolls sideways."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from diversion.bookings import waiting_list
from diversion.core.extensions import db
from diversion.core.timeutils import now_utc
from tests.browser.conftest import LiveServer, check_at_every_width, sign_in
from tests.builders import create_booking, create_programme, create_user, future_session, known_referral

pytestmark = pytest.mark.browser

MANAGER = "manager@diversion.example"
SHOTS = Path("/tmp/shots-queue")


def test_a_manager_sees_the_queue_checks_allocation_and_previews_a_series(
        page: Page, live_server: LiveServer) -> None:
    now = now_utc()
    with live_server.app.app_context():
        programme = create_programme()
        session = future_session(40, now=now, capacity=1, programme=programme)
        create_booking(known_referral(now=now).referral, session, now=now)
        names = []
        for minutes in range(3):
            referral = known_referral(now=now, access_needs="Needs a hearing loop").referral
            waiting_list.join_waiting_list(referral=referral, session=session, actor=None,
                                           now=now + dt.timedelta(minutes=minutes))
            names.append(referral.person.full_name)
        facilitator = create_user("facilitator", name="Queue Facilitator")
        ids = session.id, programme.id, session.venue_id, facilitator.id
        db.session.commit()
        db.session.remove()

    sign_in(page, live_server, MANAGER)
    page.goto(live_server(f"/sessions/{ids[0]}"))
    queue = page.locator("#waiting-list + p + .app-table-scroll tbody tr")
    expect(queue).to_have_count(3)
    for position, name in enumerate(names):
        expect(queue.nth(position)).to_contain_text(name)
    expect(page.get_by_text("The session is full: nobody can be promoted")).to_be_visible()
    check_at_every_width(page, "session-queue", SHOTS)

    page.set_viewport_size({"width": 1280, "height": 900})
    page.get_by_role("button", name=f"Promote {names[0]}").click()
    expect(page.locator(".govuk-error-summary, .govuk-notification-banner").first).to_contain_text(
        "There is no free place")
    page.get_by_role("link", name=f"Remove {names[2]} from the waiting list").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(f"Remove {names[2]}")
    check_at_every_width(page, "waiting-list-remove", SHOTS)
    page.get_by_role("button", name="Remove from the waiting list").click()
    expect(page.locator(".govuk-notification-banner--success")).to_contain_text(
        "taken off the waiting list")
    expect(page.locator("#waiting-list + p + .app-table-scroll tbody tr")).to_have_count(2)

    page.goto(live_server("/sessions?queue=1"))
    expect(page.get_by_role("link", name="2 waiting")).to_be_visible()
    check_at_every_width(page, "sessions-queue-filter", SHOTS)

    page.goto(live_server("/bookings/allocate"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Check the allocation before booking")
    expect(page.get_by_text("Leaves waiting list").first).to_be_visible()
    check_at_every_width(page, "allocation-preview", SHOTS)

    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(live_server("/sessions/new"))
    expect(page.get_by_label("Last date").first).to_be_hidden()  # only the chosen branch shows
    page.get_by_label("Programme").select_option(str(ids[1]))
    page.get_by_label("Venue").select_option(str(ids[2]))
    first_day = (now + dt.timedelta(days=300)).date()
    page.get_by_label("Day").first.fill(str(first_day.day))
    page.get_by_label("Month").first.fill(str(first_day.month))
    page.get_by_label("Year").first.fill(str(first_day.year))
    page.get_by_label("Start time").fill("9:30")
    page.get_by_label("End time").fill("4:30pm")
    page.get_by_label("Places").fill("12")
    page.get_by_label("Queue Facilitator").check()
    page.get_by_label("Every week").check()
    page.get_by_label("After a number of sessions").check()
    page.get_by_role("textbox", name="Number of sessions").fill("4")
    check_at_every_width(page, "series-form", SHOTS)
    page.set_viewport_size({"width": 1280, "height": 900})
    page.get_by_role("button", name="Continue").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Check the")
    expect(page.get_by_text("09:30 to 16:30").first).to_be_visible()
    check_at_every_width(page, "series-preview", SHOTS)
