"""The second factor (auth.second_factor): enrolment with a QR code and a key, a code after the
password, codes used once, recovery codes, roles that must have it, an administrator's reset,
and a half-signed-in browser that reaches nothing."""

from __future__ import annotations

import datetime as dt
import re

import pyotp
import pytest
from sqlalchemy import select

from diversion.audit.models import AuditEvent
from diversion.auth import guards, sealing, second_factor
from diversion.auth.models import RecoveryCode, SecondFactor
from diversion.core.extensions import db
from tests.builders import DEFAULT_PASSWORD, NOW, create_user, enrolled_user

pytestmark = pytest.mark.usefixtures("clock")

REQUIRED = frozenset({"admin", "manager"})


def _actions() -> list[str]:
    db.session.expire_all()
    return list(db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))




def _password(client, user):
    return client.post("/sign-in", data={"email": user.email,
                                         "password": DEFAULT_PASSWORD})


def _signed_in(client) -> bool:
    return client.get("/account/password").status_code == 200


@pytest.fixture
def required(app, monkeypatch):
    monkeypatch.setitem(app.config, "REQUIRE_SECOND_FACTOR_ROLES", REQUIRED)


def test_the_password_alone_does_not_sign_in_a_user_with_a_second_factor(client, clock):
    user, totp, _codes = enrolled_user()
    response = _password(client, user)
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/sign-in/code")
    assert not _signed_in(client)
    clock.advance(seconds=60)
    response = client.post("/sign-in/code", data={"code": totp.at(clock.now)})
    assert response.status_code == 302
    assert _signed_in(client)
    assert "auth.second_factor" in _actions()


def test_a_wrong_code_is_refused_with_an_error_and_counted(client):
    user, totp, _codes = enrolled_user()
    _password(client, user)
    wrong = f"{(int(totp.at(NOW)) + 1) % 1_000_000:06d}"
    response = client.post("/sign-in/code", data={"code": wrong})
    assert response.status_code == 200
    assert "govuk-error-summary" in response.text
    assert "not correct" in response.text
    assert not _signed_in(client)
    guard = guards.get_guard(guards.SECOND_FACTOR, second_factor.guard_key(user))
    assert guard is not None and guard.failures == 1
    assert "auth.second_factor_failed" in _actions()


def test_codes_cannot_be_guessed_in_bulk_and_a_correct_password_does_not_forgive(client):
    user, totp, _codes = enrolled_user()
    _password(client, user)
    wrong = f"{(int(totp.at(NOW)) + 1) % 1_000_000:06d}"
    for _ in range(5):
        assert client.post("/sign-in/code", data={"code": wrong}).status_code == 200
    _password(client, user)  # the password again does not clear the codes' guard
    response = client.post("/sign-in/code", data={"code": totp.at(NOW + dt.timedelta(seconds=30))})
    assert response.status_code == 429  # even the right code waits: nothing is checked
    assert "Wait 1 second" in response.text
    assert not _signed_in(client)


def test_a_code_is_never_accepted_twice(app, client, clock):
    user, totp, _codes = enrolled_user()
    clock.advance(seconds=30)
    code = totp.at(clock.now)
    _password(client, user)
    assert client.post("/sign-in/code", data={"code": code}).status_code == 302
    other = app.test_client()
    _password(other, user)
    response = other.post("/sign-in/code", data={"code": code})
    assert response.status_code == 200 and "used already" in response.text
    assert not _signed_in(other)


def test_codes_one_step_either_side_are_accepted_and_two_are_not(client, clock):
    user, totp, _codes = enrolled_user()
    clock.advance(minutes=10)
    _password(client, user)
    two_back = totp.at(clock.now.timestamp() - 60)
    assert client.post("/sign-in/code", data={"code": two_back}).status_code == 200
    one_back = totp.at(clock.now.timestamp() - 30)
    assert client.post("/sign-in/code", data={"code": one_back}).status_code == 302


