"""Signing in: one message for every refusal, fresh sessions (the guards: test_lockout.py)."""

from __future__ import annotations

import hashlib

import pytest
from argon2 import PasswordHasher
from sqlalchemy import func, select

from diversion.audit.models import AuditEvent
from diversion.auth.models import SignInGuard, User, UserSession
from diversion.auth.passwords import needs_rehash, verify_password
from diversion.auth.services import SIGN_IN_FAILED
from diversion.core.extensions import db
from tests.builders import DEFAULT_PASSWORD, create_user

pytestmark = pytest.mark.usefixtures("clock")  # the app reads a clock stopped at NOW

WRONG = "not the right password at all"


def _sign_in(client, email, password=DEFAULT_PASSWORD, address="192.0.2.1"):
    return client.post("/sign-in", data={"email": email, "password": password},
                       environ_base={"REMOTE_ADDR": address})


def _audit_actions() -> list[str]:
    db.session.expire_all()
    return list(db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def _failures() -> int:
    return db.session.scalar(select(func.sum(SignInGuard.failures)).where(
        SignInGuard.scope == "account")) or 0


def test_a_wrong_password_and_an_unknown_account_get_the_same_answer(app, client):
    user = create_user("manager")
    db.session.commit()
    wrong_password = _sign_in(client, user.email, WRONG)
    unknown = _sign_in(client, "nobody@example.test", WRONG)
    assert wrong_password.status_code == unknown.status_code == 200
    for response in (wrong_password, unknown):
        page = response.get_data(as_text=True)
        assert SIGN_IN_FAILED in page
        assert "There is a problem" in page
    # Nothing else differs either: the pages are the same apart from the echoed email.
    assert (wrong_password.get_data(as_text=True).replace(user.email, "")
            == unknown.get_data(as_text=True).replace("nobody@example.test", ""))


def test_a_deactivated_account_with_the_right_password_gets_the_same_answer(app, client):
    user = create_user("manager")
    user.is_active_account = False
    db.session.commit()
    response = _sign_in(client, user.email)
    assert response.status_code == 200
    assert SIGN_IN_FAILED in response.get_data(as_text=True)
    assert client.get("/dashboard").status_code == 302


def test_signing_in_goes_to_the_dashboard_and_is_audited(app, client):
    user = create_user("police")
    db.session.commit()
    response = _sign_in(client, user.email)
    assert response.status_code == 302
    assert response.headers["Location"] == "/dashboard"
    assert client.get("/dashboard").status_code == 200
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "auth.sign_in"))
    assert event.actor_user_id == user.id
    assert event.address == "192.0.2.1"
    db.session.refresh(user)
    assert user.last_signed_in_at is not None


def test_a_failed_sign_in_is_audited_without_the_password(app, client):
    user = create_user("manager")
    db.session.commit()
    _sign_in(client, user.email, WRONG)
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "auth.sign_in_failed"))
    assert event.object_id == str(user.id)
    assert event.actor_label == "anonymous"
    assert WRONG not in str(event.details)


def test_the_next_page_is_followed_only_within_the_site(app, client):
    user = create_user("manager")
    db.session.commit()
    response = client.post("/sign-in?next=https://evil.example/x",
                           data={"email": user.email, "password": DEFAULT_PASSWORD})
    assert response.headers["Location"] == "/dashboard"
    client.post("/sign-out")
    response = client.post("/sign-in?next=/account/password",
                           data={"email": user.email, "password": DEFAULT_PASSWORD})
    assert response.headers["Location"] == "/account/password"


def test_an_empty_form_shows_an_error_for_each_field(app, client):
    response = client.post("/sign-in", data={"email": "", "password": ""})
    page = response.get_data(as_text=True)
    assert "Enter your email address" in page
    assert "Enter your password" in page
    assert _failures() == 0


def test_signing_in_starts_a_fresh_session(app, client):
    user = create_user("manager")
    db.session.commit()
    with client.session_transaction() as session:
        session["planted"] = "by someone before sign-in"
        session["_user_id"] = "forged"
    before = client.get_cookie("diversion_session").value
    _sign_in(client, user.email)
    after = client.get_cookie("diversion_session").value
    assert after != before
    with client.session_transaction() as session:
        assert "planted" not in session
        key = session["_user_id"]
    # The cookie names this sign-in's row (by its digest only), never the user's own token,
    # and carries no times of its own: the row holds them.
    assert key not in (user.session_token, "forged")
    row = db.session.scalar(select(UserSession).where(
        UserSession.key_hash == hashlib.sha256(key.encode()).hexdigest()))
    assert row is not None and row.user_id == user.id and row.ended_at is None
    with client.session_transaction() as session:
        assert "signed_in_at" not in session and "last_seen_at" not in session


def test_a_signed_in_user_visiting_sign_in_goes_to_the_dashboard(app, client, login_as):
    login_as("facilitator")
    response = client.get("/sign-in")
    assert response.status_code == 302
    assert response.headers["Location"] == "/dashboard"


def test_a_hash_made_with_weaker_parameters_is_replaced_on_sign_in(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "PASSWORD_HASH_PROFILE", "production")  # not the suite's
    user = create_user("manager")
    weak = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash(DEFAULT_PASSWORD)
    user.password_hash = weak
    db.session.commit()
    assert needs_rehash(weak)
    assert _sign_in(client, user.email).status_code == 302
    stored = db.session.scalar(select(User.password_hash).where(User.id == user.id))
    assert stored != weak
    assert stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert not needs_rehash(stored)
    assert verify_password(stored, DEFAULT_PASSWORD)


def test_a_current_hash_is_left_alone_on_sign_in(app, client):
    user = create_user("manager")
    db.session.commit()
    original = user.password_hash
    _sign_in(client, user.email)
    assert db.session.scalar(select(User.password_hash).where(User.id == user.id)) == original
