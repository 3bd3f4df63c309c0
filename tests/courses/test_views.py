import datetime as dt
import re

import pytest
from sqlalchemy import select

from diversion.core.extensions import db
from diversion.core.timeutils import now_utc, to_london
from diversion.courses import planning as courses_planning
from diversion.courses.forms import future_date_hint
from diversion.courses.models import CourseSession, SessionStatus, Venue
from tests.builders import (
    DEFAULT_PASSWORD,
    NOW,
    create_programme,
    create_session,
    create_user,
    create_venue,
    in_days,
)
from tests.pages import error_summary, marked_boxes
from tests.queries import count_queries

pytestmark = pytest.mark.usefixtures("clock")  # the app reads a clock stopped at NOW



def test_a_manager_adds_a_venue_through_the_form(client, login_as):
    login_as("manager")
    response = client.post("/venues/new", data={
        "name": "Civic Hall", "is_online": "no", "address_line_1": "Portland Crescent",
        "town": "Leeds", "postcode": "ls1 1ur", "capacity": "24", "step_free_access": "y"})
    assert response.status_code == 302
    venue = db.session.scalar(select(Venue))
    assert venue is not None and venue.postcode == "LS1 1UR" and venue.step_free_access
    page = client.get("/venues").get_data(as_text=True)
    assert "Civic Hall" in page


def test_an_online_venue_link_is_never_shown_in_the_venue_list(client, login_as):
    login_as("manager")
    create_venue(name="Video room", is_online=True, joining_link="https://meet.example/secret")
    db.session.commit()
    page = client.get("/venues").get_data(as_text=True)
    assert "Video room" in page and "meet.example/secret" not in page


def test_a_venue_form_with_problems_shows_them_beside_the_fields(client, login_as):
    login_as("manager")
    page = client.post("/venues/new", data={"name": "Hall", "is_online": "no",
                                            "capacity": "10", "postcode": "nope"})
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Enter a full UK postcode" in text and "Enter the first line of the address" in text
    assert db.session.scalar(select(Venue)) is None


def _series_form(programme, venue, facilitator, day: dt.date, **overrides):
    data = {"programme": str(programme.id), "venue": str(venue.id),
            "first_day-day": str(day.day), "first_day-month": str(day.month),
            "first_day-year": str(day.year), "start_time": "9:30", "end_time": "4:30pm",
            "capacity": "12", "facilitators": [str(facilitator.id)], "frequency": "weekly",
            "ends": "count", "count": "3", "action": "create"}
    data.update(overrides)
    return data


def test_a_manager_schedules_a_weekly_series_in_london_time(client, login_as):
    login_as("manager")
    programme, venue = create_programme(), create_venue()
    facilitator = create_user("facilitator")
    db.session.commit()
    day = (now_utc() + dt.timedelta(days=10)).date()
    response = client.post("/sessions/new", data=_series_form(programme, venue, facilitator, day))
    assert response.status_code == 302
    sessions = db.session.scalars(select(CourseSession).order_by(CourseSession.starts_at)).all()
    assert len(sessions) >= 2  # a bank holiday may be skipped, but never extra sessions
    for session in sessions:
        london = to_london(session.starts_at)
        assert (london.hour, london.minute) == (9, 30)
        assert [u.id for u in session.facilitators] == [facilitator.id]


def test_a_clashing_series_shows_every_clash_and_saves_nothing(client, login_as):
    login_as("manager")
    programme, venue = create_programme(), create_venue()
    facilitator = create_user("facilitator")
    day = (now_utc() + dt.timedelta(days=10)).date()
    from diversion.courses.rules import london_wall_to_utc

    first = create_session(starts_at=london_wall_to_utc(day, dt.time(10, 0)), venue=venue)
    second = create_session(starts_at=london_wall_to_utc(day + dt.timedelta(weeks=1),
                                                         dt.time(10, 0)),
                            facilitators=[facilitator])
    db.session.commit()
    page = client.post("/sessions/new", data=_series_form(programme, venue, facilitator, day,
                                                          count="2"))
    text = page.get_data(as_text=True)
    assert page.status_code == 409
    assert f"session {first.id}" in text and f"session {second.id}" in text
    assert "Nothing was saved" in text
    assert len(db.session.scalars(select(CourseSession)).all()) == 2


def test_over_capacity_is_shown_on_the_places_field(client, login_as):
    login_as("manager")
    programme, venue = create_programme(), create_venue(capacity=8)
    facilitator = create_user("facilitator")
    db.session.commit()
    day = (now_utc() + dt.timedelta(days=10)).date()
    page = client.post("/sessions/new", data=_series_form(programme, venue, facilitator, day,
                                                          capacity="9", frequency="once"))
    assert page.status_code == 422 and "holds 8 people" in page.get_data(as_text=True)
    assert db.session.scalar(select(CourseSession.id)) is None


