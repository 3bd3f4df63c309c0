"""The bookings and payments API (DESIGN.md table)."""

from __future__ import annotations

import datetime as dt

import pytest

from diversion.core.extensions import db
from diversion.referrals.models import ReferralStatus
from tests.builders import NOW, create_referral, create_token, create_user, future_session

pytestmark = pytest.mark.usefixtures("clock")  # the app reads a clock stopped at NOW
DEADLINE = NOW.date() + dt.timedelta(days=60)  # before a session 90 days on


def _auth(role: str = "manager"):  # type: ignore[no-untyped-def]
    user = create_user(role)
    token = create_token(user)
    return {"Authorization": f"Bearer {token}"}


def test_a_manager_books_and_cancels_through_the_api(client, app):
    headers, session = _auth(), future_session(5, capacity=2)
    referral = create_referral(completion_deadline=DEADLINE)
    db.session.commit()
    url = f"/api/v1/referrals/{referral.reference}/booking"
    created = client.post(url, headers=headers, json={"session_id": session.id})
    assert created.status_code == 201, created.json
    assert created.json["status"] == "booked" and created.json["booking"]["session_id"] == session.id
    listed = client.get("/api/v1/sessions", headers=headers).json["items"]
    assert [(i["booked"], i["available"]) for i in listed] == [(1, 1)]
    again = client.post(url, headers=headers, json={"session_id": session.id})
    assert again.status_code == 409
    deleted = client.delete(url, headers=headers)
    assert deleted.status_code == 200 and deleted.json["status"] == "awaiting_booking"
    db.session.expire_all()
    assert referral.status is ReferralStatus.AWAITING_BOOKING


def test_a_full_session_is_409_and_after_the_deadline_is_422(client, app):
    headers, full, late = _auth(), future_session(5, capacity=1), future_session(90)
    first, second = (
        create_referral(completion_deadline=DEADLINE), create_referral(completion_deadline=DEADLINE))
    db.session.commit()
    assert client.post(f"/api/v1/referrals/{first.reference}/booking", headers=headers,
                       json={"session_id": full.id}).status_code == 201
    response = client.post(f"/api/v1/referrals/{second.reference}/booking", headers=headers,
                           json={"session_id": full.id})
    assert response.status_code == 409 and response.mimetype == "application/problem+json"
    response = client.post(f"/api/v1/referrals/{second.reference}/booking", headers=headers,
                           json={"session_id": late.id})
    assert response.status_code == 422 and "completion deadline" in response.json["detail"]
    bad = client.post(f"/api/v1/referrals/{second.reference}/booking", headers=headers,
                      json={"session_id": "x"})
    assert bad.status_code == 422 and "session_id" in bad.json["errors"]


def test_police_cannot_book_through_the_api(client, app):
    headers, session, referral = _auth("police"), future_session(5), create_referral()
    db.session.commit()
    response = client.post(f"/api/v1/referrals/{referral.reference}/booking", headers=headers,
                           json={"session_id": session.id})
    assert response.status_code == 403


def test_payments_are_recorded_and_invalid_ones_refused(client, app):
    headers, referral = _auth(), create_referral(completion_deadline=DEADLINE)
    db.session.commit()
    url = f"/api/v1/referrals/{referral.reference}/payments"
    ok = client.post(url, headers=headers,
                     json={"amount_pence": 5000, "method": "card", "reference": "TX-1"})
    assert ok.status_code == 201
    assert ok.json == {"amount_pence": 5000, "method": "card", "reference": "TX-1",
                       "balance_pence": 15000}
    for body in ({"amount_pence": 0, "method": "card"}, {"amount_pence": 100, "method": "gold"},
                 {"amount_pence": 15001, "method": "cash"}, {"method": "cash"}):
        response = client.post(url, headers=headers, json=body)
        assert response.status_code == 422, body
