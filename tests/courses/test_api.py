import datetime as dt

import pytest
from sqlalchemy import select

from diversion.bookings.places import book_place
from diversion.core.extensions import db
from diversion.core.timeutils import now_utc
from diversion.courses.models import CourseSession, Venue
from tests.builders import (
    create_programme,
    create_session,
    create_token,
    create_user,
    create_venue,
    in_days,
    known_referral,
)

pytestmark = pytest.mark.usefixtures("clock")  # the app reads a clock stopped at NOW


def _auth(role: str = "manager", **overrides):
    user = create_user(role, **overrides)
    token = create_token(user)
    db.session.commit()
    return user, {"Authorization": f"Bearer {token}"}


def _session_body(venue, facilitator, starts_at: dt.datetime, **overrides):
    body = {"venue_id": venue.id, "starts_at": starts_at.isoformat(),
            "ends_at": (starts_at + dt.timedelta(hours=7)).isoformat(), "capacity": 10,
            "facilitator_emails": [facilitator.email]}
    body.update(overrides)
    return body


def test_a_manager_creates_a_venue_through_the_api(client, app):
    _, headers = _auth()
    response = client.post("/api/v1/venues", headers=headers, json={
        "name": "Civic Hall", "address": "Portland Crescent\nCivic Quarter", "town": "Leeds",
        "postcode": "LS1 1UR", "capacity": 24, "step_free": True})
    assert response.status_code == 201
    venue = db.session.get(Venue, response.get_json()["id"])
    assert venue is not None and venue.address_line_2 == "Civic Quarter" and venue.step_free_access


def test_an_invalid_venue_is_422_with_field_errors(client, app):
    _, headers = _auth()
    response = client.post("/api/v1/venues", headers=headers, json={
        "name": "Online room", "capacity": 0, "online": True})
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    assert set(response.get_json()["errors"]) == {"capacity", "joining_link"}
    assert client.post("/api/v1/venues", headers=headers,
                       json={"name": "x", "capacity": "many"}).status_code == 422


def test_police_cannot_create_venues(client, app):
    _, headers = _auth("police")
    response = client.post("/api/v1/venues", headers=headers, json={"name": "x", "capacity": 1})
    assert response.status_code == 403


def test_a_manager_schedules_a_session_through_the_api(client, app):
    _, headers = _auth()
    programme = create_programme()
    venue, facilitator = create_venue(), create_user("facilitator")
    db.session.commit()
    starts_at = in_days(5).astimezone(dt.timezone(dt.timedelta(hours=1)))
    response = client.post("/api/v1/sessions", headers=headers,
                           json=_session_body(venue, facilitator, starts_at,
                                              programme_code=programme.code))
    assert response.status_code == 201
    session = db.session.get(CourseSession, response.get_json()["id"])
    assert session is not None and session.starts_at == starts_at
    assert session.starts_at.tzinfo == dt.UTC


def test_a_time_without_an_offset_is_refused(client, app):
    _, headers = _auth()
    create_programme()
    venue, facilitator = create_venue(), create_user("facilitator")
    db.session.commit()
    body = _session_body(venue, facilitator, in_days(5))
    body["starts_at"] = in_days(5).replace(tzinfo=None).isoformat()
    response = client.post("/api/v1/sessions", headers=headers, json=body)
    assert response.status_code == 422
    assert "offset" in response.get_json()["errors"]["starts_at"]
    assert db.session.scalar(select(CourseSession.id)) is None


def test_more_places_than_the_venue_holds_is_422(client, app):
    _, headers = _auth()
    create_programme()
    venue, facilitator = create_venue(capacity=8), create_user("facilitator")
    db.session.commit()
    response = client.post("/api/v1/sessions", headers=headers,
                           json=_session_body(venue, facilitator, in_days(5), capacity=9))
    assert response.status_code == 422
    assert "capacity" in response.get_json()["errors"]


def test_a_facilitator_email_that_names_no_facilitator_is_404(client, app):
    # The body names someone who is not stored as a facilitator: like an unknown venue, a 404
    # saying which field, since the request itself is well formed (DESIGN.md, 2026-12-02).
    _, headers = _auth()
    create_programme()
    venue = create_venue()
    db.session.commit()
    response = client.post("/api/v1/sessions", headers=headers, json=_session_body(
        venue, create_user("manager"), in_days(5)))
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"
    assert "facilitator_emails" in response.get_json()["errors"]


def test_a_clash_is_409_problem_json_listing_the_clashes(client, app):
    _, headers = _auth()
    create_programme()
    venue, facilitator = create_venue(), create_user("facilitator")
    existing = create_session(starts_at=in_days(5), venue=venue)
    db.session.commit()
    response = client.post("/api/v1/sessions", headers=headers, json=_session_body(
        venue, facilitator, in_days(5) + dt.timedelta(hours=1)))
    assert response.status_code == 409
    assert response.mimetype == "application/problem+json"
    problem = response.get_json()
    assert [c["session_id"] for c in problem["clashes"]] == [existing.id]
    assert problem["clashes"][0]["venue"] is True


def test_the_session_list_shows_places_and_filters_by_availability(client, app):
    _, headers = _auth()
    venue = create_venue(name="Hall", town="Leeds")
    first = create_session(starts_at=in_days(3), venue=venue, capacity=12)
    # Inside the same window, but with no place left: only the availability filter leaves it out.
    full = create_session(starts_at=in_days(4), capacity=1)
    create_session(starts_at=in_days(40))
    known = known_referral()
    book_place(referral=known.referral, session=full, actor=None, now=now_utc())
    db.session.commit()
    to = in_days(10).isoformat()
    everything = client.get("/api/v1/sessions", headers=headers, query_string={"to": to})
    assert [i["id"] for i in everything.get_json()["items"]] == [first.id, full.id]
    response = client.get("/api/v1/sessions", headers=headers,
                          query_string={"to": to, "available": "true"})
    assert response.status_code == 200
    [item] = response.get_json()["items"]
    assert item["id"] == first.id
    assert (item["capacity"], item["booked"], item["available"]) == (12, 0, 12)
    assert item["venue"]["name"] == "Hall" and item["venue"]["town"] == "Leeds"
    assert "joining_link" not in item["venue"]
    assert item["starts_at"].endswith("+00:00") or item["starts_at"].endswith("Z")


def test_a_facilitator_lists_only_their_own_sessions(client, app):
    facilitator, headers = _auth("facilitator")
    mine = create_session(starts_at=in_days(3), facilitators=[facilitator])
    create_session(starts_at=in_days(4))
    db.session.commit()
    items = client.get("/api/v1/sessions", headers=headers).get_json()["items"]
    assert [i["id"] for i in items] == [mine.id]


def test_a_naive_from_parameter_is_refused(client, app):
    _, headers = _auth()
    response = client.get("/api/v1/sessions", headers=headers,
                          query_string={"from": "2026-07-01T09:00:00"})
    assert response.status_code == 422


def test_the_openapi_document_describes_the_scheduling_endpoints(client, app):
    document = client.get("/api/v1/openapi.json").get_json()
    assert {"/venues", "/sessions"} <= {p.removeprefix("/api/v1") for p in document["paths"]}