def test_the_session_list_takes_the_same_number_of_queries_for_3_or_30_sessions(client, login_as):
    login_as("manager")
    programme = create_programme()
    facilitators = [create_user("facilitator"), create_user("facilitator")]
    for day in range(3):
        create_session(starts_at=in_days(day + 1), programme=programme, facilitators=facilitators)
    db.session.commit()
    with count_queries() as few:
        assert client.get("/sessions").status_code == 200
    for day in range(3, 30):
        create_session(starts_at=in_days(day + 1), programme=programme, facilitators=facilitators,
                       venue=create_venue())
    db.session.commit()
    with count_queries() as many:
        page = client.get("/sessions")
    assert page.status_code == 200
    assert "30 sessions" in page.get_data(as_text=True)
    assert len(many) == len(few)


def test_the_session_list_filters_by_venue_and_status(client, login_as):
    login_as("manager")
    venue = create_venue(name="Quiet Hall")
    kept = create_session(starts_at=in_days(3), venue=venue)
    create_session(starts_at=in_days(4))
    cancelled = create_session(starts_at=in_days(5), venue=venue)
    courses_planning.cancel_session(session=cancelled, reason="x", actor=None, now=now_utc())
    db.session.commit()
    text = client.get(f"/sessions?venue={venue.id}&status=scheduled").get_data(as_text=True)
    ids = set(map(int, re.findall(r'href="/sessions/(\d+)"', text)))
    assert ids == {kept.id}


@pytest.mark.parametrize(("query", "expected"), [
    ("from_day-day=31&from_day-month=2&from_day-year=2026",
     [("#from_day-day", "Starting on or after must be a real date")]),
    ("from_day-day=1&from_day-month=&from_day-year=2026",
     [("#from_day-month", "Starting on or after must include a month")]),
    ("from_day-day=1&from_day-month=13&from_day-year=2026&to_day-day=1%00&to_day-month=1"
     "&to_day-year=2026",
     [("#from_day-month", "The month of starting on or after must be a number from 1 to 12"),
      ("#to_day-day", "The day of starting on or before must be a number from 1 to 31")]),
    ("from_day-day=2&from_day-month=7&from_day-year=2026&to_day-day=1&to_day-month=7"
     "&to_day-year=2026",
     [("#to_day-day", "Starting on or before must be the same as or after starting on or after")]),
    ("venue=3000000000&programme=%C2%B2&status=" + "x" * 5000,
     [("#venue", "Choose the venue from the list"),
      ("#programme", "Choose the programme from the list"),
      ("#status", "Choose the status from the list")]),
])
def test_a_bad_session_filter_is_named_in_an_error_summary_not_ignored(client, login_as, query,
                                                                       expected):
    login_as("manager")
    response = client.get(f"/sessions?{query}")
    page = response.text
    assert response.status_code == 400
    assert "<title>Error: " in page
    assert error_summary(page) == expected
    if expected[0][0].startswith("#from_day") or expected[0][0].startswith("#to_day"):
        assert marked_boxes(page) >= {href[1:] for href, _ in expected}


def test_a_bad_session_filter_leaves_the_others_applied(client, login_as):
    login_as("manager")
    venue = create_venue(name="Quiet Hall")
    kept = create_session(starts_at=in_days(3), venue=venue)
    create_session(starts_at=in_days(4))
    earlier = NOW - dt.timedelta(days=10)  # scheduled then, held before the default "from"
    create_session(starts_at=in_days(3, now=earlier), venue=venue, now=earlier)
    db.session.commit()
    text = client.get(f"/sessions?venue={venue.id}&status=nonsense").text
    assert error_summary(text) == [("#status", "Choose the status from the list")]
    assert set(map(int, re.findall(r'href="/sessions/(\d+)"', text))) == {kept.id}
    text = client.get(f"/sessions?venue={venue.id}&from_day-day=31&from_day-month=2"
                      "&from_day-year=2026").text
    assert set(map(int, re.findall(r'href="/sessions/(\d+)"', text))) == {kept.id}


def test_the_month_calendar_shows_sessions_on_their_london_day_and_links_months(client, login_as):
    login_as("manager")
    # 23:30 UTC on 30 June 2027 is 00:30 on 1 July in London (BST).
    late = dt.datetime(2027, 6, 30, 23, 30, tzinfo=dt.UTC)
    session = create_session(starts_at=late, hours=2)
    db.session.commit()
    page = client.get("/sessions/calendar?month=2027-07").get_data(as_text=True)
    assert "Sessions in July 2027" in page
    assert f'/sessions/{session.id}"' in page
    assert "month=2027-06" in page and "month=2027-08" in page
    june = client.get("/sessions/calendar?month=2027-06").get_data(as_text=True)
    assert f'/sessions/{session.id}"' not in june


