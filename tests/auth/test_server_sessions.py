"""Sign-ins held on the server (auth.sessions): a row per sign-in, found by the digest of the
cookie's random identifier; limits read from the row, never the cookie; a new identifier at
each sign-in and privilege change; "Your sessions"; an administrator's "sign out everywhere";
housekeeping."""

from __future__ import annotations

import datetime as dt
import hashlib
import re

import pyotp
import pytest
from sqlalchemy import func, select

from diversion.audit.models import AuditEvent
from diversion.auth import sealing, second_factor, sessions
from diversion.auth.models import UserSession
from diversion.core.extensions import db
from diversion.core.jobs import jobs_of
from diversion.core.timeutils import now_utc
from tests.builders import DEFAULT_PASSWORD, NOW, create_user

pytestmark = pytest.mark.usefixtures("clock")

FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"
IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
          "(KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1")


def _sign_in(app, user, *, agent: str = FIREFOX, address: str = "192.0.2.10"):
    client = app.test_client()
    client.environ_base.update({"HTTP_USER_AGENT": agent, "REMOTE_ADDR": address})
    response = client.post("/sign-in", data={"email": user.email, "password": DEFAULT_PASSWORD})
    assert response.status_code == 302
    assert _is_signed_in(client)
    return client


def _is_signed_in(client) -> bool:
    return client.get("/dashboard").status_code == 200


def _key(client) -> str:
    with client.session_transaction() as session:
        return session["_user_id"]


def _row(client) -> UserSession:
    db.session.expire_all()
    row = db.session.scalar(select(UserSession).where(
        UserSession.key_hash == hashlib.sha256(_key(client).encode()).hexdigest()))
    assert row is not None
    return row


def _live(user) -> list[UserSession]:
    db.session.expire_all()
    return list(db.session.scalars(select(UserSession).where(
        UserSession.user_id == user.id, UserSession.ended_at.is_(None))))


