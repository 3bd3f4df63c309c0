"""JSON bodies are bounded before parsing, and API text fields keep the single-line rule."""

from __future__ import annotations

import pytest

from diversion.api.schema import MAX_JSON_BYTES, MAX_JSON_DEPTH, json_depth_exceeds
from diversion.core.extensions import db
from tests.builders import create_force, create_programme, create_token, create_user

PROBLEM = "application/problem+json"


@pytest.fixture
def manager_headers(app):
    create_programme()
    create_force("WYP", "West Yorkshire Police")
    token = create_token(create_user("manager"))
    db.session.commit()
    return {"Authorization": f"Bearer {token}"}


def _venue(**overrides):
    values = {"name": "Civic Hall", "address": "1 Park Row", "town": "Leeds",
              "postcode": "LS1 5HD", "capacity": 20}
    values.update(overrides)
    return values


def _referral(**overrides):
    values = {
        "force_code": "WYP", "crime_reference": "13/12345/26", "referral_date": "2026-06-10",
        "family_name": "Hargreaves", "given_names": "Peter John", "date_of_birth": "1979-04-12",
        "offence_code": "SOA2003-S51A", "offence_date": "2026-06-01",
        "officer_email": "pc.jones@police.example", "admitted": True, "consented": True,
        "no_relevant_convictions": True, "email": "peter@example.com",
    }
    values.update(overrides)
    return values


@pytest.mark.parametrize("raw", ["[" * 100_000, '{"a":' * 50_000, "[" * (MAX_JSON_DEPTH + 1)
                                 + "]" * (MAX_JSON_DEPTH + 1)])
def test_deeply_nested_json_is_a_400_problem_before_parsing(client, manager_headers, raw):
    response = client.post("/api/v1/venues", data=raw, headers=manager_headers,
                           content_type="application/json")
    assert response.status_code == 400
    assert response.mimetype == PROBLEM
    assert "deep" in response.json["detail"]


def test_a_body_over_the_size_limit_is_a_413_problem(client, manager_headers):
    raw = '{"name": "' + "x" * MAX_JSON_BYTES + '"}'
    response = client.post("/api/v1/venues", data=raw, headers=manager_headers,
                           content_type="application/json")
    assert response.status_code == 413
    assert response.mimetype == PROBLEM
    assert response.json["status"] == 413


@pytest.mark.parametrize("raw", ["NaN", '{"capacity": Infinity}', '{"a": 1', "\xff"])
def test_what_is_not_json_is_a_400_problem(client, manager_headers, raw):
    response = client.post("/api/v1/venues", data=raw, headers=manager_headers,
                           content_type="application/json")
    assert response.status_code == 400
    assert response.mimetype == PROBLEM


def test_brackets_inside_strings_do_not_count_as_nesting():
    assert not json_depth_exceeds(b'{"a": "[[[[[[[[[[\\"[[[["}', 2)
    assert json_depth_exceeds(b'{"a": [[[]]]}', 3)


@pytest.mark.parametrize("field", ["name", "town", "postcode", "joining_link"])
@pytest.mark.parametrize("text", ["Civic\nHall", "Civic\rHall", "Civic\tHall", "Civic\x00",
                                  "Civic\x85Hall", "Civic\u2028Hall"])
def test_a_venues_single_line_fields_refuse_line_breaks_and_controls(client, manager_headers,
                                                                      field, text):
    response = client.post("/api/v1/venues", json=_venue(**{field: text}),
                           headers=manager_headers)
    assert response.status_code == 422
    assert response.mimetype == PROBLEM
    assert "one line" in response.json["errors"][field]


@pytest.mark.parametrize("field", ["family_name", "given_names", "crime_reference",
                                   "address_line_1", "town", "offence_location"])
def test_a_referrals_single_line_fields_refuse_line_breaks(client, manager_headers, field):
    response = client.post("/api/v1/referrals", json=_referral(**{field: "Smith\r\nJones"}),
                           headers=manager_headers)
    assert response.status_code == 422
    assert "one line" in response.json["errors"][field]


def test_multi_line_fields_accept_line_breaks_but_no_other_controls(client, manager_headers):
    accepted = client.post("/api/v1/venues",
                           json=_venue(address="1 Park Row\r\nCity Centre", notes="Lift\nat back"),
                           headers=manager_headers)
    assert accepted.status_code == 201, accepted.json
    refused = client.post("/api/v1/venues", json=_venue(notes="Lift\x07"),
                          headers=manager_headers)
    assert refused.status_code == 422
    assert "notes" in refused.json["errors"]
    needs = client.post("/api/v1/referrals", json=_referral(access_needs="Wheelchair\nHearing loop"),
                        headers=manager_headers)
    assert needs.status_code == 201, needs.json


@pytest.mark.parametrize(("body", "field"), [
    ({"starts_at": "2026-07-01T09:00:00+25:00"}, "starts_at"),
    ({"starts_at": "9999-12-31T09:00:00+00:00"}, "starts_at"),
])
def test_422_messages_are_words_not_validator_internals(client, manager_headers, body, field):
    values = {"venue_id": 1, "starts_at": "2026-07-01T09:00:00+01:00",
              "ends_at": "2026-07-01T16:00:00+01:00", "capacity": 10,
              "facilitator_emails": ["a@example.test"], **body}
    response = client.post("/api/v1/sessions", json=values, headers=manager_headers)
    assert response.status_code == 422
    message = response.json["errors"][field]
    assert "timedelta" not in message and "Input should" not in message
    assert message.startswith("Enter a date and time")


def test_a_date_outside_1900_to_2100_is_refused_with_a_clear_message(client, manager_headers):
    response = client.get("/api/v1/reports/outcomes?from=2026-01-01&to=9999-12-31",
                          headers=manager_headers)
    assert response.status_code == 422
    assert response.json["errors"]["to"] == "To must be between 1 January 1900 and 31 December 2100"


def test_a_405_names_the_allowed_methods(client, manager_headers):
    response = client.delete("/api/v1/me", headers=manager_headers)
    assert response.status_code == 405
    assert response.mimetype == PROBLEM
    assert set(response.headers["Allow"].replace(" ", "").split(",")) >= {"GET"}