def test_a_recovery_code_works_once_only(app, client):
    user, _totp, codes = enrolled_user()
    assert len(codes) == 10 and len(set(codes)) == 10
    _password(client, user)
    response = client.post("/sign-in/code", data={"code": codes[3].upper()})
    assert response.status_code == 302
    assert second_factor.recovery_codes_left(user) == 9
    other = app.test_client()
    _password(other, user)
    assert other.post("/sign-in/code", data={"code": codes[3]}).status_code == 200
    assert not _signed_in(other)


def test_recovery_codes_and_the_secret_are_stored_as_digests_or_never_shown_again(client,
                                                                                   clock):
    user, totp, codes = enrolled_user()
    stored = set(db.session.scalars(select(RecoveryCode.code_hash)))
    assert len(stored) == 10 and not {c.replace("-", "") for c in codes} & stored
    client.post("/sign-in", data={"email": user.email,
                                  "password": DEFAULT_PASSWORD})
    clock.advance(seconds=30)  # the code of NOW's step was used to switch it on
    client.post("/sign-in/code", data={"code": totp.at(clock.now)})
    page = client.get("/account/second-factor")
    assert page.status_code == 200
    factor = db.session.scalar(select(SecondFactor).where(SecondFactor.user_id == user.id))
    assert factor is not None
    secret = sealing.unseal(factor.secret)[0]
    assert secret not in page.text and secret[:4] not in page.text.replace(" ", "")
    assert "10 unused recovery codes" in page.text


def test_the_code_step_expires_after_five_minutes(client, clock):
    user, totp, _codes = enrolled_user()
    _password(client, user)
    clock.advance(minutes=5, seconds=1)
    response = client.post("/sign-in/code", data={"code": totp.at(clock.now)})
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/sign-in")
    assert not _signed_in(client)


@pytest.mark.parametrize("path", ["/", "/referrals", "/admin/users", "/reports",
                                  "/account/second-factor", "/account/password", "/bookings"])
def test_a_half_signed_in_browser_reaches_no_staff_page(client, path):
    user, _totp, _codes = enrolled_user(role="admin")
    _password(client, user)
    response = client.get(path)
    assert response.status_code in (302, 404)
    if response.status_code == 302:
        assert "/sign-in" in response.headers["Location"]


def test_the_api_keeps_bearer_tokens(client):
    user, _totp, _codes = enrolled_user(role="manager")
    _password(client, user)
    assert client.get("/api/v1/referrals").status_code == 401


def _enrol_through_the_page(client, path: str) -> tuple[pyotp.TOTP, str]:
    page = client.get(path)
    assert page.status_code == 200
    assert "<svg" in page.text and "QR code for your authenticator app" in page.text
    key = re.search(r'class="app-secret">([A-Z2-7 ]+)<', page.text)
    assert key is not None
    assert all(len(group) == 4 for group in key.group(1).split())
    secret = key.group(1).replace(" ", "")
    assert "otpauth://totp/Diversion:" in page.text and f"secret={secret}" in page.text
    return pyotp.TOTP(secret), page.text


def test_a_required_role_is_sent_to_enrol_and_can_do_nothing_else(client, clock, required):
    user = create_user(role="manager")
    db.session.commit()
    response = _password(client, user)
    assert response.headers["Location"].endswith("/sign-in/set-up-authenticator")
    assert not _signed_in(client)
    assert client.get("/referrals").status_code == 302
    totp, _page = _enrol_through_the_page(client, "/sign-in/set-up-authenticator")
    wrong = client.post("/sign-in/set-up-authenticator", data={"code": "000000"
                        if totp.at(clock.now) != "000000" else "111111"})
    assert wrong.status_code == 200 and "govuk-error-summary" in wrong.text
    assert not second_factor.has_second_factor(user)
    done = client.post("/sign-in/set-up-authenticator", data={"code": totp.at(clock.now)},
                       follow_redirects=True)
    assert done.status_code == 200
    shown = re.findall(r"<code>([a-z0-9]{5}-[a-z0-9]{5})</code>", done.text)
    assert len(shown) == 10
    assert _signed_in(client)
    assert "auth.second_factor_enrol" in _actions()
    # The next sign-in asks for a code, and the secret is not offered again.
    client.post("/sign-out")
    assert _password(client, user).headers["Location"].endswith("/sign-in/code")
    assert client.get("/sign-in/set-up-authenticator").status_code == 302


