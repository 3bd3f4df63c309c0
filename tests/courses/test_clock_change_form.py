"""Clock-change days in the session form: a gap time is refused naming the day; an overlap time
is asked about ("which 01:30 do you mean?") and the answer used. The API needs an offset."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import func, select

from diversion.core.errors import ValidationFailed
from diversion.core.extensions import db
from diversion.courses import planning as courses_planning
from diversion.courses.models import CourseSession
from diversion.courses.rules import FIRST, SECOND, AmbiguousWallClock, Frequency, london_wall_to_utc
from tests.builders import create_programme, create_session, create_token, create_user, create_venue

UTC = dt.UTC
SPRING = dt.date(2027, 3, 28)  # clocks go forward at 01:00 GMT
AUTUMN = dt.date(2027, 10, 31)  # clocks go back at 02:00 BST


def _form(programme, venue, facilitator, day: dt.date, **overrides):
    data = {"programme": str(programme.id), "venue": str(venue.id),
            "first_day-day": str(day.day), "first_day-month": str(day.month),
            "first_day-year": str(day.year), "start_time": "01:30", "end_time": "08:30",
            "capacity": "12", "facilitators": [str(facilitator.id)], "frequency": "once",
            "ends": "count", "count": ""}
    data.update(overrides)
    return data


def _count() -> int:
    return db.session.scalar(select(func.count()).select_from(CourseSession)) or 0


@pytest.fixture
def setting(client, login_as):
    login_as("manager")
    values = create_programme(), create_venue(), create_user("facilitator")
    db.session.commit()
    return values


def test_an_overlap_time_is_taken_as_the_first_or_second_when_told():
    assert london_wall_to_utc(AUTUMN, dt.time(1, 30), fold=FIRST) == dt.datetime(
        2027, 10, 31, 0, 30, tzinfo=UTC)
    assert london_wall_to_utc(AUTUMN, dt.time(1, 30), fold=SECOND) == dt.datetime(
        2027, 10, 31, 1, 30, tzinfo=UTC)
    with pytest.raises(AmbiguousWallClock, match="happens twice on 31 October 2027"):
        london_wall_to_utc(AUTUMN, dt.time(1, 30))
    # A time that happens once ignores the answer.
    assert london_wall_to_utc(AUTUMN, dt.time(9, 30), fold=FIRST) == dt.datetime(
        2027, 10, 31, 9, 30, tzinfo=UTC)


def test_a_start_time_in_the_spring_gap_is_refused_naming_the_day(client, setting):
    page = client.post("/sessions/new", data=_form(*setting, SPRING))
    text = page.get_data(as_text=True)
    assert page.status_code == 422
    assert ("01:30 does not exist on 28 March 2027: clocks go forward at 01:00 to 02:00"
            in text)
    assert "Which 01:30 do you mean?" not in text
    assert _count() == 0


def test_an_ambiguous_start_time_asks_which_is_meant_and_saves_nothing_yet(client, setting):
    page = client.post("/sessions/new", data=_form(*setting, AUTUMN))
    text = page.get_data(as_text=True)
    assert page.status_code == 422
    assert "Which 01:30 do you mean?" in text
    assert "01:30 BST (first)" in text and "01:30 GMT (second)" in text
    assert "01:30 happens twice on 31 October 2027" in text
    assert re.search(r'href="#start_fold"', text)  # the error summary leads to the question
    assert _count() == 0


@pytest.mark.parametrize(("answer", "utc_hour"), [("first", 0), ("second", 1)])
def test_the_answer_to_which_0130_is_used(client, setting, answer, utc_hour):
    page = client.post("/sessions/new", data=_form(*setting, AUTUMN, start_fold=answer))
    assert page.status_code == 302
    session = db.session.scalar(select(CourseSession))
    assert session is not None
    assert session.starts_at == dt.datetime(2027, 10, 31, utc_hour, 30, tzinfo=UTC)
    assert session.ends_at == dt.datetime(2027, 10, 31, 8, 30, tzinfo=UTC)


def test_an_ambiguous_end_time_is_asked_about_too(client, setting):
    page = client.post("/sessions/new", data=_form(*setting, AUTUMN, start_time="00:30",
                                                   end_time="01:45"))
    text = page.get_data(as_text=True)
    assert "Which 01:45 do you mean?" in text and "Which 00:30" not in text
    assert _count() == 0
    done = client.post("/sessions/new", data=_form(*setting, AUTUMN, start_time="00:30",
                                                   end_time="01:45", end_fold="second"))
    assert done.status_code == 302
    session = db.session.scalar(select(CourseSession))
    assert session is not None and session.ends_at == dt.datetime(2027, 10, 31, 1, 45, tzinfo=UTC)


def test_moving_a_session_onto_an_ambiguous_time_asks_and_uses_the_answer(client, setting):
    programme, venue, facilitator = setting
    session = create_session(starts_at=dt.datetime(2027, 10, 20, 9, 0, tzinfo=UTC), venue=venue,
                             facilitators=[facilitator], programme=programme)
    db.session.commit()
    data = {"venue": str(venue.id), "first_day-day": "31", "first_day-month": "10",
            "first_day-year": "2027", "start_time": "01:30", "end_time": "08:30",
            "capacity": "12", "facilitators": [str(facilitator.id)]}
    asked = client.post(f"/sessions/{session.id}/edit", data=data)
    assert "Which 01:30 do you mean?" in asked.get_data(as_text=True)
    db.session.refresh(session)
    assert session.starts_at == dt.datetime(2027, 10, 20, 9, 0, tzinfo=UTC)
    moved = client.post(f"/sessions/{session.id}/edit", data={**data, "start_fold": "second"})
    assert moved.status_code == 302
    db.session.refresh(session)
    assert session.starts_at == dt.datetime(2027, 10, 31, 1, 30, tzinfo=UTC)


def test_the_service_refuses_an_ambiguous_time_without_an_answer(app):
    with pytest.raises(courses_planning.AmbiguousTimes) as error:
        courses_planning.plan_series(first_day=AUTUMN, start_time=dt.time(1, 30),
                                     end_time=dt.time(8, 0), frequency=Frequency.ONCE)
    assert error.value.ambiguous == {"start_time": (AUTUMN, dt.time(1, 30))}
    assert isinstance(error.value, ValidationFailed)


def test_the_api_takes_clock_change_times_by_their_offset_and_refuses_times_without_one(client):
    manager = create_user("manager")
    programme, venue, facilitator = create_programme(), create_venue(), create_user("facilitator")
    token = create_token(manager)
    db.session.commit()
    headers = {"Authorization": f"Bearer {token}"}
    body = {"venue_id": venue.id, "capacity": 10, "facilitator_emails": [facilitator.email],
            "programme_code": programme.code}
    naive = client.post("/api/v1/sessions", headers=headers, json={
        **body, "starts_at": "2027-10-31T01:30:00", "ends_at": "2027-10-31T08:30:00"})
    assert naive.status_code == 422 and _count() == 0
    second = client.post("/api/v1/sessions", headers=headers, json={
        **body, "starts_at": "2027-10-31T01:30:00+00:00", "ends_at": "2027-10-31T08:30:00+00:00"})
    assert second.status_code == 201
    created = db.session.get(CourseSession, second.get_json()["id"])
    assert created is not None
    assert created.starts_at == dt.datetime(2027, 10, 31, 1, 30, tzinfo=UTC)  # the GMT one