def _actions() -> list[str]:
    db.session.expire_all()
    return list(db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


@pytest.fixture
def user(app):
    user = create_user("facilitator")
    db.session.commit()
    return user


def test_only_a_digest_of_the_identifier_is_stored(app, user):
    client = _sign_in(app, user)
    key = _key(client)
    row = _row(client)
    assert len(key) >= 40 and key not in row.key_hash
    assert row.key_hash == hashlib.sha256(key.encode()).hexdigest()
    assert (row.address, row.user_agent) == ("192.0.2.10", FIREFOX)
    assert row.created_at == row.last_seen_at == NOW


def test_a_forged_cookie_dated_2099_is_refused(app, user):
    """With the signing key, a cookie can say anything: it still names no live row."""
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = "made-up-identifier"
        session["signed_in_at"] = session["last_seen_at"] = "2099-01-01T00:00:00+00:00"
    assert not _is_signed_in(client)
    with client.session_transaction() as session:  # the user's own token is no key either
        session["_user_id"] = user.session_token
        session["signed_in_at"] = session["last_seen_at"] = "2099-01-01T00:00:00+00:00"
    assert not _is_signed_in(client)


def test_a_cookies_own_far_future_times_do_not_extend_an_idle_sign_in(app, user, clock):
    client = _sign_in(app, user)
    row_id = _row(client).id
    clock.advance(minutes=31)
    with client.session_transaction() as session:
        session["signed_in_at"] = session["last_seen_at"] = "2099-01-01T00:00:00+00:00"
    assert not _is_signed_in(client)
    assert db.session.get(UserSession, row_id).end_reason == "idle"


def test_the_idle_limit_is_read_from_the_row(app, user, clock, monkeypatch):
    monkeypatch.setitem(app.config, "IDLE_TIMEOUT_SECONDS", 10 * 60)
    client = _sign_in(app, user)
    clock.advance(minutes=9)
    assert _is_signed_in(client)
    clock.advance(minutes=9)
    assert _is_signed_in(client)
    # The row, not the cookie, says when it was last used: move it back and the sign-in ends.
    row = _row(client)
    row.last_seen_at = now_utc() - dt.timedelta(minutes=11)
    db.session.commit()
    assert not _is_signed_in(client)


def test_the_absolute_limit_is_read_from_the_row(app, user, clock, monkeypatch):
    monkeypatch.setitem(app.config, "ABSOLUTE_TIMEOUT_SECONDS", 2 * 60 * 60)
    client = _sign_in(app, user)
    for _ in range(4):
        clock.advance(minutes=29)
        assert _is_signed_in(client)
    row_id = _row(client).id
    clock.advance(minutes=5)  # 2 h 1 min after signing in, active a few minutes ago
    assert not _is_signed_in(client)
    db.session.expire_all()
    assert db.session.get(UserSession, row_id).end_reason == "absolute"


def test_page_views_write_last_seen_at_most_once_a_minute(app, user, clock):
    client = _sign_in(app, user)
    clock.advance(seconds=30)
    assert _is_signed_in(client)
    assert _row(client).last_seen_at == NOW
    clock.advance(seconds=31)
    assert _is_signed_in(client)
    assert _row(client).last_seen_at == NOW + dt.timedelta(seconds=61)


def test_two_sign_ins_have_two_identifiers_and_ending_one_leaves_the_other(app, user):
    laptop, phone = _sign_in(app, user), _sign_in(app, user, agent=IPHONE)
    assert _key(laptop) != _key(phone)
    assert len(_live(user)) == 2
    assert laptop.post(f"/account/sessions/{_row(laptop).id}/end").status_code == 302
    assert not _is_signed_in(laptop)
    assert _is_signed_in(phone)
    assert [row.id for row in _live(user)] == [_row(phone).id]


def test_a_sign_in_after_sign_out_does_not_revive_the_old_identifier(app, user):
    client = _sign_in(app, user)
    old_key = _key(client)
    client.post("/sign-out")
    thief = app.test_client()
    with thief.session_transaction() as session:
        session["_user_id"] = old_key
    assert not _is_signed_in(thief)
    response = client.post("/sign-in", data={"email": user.email, "password": DEFAULT_PASSWORD})
    assert response.status_code == 302
    assert _key(client) != old_key
    assert not _is_signed_in(thief)  # the stolen cookie stays dead after the new sign-in


def test_a_stolen_cookie_does_not_outlive_its_sign_in_being_ended(app, user):
    laptop, phone = _sign_in(app, user), _sign_in(app, user)
    thief = app.test_client()
    with thief.session_transaction() as session:
        session["_user_id"] = _key(phone)
    assert _is_signed_in(thief)
    laptop.post("/account/sessions/end-others")
    assert not _is_signed_in(thief) and not _is_signed_in(phone)
    _sign_in(app, user)  # a new sign-in shares nothing with the old one
    assert not _is_signed_in(thief)


def test_the_session_is_made_only_once_the_second_factor_is_proven(app, clock):
    user = create_user("facilitator")
    enrolment = second_factor.start_enrolment(user, now=NOW)
    totp = pyotp.TOTP(enrolment.secret)
    assert second_factor.confirm_enrolment(user, code=totp.at(NOW), now=NOW) is not None
    db.session.commit()
    client = app.test_client()
    response = client.post("/sign-in", data={"email": user.email, "password": DEFAULT_PASSWORD})
    assert response.headers["Location"].endswith("/sign-in/code")
    assert _live(user) == []
    clock.advance(seconds=60)
    assert client.post("/sign-in/code", data={"code": totp.at(clock.now)}).status_code == 302
    assert len(_live(user)) == 1 and _row(client).user_id == user.id


def test_switching_on_the_second_factor_rotates_the_identifier(app, user):
    client = _sign_in(app, user)
    old_key, old_row = _key(client), _row(client)
    page = client.get("/account/second-factor")
    assert page.status_code == 200
    secret = sealing.unseal(second_factor.get_second_factor(user).secret)[0]
    response = client.post("/account/second-factor", data={"code": pyotp.TOTP(secret).at(NOW)})
    assert response.status_code == 302 and second_factor.has_second_factor(user)
    assert _key(client) != old_key
    db.session.expire_all()
    assert db.session.get(UserSession, old_row.id).end_reason == "rotated"
    assert _is_signed_in(client)
    thief = app.test_client()
    with thief.session_transaction() as session:
        session["_user_id"] = old_key
    assert not _is_signed_in(thief)


def test_changing_ones_password_rotates_the_identifier(app, user):
    client = _sign_in(app, user)
    old_key = _key(client)
    response = client.post("/account/password", data={
        "current_password": DEFAULT_PASSWORD, "new_password": "a brand new passphrase 77"})
    assert response.status_code == 302
    assert _key(client) != old_key and _is_signed_in(client)
    assert len(_live(user)) == 1


def test_a_change_of_role_ends_the_sessions_so_the_new_role_needs_a_new_sign_in(app, user,
                                                                             login_as, client):
    session = _sign_in(app, user)
    login_as("admin")
    client.post(f"/admin/users/{user.id}", data={
        "name": user.name, "email": user.email, "role": "manager", "force": ""})
    assert not _is_signed_in(session)
    assert _live(user) == []
    ended = db.session.scalar(select(UserSession).where(UserSession.user_id == user.id))
    assert ended.end_reason == "privilege_change"


def test_your_sessions_lists_each_sign_in_and_marks_this_one(app, user):
    laptop = _sign_in(app, user)
    _sign_in(app, user, agent=IPHONE, address="198.51.100.7")
    page = laptop.get("/account/sessions")
    assert page.status_code == 200
    text = page.text
    assert "Firefox on Windows" in text and "Safari on iPhone" in text
    assert "198.51.100.7" in text and "192.0.2.10" in text
    assert text.count("This device") == 1
    assert "15 June 2026 at 10:00am" in text  # NOW (09:00 UTC) in Europe/London
    assert "Sign out of 1 other session" in text


def test_your_sessions_ends_one_other_sign_in_and_it_is_audited(app, user):
    laptop, phone = _sign_in(app, user), _sign_in(app, user, agent=IPHONE)
    phone_row = _row(phone)
    response = laptop.post(f"/account/sessions/{phone_row.id}/end")
    assert response.status_code == 302
    assert not _is_signed_in(phone) and _is_signed_in(laptop)
    assert _row(phone).end_reason == "signed_out_elsewhere"
    assert "auth.session_end" in _actions()
    assert "Sign out of" not in laptop.get("/account/sessions").text


def test_your_sessions_cannot_end_someone_elses_sign_in(app, user):
    other = create_user("facilitator")
    db.session.commit()
    mine, theirs = _sign_in(app, user), _sign_in(app, other)
    response = mine.post(f"/account/sessions/{_row(theirs).id}/end")
    assert response.status_code == 302
    assert _is_signed_in(theirs)
    assert "auth.session_end" not in _actions()


def test_your_sessions_ends_all_others_and_keeps_this_one(app, user):
    laptop = _sign_in(app, user)
    others = [_sign_in(app, user, agent=IPHONE) for _ in range(2)]
    response = laptop.post("/account/sessions/end-others", follow_redirects=True)
    assert "Signed out of 2 other sessions" in response.text
    assert _is_signed_in(laptop)
    assert not any(_is_signed_in(other) for other in others)
    event = db.session.scalar(select(AuditEvent).where(
        AuditEvent.action == "auth.sessions_end_others"))
    assert event is not None and event.details["ended"] == 2


def test_ending_this_device_from_your_sessions_signs_out(app, user):
    client = _sign_in(app, user)
    response = client.post(f"/account/sessions/{_row(client).id}/end")
    assert response.status_code == 302 and "/sign-in" in response.headers["Location"]
    assert not _is_signed_in(client)


def test_your_sessions_posts_need_the_csrf_token(app, user, monkeypatch):
    client, other = _sign_in(app, user), _sign_in(app, user)
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
    response = client.post("/account/sessions/end-others")
    assert response.status_code == 400
    assert _is_signed_in(other)
    assert client.post(f"/account/sessions/{_row(other).id}/end").status_code == 400
    assert _is_signed_in(other)


def test_an_admin_signs_someone_out_everywhere_after_a_check_page(app, user, client, login_as):
    sessions_of_user = [_sign_in(app, user), _sign_in(app, user)]
    admin = login_as("admin")
    page = client.get(f"/admin/users/{user.id}")
    assert "Signed in on 2 browsers now" in page.text
    check = client.get(f"/admin/users/{user.id}/sessions/end")
    assert check.status_code == 200 and "Sign this person out everywhere?" in check.text
    response = client.post(f"/admin/users/{user.id}/sessions/end", follow_redirects=True)
    assert "signed out of 2 sessions" in response.text
    assert not any(_is_signed_in(each) for each in sessions_of_user)
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "user.sessions_end"))
    assert event is not None and event.object_id == str(user.id)
    assert event.actor_user_id == admin.id and event.details["ended"] == 2
    assert _is_signed_in(client)  # the admin's own sign-in goes on


