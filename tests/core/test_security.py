"""Security headers on every response, CSRF on every form, and production-only settings."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event, func, select

from diversion import create_app
from diversion.audit.models import AuditEvent
from diversion.auth.models import RefusedAttempt, User
from diversion.core.config import ConfigError
from diversion.core.extensions import db
from tests.builders import DEFAULT_PASSWORD, create_token, create_user
from tests.core.apps import separate_app


def _assert_security_headers(response) -> None:
    csp = response.headers["Content-Security-Policy"]
    assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp
    assert "frame-ancestors 'none'" in csp
    assert "script-src 'self'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"


def test_every_kind_of_response_carries_the_security_headers(app, client, login_as):
    token = create_token(create_user("manager"))
    db.session.commit()
    anonymous = [
        client.get("/sign-in"),  # a page
        client.get("/dashboard"),  # a redirect to sign in
        client.get("/no-such-page"),  # a 404 page
        client.get("/static/css/app.css"),  # a static file
        client.get("/api/v1/me"),  # an API 401
        client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}),  # API JSON
        client.get("/api/v1/openapi.json"),
        client.post("/sign-in", data={"email": "x@example.test", "password": "wrong"}),
    ]
    login_as("police")
    signed_in = [client.get("/dashboard"), client.get("/admin/users")]  # a page and a 403
    for response in anonymous + signed_in:
        _assert_security_headers(response)
        response.close()  # the static file's handle


def test_pages_with_personal_data_are_not_cached_but_static_files_are(app, client, login_as):
    login_as("manager")
    assert client.get("/dashboard").headers["Cache-Control"] == "no-store"
    with client.get("/static/css/app.css") as static:
        assert "no-store" not in static.headers.get("Cache-Control", "")


def test_pages_carry_no_inline_script_or_style(app, client, login_as):
    login_as("admin")
    for path in ("/sign-in", "/dashboard", "/admin/users", "/admin/users/new", "/admin/tokens"):
        page = client.get(path).get_data(as_text=True)
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page), path
        assert " style=" not in page, path
        assert " onclick=" not in page.lower(), path


def test_development_sends_no_hsts_and_no_secure_cookie(app, client):
    user = create_user("manager")
    db.session.commit()
    response = client.post("/sign-in", data={"email": user.email, "password": DEFAULT_PASSWORD})
    assert "Strict-Transport-Security" not in response.headers
    cookies = response.headers.getlist("Set-Cookie")
    # The sign-in's cookie and the known-device cookie (auth.devices).
    assert {c.split("=", 1)[0] for c in cookies} == {"diversion_session", "diversion_known_device"}
    for cookie in cookies:
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie


def test_production_requires_a_secret_key(monkeypatch, tmp_path):
    monkeypatch.setenv("DIVERSION_ENV", "production")
    monkeypatch.delenv("SECRET_KEY", raising=False)
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        create_app({"TESTING": True})


def test_an_unknown_environment_is_refused(monkeypatch):
    monkeypatch.setenv("DIVERSION_ENV", "staging")
    with pytest.raises(ConfigError):
        create_app({"TESTING": True})


def test_production_sends_hsts_and_secure_session_cookies(app, monkeypatch, database_url, tmp_path):
    email = create_user("manager").email
    db.session.commit()
    monkeypatch.setenv("DIVERSION_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "a production secret for this test only")
    with separate_app(database_url, tmp_path) as production:
        assert production.config["SECRET_KEY"] == "a production secret for this test only"
        client = production.test_client()
        page = client.get("/sign-in")
        assert page.headers["Strict-Transport-Security"].startswith("max-age=31536000")
        response = client.post("/sign-in", data={"email": email, "password": DEFAULT_PASSWORD})
        assert response.status_code == 302
        cookies = response.headers.getlist("Set-Cookie")
        assert {c.split("=", 1)[0] for c in cookies} == {"diversion_session",
                                                         "diversion_known_device"}
        for cookie in cookies:
            assert "Secure" in cookie and "HttpOnly" in cookie
        _assert_security_headers(response)


def _csrf_token(page: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    assert match, "no CSRF token on the page"
    return match.group(1)


@pytest.fixture
def csrf_on(app):
    app.config["WTF_CSRF_ENABLED"] = True
    yield
    app.config["WTF_CSRF_ENABLED"] = False


def test_a_sign_in_without_a_csrf_token_is_refused_and_writes_nothing(app, client, csrf_on):
    user = create_user("manager")
    db.session.commit()
    audit_rows = db.session.scalar(select(func.count()).select_from(AuditEvent))
    response = client.post("/sign-in", data={"email": user.email, "password": "wrong password!"})
    assert response.status_code == 400
    assert "The page you submitted had expired" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(RefusedAttempt)) == 0
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == audit_rows


def test_a_sign_in_with_the_token_from_the_page_works(app, client, csrf_on):
    user = create_user("manager")
    db.session.commit()
    token = _csrf_token(client.get("/sign-in").get_data(as_text=True))
    response = client.post("/sign-in", data={"email": user.email, "password": DEFAULT_PASSWORD,
                                             "csrf_token": token})
    assert response.status_code == 302


def test_an_admin_form_without_a_token_changes_nothing_and_with_one_it_works(
        app, client, csrf_on):
    admin = create_user("admin")
    target = create_user("manager")
    db.session.commit()
    token = _csrf_token(client.get("/sign-in").get_data(as_text=True))
    client.post("/sign-in", data={"email": admin.email, "password": DEFAULT_PASSWORD,
                                  "csrf_token": token})
    refused = client.post(f"/admin/users/{target.id}/active", data={"active": "no"})
    assert refused.status_code == 400
    forged = client.post(f"/admin/users/{target.id}/active",
                         data={"active": "no", "csrf_token": "forged"})
    assert forged.status_code == 400
    db.session.refresh(target)
    assert target.is_active_account
    page = client.get(f"/admin/users/{target.id}").get_data(as_text=True)
    accepted = client.post(f"/admin/users/{target.id}/active",
                           data={"active": "no", "csrf_token": _csrf_token(page)})
    assert accepted.status_code == 302
    db.session.refresh(target)
    assert not target.is_active_account


def test_sign_out_needs_a_csrf_token(app, client, csrf_on):
    user = create_user("manager")
    db.session.commit()
    token = _csrf_token(client.get("/sign-in").get_data(as_text=True))
    client.post("/sign-in", data={"email": user.email, "password": DEFAULT_PASSWORD,
                                  "csrf_token": token})
    assert client.post("/sign-out").status_code == 400
    assert client.get("/dashboard").status_code == 200
    assert db.session.scalar(select(User.session_token).where(User.id == user.id)) == \
        user.session_token


def test_the_api_needs_no_csrf_token(app, client, csrf_on):
    # A write the API accepts, sent with CSRF protection on and no token: the bearer token is
    # the credential. (Refused for CSRF, this would be a 400.)
    token = create_token(create_user("manager"))
    db.session.commit()
    response = client.post("/api/v1/venues", headers={"Authorization": f"Bearer {token}"},
                           json={"name": "Hall", "address": "1 Road", "town": "Leeds",
                                 "postcode": "LS1 1UR", "capacity": 20})
    assert response.status_code == 201, response.get_data(as_text=True)
    assert client.post("/venues/new", data={"name": "Hall"}).status_code == 400


@pytest.mark.parametrize(("role", "method", "url", "data"), [
    ("manager", "GET", "/messages?subject_type=referral&subject_id=1%00", None),
    ("manager", "GET", "/referrals?q%00=Smith", None),
    ("manager", "POST", "/venues/new", {"name": "Hall\x00", "capacity": "20"}),
])
def test_a_nul_anywhere_in_a_request_is_a_400_not_a_database_error(client, login_as, role, method,
                                                                    url, data):
    # PostgreSQL can neither store nor compare a NUL; no person types one.
    login_as(role)
    with _parameters_sent_to_the_database() as parameters:
        response = client.open(url, method=method, data=data)
    assert response.status_code == 400
    assert not any("\x00" in value for value in parameters)
    if method == "POST" or "%00=" in url:
        assert "character that is not allowed" in response.get_data(as_text=True)


@contextmanager
def _parameters_sent_to_the_database() -> Iterator[list[str]]:
    """Every text parameter bound to a statement inside the block."""
    sent: list[str] = []

    def collect(_conn: Any, _cursor: Any, _statement: str, parameters: Any, *_args: Any) -> None:
        rows = parameters if isinstance(parameters, list) else [parameters]
        for row in rows:
            values = row.values() if isinstance(row, dict) else (row or ())
            sent.extend(value for value in values if isinstance(value, str))

    event.listen(db.engine, "before_cursor_execute", collect)
    try:
        yield sent
    finally:
        event.remove(db.engine, "before_cursor_execute", collect)


@pytest.mark.parametrize(("role", "url", "anchor", "message"), [
    ("admin", "/admin/audit?action=%00", "action", "Choose the action from the list"),
    ("admin", "/admin/audit?q=Smith%00", "q",
     "Person or reference must be on one line, with no tabs or other special characters"),
    ("manager", "/referrals?q=Smith%00", "q",
     "Search must be on one line, with no tabs or other special characters"),
    ("manager", "/messages?q=Smith%00", "q",
     "Name or reference must be on one line, with no tabs or other special characters"),
    ("manager", "/reports/outcomes?date_from-day=1%00&date_from-month=1&date_from-year=2024"
                "&date_to-day=1&date_to-month=1&date_to-year=2025", "date_from-day",
     "The day of the date from must be a number from 1 to 31"),
])
def test_a_nul_in_a_filter_box_is_named_on_its_field_and_never_reaches_the_database(
        client, login_as, role, url, anchor, message):
    login_as(role)
    with _parameters_sent_to_the_database() as parameters:
        response = client.get(url)
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "<title>Error: " in page
    summary = page[page.index("govuk-error-summary"):]
    assert f'<a href="#{anchor}">{message}</a>' in summary[:summary.index("</ul>")]
    assert parameters and not any("\x00" in value for value in parameters)


def test_a_path_with_a_nul_names_nothing(client, login_as):
    token = create_token(create_user("manager"))
    db.session.commit()
    response = client.get("/api/v1/referrals/AB%00CD", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"
    login_as("manager")
    assert client.get("/referrals/AB%00CD").status_code == 404
