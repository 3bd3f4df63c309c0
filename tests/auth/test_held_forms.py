"""Time-outs never lose work: the keep-alive call, forms held when a sign-in has ended (idle, 12
hours, or the cookie gone), sending them after signing in again, and the answers scripts get."""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import re

import pytest
from sqlalchemy import func, select

from diversion.audit.models import AuditEvent
from diversion.auth.models import HeldForm
from diversion.core.extensions import db
from diversion.core.jobs import jobs_of
from diversion.core.timeutils import now_utc
from tests.builders import DEFAULT_PASSWORD, create_user

pytestmark = pytest.mark.usefixtures("clock")  # the app reads a clock stopped at NOW

SAME_ORIGIN = {"Origin": "http://localhost", "Sec-Fetch-Site": "same-origin"}
JSON = {"Accept": "application/json"}
REFERRAL = {"family_name": "Smithson", "given_names": "Albert John", "pnc_id": "",
            "access_needs": "Needs a\nhearing loop"}


def _sign_in(client, user):
    response = client.post("/sign-in", data={"email": user.email, "password": DEFAULT_PASSWORD})
    assert response.status_code == 302
    return response


def _csrf_token(client) -> str:
    page = client.get("/referrals/new").get_data(as_text=True)
    match = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page)
    assert match, "no CSRF token on the page"
    return match.group(1)


def _held_rows() -> list[HeldForm]:
    db.session.expire_all()
    return list(db.session.scalars(select(HeldForm)))


