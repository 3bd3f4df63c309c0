"""The models accept what the OpenAPI document allows and refuse what it does not.

Cases schemathesis found where the two disagreed, kept as plain tests.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from diversion.api.schema import DATE_PATTERN, INSTANT_PATTERN
from diversion.core.extensions import db
from tests.builders import create_token, create_user, live_session_with_people

pytestmark = pytest.mark.usefixtures("clock")  # the app reads a clock stopped at NOW


def _bearer(user: Any) -> dict[str, str]:
    token = create_token(user)
    db.session.commit()
    return {"Authorization": f"Bearer {token}"}


def test_a_register_line_takes_its_status_as_the_documented_string(app: Any,
                                                                   client: FlaskClient) -> None:
    facilitator = create_user("facilitator")
    session, (referral,) = live_session_with_people(1, facilitator=facilitator)
    headers = _bearer(facilitator)

    response = client.put(f"/api/v1/sessions/{session.id}/register", headers=headers, json={
        "entries": [{"reference": referral.reference, "status": "absent"}]})

    assert response.status_code == 200, response.json
    assert response.json["entries"][0]["attendance"] == "absent"


def test_an_integer_written_with_a_zero_fraction_is_an_integer(app: Any,
                                                               client: FlaskClient) -> None:
    # JSON Schema's `integer` includes 3.0; 3.5 and "3" are still refused.
    headers = _bearer(create_user("manager"))
    venue = {"name": "Room", "online": True, "joining_link": "https://meet.example/r"}

    assert client.post("/api/v1/venues", headers=headers,
                       json={**venue, "capacity": 12.0}).status_code == 201
    for capacity in (12.5, "12", True):
        response = client.post("/api/v1/venues", headers=headers,
                               json={**venue, "capacity": capacity})
        assert response.status_code == 422 and set(response.json["errors"]) == {"capacity"}


@pytest.mark.parametrize("body, fields", [
    ({"online": True}, {"joining_link"}),
    ({"online": True, "joining_link": "http://meet.example/r"}, {"joining_link"}),
    ({}, {"address", "town", "postcode"}),
    ({"address": "1 Park Row", "town": "Leeds", "postcode": "LS1"}, {"postcode"}),
])
def test_a_venue_is_online_with_a_link_or_in_person_with_an_address(
        app: Any, client: FlaskClient, body: dict[str, Any], fields: set[str]) -> None:
    headers = _bearer(create_user("manager"))
    response = client.post("/api/v1/venues", headers=headers,
                           json={"name": "Room", "capacity": 5, **body})
    assert response.status_code == 422
    assert set(response.json["errors"]) == fields
    assert client.post("/api/v1/venues", headers=headers, json={
        "name": "Room", "capacity": 5, "address": " 1 Park Row ", "town": "Leeds",
        "postcode": " ls1 5hd "}).status_code == 201


@pytest.mark.parametrize("text, real", [
    ("2026-02-28", True), ("2028-02-29", True), ("2000-02-29", True), ("2026-04-30", True),
    ("2026-02-29", False), ("1900-02-29", False), ("2100-02-29", False), ("2026-04-31", False),
    ("2026-02-30", False), ("1899-12-31", False),
])
def test_the_date_pattern_is_the_calendar(app: Any, client: FlaskClient, text: str,
                                          real: bool) -> None:
    assert bool(re.match(DATE_PATTERN, text)) is real
    assert bool(re.match(INSTANT_PATTERN, f"{text}T09:30:00Z")) is real
    headers = _bearer(create_user("manager"))
    response = client.get(f"/api/v1/reports/outcomes?from={text}&to=2100-12-31",
                          headers=headers)
    # The date parses exactly when it is real; the period's own rules (a `from` after today,
    # 5 years or more) then refuse the range on `from` and `to` in their own words.
    assert response.status_code == 422
    refused = response.json["errors"].get("from")
    assert (refused in (None, "The date from must be today or in the past")) is real, refused
    if real:
        assert response.json["errors"]["to"].startswith("A report covers at most 5 years")


def test_each_operation_allowed_a_422_for_valid_data_describes_its_rules(
        client: FlaskClient) -> None:
    # schemathesis.toml may allow a 422 for schema-valid data only where the document's 422
    # says which business rules give it; and only for operations that exist.
    with (Path(__file__).resolve().parents[2] / "schemathesis.toml").open("rb") as file:
        entries = tomllib.load(file)["operations"]
    document = client.get("/api/v1/openapi.json").json
    labels = {f"{method.upper()} {path}": operation
              for path, item in document["paths"].items() for method, operation in item.items()}
    allowed = set()
    for entry in entries:
        assert set(entry) <= {"include-name", "include-name-regex", "checks"}, entry
        assert set(entry["checks"]) == {"positive_data_acceptance"}, entry
        statuses = entry["checks"]["positive_data_acceptance"]["expected-statuses"]
        assert set(statuses) == {"2xx", "3xx", "401", "403", "404", "409", "422", "429", "5xx"}
        matched = ({entry["include-name"]} if "include-name" in entry else
                   {label for label in labels if re.fullmatch(entry["include-name-regex"], label)})
        assert matched and matched <= set(labels), entry
        allowed |= matched
    for label in allowed:
        assert "no schema" in labels[label]["responses"]["422"]["description"], label
    assert allowed == {label for label, operation in labels.items()
                       if "no schema" in operation["responses"].get("422", {}).get(
                           "description", "")}
