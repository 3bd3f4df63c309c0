"""The referrals API: create, list with a cursor, read, withdraw; every status in the table."""

import datetime as dt

import pytest
from sqlalchemy import select

from diversion.audit.models import AuditCategory, AuditEvent
from diversion.bookings.fees import record_payment, waive_fee
from diversion.bookings.places import book_place, cancel_booking
from diversion.core.extensions import db
from diversion.referrals import paging
from diversion.referrals.models import Referral
from tests.builders import (
    NOW,
    create_force,
    create_programme,
    create_referral,
    create_token,
    create_user,
    create_venue,
    future_session,
)


@pytest.fixture
def force(app):
    create_programme()
    return create_force("WYP", "West Yorkshire Police")


@pytest.fixture
def officer(force):
    return create_user("police", force=force, email="pc.jones@police.example")


def bearer(user):
    token = create_token(user)
    db.session.commit()
    return {"Authorization": f"Bearer {token}"}


def body(**overrides):
    values = {
        "crime_reference": "13/12345/26", "referral_date": "2026-06-10",
        "family_name": "Hargreaves", "given_names": "Peter John", "date_of_birth": "1979-04-12",
        "offence_code": "SOA2003-S51A", "offence_date": "2026-06-01",
        "officer_email": "pc.jones@police.example", "admitted": True, "consented": True,
        "no_relevant_convictions": True, "email": "peter@example.com",
    }
    values.update(overrides)
    return values


def test_a_police_officer_refers_a_person_for_their_own_force(client, officer):
    response = client.post("/api/v1/referrals", json=body(), headers=bearer(officer))
    assert response.status_code == 201, response.json
    data = response.json
    assert data["status"] == "awaiting_booking"
    assert len(data["pin"]) == 6 and data["pin"].isdigit()
    assert data["booking_deadline"] == "2026-07-08"
    assert {r["code"] for r in data["eligibility"]} >= {"adult", "offence_code", "timing"}
    referral = db.session.scalar(select(Referral).where(Referral.reference == data["reference"]))
    assert referral.force.code == "WYP"


def test_a_police_officer_cannot_refer_for_another_force(client, officer):
    create_force("NYP", "North Yorkshire Police")
    response = client.post("/api/v1/referrals", json=body(force_code="NYP"),
                           headers=bearer(officer))
    assert response.status_code == 422
    assert "own force" in response.json["errors"]["force_code"]


def test_an_ineligible_referral_is_422_with_the_eligibility_list(client, officer):
    response = client.post("/api/v1/referrals", json=body(admitted=False),
                           headers=bearer(officer))
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    failed = [r for r in response.json["eligibility"] if not r["passed"]]
    assert [r["code"] for r in failed] == ["admitted_consented"]


def test_a_duplicate_crime_reference_is_409(client, officer):
    headers = bearer(officer)
    assert client.post("/api/v1/referrals", json=body(), headers=headers).status_code == 201
    again = client.post("/api/v1/referrals", json=body(family_name="Other"), headers=headers)
    assert again.status_code == 409


@pytest.mark.parametrize("payload, field", [
    (body(admitted="yes"), "admitted"),
    (body(referral_date="10/06/2026"), "referral_date"),
    (body(date_of_birth=315532800), "date_of_birth"),
    (body(family_name="x" * 100_000), "family_name"),
    (body(shoe_size=42), "shoe_size"),
    (body(given_names=None), "given_names"),
    (body(crime_reference="CR\x00"), "crime_reference"),
    ({k: v for k, v in body().items() if k != "offence_date"}, "offence_date"),
])
def test_invalid_fields_are_422_with_errors_by_field(client, officer, payload, field):
    response = client.post("/api/v1/referrals", json=payload, headers=bearer(officer))
    assert response.status_code == 422
    assert field in response.json["errors"]


def test_a_body_that_is_not_a_json_object_is_refused_without_a_500(client, officer):
    headers = bearer(officer)
    malformed = client.post("/api/v1/referrals", data="{not json",
                            content_type="application/json", headers=headers)
    assert malformed.status_code == 400
    a_list = client.post("/api/v1/referrals", json=[1, 2], headers=headers)
    assert a_list.status_code == 400
    not_json = client.post("/api/v1/referrals", data="a=b", headers=headers)
    assert not_json.status_code == 415


def test_facilitators_and_anonymous_callers_are_refused(client, force):
    facilitator = create_user("facilitator")
    assert client.post("/api/v1/referrals", json=body(),
                       headers=bearer(facilitator)).status_code == 403
    assert client.get("/api/v1/referrals").status_code == 401


def test_the_list_pages_with_an_opaque_cursor_and_police_see_only_their_force(
        client, officer, force):
    for _ in range(5):
        create_referral(force=force)
    other = create_force("NYP", "North Yorkshire Police")
    create_referral(force=other)
    headers = bearer(officer)
    seen = []
    url = "/api/v1/referrals?limit=2"
    while url:
        page = client.get(url, headers=headers)
        assert page.status_code == 200
        seen += [item["reference"] for item in page.json["items"]]
        cursor = page.json["next_cursor"]
        url = f"/api/v1/referrals?limit=2&cursor={cursor}" if cursor else None
    assert len(seen) == len(set(seen)) == 5
    manager = create_user("manager")
    everything = client.get("/api/v1/referrals?limit=200", headers=bearer(manager))
    assert len(everything.json["items"]) == 6
    filtered = client.get("/api/v1/referrals?status=withdrawn", headers=bearer(manager))
    assert filtered.json == {"items": [], "next_cursor": None}


