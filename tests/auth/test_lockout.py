"""Sign-in guards: a progressive delay per account, limits per address, known devices that
strangers cannot lock out, an administrator's unlock; held in the database across workers."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from diversion import create_app
from diversion.audit.models import AuditEvent
from diversion.auth import guards
from diversion.auth.devices import COOKIE_NAME
from diversion.auth.models import SignInGuard
from diversion.auth.services import account_key
from diversion.core.extensions import db
from diversion.core.jobs import jobs_of
from tests.builders import DEFAULT_PASSWORD, create_user
from tests.core.apps import separate_app

pytestmark = pytest.mark.usefixtures("clock")  # the app reads a clock stopped at NOW

WRONG = "not the right password at all"


def _sign_in(client, email, password=DEFAULT_PASSWORD, address="192.0.2.1"):
    return client.post("/sign-in", data={"email": email, "password": password},
                       environ_base={"REMOTE_ADDR": address})


def _actions() -> list[str]:
    db.session.expire_all()
    return list(db.session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))


def _account_guard(email: str) -> SignInGuard | None:
    db.session.expire_all()
    return guards.get_guard(guards.ACCOUNT, account_key(email))


def test_the_delay_starts_after_five_failures_doubles_and_stops_at_fifteen_minutes():
    rule = guards.DelayRule(free_failures=5, max_delay=dt.timedelta(minutes=15))
    waits = [guards.delay_after(n, rule).total_seconds() for n in range(1, 17)]
    assert waits == [0, 0, 0, 0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900]
    assert guards.delay_after(10_000, rule) == dt.timedelta(minutes=15)


def test_after_five_failures_an_attempt_inside_the_delay_is_refused_unchecked(app, client,
                                                                               clock):
    user = create_user("manager")
    db.session.commit()
    for attempt in range(5):
        assert _sign_in(client, user.email, WRONG,
                        address=f"198.51.100.{attempt}").status_code == 200
    # Even the right password is not looked at inside the delay.
    refused = _sign_in(client, user.email, address="203.0.113.9")
    assert refused.status_code == 429
    page = refused.get_data(as_text=True)
    assert "You have tried to sign in too many times. Wait 1 second, then try again" in page
    assert "There is a problem" in page
    assert _actions().count("auth.sign_in_failed") == 5
    assert _actions()[-1] == "auth.sign_in_throttled"
    assert client.get("/dashboard").status_code == 302
    clock.advance(seconds=1)
    assert _sign_in(client, user.email, WRONG).status_code == 200  # checked: the sixth failure
    assert "Wait 2 seconds" in _sign_in(client, user.email).get_data(as_text=True)
    clock.advance(seconds=2)
    assert _sign_in(client, user.email).status_code == 302
    assert _account_guard(user.email) is None  # a correct password clears the count


def test_a_long_run_of_failures_waits_minutes_and_the_page_says_so(app, client, clock):
    user = create_user("manager")
    db.session.add(SignInGuard(scope="account", key=account_key(user.email), failures=12,
                               window_started_at=clock.now, last_attempt_at=clock.now,
                               next_attempt_at=clock.now + dt.timedelta(seconds=128)))
    db.session.commit()
    page = _sign_in(client, user.email).get_data(as_text=True)
    assert "Wait 3 minutes, then try again" in page


def test_four_failures_still_let_the_right_password_in_and_clear_the_count(app, client):
    user = create_user("manager")
    db.session.commit()
    for _ in range(4):
        _sign_in(client, user.email, WRONG)
    assert _account_guard(user.email).failures == 4
    assert _sign_in(client, user.email).status_code == 302
    assert _account_guard(user.email) is None


def test_an_unknown_account_is_delayed_the_same_way(app, client):
    for _ in range(5):
        assert _sign_in(client, "nobody@example.test", WRONG).status_code == 200
    assert _sign_in(client, "Nobody@Example.test ", WRONG).status_code == 429


def test_the_address_limit_is_fifty_failures_an_hour():
    config = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite://"}).config
    assert config["SIGN_IN_MAX_FAILURES_PER_ADDRESS"] == 50
    assert config["SIGN_IN_ADDRESS_WINDOW_SECONDS"] == 3600
    assert config["SIGN_IN_FREE_FAILURES_PER_ACCOUNT"] == 5
    assert config["SIGN_IN_MAX_DELAY_SECONDS"] == 900


def test_failures_from_one_address_across_accounts_stop_that_address_for_an_hour(
        app, client, clock, monkeypatch):
    monkeypatch.setitem(app.config, "SIGN_IN_MAX_FAILURES_PER_ADDRESS", 4)
    user = create_user("manager")
    db.session.commit()
    for attempt in range(4):
        _sign_in(client, f"guess{attempt}@example.test", WRONG, address="198.51.100.7")
    refused = _sign_in(client, user.email, address="198.51.100.7")
    assert refused.status_code == 429
    assert "too many failed sign-ins from your network. Wait 60 minutes" in refused.get_data(
        as_text=True)
    assert _account_guard(user.email) is None  # not counted against the account
    assert _sign_in(client, user.email, address="198.51.100.8").status_code == 302
    client.post("/sign-out")
    clock.advance(minutes=61)
    assert _sign_in(client, user.email, address="198.51.100.7").status_code == 302


def test_a_correct_sign_in_does_not_count_against_its_address(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "SIGN_IN_MAX_FAILURES_PER_ADDRESS", 2)
    user = create_user("manager")
    db.session.commit()
    for _ in range(3):
        assert _sign_in(client, user.email).status_code == 302
        client.post("/sign-out")
    assert _sign_in(client, "nobody@example.test", WRONG).status_code == 200


def test_a_known_device_is_not_delayed_by_strangers_failures(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "SIGN_IN_MAX_FAILURES_PER_ADDRESS", 5)
    user = create_user("admin")
    db.session.commit()
    response = _sign_in(client, user.email)
    assert response.status_code == 302
    cookie = client.get_cookie(COOKIE_NAME, path="/sign-in")
    assert cookie is not None and cookie.http_only and cookie.max_age == 90 * 24 * 3600
    client.post("/sign-out")
    stranger = app.test_client()
    # From the same office address, enough to stop both the account and the address.
    for _ in range(6):
        _sign_in(stranger, user.email, WRONG)
    assert _sign_in(stranger, user.email).status_code == 429
    assert "from your network" in _sign_in(stranger, "other@example.test").get_data(as_text=True)
    assert _sign_in(client, user.email).status_code == 302
    assert client.get("/dashboard").status_code == 200
    # The strangers' count still stands against strangers.
    assert _sign_in(app.test_client(), user.email, address="203.0.113.1").status_code == 429


def test_a_known_device_guessing_is_delayed_on_its_own_count(app, client):
    user = create_user("manager")
    db.session.commit()
    _sign_in(client, user.email)
    client.post("/sign-out")
    for _ in range(5):
        assert _sign_in(client, user.email, WRONG).status_code == 200
    assert _sign_in(client, user.email).status_code == 429
    assert _account_guard(user.email) is None  # counted against the device, not the account
    assert _sign_in(app.test_client(), user.email, address="203.0.113.1").status_code == 302


def test_a_device_known_for_another_account_or_forged_counts_for_nothing(app, client):
    first, second = create_user("manager"), create_user("facilitator")
    db.session.commit()
    _sign_in(client, first.email)
    client.post("/sign-out")
    stranger = app.test_client()
    for _ in range(5):
        _sign_in(stranger, second.email, WRONG, address="203.0.113.2")
    assert _sign_in(client, second.email).status_code == 429
    forged = app.test_client()
    forged.set_cookie(COOKIE_NAME, client.get_cookie(COOKIE_NAME, path="/sign-in").value[:-2]
                      + "xx", path="/sign-in")
    for _ in range(5):
        _sign_in(app.test_client(), first.email, WRONG, address="203.0.113.3")
    assert _sign_in(forged, first.email).status_code == 429


def test_an_administrator_unlocks_an_account_audited(app, client, login_as):
    user = create_user("police")
    db.session.commit()
    stranger = app.test_client()
    for _ in range(7):
        _sign_in(stranger, user.email, WRONG, address="203.0.113.4")
    admin = login_as("admin")
    listing = client.get("/admin/users").get_data(as_text=True)
    assert "Sign-in delayed" in listing
    page = client.get(f"/admin/users/{user.id}").get_data(as_text=True)
    assert "5 failed sign-ins in a row" in page  # the sixth and seventh were not checked
    response = client.post(f"/admin/users/{user.id}/unlock")
    assert response.status_code == 302
    assert _account_guard(user.email) is None
    event = db.session.scalar(select(AuditEvent).where(
        AuditEvent.action == "user.sign_in_unlock"))
    assert event.actor_user_id == admin.id and event.object_id == str(user.id)
    assert event.details == {"failures": 5}
    assert _sign_in(app.test_client(), user.email, address="203.0.113.5").status_code == 302


def test_only_an_administrator_can_unlock(app, client, login_as):
    user = create_user("police")
    db.session.commit()
    login_as("manager")
    assert client.post(f"/admin/users/{user.id}/unlock").status_code == 403


def test_the_delay_holds_across_clients_and_app_instances(app, client, database_url, tmp_path):
    email = create_user("manager").email
    db.session.commit()
    for _ in range(3):
        _sign_in(client, email, WRONG)
    # End this test's transaction (SQLite writers take the lock at BEGIN), as the end of a real
    # request would, so the second worker can write.
    db.session.rollback()
    with separate_app(database_url, tmp_path) as second_worker:
        other = second_worker.test_client()
        for _ in range(2):
            _sign_in(other, email, WRONG, address="192.0.2.200")
        assert _sign_in(other, email, address="192.0.2.201").status_code == 429
    assert _sign_in(app.test_client(), email).status_code == 429
    assert _account_guard(email).failures == 5


def test_the_housekeeping_job_forgets_guards_quiet_for_a_day(app, clock):
    user = create_user("manager")
    db.session.add(SignInGuard(scope="account", key=account_key(user.email), failures=9,
                               window_started_at=clock.now, last_attempt_at=clock.now,
                               next_attempt_at=clock.now + dt.timedelta(minutes=4)))
    db.session.commit()
    housekeeping = jobs_of(app)["housekeeping"].function
    assert housekeeping(now=clock.now + dt.timedelta(hours=23))["guards_removed"] == 0
    assert housekeeping(now=clock.now + dt.timedelta(hours=25))["guards_removed"] == 1


def test_the_cookies_page_names_the_known_device_cookie(client):
    page = client.get("/cookies").get_data(as_text=True)
    assert f"<code>{COOKIE_NAME}</code>" in page and "90 days" in page