def test_roles_not_required_sign_in_with_the_password_alone(client, required):
    user = create_user(role="facilitator")
    db.session.commit()
    assert _password(client, user).headers["Location"].endswith("/dashboard")
    assert _signed_in(client)


def test_anyone_may_switch_the_second_factor_on_from_their_account(client, login_as, clock):
    user = login_as("police")
    totp, _page = _enrol_through_the_page(client, "/account/second-factor")
    done = client.post("/account/second-factor", data={"code": totp.at(clock.now)},
                       follow_redirects=True)
    assert done.status_code == 200 and "Keep your recovery codes" in done.text
    assert second_factor.has_second_factor(user)


@pytest.mark.parametrize("path", ["/sign-in/set-up-authenticator", "/account/second-factor"])
def test_recovery_codes_are_shown_once_after_a_redirect_and_a_reload_says_they_are_gone(
        client, login_as, clock, required, path):
    if path.startswith("/sign-in"):
        user = create_user(role="manager")
        db.session.commit()
        _password(client, user)
    else:
        user = login_as("police")
    totp, _page = _enrol_through_the_page(client, path)
    done = client.post(path, data={"code": totp.at(clock.now)})
    assert done.status_code == 302
    location = done.headers["Location"]
    assert location.startswith("/account/second-factor?codes=new&next=")
    with client.session_transaction() as cookie:
        held = str(dict(cookie))
    shown = client.get(location).text
    codes = re.findall(r"<code>([a-z0-9]{5}-[a-z0-9]{5})</code>", shown)
    assert len(codes) == 10 and not any(code in held for code in codes)
    assert 'href="/dashboard"' in shown
    reloaded = client.get(location)
    assert reloaded.status_code == 200
    assert not any(code in reloaded.text for code in codes)
    assert "can no longer be shown" in reloaded.text and "10 unused recovery codes" in reloaded.text
    assert second_factor.recovery_codes_left(user) == 10


def test_an_admin_resets_a_second_factor_after_a_check_page_and_it_is_audited(client, login_as):
    user, totp, _codes = enrolled_user(role="manager")
    _password(client, user)
    client.post("/sign-in/code", data={"code": f"{(int(totp.at(NOW)) + 1) % 1_000_000:06d}"})
    assert guards.get_guard(guards.SECOND_FACTOR, second_factor.guard_key(user)) is not None
    login_as("admin")
    page = client.get(f"/admin/users/{user.id}")
    assert f"/admin/users/{user.id}/second-factor/reset" in page.text
    check = client.get(f"/admin/users/{user.id}/second-factor/reset")
    assert check.status_code == 200 and "Reset this person" in check.text
    token = user.session_token
    response = client.post(f"/admin/users/{user.id}/second-factor/reset")
    assert response.status_code == 302
    db.session.expire_all()
    assert not second_factor.has_second_factor(user)
    assert second_factor.recovery_codes_left(user) == 0
    assert user.session_token != token
    assert guards.get_guard(guards.SECOND_FACTOR, second_factor.guard_key(user)) is None
    event = db.session.scalar(select(AuditEvent).where(
        AuditEvent.action == "user.second_factor_reset"))
    assert event is not None and event.object_id == str(user.id)


def test_only_admins_reset_a_second_factor(client, login_as):
    user, _totp, _codes = enrolled_user(role="facilitator")
    login_as("manager")
    assert client.post(f"/admin/users/{user.id}/second-factor/reset").status_code == 403
    assert second_factor.has_second_factor(user)
