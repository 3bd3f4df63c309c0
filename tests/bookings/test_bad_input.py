"""Issue 4's "Bad input", each through the page and through the API: the right status code, a
clear message, and nothing changed."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from diversion.audit.models import AuditCategory, AuditEvent
from diversion.bookings.models import Booking
from diversion.core.extensions import db
from diversion.core.timeutils import now_utc, to_london
from diversion.courses import planning as courses_planning
from diversion.courses.models import CourseSession
from diversion.outbox.models import OutboxMessage
from diversion.referrals import lifecycle
from diversion.referrals.models import ReferralEvent, ReferralEventType
from tests.builders import (
    NOW,
    create_programme,
    create_referral,
    create_token,
    create_user,
    create_venue,
    future_session,
)

pytestmark = pytest.mark.usefixtures("clock")  # the app reads a clock stopped at NOW
DEADLINE = NOW.date() + dt.timedelta(days=60)  # before a session 90 days on


def _snapshot() -> tuple:
    db.session.expire_all()
    count = lambda model: db.session.scalar(select(func.count()).select_from(model))  # noqa: E731
    # Seeing a referral's page is audited (consultation); only changes are counted here.
    changes = db.session.scalar(select(func.count()).select_from(AuditEvent).where(
        AuditEvent.category != AuditCategory.CONSULTATION))
    return (count(CourseSession), count(Booking), count(OutboxMessage), count(ReferralEvent),
            changes,
            db.session.scalar(select(func.coalesce(func.sum(CourseSession.booked_count), 0))))


def _headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {create_token(create_user('manager'))}"}


# Sessions ---------------------------------------------------------------------------------

def _session_form(venue, facilitator, starts: dt.datetime, **overrides):  # type: ignore[no-untyped-def]
    london = to_london(starts)
    data = {"programme": str(create_programme().id), "venue": str(venue.id),
            "first_day-day": str(london.day), "first_day-month": str(london.month),
            "first_day-year": str(london.year), "start_time": "10:00", "end_time": "16:00",
            "capacity": "10", "facilitators": [str(facilitator.id)], "frequency": "once",
            "ends": "count", "count": ""}
    data.update(overrides)
    return data


def _session_body(venue, facilitator, starts: dt.datetime, **overrides):  # type: ignore[no-untyped-def]
    body = {"venue_id": venue.id, "starts_at": starts.isoformat(),
            "ends_at": (starts + dt.timedelta(hours=6)).isoformat(), "capacity": 10,
            "facilitator_emails": [facilitator.email], "programme_code": create_programme().code}
    body.update(overrides)
    return body


@pytest.mark.parametrize(("form", "body", "message", "api_message"), [
    ({"end_time": "09:00"}, {"ends_at": -1}, "The end time must be after the start time",
     "The session must end after it starts"),
    ({"capacity": "9"}, {"capacity": 9}, "holds 8 people", "holds 8 people"),
], ids=["ends-before-it-starts", "more-places-than-the-venue"])
def test_a_bad_session_is_refused_on_the_page_and_in_the_api_and_nothing_is_saved(
        client, login_as, form, body, message, api_message):
    login_as("manager")
    venue, facilitator = create_venue(capacity=8), create_user("facilitator")
    headers = _headers()
    starts = future_session(10).starts_at
    db.session.commit()
    before = _snapshot()
    page = client.post("/sessions/new", data=_session_form(venue, facilitator, starts, **form))
    assert page.status_code == 422 and message in page.get_data(as_text=True)
    assert _snapshot() == before
    if body.get("ends_at") == -1:
        body = {"ends_at": (starts - dt.timedelta(hours=1)).isoformat()}
    api = client.post("/api/v1/sessions", headers=headers,
                      json=_session_body(venue, facilitator, starts, **body))
    assert api.status_code == 422 and api.mimetype == "application/problem+json"
    errors = api.get_json()["errors"]
    assert any(api_message in text for text in errors.values()), errors
    assert _snapshot() == before


# Bookings ---------------------------------------------------------------------------------

def _referral():  # type: ignore[no-untyped-def]
    return create_referral(completion_deadline=DEADLINE)


def _past_session():  # type: ignore[no-untyped-def]
    session = future_session(10)
    session.starts_at = now_utc() - dt.timedelta(days=2)
    session.ends_at = session.starts_at + dt.timedelta(hours=7)
    return session


def _cancelled_session():  # type: ignore[no-untyped-def]
    session = future_session(10)
    courses_planning.cancel_session(session=session, reason="Venue closed", actor=None,
                                       now=now_utc())
    return session


def _withdrawn_referral():  # type: ignore[no-untyped-def]
    referral = _referral()
    lifecycle.transition(referral, ReferralEventType.WITHDRAWN, actor=None, now=now_utc(),
                         reason="Charged instead")
    return referral


CASES = {
    # name: (make the session, make the referral, page status, API status, words shown)
    "after-the-deadline": (lambda: future_session(90), _referral, 422, 422, "completion deadline"),
    "a-cancelled-session": (_cancelled_session, _referral, 422, 422, "not running"),
    "a-past-session": (_past_session, _referral, 422, 422, "already started"),
    "a-withdrawn-referral": (lambda: future_session(10), _withdrawn_referral, 409, 409, "withdrawn"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_booking_that_cannot_be_made_is_refused_on_the_page_and_in_the_api(
        client, login_as, case):
    make_session, make_referral, page_status, api_status, words = CASES[case]
    login_as("manager")
    session, referral = make_session(), make_referral()
    headers = _headers()
    db.session.commit()
    before, status = _snapshot(), referral.status
    page = client.post(f"/bookings/referral/{referral.reference}/book",
                       data={"session_id": str(session.id)})
    assert page.status_code == page_status
    assert words in page.get_data(as_text=True).lower()
    assert _snapshot() == before
    api = client.post(f"/api/v1/referrals/{referral.reference}/booking", headers=headers,
                      json={"session_id": session.id})
    assert api.status_code == api_status and api.mimetype == "application/problem+json"
    assert words in api.get_json()["detail"].lower()
    assert _snapshot() == before
    db.session.refresh(referral)
    assert referral.status is status


def test_a_double_booking_is_refused_on_the_page_and_in_the_api(client, login_as):
    login_as("manager")
    session, other, referral = future_session(10), future_session(12), _referral()
    headers = _headers()
    db.session.commit()
    url = f"/api/v1/referrals/{referral.reference}/booking"
    assert client.post(url, headers=headers, json={"session_id": session.id}).status_code == 201
    before = _snapshot()
    again = client.post(url, headers=headers, json={"session_id": session.id})
    assert again.status_code == 409 and "already" in again.get_json()["detail"].lower()
    elsewhere = client.post(url, headers=headers, json={"session_id": other.id})
    assert elsewhere.status_code == 409
    assert _snapshot() == before
    page = client.post(f"/bookings/referral/{referral.reference}/book",
                       data={"session_id": str(session.id)})
    assert page.status_code == 422
    assert "Choose a different session from the one booked" in page.get_data(as_text=True)
    assert _snapshot() == before
