"""PUT /api/v1/sessions/{id}/register: outcomes back, bad input refused with nothing changed."""

from __future__ import annotations

import datetime as dt

import pytest

from diversion.attendance import register as attendance_register
from diversion.core.extensions import db
from diversion.referrals.models import ReferralStatus
from tests.builders import clear_fee, create_token, create_user, live_session_with_people

pytestmark = pytest.mark.usefixtures("clock")  # the app reads a clock stopped at NOW


def put(client, session_id, token, body):  # type: ignore[no-untyped-def]
    return client.put(f"/api/v1/sessions/{session_id}/register", json=body,
                      headers={"Authorization": f"Bearer {token}"})


def test_a_facilitator_submits_the_register_and_gets_each_new_status(app, client) -> None:
    facilitator = create_user("facilitator")
    session, (done, owes, away) = live_session_with_people(3, facilitator=facilitator)
    clear_fee(done)
    token = create_token(facilitator)
    db.session.commit()
    arrived = (session.starts_at - dt.timedelta(minutes=5)).isoformat()

    response = put(client, session.id, token, {"submit": True, "entries": [
        {"reference": done.reference, "status": "attended", "id_checked": True,
         "arrived_at": arrived},
        {"reference": owes.reference, "status": "attended", "id_checked": True},
        {"reference": away.reference, "status": "excused", "reason": "Jury service"},
    ]})

    assert response.status_code == 200, response.json
    by_ref = {e["reference"]: e for e in response.json["entries"]}
    assert by_ref[done.reference]["status"] == "completed"
    assert by_ref[owes.reference] == {"reference": owes.reference, "attendance": "attended",
                                      "outcome": "fee_outstanding", "status": "booked"}
    assert by_ref[away.reference]["status"] == "awaiting_booking"
    assert response.json["state"] == "submitted"

    again = put(client, session.id, token, {"submit": True, "entries": []})
    assert again.status_code == 409
    assert again.headers["Content-Type"].startswith("application/problem+json")


def test_bad_input_is_refused_clearly_and_changes_nothing(app, client) -> None:
    facilitator = create_user("facilitator")
    session, (referral,) = live_session_with_people(1, facilitator=facilitator)
    _, (elsewhere,) = live_session_with_people(1)
    token = create_token(facilitator)
    db.session.commit()

    unknown_status = put(client, session.id, token, {"submit": True, "entries": [
        {"reference": referral.reference, "status": "asleep"}]})
    assert unknown_status.status_code == 422
    assert "entries.0.status" in unknown_status.json["errors"]

    not_booked = put(client, session.id, token, {"submit": True, "entries": [
        {"reference": elsewhere.reference, "status": "absent"}]})
    assert not_booked.status_code == 422
    assert not_booked.json["errors"] == {
        "entries.0.reference": "This person is not booked on this session"}

    no_offset = put(client, session.id, token, {"submit": False, "entries": [
        {"reference": referral.reference, "status": "attended", "arrived_at": "2026-01-01T09:00:00"}]})
    assert no_offset.status_code == 422

    db.session.expire_all()
    assert attendance_register.get_register(session.id) is None
    assert referral.status is ReferralStatus.BOOKED


def test_a_facilitator_who_does_not_run_the_session_gets_404(app, client) -> None:
    session, (referral,) = live_session_with_people(1)
    token = create_token(create_user("facilitator"))
    db.session.commit()

    response = put(client, session.id, token, {"submit": True, "entries": [
        {"reference": referral.reference, "status": "absent"}]})

    assert response.status_code == 404


def test_a_register_more_than_an_hour_before_the_start_is_refused(app, client) -> None:
    manager = create_user("manager")
    session, (referral,) = live_session_with_people(1, started_minutes_ago=-90)
    token = create_token(manager)
    db.session.commit()

    response = put(client, session.id, token, {"submit": False, "entries": [
        {"reference": referral.reference, "status": "absent"}]})

    assert response.status_code == 409
    assert "opens an hour before" in response.json["detail"]


def test_police_cannot_take_a_register(app, client) -> None:
    session, _ = live_session_with_people(1)
    token = create_token(create_user("police"))
    db.session.commit()

    assert put(client, session.id, token, {"submit": False, "entries": []}).status_code == 403


def test_the_openapi_document_describes_the_register_endpoint(app, client) -> None:
    document = client.get("/api/v1/openapi.json").json
    assert "put" in document["paths"]["/sessions/{session_id}/register"]
