"""The API frame: bearer tokens, problem+json errors, body parsing, and the OpenAPI document."""

from __future__ import annotations

import datetime as dt

import pytest
from flask import Flask
from openapi_spec_validator import validate as validate_openapi
from pydantic import BaseModel, ConfigDict
from sqlalchemy import select
from werkzeug.exceptions import HTTPException

from diversion.api.schema import parse_body, parse_query, validate
from diversion.auth.access import roles
from diversion.auth.models import ApiToken, Role
from diversion.auth.services import revoke_api_token
from diversion.core.errors import ValidationFailed
from diversion.core.extensions import db
from tests.builders import NOW, create_token, create_user
from tests.core.apps import separate_app

PROBLEM = "application/problem+json"


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _assert_problem(response, status: int) -> dict:
    assert response.status_code == status
    assert response.mimetype == PROBLEM
    body = response.json
    assert body["status"] == status
    assert body["title"] and body["detail"]
    return body


def test_me_answers_with_the_tokens_account(client):
    officer = create_user("police")
    token = create_token(officer)
    db.session.commit()
    response = client.get("/api/v1/me", headers=_bearer(token))
    assert response.status_code == 200
    assert response.json == {"id": officer.id, "email": officer.email, "name": officer.name,
                             "role": "police", "force_code": officer.force.code}


def test_using_a_token_records_when_it_was_last_used(client):
    token = create_token(create_user("manager"))
    db.session.commit()
    client.get("/api/v1/me", headers=_bearer(token))
    db.session.expire_all()
    assert db.session.scalar(select(ApiToken.last_used_at)) is not None


@pytest.mark.parametrize("header", [
    None,
    "Bearer",
    "Bearer ",
    "Bearer dvn_not-a-real-token",
    "Bearer not-even-the-prefix",
    "Basic dXNlcjpwYXNz",
    "Bearer dvn_" + "x" * 5000,
])
def test_a_missing_or_invalid_token_is_a_401_problem(client, header):
    headers = {"Authorization": header} if header is not None else {}
    response = client.get("/api/v1/me", headers=headers)
    body = _assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert body["instance"] == "/api/v1/me"


def test_a_revoked_token_is_a_401_problem(client):
    user = create_user("manager")
    token = create_token(user)
    admin = create_user("admin")
    revoke_api_token(token=db.session.scalar(select(ApiToken)), actor=admin, now=NOW)
    db.session.commit()
    _assert_problem(client.get("/api/v1/me", headers=_bearer(token)), 401)


def test_a_deactivated_users_token_is_a_401_problem(client):
    user = create_user("manager")
    token = create_token(user)
    user.is_active_account = False
    db.session.commit()
    _assert_problem(client.get("/api/v1/me", headers=_bearer(token)), 401)


def test_a_signed_in_browser_session_does_not_authenticate_the_api(client, login_as):
    login_as("manager")
    _assert_problem(client.get("/api/v1/me"), 401)


def test_an_unknown_path_under_the_api_is_a_404_problem(client):
    body = _assert_problem(client.get("/api/v1/no-such-thing"), 404)
    assert body["instance"] == "/api/v1/no-such-thing"


def test_a_wrong_method_is_a_405_problem(client):
    token = create_token(create_user("manager"))
    db.session.commit()
    _assert_problem(client.delete("/api/v1/me", headers=_bearer(token)), 405)


def _add_managers_only_route(extra: Flask) -> None:
    # Registered under the api blueprint's name on a separate app only: the production
    # url_map is untouched.
    extra.add_url_rule("/api/v1/test-only/managers", "api.test_only_managers",
                       roles(Role.MANAGER)(lambda: {"ok": True}))


def test_a_role_that_is_not_allowed_is_a_403_problem(app, database_url, tmp_path):
    police_token = create_token(create_user("police"))
    manager_token = create_token(create_user("manager"))
    db.session.commit()
    with separate_app(database_url, tmp_path, setup=_add_managers_only_route) as extra:
        client = extra.test_client()
        _assert_problem(client.get("/api/v1/test-only/managers", headers=_bearer(police_token)), 403)
        _assert_problem(client.get("/api/v1/test-only/managers"), 401)
        allowed = client.get("/api/v1/test-only/managers", headers=_bearer(manager_token))
        assert allowed.status_code == 200 and allowed.json == {"ok": True}


class Venue(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    capacity: int
    opens_at: dt.datetime | None = None


def _problem_for(app: Flask, error: Exception):
    """The response the app's own error handlers give for an error raised in a request."""
    return app.make_response(app.handle_user_exception(error))


def _parse(app, **request):
    with app.test_request_context("/api/v1/me", method="POST", **request):
        try:
            return parse_body(Venue)
        except (HTTPException, ValidationFailed) as error:
            return _problem_for(app, error)


def test_a_valid_json_body_is_parsed_into_the_model(app):
    venue = _parse(app, json={"name": "Hall", "capacity": 20})
    assert venue == Venue(name="Hall", capacity=20)


def test_a_body_that_is_not_json_is_a_415_problem(app):
    _assert_problem(_parse(app, data="name=Hall", content_type="application/x-www-form-urlencoded"), 415)


@pytest.mark.parametrize("raw", ["{not json", "[1, 2]", '"a string"', "", "null"])
def test_malformed_json_is_a_400_problem(app, raw):
    _assert_problem(_parse(app, data=raw, content_type="application/json"), 400)


def test_invalid_fields_are_a_422_problem_naming_each_field(app):
    response = _parse(app, json={"capacity": "lots", "colour": "red"})
    body = _assert_problem(response, 422)
    assert body["errors"] == {"name": "This field is required",
                              "capacity": "Enter a whole number",
                              "colour": "This field is not allowed"}


def test_validate_reports_a_bad_value_under_the_fields_name(app):
    with pytest.raises(ValidationFailed) as raised:
        validate(Venue, {"name": "Hall", "capacity": 1, "opens_at": "not a time"})
    assert set(raised.value.errors) == {"opens_at"}


def test_query_parameters_are_validated_too(app):
    class Page(BaseModel):
        limit: int = 50

    with app.test_request_context("/api/v1/me?limit=ten"), pytest.raises(ValidationFailed) as raised:
        parse_query(Page)
    assert set(raised.value.errors) == {"limit"}
    with app.test_request_context("/api/v1/me?limit=10"):
        assert parse_query(Page).limit == 10


def test_the_openapi_document_is_valid_openapi_3_1(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    document = response.json
    assert document["openapi"].startswith("3.1")
    validate_openapi(document)


def test_the_openapi_document_lists_me_with_bearer_security(client):
    document = client.get("/api/v1/openapi.json").json
    me = document["paths"]["/me"]["get"]
    assert me["security"] == [{"bearer": []}]
    assert document["components"]["securitySchemes"]["bearer"] == {"type": "http",
                                                                    "scheme": "bearer"}
    assert set(me["responses"]) >= {"200", "401", "403"}
    schema_ref = me["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    assert schema_ref == "#/components/schemas/Me"
    assert set(document["components"]["schemas"]["Me"]["properties"]) == {
        "id", "email", "name", "role", "force_code"}


def test_the_openapi_document_is_public(client):
    assert client.get("/api/v1/openapi.json").status_code == 200
