"""Sessions end on sign-out; everywhere on password change, deactivation and reset; and time
out, measured from the server's row (auth.sessions)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from diversion.audit.models import AuditEvent
from diversion.auth.models import UserSession
from diversion.core.extensions import db
from diversion.core.timeutils import now_utc
from tests.builders import DEFAULT_PASSWORD, create_user

pytestmark = pytest.mark.usefixtures("clock")  # the app reads a clock stopped at NOW

NEW_PASSWORD = "a brand new passphrase 77"


def _signed_in_client(app, user, password=DEFAULT_PASSWORD):
    client = app.test_client()
    response = client.post("/sign-in", data={"email": user.email, "password": password})
    assert response.status_code == 302
    assert client.get("/dashboard").status_code == 200
    return client


def _is_bounced_to_sign_in(client) -> bool:
    response = client.get("/dashboard")
    return response.status_code == 302 and "/sign-in" in response.headers["Location"]


@pytest.fixture
def user(app):
    user = create_user("manager")
    db.session.commit()
    return user


@pytest.fixture
def admin_client(app):
    admin = create_user("admin")
    db.session.commit()
    return _signed_in_client(app, admin)


def test_signing_out_ends_every_session_of_that_user(app, user):
    laptop, phone = _signed_in_client(app, user), _signed_in_client(app, user)
    response = laptop.post("/sign-out")
    assert response.status_code == 302
    assert _is_bounced_to_sign_in(laptop)
    assert _is_bounced_to_sign_in(phone)
    assert db.session.scalar(select(AuditEvent.action).where(
        AuditEvent.action == "auth.sign_out")) is not None


def test_changing_a_password_ends_the_other_sessions_and_keeps_this_one(app, user):
    laptop, phone = _signed_in_client(app, user), _signed_in_client(app, user)
    response = laptop.post("/account/password", data={
        "current_password": DEFAULT_PASSWORD, "new_password": NEW_PASSWORD})
    assert response.status_code == 302
    assert laptop.get("/dashboard").status_code == 200
    assert _is_bounced_to_sign_in(phone)
    assert app.test_client().post("/sign-in", data={
        "email": user.email, "password": NEW_PASSWORD}).status_code == 302
    assert db.session.scalar(select(AuditEvent.action).where(
        AuditEvent.action == "auth.password_change")) is not None


def test_a_password_change_with_the_wrong_current_password_changes_nothing(app, user):
    laptop, phone = _signed_in_client(app, user), _signed_in_client(app, user)
    response = laptop.post("/account/password", data={
        "current_password": "wrong wrong wrong", "new_password": NEW_PASSWORD})
    assert response.status_code == 200
    assert "Your current password is not correct" in response.get_data(as_text=True)
    assert phone.get("/dashboard").status_code == 200


def test_a_weak_new_password_is_refused_with_the_reason(app, user):
    client = _signed_in_client(app, user)
    response = client.post("/account/password", data={
        "current_password": DEFAULT_PASSWORD, "new_password": "short"})
    page = response.get_data(as_text=True)
    assert "There is a problem" in page
    assert "Password must be 12 characters or more" in page


def test_deactivating_a_user_ends_their_sessions_at_once(app, user, admin_client):
    session = _signed_in_client(app, user)
    response = admin_client.post(f"/admin/users/{user.id}/active", data={"active": "no"})
    assert response.status_code == 302
    assert _is_bounced_to_sign_in(session)


def test_an_administrators_password_reset_ends_the_users_sessions(app, user, admin_client):
    session = _signed_in_client(app, user)
    response = admin_client.post(f"/admin/users/{user.id}/password",
                                 data={"password": NEW_PASSWORD})
    assert response.status_code == 302
    assert _is_bounced_to_sign_in(session)
    _signed_in_client(app, user, NEW_PASSWORD)


def test_a_change_of_role_ends_the_users_sessions(app, user, admin_client):
    session = _signed_in_client(app, user)
    response = admin_client.post(f"/admin/users/{user.id}", data={
        "name": user.name, "email": user.email, "role": "facilitator", "force": ""})
    assert response.status_code == 302
    assert _is_bounced_to_sign_in(session)


def test_a_session_idle_for_29_minutes_is_still_open(app, user, clock):
    client = _signed_in_client(app, user)
    clock.advance(minutes=29)
    assert client.get("/dashboard").status_code == 200


def test_a_session_idle_for_more_than_30_minutes_ends(app, user, clock):
    client = _signed_in_client(app, user)
    clock.advance(minutes=31)
    assert _is_bounced_to_sign_in(client)
    page = client.get("/sign-in").get_data(as_text=True)
    assert "your session expired" in page
    assert _is_bounced_to_sign_in(client)


def test_activity_keeps_a_session_alive_by_moving_last_seen(app, user, clock):
    client = _signed_in_client(app, user)
    for _ in range(4):  # 2 hours of activity, never 30 minutes idle
        clock.advance(minutes=29)
        assert client.get("/dashboard").status_code == 200
    row = db.session.scalar(select(UserSession).where(UserSession.user_id == user.id))
    assert row.last_seen_at == now_utc()


def test_a_session_older_than_12_hours_ends_even_when_active(app, user, clock):
    client = _signed_in_client(app, user)
    for _ in range(24):
        clock.advance(minutes=29)
        client.get("/dashboard")
    clock.advance(minutes=25)  # 11 h 56 min + 25 min: active, but past 12 hours
    assert _is_bounced_to_sign_in(client)
    row = db.session.scalar(select(UserSession).where(UserSession.user_id == user.id))
    assert row.end_reason == "absolute"


def test_a_session_without_its_identifier_is_not_trusted(app, user):
    client = _signed_in_client(app, user)
    with client.session_transaction() as session:
        del session["_user_id"]
    assert _is_bounced_to_sign_in(client)


def test_an_expired_session_does_not_reach_the_api_or_public_pages_wrongly(app, user, clock):
    client = _signed_in_client(app, user)
    clock.advance(hours=13)
    assert client.get("/accessibility").status_code in (200, 302)
    assert client.get("/api/v1/me").status_code == 401
