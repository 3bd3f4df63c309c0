"""A body naming a stored object that does not exist is a 404 naming the field, not a 422.

The document allows any id and any code; only what is stored can say whether one names
something, just as a path's id does. Each test also sends the same body naming something that
does exist, so the 404 cannot come from anything else.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from flask.testing import FlaskClient

from diversion.core.extensions import db
from tests.builders import (
    NOW,
    create_force,
    create_programme,
    create_referral,
    create_session,
    create_token,
    create_user,
    create_venue,
    in_days,
)

pytestmark = pytest.mark.usefixtures("clock")  # the app reads a clock stopped at NOW


def _headers(role: str = "manager", **overrides: Any) -> dict[str, str]:
    token = create_token(create_user(role, **overrides))
    db.session.commit()
    return {"Authorization": f"Bearer {token}"}


def _assert_names(response: Any, field: str, words: str) -> None:
    assert response.status_code == 404, response.json
    assert response.mimetype == "application/problem+json"
    assert words in response.json["detail"]
    assert set(response.json["errors"]) == {field}


def _session_body(venue_id: int, facilitator_email: str, **overrides: Any) -> dict[str, Any]:
    starts_at = in_days(5)
    body = {"venue_id": venue_id, "starts_at": starts_at.isoformat(),
            "ends_at": (starts_at + dt.timedelta(hours=7)).isoformat(), "capacity": 10,
            "facilitator_emails": [facilitator_email]}
    body.update(overrides)
    return body


def test_booking_onto_a_session_that_does_not_exist_is_404(app: Any, client: FlaskClient) -> None:
    referral = create_referral()
    real = create_session(starts_at=NOW - dt.timedelta(days=1), now=NOW - dt.timedelta(days=2))
    headers = _headers()
    url = f"/api/v1/referrals/{referral.reference}/booking"

    response = client.post(url, json={"session_id": real.id + 1000}, headers=headers)

    _assert_names(response, "session_id", f"No session has the id {real.id + 1000}")
    # The session that exists is found, then refused for having started: a business rule.
    assert client.post(url, json={"session_id": real.id}, headers=headers).status_code == 422


def test_a_session_at_a_venue_that_does_not_exist_is_404(app: Any, client: FlaskClient) -> None:
    create_programme()
    venue, facilitator = create_venue(), create_user("facilitator")
    headers = _headers()

    response = client.post("/api/v1/sessions", headers=headers,
                           json=_session_body(venue.id + 1000, facilitator.email))

    _assert_names(response, "venue_id", f"No venue has the id {venue.id + 1000}")
    assert client.post("/api/v1/sessions", headers=headers,
                       json=_session_body(venue.id, facilitator.email)).status_code == 201


def test_a_session_naming_no_facilitator_or_programme_is_404(app: Any,
                                                             client: FlaskClient) -> None:
    create_programme()
    venue, manager = create_venue(), create_user("manager")
    headers = _headers()

    for email in ("nobody@example.test", manager.email):
        response = client.post("/api/v1/sessions", headers=headers,
                               json=_session_body(venue.id, email))
        _assert_names(response, "facilitator_emails",
                      f"No active facilitator has the email {email}")
    response = client.post("/api/v1/sessions", headers=headers, json=_session_body(
        venue.id, create_user("facilitator").email, programme_code="NOPE"))
    _assert_names(response, "programme_code", "No programme has the code NOPE")


def test_a_referral_naming_no_programme_or_force_is_404(app: Any, client: FlaskClient) -> None:
    create_programme()
    force = create_force("WYP", "West Yorkshire Police")
    officer_headers = _headers("police", force=force)
    body = {
        "crime_reference": "13/12345/26", "referral_date": "2026-06-10",
        "family_name": "Hargreaves", "given_names": "Peter John", "date_of_birth": "1979-04-12",
        "offence_code": "SOA2003-S51A", "offence_date": "2026-06-01",
        "officer_email": "pc.jones@police.example", "admitted": True, "consented": True,
        "no_relevant_convictions": True, "email": "peter@example.com",
    }

    response = client.post("/api/v1/referrals", headers=officer_headers,
                           json={**body, "programme_code": "nope"})
    _assert_names(response, "programme_code", "No programme has the code NOPE")
    response = client.post("/api/v1/referrals", headers=_headers(),
                           json={**body, "force_code": "XYZ"})
    _assert_names(response, "force_code", "No police force has the code XYZ")
    # A police user naming any force but their own is the documented 422, stored or not.
    response = client.post("/api/v1/referrals", headers=officer_headers,
                           json={**body, "force_code": "XYZ"})
    assert response.status_code == 422 and "force_code" in response.json["errors"]