def test_a_manager_cancels_a_session_with_a_reason(client, login_as):
    login_as("manager")
    session = create_session(starts_at=in_days(3))
    db.session.commit()
    page = client.get(f"/sessions/{session.id}").get_data(as_text=True)
    assert f'href="/bookings/session/{session.id}/cancel"' in page
    check = client.post(f"/bookings/session/{session.id}/cancel", data={"reason": "Venue closed"})
    assert check.status_code == 200 and "Nobody waiting" in check.text
    response = client.post(f"/bookings/session/{session.id}/cancel",
                           data={"reason": "Venue closed", "people": "", "action": "confirm"})
    assert response.status_code == 200 and "Session cancelled" in response.text
    db.session.refresh(session)
    assert session.status is SessionStatus.CANCELLED and session.cancel_reason == "Venue closed"


def test_the_old_cancel_address_leads_to_the_one_cancel_page_and_cancels_nothing(client,
                                                                                 login_as):
    login_as("manager")
    session = create_session(starts_at=in_days(3))
    db.session.commit()
    shown = client.get(f"/sessions/{session.id}/cancel")
    assert shown.status_code == 301
    assert shown.headers["Location"] == f"/bookings/session/{session.id}/cancel"
    posted = client.post(f"/sessions/{session.id}/cancel", data={"reason": "Venue closed"})
    assert posted.status_code == 303
    assert posted.headers["Location"] == f"/bookings/session/{session.id}/cancel"
    db.session.refresh(session)
    assert session.status is SessionStatus.SCHEDULED and session.cancel_reason is None
    assert client.get("/sessions/999999/cancel").status_code == 404


def test_a_manager_moves_a_session_through_the_edit_form(client, login_as):
    login_as("manager")
    session = create_session(starts_at=in_days(3))
    db.session.commit()
    form = client.get(f"/sessions/{session.id}/edit").get_data(as_text=True)
    assert 'name="first_day-day"' in form
    day = (now_utc() + dt.timedelta(days=20)).date()
    response = client.post(f"/sessions/{session.id}/edit", data={
        "venue": str(session.venue_id), "first_day-day": str(day.day),
        "first_day-month": str(day.month), "first_day-year": str(day.year),
        "start_time": "13:00", "end_time": "17:00", "capacity": "5",
        "facilitators": [str(u.id) for u in session.facilitators]})
    assert response.status_code == 302
    db.session.refresh(session)
    assert session.capacity == 5 and session.starts_at.date() == day


def test_a_facilitator_sees_their_own_sessions_and_not_others(client, login_as):
    facilitator = login_as("facilitator")
    mine = create_session(starts_at=in_days(3), facilitators=[facilitator])
    theirs = create_session(starts_at=in_days(4))
    db.session.commit()
    page = client.get("/my-sessions").get_data(as_text=True)
    assert f"/sessions/{mine.id}" in page and f"/sessions/{theirs.id}" not in page
    assert client.get(f"/sessions/{mine.id}").status_code == 200
    assert client.get(f"/sessions/{theirs.id}").status_code == 404
    assert client.get("/sessions").status_code == 403


def test_dashboards_count_upcoming_sessions(client, login_as, auth):
    facilitator = create_user("facilitator")
    create_session(starts_at=in_days(2), facilitators=[facilitator])
    create_session(starts_at=in_days(3), facilitators=[facilitator])
    create_session(starts_at=in_days(4))
    db.session.commit()
    auth.login(facilitator.email)
    page = client.get("/dashboard").get_data(as_text=True)
    assert re.search(r'data-count="Upcoming sessions you run">2<', page)
    assert "My sessions" in page


def test_manager_navigation_has_sessions_and_venues_under_more(client, login_as):
    login_as("manager")
    page = client.get("/dashboard").get_data(as_text=True)
    assert 'href="/sessions"' in page and 'href="/more"' in page
    assert "Sessions this month" in page
    more = client.get("/more").get_data(as_text=True)
    assert 'href="/venues"' in more


def test_a_facilitators_calendar_feed_is_valid_icalendar_at_a_secret_address(client, login_as):
    facilitator = login_as("facilitator")
    session = create_session(starts_at=in_days(3), facilitators=[facilitator])
    create_session(starts_at=in_days(4))
    db.session.commit()
    page = client.post("/my-sessions/calendar-feed", follow_redirects=True).get_data(as_text=True)
    match = re.search(r'id="feed-url">https?://[^/]+(/calendar/[^<]+\.ics)<', page)
    assert match, "the new address is shown once"
    client.post("/sign-out")
    feed = client.get(match.group(1))
    assert feed.status_code == 200 and feed.mimetype == "text/calendar"
    body = feed.get_data(as_text=True)
    assert body.startswith("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n")
    assert body.count("BEGIN:VEVENT") == 1
    assert f"UID:session-{session.id}@" in body
    assert f"DTSTART:{session.starts_at:%Y%m%dT%H%M%S}Z" in body
    assert client.get("/calendar/cal_wrong.ics").status_code == 404