def test_the_api_cursor_is_the_web_lists_cursor(client, officer, force):
    for _ in range(3):
        create_referral(force=force)
    db.session.commit()
    first = client.get("/api/v1/referrals?limit=2", headers=bearer(officer)).json
    last_shown = db.session.scalar(select(Referral).where(
        Referral.reference == first["items"][-1]["reference"]))
    assert first["next_cursor"] == paging.Cursor.of(last_shown).encode()
    second = client.get(f"/api/v1/referrals?limit=2&cursor={first['next_cursor']}",
                        headers=bearer(officer)).json
    assert len(second["items"]) == 1 and second["next_cursor"] is None


@pytest.mark.parametrize("query", ["limit=0", "limit=201", "limit=ten", "status=lost"])
def test_a_bad_limit_or_status_is_422(client, officer, query):
    response = client.get(f"/api/v1/referrals?{query}", headers=bearer(officer))
    assert response.status_code == 422


# Not base64; base64 of [1,2]; of ["2026-06-01", 0] (no row has id 0); of ["not a date", 5].
@pytest.mark.parametrize("cursor", ["rubbish", "WzEsMl0", "WyIyMDI2LTA2LTAxIiwwXQ",
                                    "WyJub3QgYSBkYXRlIiw1XQ", "0" * 200])
def test_a_cursor_that_cannot_be_decoded_names_no_page_so_is_404(client, officer, cursor):
    response = client.get(f"/api/v1/referrals?cursor={cursor}", headers=bearer(officer))
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"
    assert response.json["detail"] == "That page of results no longer exists"


def test_a_referral_is_read_with_person_offence_fee_and_history_and_the_view_audited(
        client, officer, force):
    referral = create_referral(force=force)
    response = client.get(f"/api/v1/referrals/{referral.reference}", headers=bearer(officer))
    assert response.status_code == 200
    data = response.json
    assert data["person"]["family_name"] == referral.person.family_name
    assert data["offence"]["crime_reference"] == referral.crime_reference
    assert data["booking"] is None
    assert data["fee"] == {"amount_pence": 20000, "paid_pence": 0, "waived": False,
                           "balance_pence": 20000}
    assert [h["to_status"] for h in data["history"]] == ["awaiting_booking"]
    views = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "referral.view"))
    assert [v.category for v in views] == [AuditCategory.CONSULTATION]


def test_a_booked_referral_shows_its_session_venue_and_what_is_left_to_pay(
        client, officer, force):
    referral = create_referral(force=force)
    session = future_session(venue=create_venue(name="Civic Hall"))
    book_place(referral=referral, session=session, actor=None, now=NOW)
    manager = create_user("manager")
    record_payment(referral=referral, amount_pence=5000, method="card", reference="R1",
                   actor=manager, now=NOW)
    db.session.commit()
    data = client.get(f"/api/v1/referrals/{referral.reference}", headers=bearer(officer)).json
    assert data["status"] == "booked"
    starts_at = dt.datetime.fromisoformat(data["booking"].pop("starts_at"))
    assert starts_at == session.starts_at and starts_at.utcoffset() is not None
    assert data["booking"] == {"session_id": session.id, "venue": "Civic Hall",
                               "status": "active"}
    assert data["fee"] == {"amount_pence": 20000, "paid_pence": 5000, "waived": False,
                           "balance_pence": 15000}

    waive_fee(referral=referral, reason="Hardship", actor=manager, now=NOW)
    cancel_booking(referral=referral, actor=manager, now=NOW, reason="Asked to")
    db.session.commit()
    data = client.get(f"/api/v1/referrals/{referral.reference}", headers=bearer(officer)).json
    assert data["booking"] is None  # a cancelled booking no longer holds a place
    assert data["fee"] == {"amount_pence": 20000, "paid_pence": 5000, "waived": True,
                           "balance_pence": 0}


def test_another_forces_referral_and_an_unknown_one_are_404(client, officer):
    other = create_referral(force=create_force("NYP", "North Yorkshire Police"))
    headers = bearer(officer)
    assert client.get(f"/api/v1/referrals/{other.reference}", headers=headers).status_code == 404
    assert client.get("/api/v1/referrals/NOSUCH99", headers=headers).status_code == 404
    assert client.get("/api/v1/referrals/%00bad", headers=headers).status_code == 404
    assert client.post(f"/api/v1/referrals/{other.reference}/withdraw", json={"reason": "x"},
                       headers=headers).status_code == 404


def test_withdrawing_is_200_then_409_once_ended(client, officer, force):
    referral = create_referral(force=force)
    headers = bearer(officer)
    url = f"/api/v1/referrals/{referral.reference}/withdraw"
    assert client.post(url, json={}, headers=headers).status_code == 422
    first = client.post(url, json={"reason": "Charged instead"}, headers=headers)
    assert first.status_code == 200
    assert first.json == {"reference": referral.reference, "status": "withdrawn"}
    assert client.post(url, json={"reason": "Again"}, headers=headers).status_code == 409


def test_the_openapi_document_describes_the_referral_models(client):
    document = client.get("/api/v1/openapi.json").json
    assert "post" in document["paths"]["/referrals"] and "get" in document["paths"]["/referrals"]
    assert "/referrals/{reference}/withdraw" in document["paths"]
    schemas = document["components"]["schemas"]
    assert {"NewReferral", "CreatedReferralOut", "ReferralPage", "ReferralDetail"} <= set(schemas)
    assert schemas["NewReferral"]["properties"]["admitted"]["type"] == "boolean"