def test_only_an_admin_ends_someone_elses_sessions(app, user, client, login_as):
    theirs = _sign_in(app, user)
    login_as("manager")
    assert client.post(f"/admin/users/{user.id}/sessions/end").status_code == 403
    assert _is_signed_in(theirs)


def test_housekeeping_deletes_old_ended_and_expired_sign_ins_only(app, user, clock):
    ended, expired, live = (_sign_in(app, user) for _ in range(3))
    ended_id, expired_id, live_id = _row(ended).id, _row(expired).id, _row(live).id
    ended.post(f"/account/sessions/{_row(ended).id}/end")
    clock.advance(days=31)
    row = db.session.get(UserSession, live_id)  # one still in use (as if active all along)
    row.created_at = row.last_seen_at = now_utc()
    db.session.commit()
    result = jobs_of(app)["housekeeping"].function(now=now_utc())
    assert result["sign_ins_removed"] == 2
    db.session.expire_all()
    remaining = set(db.session.scalars(select(UserSession.id)))
    assert live_id in remaining and not {ended_id, expired_id} & remaining


def test_housekeeping_deletes_in_bounded_batches(app, user, monkeypatch):
    for _ in range(5):
        sessions.start(user, now=NOW - dt.timedelta(days=60), address="a", user_agent="b")
    db.session.commit()
    monkeypatch.setattr(sessions, "SWEEP_BATCH", 2)
    assert sessions.forget_old_sessions(now=NOW, limits=sessions.limits_from(app.config)) == 2
    assert db.session.scalar(select(func.count()).select_from(UserSession)) == 3


