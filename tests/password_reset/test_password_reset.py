"""Forgotten passwords: the same answer for any address, an emailed single-use link valid for an
hour whose token is stored only as a digest, every sign-in ended, audited; bad links get a page."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import time

import pytest
from sqlalchemy import func, select

from diversion.audit.models import AuditEvent
from diversion.auth.models import PasswordResetToken, User
from diversion.auth.passwords import verify_password
from diversion.core.extensions import db
from diversion.core.jobs import jobs_of
from diversion.outbox.channels import SMTPChannel
from diversion.outbox.dispatcher import WITHHELD, dispatch_due, render_message
from diversion.outbox.models import Channel, OutboxMessage
from tests.builders import DEFAULT_PASSWORD, NOW, create_user
from tests.outbox.servers import running_smtp_server

pytestmark = pytest.mark.usefixtures("clock")

NEW_PASSWORD = "a brand new passphrase for me"
LINK = re.compile(r"http://[^\s]+/sign-in/reset-password/([A-Za-z0-9_-]{43})")


def _ask(client, email, address="192.0.2.1"):
    return client.post("/sign-in/forgotten-password", data={"email": email},
                       environ_base={"REMOTE_ADDR": address})


def _messages() -> list[OutboxMessage]:
    db.session.expire_all()
    return list(db.session.scalars(select(OutboxMessage).where(
        OutboxMessage.template == "password_reset").order_by(OutboxMessage.id)))


def _link_in(message: OutboxMessage) -> str:
    text = render_message(message, for_delivery=True).text
    return "/sign-in/reset-password/" + LINK.search(text)[1]


def _actions() -> list[str]:
    db.session.expire_all()
    return list(db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def test_the_sign_in_page_links_to_the_forgotten_password_page(client):
    page = client.get("/sign-in").get_data(as_text=True)
    assert 'href="/sign-in/forgotten-password"' in page
    assert "Forgotten your password?" in page


def test_a_known_and_an_unknown_address_get_the_same_answer(app, client):
    user = create_user("manager")
    db.session.commit()
    known = _ask(client, user.email)
    unknown = _ask(client, "nobody@example.test")
    assert known.status_code == unknown.status_code == 302
    assert known.headers["Location"] == unknown.headers["Location"] == (
        "/sign-in/forgotten-password/sent")
    assert "Check your email" in client.get(known.headers["Location"]).get_data(as_text=True)
    [message] = _messages()
    assert message.recipient == user.email and message.subject_id == str(user.id)
    assert _actions().count("auth.password_reset_requested") == 2


def test_asking_takes_the_same_order_of_time_for_a_known_and_an_unknown_address(app, client):
    user = create_user("manager")
    db.session.commit()

    def timed(email: str, address: str) -> float:
        start = time.perf_counter()
        _ask(client, email, address=address)
        return time.perf_counter() - start

    known = min(timed(user.email, f"198.51.100.{n}") for n in range(3))
    unknown = min(timed(f"nobody{n}@example.test", f"198.51.100.{10 + n}") for n in range(3))
    assert known < unknown * 10 and unknown < known * 10


def test_the_email_carries_a_link_that_only_the_recipient_sees(app, client):
    user = create_user("facilitator")
    db.session.commit()
    _ask(client, user.email)
    [message] = _messages()
    # Neither the outbox row nor the reset row holds the link's token.
    link = _link_in(message)
    token = link.rsplit("/", 1)[1]
    stored = db.session.scalar(select(PasswordResetToken))
    assert stored.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in str(message.context)
    assert stored.expires_at == NOW + dt.timedelta(hours=1)
    assert message.expires_at == stored.expires_at
    # The messages page and anything else that renders it sees it withheld.
    assert WITHHELD in render_message(message).text and token not in render_message(message).text


def test_the_email_is_sent_through_the_outbox_with_the_working_link(app, client):
    user = create_user("manager")
    db.session.commit()
    _ask(client, user.email)
    with running_smtp_server() as (port, server):
        channels = {Channel.EMAIL: SMTPChannel(host="127.0.0.1", port=port, timeout=2,
                                               mail_from="noreply@diversion.example")}
        assert dispatch_due(now=NOW, channels=channels).sent == 1
    [received] = server.messages
    assert received["Subject"] == "Diversion: reset your password"
    body = received.get_body(("plain",)).get_content()
    token = LINK.search(body)[1]
    assert client.get(f"/sign-in/reset-password/{token}").status_code == 302
    assert "Set a new password" in client.get("/sign-in/reset-password").get_data(as_text=True)


def test_setting_a_new_password_ends_every_sign_in_and_is_audited(app, client, login_as):
    user = login_as("manager")  # signed in elsewhere, in this client
    old_token = user.session_token
    reset = app.test_client()
    _ask(reset, user.email)
    [message] = _messages()
    opened = reset.get(_link_in(message))
    assert opened.headers["Location"] == "/sign-in/reset-password"  # the token leaves the URL
    done = reset.post("/sign-in/reset-password", data={"new_password": NEW_PASSWORD})
    assert done.status_code == 302 and done.headers["Location"] == "/sign-in"
    db.session.expire_all()
    stored = db.session.get(User, user.id)
    assert stored.session_token != old_token
    assert verify_password(stored.password_hash, NEW_PASSWORD)
    assert client.get("/dashboard").status_code == 302  # the other sign-in has ended
    assert "auth.password_reset_completed" in _actions()
    assert reset.post("/sign-in", data={"email": user.email,
                                        "password": NEW_PASSWORD}).status_code == 302


def test_a_link_works_once(app, client):
    user = create_user("manager")
    db.session.commit()
    _ask(client, user.email)
    link = _link_in(_messages()[0])
    client.get(link)
    client.post("/sign-in/reset-password", data={"new_password": NEW_PASSWORD})
    client.get(link)
    again = client.get("/sign-in/reset-password")
    assert again.status_code == 404
    assert "This link to reset your password has already been used" in again.get_data(
        as_text=True)


def test_a_link_older_than_an_hour_has_expired(app, client, clock):
    user = create_user("manager")
    db.session.commit()
    _ask(client, user.email)
    client.get(_link_in(_messages()[0]))
    clock.advance(minutes=61)
    page = client.get("/sign-in/reset-password")
    assert page.status_code == 404
    assert "This link to reset your password has expired" in page.get_data(as_text=True)
    assert verify_password(db.session.get(User, user.id).password_hash, DEFAULT_PASSWORD)


@pytest.mark.parametrize("token", ["garbage", "x" * 43, "A" * 500, "a.b~c"])
def test_a_garbage_link_gets_a_clear_page_never_a_500(app, client, token):
    client.get(f"/sign-in/reset-password/{token}")
    page = client.get("/sign-in/reset-password")
    assert page.status_code == 404
    assert "This link to reset your password is not valid" in page.get_data(as_text=True)
    # The bad token is dropped: the page now sends people to ask for a link.
    posted = client.post("/sign-in/reset-password", data={"new_password": NEW_PASSWORD})
    assert posted.headers["Location"] == "/sign-in/forgotten-password"


@pytest.mark.parametrize("token", ["%00", "..%2F..%2Fetc", "%C0%AF"])
def test_a_link_mangled_on_the_way_never_answers_500_nor_opens_the_page(app, client, token):
    assert client.get(f"/sign-in/reset-password/{token}").status_code in (302, 400, 404)
    assert client.get("/sign-in/reset-password").status_code in (302, 404)


def test_the_new_password_follows_the_change_password_rules_with_an_error_summary(app, client):
    user = create_user("manager")
    db.session.commit()
    _ask(client, user.email)
    client.get(_link_in(_messages()[0]))
    for weak, message in (("short", "Password must be 12 characters or more"),
                          ("", "Enter a new password")):
        page = client.post("/sign-in/reset-password", data={"new_password": weak})
        assert page.status_code == 400
        text = page.get_data(as_text=True)
        assert "There is a problem" in text and message in text
    # The link is still good after a refused password.
    assert client.get("/sign-in/reset-password").status_code == 200


def test_a_newer_link_or_a_reset_makes_the_older_links_useless(app, client):
    user = create_user("manager")
    db.session.commit()
    _ask(client, user.email)
    _ask(client, user.email)
    first, second = (_link_in(m) for m in _messages())
    client.get(second)
    client.post("/sign-in/reset-password", data={"new_password": NEW_PASSWORD})
    client.get(first)
    assert client.get("/sign-in/reset-password").status_code == 404


def test_asking_is_limited_per_address_with_the_same_answer_for_any_account(
        app, client, monkeypatch):
    monkeypatch.setitem(app.config, "PASSWORD_RESET_MAX_PER_ADDRESS", 2)
    user = create_user("manager")
    db.session.commit()
    _ask(client, "a@example.test")
    _ask(client, "b@example.test")
    refused = _ask(client, user.email)
    assert refused.status_code == 429
    assert "too many requests to reset a password from your network" in refused.get_data(
        as_text=True)
    assert _messages() == []
    assert _ask(client, user.email, address="192.0.2.99").status_code == 302


def test_one_account_gets_at_most_three_links_an_hour(app, client):
    user = create_user("manager")
    db.session.commit()
    for n in range(5):
        assert _ask(client, user.email, address=f"198.51.100.{n}").status_code == 302
    assert len(_messages()) == 3
    assert db.session.scalar(select(func.count()).select_from(PasswordResetToken)) == 3


def test_a_deactivated_account_gets_no_link(app, client):
    user = create_user("manager")
    user.is_active_account = False
    db.session.commit()
    assert _ask(client, user.email).status_code == 302
    assert _messages() == []


def test_an_empty_address_gets_an_error_summary(client):
    page = client.post("/sign-in/forgotten-password", data={"email": ""})
    assert page.status_code == 400
    text = page.get_data(as_text=True)
    assert "There is a problem" in text and "Enter your email address" in text


def test_the_housekeeping_job_forgets_links_a_day_after_they_expire(app, client, clock):
    user = create_user("manager")
    db.session.commit()
    _ask(client, user.email)
    housekeeping = jobs_of(app)["housekeeping"].function
    assert housekeeping(now=NOW + dt.timedelta(hours=24))["reset_links_removed"] == 0
    assert housekeeping(now=NOW + dt.timedelta(hours=26))["reset_links_removed"] == 1


def test_the_new_password_page_without_a_link_sends_people_to_ask_for_one(client):
    response = client.get("/sign-in/reset-password")
    assert response.headers["Location"] == "/sign-in/forgotten-password"
    assert "open the link in the email we sent you" in client.get(
        response.headers["Location"]).get_data(as_text=True)