def _audit(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


@pytest.fixture
def manager(app):
    user = create_user("manager")
    db.session.commit()
    return user


@pytest.fixture
def other_manager(app):
    user = create_user("manager")
    db.session.commit()
    return user


@pytest.fixture
def signed_in(app, client, manager):
    _sign_in(client, manager)
    return client


# Keep-alive and status ------------------------------------------------------------------------

def test_stay_signed_in_restarts_the_idle_limit_and_says_how_long_is_left(signed_in, clock):
    clock.advance(minutes=25)
    response = signed_in.post("/sign-in/keep-alive", headers=JSON)
    assert response.status_code == 200
    assert response.get_json() == {"seconds_left": 30 * 60, "idle_seconds_left": 30 * 60,
                                   "absolute_seconds_left": 12 * 3600 - 25 * 60}
    clock.advance(minutes=25)  # 50 minutes after signing in: alive only because of the call
    assert signed_in.get("/dashboard").status_code == 200


def test_the_status_call_does_not_extend_the_sign_in(signed_in, clock):
    clock.advance(minutes=20)
    response = signed_in.get("/sign-in/status", headers=JSON)
    assert response.get_json()["idle_seconds_left"] == 10 * 60
    clock.advance(minutes=11)
    assert signed_in.get("/sign-in/status", headers=JSON).status_code == 401


def test_stay_signed_in_cannot_pass_the_12_hour_limit(signed_in, clock):
    for _ in range(24):
        clock.advance(minutes=29)
        signed_in.post("/sign-in/keep-alive", headers=JSON)
    clock.advance(minutes=29)  # 12 h 29 min after signing in
    response = signed_in.post("/sign-in/keep-alive", headers=JSON)
    assert response.status_code == 401


def test_the_keep_alive_call_needs_the_csrf_token_in_its_header(app, signed_in):
    token = _csrf_token(signed_in)
    app.config.update(WTF_CSRF_ENABLED=True)
    refused = signed_in.post("/sign-in/keep-alive", headers=JSON)
    assert refused.status_code == 400
    assert refused.mimetype == "application/problem+json"
    assert refused.get_json()["title"] == "The page had expired"
    accepted = signed_in.post("/sign-in/keep-alive", headers={**JSON, "X-CSRFToken": token})
    assert accepted.status_code == 200


def test_a_script_whose_sign_in_ended_gets_a_401_problem_not_the_sign_in_page(signed_in, clock):
    clock.advance(minutes=31)
    response = signed_in.post("/sign-in/keep-alive", headers=JSON)
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["title"] == "Sign in again"
    # A JSON body is a script's too, and so is a request never signed in.
    anonymous = signed_in.application.test_client()
    assert anonymous.post("/sign-in/keep-alive", json={}).status_code == 401
    assert anonymous.get("/dashboard", headers=JSON).status_code == 401
    assert anonymous.get("/dashboard").status_code == 302


def test_a_script_posting_with_a_refused_csrf_token_gets_a_400_problem(app, client, manager):
    _sign_in(client, manager)
    app.config.update(WTF_CSRF_ENABLED=True)
    response = client.post("/referrals/new", json={"family_name": "x"},
                           headers={**SAME_ORIGIN, "X-CSRFToken": "stale"})
    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"
    assert _held_rows() == []


# Holding ----------------------------------------------------------------------------------------

def test_a_form_posted_after_the_idle_limit_is_held_and_sent_after_signing_in(client, manager,
                                                                               clock):
    _sign_in(client, manager)
    clock.advance(minutes=31)
    response = client.post("/referrals/new", data={**REFERRAL, "csrf_token": "x",
                                                   "password": "not kept"})
    assert response.status_code == 302
    assert response.headers["Location"] == "/sign-in"
    [row] = _held_rows()
    assert row.user_id == manager.id and row.path == "/referrals/new"
    kept = json.loads(row.fields_json)
    assert ["family_name", "Smithson"] in kept
    assert not any(name in {"csrf_token", "password"} for name, _ in kept)
    [audit] = _audit("auth.held_form_kept")
    assert "Smithson" not in json.dumps(audit.details)
    sign_in_page = client.get("/sign-in").get_data(as_text=True)
    assert "What you entered has been kept" in sign_in_page

    response = _sign_in(client, manager)
    assert response.headers["Location"] == "/sign-in/kept-changes"
    page = client.get("/sign-in/kept-changes").get_data(as_text=True)
    assert "You were signed out before your changes were sent" in page
    assert 'name="family_name" value="Smithson"' in page
    assert "Needs a\nhearing loop" in page

    sent = client.post("/sign-in/kept-changes/send", data=REFERRAL)
    assert sent.status_code == 307
    assert sent.headers["Location"] == "/referrals/new"
    assert _held_rows() == []
    assert len(_audit("auth.held_form_resent")) == 1
    # The browser posts the same body to the original page, which handles it as ever: here its
    # validation shows the errors with what was entered.
    resent = client.post("/sign-in/kept-changes/send", data=REFERRAL)
    assert resent.status_code == 302  # used once: nothing to send now
    original = client.post("/referrals/new", data=REFERRAL)
    assert original.status_code == 400
    assert 'value="Smithson"' in original.get_data(as_text=True)


def test_a_form_posted_after_the_12_hour_limit_is_held(client, manager, clock):
    _sign_in(client, manager)
    for _ in range(24):
        clock.advance(minutes=29)
        assert client.get("/dashboard").status_code == 200
    clock.advance(minutes=25)  # 12 h 1 min after signing in, 25 minutes idle
    response = client.post("/referrals/new", data=REFERRAL)
    assert response.headers["Location"] == "/sign-in"
    [row] = _held_rows()
    assert row.user_id == manager.id


def test_a_form_posted_after_the_cookie_was_lost_is_held_when_it_came_from_this_site(
        app, client, manager):
    app.config.update(WTF_CSRF_ENABLED=True)
    response = client.post("/referrals/new", data={**REFERRAL, "csrf_token": "from-old-cookie"},
                           headers=SAME_ORIGIN)
    assert response.status_code == 302
    assert response.headers["Location"] == "/sign-in"
    [row] = _held_rows()
    assert row.user_id is None  # nobody known: whoever signs in in this browser may send it
    app.config.update(WTF_CSRF_ENABLED=False)
    assert _sign_in(client, manager).headers["Location"] == "/sign-in/kept-changes"


def test_a_form_chromium_posts_with_a_null_origin_after_the_cookie_was_lost_is_held(app, client):
    # Our Referrer-Policy is no-referrer, so Chromium sends `Origin: null` with a form post; its
    # Sec-Fetch-Site says the post came from this site's own page.
    app.config.update(WTF_CSRF_ENABLED=True)
    response = client.post("/referrals/new", data={**REFERRAL, "csrf_token": "from-old-cookie"},
                           headers={"Origin": "null", "Sec-Fetch-Site": "same-origin"})
    assert response.status_code == 302
    assert response.headers["Location"] == "/sign-in"
    assert len(_held_rows()) == 1


@pytest.mark.parametrize("headers", [
    {},
    {"Sec-Fetch-Site": "cross-site"},
    {"Sec-Fetch-Site": "same-site"},
    {"Origin": "https://attacker.example"},
    {"Origin": "null"},
    {"Origin": "null", "Sec-Fetch-Site": "cross-site"},
    {"Origin": "null", "Sec-Fetch-Site": "same-site"},
    {"Origin": "https://attacker.example", "Sec-Fetch-Site": "same-origin"},
])
def test_a_post_with_a_refused_token_from_elsewhere_is_never_held(app, client, headers):
    app.config.update(WTF_CSRF_ENABLED=True)
    response = client.post("/referrals/new", data=REFERRAL, headers=headers)
    assert response.status_code == 400
    assert _held_rows() == []


def test_a_public_page_or_a_password_form_is_never_held(app, client, manager, clock):
    app.config.update(WTF_CSRF_ENABLED=True)
    response = client.post("/sign-in", data={"email": "a@b.example", "password": "secret"},
                           headers=SAME_ORIGIN)
    assert response.status_code == 400
    app.config.update(WTF_CSRF_ENABLED=False)
    _sign_in(client, manager)
    clock.advance(minutes=31)
    client.post("/account/password", data={"current_password": "a", "new_password": "b"})
    assert _held_rows() == []


def test_a_file_cannot_be_kept_and_the_page_says_so(client, manager, clock):
    _sign_in(client, manager)
    clock.advance(minutes=31)
    client.post("/referrals/new", data={**REFERRAL, "file": (io.BytesIO(b"a,b"), "list.csv")},
                content_type="multipart/form-data")
    [row] = _held_rows()
    assert row.dropped_files == "file"
    _sign_in(client, manager)
    page = client.get("/sign-in/kept-changes").get_data(as_text=True)
    assert "Files you chose could not be kept" in page


def test_what_was_entered_never_reaches_the_logs_or_a_url(client, manager, clock, caplog):
    caplog.set_level(logging.DEBUG)
    _sign_in(client, manager)
    clock.advance(minutes=31)
    held = client.post("/referrals/new", data=REFERRAL)
    signed_in = _sign_in(client, manager)
    client.get("/sign-in/kept-changes")
    sent = client.post("/sign-in/kept-changes/send", data=REFERRAL)
    assert "Smithson" not in caplog.text
    for response in (held, signed_in, sent):
        assert "Smithson" not in response.headers["Location"]
        assert "kept-changes?" not in response.headers["Location"]


# Who may use it, and for how long ------------------------------------------------------------

def test_another_user_signing_in_in_that_browser_never_sees_it(client, manager, other_manager,
                                                               clock):
    _sign_in(client, manager)
    clock.advance(minutes=31)
    client.post("/referrals/new", data=REFERRAL)
    response = _sign_in(client, other_manager)
    assert response.headers["Location"] == "/dashboard"
    assert _held_rows() == []
    assert len(_audit("auth.held_form_discarded")) == 1
    assert client.get("/sign-in/kept-changes").status_code == 302


def test_a_held_form_is_only_reachable_from_the_browser_that_posted_it(app, client, manager,
                                                                       clock):
    _sign_in(client, manager)
    clock.advance(minutes=31)
    client.post("/referrals/new", data=REFERRAL)
    elsewhere = app.test_client()
    _sign_in(elsewhere, manager)
    response = elsewhere.get("/sign-in/kept-changes")
    assert response.status_code == 302 and response.headers["Location"] == "/dashboard"
    assert len(_held_rows()) == 1


def test_a_held_form_expires_after_two_hours_and_housekeeping_deletes_it(app, client, manager,
                                                                         clock):
    _sign_in(client, manager)
    clock.advance(minutes=31)
    client.post("/referrals/new", data=REFERRAL)
    clock.advance(hours=2, minutes=1)
    assert _sign_in(client, manager).headers["Location"] == "/dashboard"
    client2 = app.test_client()
    _sign_in(client2, manager)
    clock.advance(minutes=31)
    client2.post("/referrals/new", data=REFERRAL)
    assert len(_held_rows()) == 1
    result = jobs_of(app)["housekeeping"].function(now=now_utc() + dt.timedelta(hours=3))
    assert result["held_forms_removed"] == 1
    assert db.session.scalar(select(func.count()).select_from(HeldForm)) == 0


def test_discarding_deletes_it_and_is_audited(client, manager, clock):
    _sign_in(client, manager)
    clock.advance(minutes=31)
    client.post("/referrals/new", data=REFERRAL)
    _sign_in(client, manager)
    response = client.post("/sign-in/kept-changes/discard")
    assert response.headers["Location"] == "/dashboard"
    assert _held_rows() == []
    [audit] = _audit("auth.held_form_discarded")
    assert audit.actor_user_id == manager.id


def test_an_old_tab_posting_after_signing_in_again_elsewhere_goes_straight_to_send(app, client,
                                                                                  manager):
    _sign_in(client, manager)
    app.config.update(WTF_CSRF_ENABLED=True)
    response = client.post("/referrals/new", data={**REFERRAL, "csrf_token": "old-tab"},
                           headers=SAME_ORIGIN)
    assert response.headers["Location"] == "/sign-in/kept-changes"
    assert _held_rows()[0].user_id == manager.id
    page = client.get("/sign-in/kept-changes").get_data(as_text=True)
    assert 'value="Smithson"' in page


# The warning's numbers -------------------------------------------------------------------------

def test_staff_pages_carry_the_time_out_numbers_and_public_pages_do_not(app, signed_in):
    page = signed_in.get("/dashboard").get_data(as_text=True)
    assert 'data-app-timeout-idle-seconds="1800"' in page
    assert 'data-app-timeout-warning-seconds="120"' in page
    assert 'data-app-timeout-absolute-seconds-left="43200"' in page
    assert "You’re about to be signed out" in page
    public = app.test_client()
    for path in ("/sign-in", "/book"):
        assert "data-app-timeout" not in public.get(path).get_data(as_text=True)
    assert "data-app-timeout" not in signed_in.get("/book").get_data(as_text=True)