@pytest.mark.parametrize(("agent", "described"), [
    (FIREFOX, "Firefox on Windows"),
    (IPHONE, "Safari on iPhone"),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0", "Edge on Mac"),
    ("Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/131.0.0.0 Mobile Safari/537.36", "Chrome on Android"),
    ("curl/8.5", "Unknown browser"),
    ("", "Unknown browser"),
])
def test_browsers_are_described_in_words(agent, described):
    assert sessions.describe_browser(agent) == described


def test_the_sign_ins_page_is_not_named_like_a_facilitators_course_sessions(app):
    # "Session" on screen is a course session (docs/STYLE.md): a facilitator's menu has "My
    # sessions" (the courses he runs), so the link to where he is signed in says just that.
    facilitator = create_user("facilitator")
    db.session.commit()
    browser = _sign_in(app, facilitator)

    dashboard = browser.get("/dashboard").text
    link = re.search(r'<a class="app-account__link" href="/account/sessions"[^>]*>([^<]+)</a>',
                     dashboard)
    assert link is not None and link.group(1) == "Where you are signed in"
    assert "Your sessions" not in dashboard and "My sessions" in dashboard
    page = browser.get("/account/sessions").text
    assert "<h1 class=\"govuk-heading-l\">Where you are signed in</h1>" in page
    assert "<title>Where you are signed in" in page