def test_reloading_the_page_that_shows_a_new_feed_address_makes_no_other(client, login_as):
    login_as("facilitator")
    response = client.post("/my-sessions/calendar-feed")
    assert response.status_code == 302
    assert response.headers["Location"] == "/my-sessions?feed=new#calendar-feed"
    shown = client.get("/my-sessions?feed=new").text
    address = re.search(r'id="feed-url">https?://[^/]+(/calendar/[^<]+\.ics)<', shown).group(1)
    reloaded = client.get("/my-sessions?feed=new").text
    assert address not in reloaded and 'id="feed-url"' not in reloaded
    assert "can no longer be shown" in reloaded
    assert client.get(address).status_code == 200, "the reload made no new address"
    assert "can no longer be shown" not in client.get("/my-sessions").text


def test_resetting_the_feed_address_stops_the_old_one(client, login_as):
    login_as("facilitator")
    first = re.search(r'(/calendar/[^<]+\.ics)<', client.post("/my-sessions/calendar-feed",
                                                                follow_redirects=True)
                      .get_data(as_text=True)).group(1)
    second = re.search(r'(/calendar/[^<]+\.ics)<', client.post("/my-sessions/calendar-feed",
                                                                 follow_redirects=True)
                       .get_data(as_text=True)).group(1)
    assert client.get(first).status_code == 404
    assert client.get(second).status_code == 200


def test_a_new_feed_address_is_asked_for_first_and_asking_changes_nothing(client, login_as):
    login_as("facilitator")
    assert "Get a calendar address" in client.get("/my-sessions").get_data(as_text=True)
    # With no address yet there is nothing to lose: the check page sends him back.
    assert client.get("/my-sessions/calendar-feed").headers["Location"] == "/my-sessions"
    first = re.search(r'(/calendar/[^<]+\.ics)<', client.post("/my-sessions/calendar-feed",
                                                                follow_redirects=True)
                      .get_data(as_text=True)).group(1)
    sessions_page = client.get("/my-sessions").get_data(as_text=True)
    assert 'href="/my-sessions/calendar-feed">Make a new calendar address</a>' in sessions_page
    check = client.get("/my-sessions/calendar-feed")
    text = check.get_data(as_text=True)
    assert check.status_code == 200 and "Make a new calendar address?" in text
    assert "Your old address stops working at once" in text and "govuk-button--warning" in text
    assert client.get(first).status_code == 200, "looking at the check page keeps the address"


def test_the_calendar_feed_links_to_the_configured_address_whatever_host_is_asked(
        app, client, monkeypatch):
    # The Host header is the client's to choose: links in a feed or a page must not follow it.
    monkeypatch.setitem(app.config, "DIVERSION_BASE_URL", "https://diversion.example.gov.uk")
    facilitator = create_user("facilitator")
    session = create_session(starts_at=in_days(3), facilitators=[facilitator])
    db.session.commit()
    forged = "http://attacker.example"
    client.post("/sign-in", base_url=forged,
                data={"email": facilitator.email, "password": DEFAULT_PASSWORD})
    page = client.post("/my-sessions/calendar-feed", base_url=forged,
                       follow_redirects=True).get_data(as_text=True)
    match = re.search(r'id="feed-url">(https?://[^/]+)(/calendar/[^<]+\.ics)<', page)
    assert match and match.group(1) == "https://diversion.example.gov.uk"
    feed = client.get(match.group(2), base_url=forged).get_data(as_text=True)
    body = feed.replace("\r\n ", "")
    assert f"https://diversion.example.gov.uk/sessions/{session.id}" in body
    assert "attacker.example" not in body


def test_the_date_hints_of_the_session_forms_are_dates_to_come(client, login_as, clock):
    # A session is scheduled ahead: its example date is four weeks from today (London), the
    # last date of a series about six months on, never a fixed date that has passed.
    login_as("manager")
    page = client.get("/sessions/new").get_data(as_text=True)
    assert "For example, 13 7 2026" in page  # Monday 15 June 2026 + 28 days
    assert "For a series ending on a date, for example 14 12 2026" in page
    session = create_session(starts_at=in_days(3))
    db.session.commit()
    assert "For example, 13 7 2026" in client.get(f"/sessions/{session.id}/edit").get_data(
        as_text=True)
    clock.set(dt.datetime(2027, 12, 20, 9, tzinfo=dt.UTC))
    assert future_date_hint() == "For example, 17 1 2028"
    clock.set(dt.datetime(2026, 10, 24, 23, 30, tzinfo=dt.UTC))  # 25 October already in London
    assert future_date_hint() == "For example, 22 11 2026"
