"""Signing in to the self-service page: one message for every refusal, throttling, lock-out,
the manager's unlock, and person sessions bound to one referral."""

from __future__ import annotations

import datetime as dt
import html
import re

import pytest
from sqlalchemy import select, update

from diversion.audit.models import AuditCategory, AuditEvent
from diversion.auth.models import RefusedAttempt
from diversion.core.extensions import db
from diversion.core.timeutils import now_utc
from diversion.outbox.models import OutboxMessage
from diversion.referrals import amending as referral_amending
from diversion.selfservice import services
from diversion.selfservice.models import PersonSession, SelfServiceLock
from tests.builders import create_user, known_referral
from tests.selfservice.helpers import details, sign_in

pytestmark = pytest.mark.usefixtures("clock")  # the app reads a clock stopped at NOW

OVERVIEW = "/book/your-course"


def error_message(response) -> str:  # type: ignore[no-untyped-def]
    """The text of the error summary's first item."""
    page = response.get_data(as_text=True)
    found = re.search(r'govuk-error-summary__list">\s*<li>\s*<a href="[^"]*">([^<]*)</a>', page)
    assert found, "no error summary on the page"
    return html.unescape(found.group(1)).strip()


def audit(action: str) -> list[AuditEvent]:
    return list(db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)
                                   .order_by(AuditEvent.id)))


@pytest.fixture
def generous_throttle(app, monkeypatch):  # type: ignore[no-untyped-def]
    """Throttling out of the way, so a test can reach the lock."""
    monkeypatch.setitem(app.config, "SELF_SERVICE_LIMITS",
                        services.Limits(max_per_address=100, max_per_reference=100))


def test_the_start_page_is_public_and_does_not_name_the_offence(client):
    page = client.get("/book").get_data(as_text=True)
    assert "<title>Book your course" in page
    assert "Reference" in page and "PIN" in page and "Date of birth" in page
    for word in ("kerb", "soliciting", "prostitut", "sexual", "offence"):
        assert word not in page.lower()


def test_the_right_details_open_the_persons_page_and_record_who_looked(client):
    known = known_referral()
    response = sign_in(client, known)
    assert response.status_code == 302 and response.headers["Location"] == OVERVIEW
    page = client.get(OVERVIEW).get_data(as_text=True)
    assert known.reference in page
    views = audit("selfservice.view")
    assert [(v.category, v.actor_label, v.object_id) for v in views] == [
        (AuditCategory.CONSULTATION, f"person:{known.reference}", str(known.referral.id))]


def test_a_reference_typed_in_lower_case_with_spaces_is_accepted(client):
    known = known_referral()
    typed = known.reference[:4].lower() + " " + known.reference[4:].lower()
    assert sign_in(client, known, reference=typed).status_code == 302


@pytest.mark.parametrize("wrong", [
    {"reference": "ACDEFHJK"},
    {"pin": "000000"},
    {"dob_year": "1985"},
    {"reference": "ACDEFHJK", "pin": "000000", "dob_year": "1985"},
    {"pin": "000000", "dob_year": "1985"},
], ids=["unknown reference", "wrong PIN", "wrong date of birth", "all wrong",
        "wrong PIN and date of birth"])
def test_every_wrong_combination_gets_the_same_message(client, wrong):
    known = known_referral()
    if known.pin == wrong.get("pin"):
        wrong["pin"] = "111111"
    response = sign_in(client, known, **wrong)
    assert response.status_code == 200
    assert error_message(response) == services.REFUSED
    assert client.get(OVERVIEW).status_code == 302  # not signed in


def test_a_date_of_birth_that_is_not_a_real_date_is_a_form_error_not_a_refusal(client):
    known = known_referral()
    response = sign_in(client, known, dob_day="31", dob_month="2")
    assert error_message(response) == "Date of birth must be a real date, like 27 3 1985"
    assert audit("selfservice.sign_in_failed") == []


def test_refusals_are_throttled_per_address(client):
    known = known_referral()
    for number in range(10):
        refused = sign_in(client, known, address="198.51.100.7", reference=f"ACDEF{number:03d}")
        assert refused.status_code == 200
    throttled = sign_in(client, known, address="198.51.100.7")
    assert throttled.status_code == 429
    assert error_message(throttled) == services.THROTTLED
    assert sign_in(client, known, address="198.51.100.8").status_code == 302


def test_refusals_are_throttled_per_reference_whatever_the_address(client):
    unknown = "ACDEFHJK"
    known = known_referral()
    for number in range(5):
        sign_in(client, known, address=f"198.51.100.{number}", reference=unknown)
    throttled = sign_in(client, known, address="198.51.100.99", reference=unknown)
    assert throttled.status_code == 429
    assert audit("selfservice.sign_in_throttled")
    assert sign_in(client, known, address="198.51.100.99").status_code == 302


def test_refusals_older_than_the_window_no_longer_count(client):
    known = known_referral()
    for number in range(10):
        sign_in(client, known, address="198.51.100.7", reference=f"ACDEF{number:03d}")
    assert sign_in(client, known, address="198.51.100.7").status_code == 429
    db.session.execute(update(RefusedAttempt).where(RefusedAttempt.kind == "self_service")
                       .values(at=now_utc() - dt.timedelta(minutes=16)))
    db.session.commit()
    assert sign_in(client, known, address="198.51.100.7").status_code == 302


def test_five_wrong_pins_lock_the_reference_even_against_the_right_details(
        client, generous_throttle):
    known = known_referral()
    for _ in range(5):
        sign_in(client, known, pin="000000" if known.pin != "000000" else "111111")
    lock = db.session.get(SelfServiceLock, known.referral.id)
    assert lock is not None and lock.is_locked and lock.failed_attempts == 5
    refused = sign_in(client, known)
    assert refused.status_code == 200
    assert error_message(refused) == services.REFUSED  # no oracle: the same words as any refusal
    assert [e.actor_label for e in audit("selfservice.locked")] == [f"person:{known.reference}"]
    notices = list(db.session.scalars(select(OutboxMessage).where(
        OutboxMessage.template == services.LOCK_NOTICE_TEMPLATE)))
    assert [(n.recipient, n.context["reference"]) for n in notices] == [
        (known.referral.person.email, known.reference)]


def test_four_wrong_tries_then_the_right_details_reset_the_count(client, generous_throttle):
    known = known_referral()
    for _ in range(4):
        sign_in(client, known, dob_year="1990")
    assert sign_in(client, known).status_code == 302
    assert db.session.get(SelfServiceLock, known.referral.id).failed_attempts == 0
    for _ in range(4):
        sign_in(client, known, dob_year="1990")
    assert sign_in(client, known).status_code == 302  # still not locked


def test_an_unknown_reference_never_creates_a_lock(client, generous_throttle):
    known = known_referral()
    for _ in range(6):
        sign_in(client, known, reference="ACDEFHJK")
    assert db.session.scalars(select(SelfServiceLock)).all() == []


def test_a_manager_sees_locked_references_and_unlocks_one_with_an_audit_row(
        app, client, generous_throttle):
    known = known_referral()
    person = app.test_client()
    for _ in range(5):
        sign_in(person, known, pin="abcdef")
    manager = create_user("manager")
    db.session.commit()
    client.post("/sign-in", data={"email": manager.email,
                                  "password": "correct horse battery staple 42"})
    listing = client.get("/selfservice/locked").get_data(as_text=True)
    assert known.reference in listing
    response = client.post(f"/selfservice/locked/{known.referral.id}/unlock")
    assert response.status_code == 302
    after = client.get("/selfservice/locked").get_data(as_text=True)
    assert f"Reference {known.reference} is unlocked" in after
    assert "No booking pages are locked" in after
    unlocked = audit("selfservice.unlocked")
    assert [(e.actor_user_id, e.category, e.object_id) for e in unlocked] == [
        (manager.id, AuditCategory.SECURITY, str(known.referral.id))]
    assert sign_in(person, known).status_code == 302


def test_unlocking_a_reference_that_is_not_locked_is_not_found(client, login_as):
    known = known_referral()
    login_as("manager")
    assert client.post(f"/selfservice/locked/{known.referral.id}/unlock").status_code == 404


@pytest.mark.parametrize("role", ["police", "facilitator", "admin"])
def test_only_managers_see_the_locked_list(client, login_as, role):
    login_as(role)
    assert client.get("/selfservice/locked").status_code == 403


# Person sessions ----------------------------------------------------------------------------

def test_the_persons_pages_need_a_person_session(client, login_as):
    assert client.get(OVERVIEW).headers["Location"] == "/book"
    login_as("manager")  # a staff sign-in is not a person session
    assert client.get(OVERVIEW).headers["Location"] == "/book"


def test_a_person_session_ends_after_20_idle_minutes(client):
    known = known_referral()
    sign_in(client, known)
    assert client.get(OVERVIEW).status_code == 200
    db.session.execute(update(PersonSession).values(
        last_seen_at=now_utc() - dt.timedelta(minutes=19)))
    db.session.commit()
    assert client.get(OVERVIEW).status_code == 200  # and the idle clock restarts
    db.session.execute(update(PersonSession).values(
        last_seen_at=now_utc() - dt.timedelta(minutes=21)))
    db.session.commit()
    expired = client.get(OVERVIEW)
    assert expired.headers["Location"] == "/book"
    assert "Your session ended" in client.get("/book").get_data(as_text=True)
    assert db.session.scalars(select(PersonSession)).all() == []


def _token(client) -> str:  # type: ignore[no-untyped-def]
    with client.session_transaction() as session:
        return session.get("person_token", "")


def test_signing_in_again_rotates_the_token_and_ends_the_old_session(client):
    known = known_referral()
    sign_in(client, known)
    first = _token(client)
    sign_in(client, known)
    second = _token(client)
    assert first and second and first != second
    assert services.person_session_for(first, now=now_utc()) is None
    assert len(db.session.scalars(select(PersonSession)).all()) == 1


def test_a_session_only_ever_shows_its_own_referral(app):
    first, second = known_referral(), known_referral()
    his, other = app.test_client(), app.test_client()
    sign_in(his, first)
    sign_in(other, second)
    his_page = his.get(OVERVIEW).get_data(as_text=True)
    assert first.reference in his_page and second.reference not in his_page
    # Signing in as someone else in the same browser replaces the session, never adds to it.
    sign_in(his, second)
    page = his.get(OVERVIEW).get_data(as_text=True)
    assert second.reference in page and first.reference not in page
    assert {s.referral_id for s in db.session.scalars(select(PersonSession))} == {
        second.referral.id}


def test_signing_out_ends_the_session_even_for_a_copied_cookie(client):
    known = known_referral()
    sign_in(client, known)
    copied = client.get_cookie("diversion_session").value
    response = client.post("/book/sign-out")
    assert response.headers["Location"] == "/book/signed-out"
    assert client.get(OVERVIEW).status_code == 302
    client.set_cookie("diversion_session", copied)
    assert client.get(OVERVIEW).headers["Location"] == "/book"
    assert [e.actor_label for e in audit("selfservice.sign_out")] == [f"person:{known.reference}"]


def test_a_reissued_pin_ends_sessions_started_with_the_old_one(client, login_as):
    known = known_referral()
    sign_in(client, known)
    manager = create_user("manager")
    later = now_utc() + dt.timedelta(seconds=1)
    referral_amending.reissue_pin(reference=known.reference, actor=manager, now=later)
    db.session.commit()
    assert client.get(OVERVIEW).headers["Location"] == "/book"


def test_the_details_form_keeps_no_pin_in_the_page_after_a_refusal(client):
    known = known_referral()
    page = sign_in(client, known, dob_year="1990").get_data(as_text=True)
    assert f'value="{known.pin}"' not in page
    assert details(known)["reference"] in page  # the reference is kept, to correct it


def test_the_managers_dashboard_counts_locked_booking_pages(app, client, login_as,
                                                            generous_throttle):
    known = known_referral()
    person = app.test_client()
    for _ in range(5):
        sign_in(person, known, dob_year="1990")
    login_as("manager")
    page = client.get("/dashboard").get_data(as_text=True)
    assert "Locked after wrong details" in page and "/selfservice/locked" in page


def test_housekeeping_forgets_old_refusals_and_ended_sessions(client):
    from diversion.core.jobs import jobs_of

    known = known_referral()
    sign_in(client, known, dob_year="1990")
    sign_in(client, known)
    now = now_utc()
    jobs = jobs_of(client.application)
    # Refusals of every kind are forgotten by the one throttle's job (auth's housekeeping).
    assert jobs["housekeeping"].function(now=now) == {"refusals_removed": 0,
                                                        "guards_removed": 0,
                                                        "reset_links_removed": 0,
                                                        "held_forms_removed": 0,
                                                        "sign_ins_removed": 0}
    assert jobs["self_service_housekeeping"].function(now=now) == {"sessions_removed": 0}
    later = now + dt.timedelta(days=2)
    assert jobs["housekeeping"].function(now=later) == {"refusals_removed": 1,
                                                          "guards_removed": 0,
                                                          "reset_links_removed": 0,
                                                          "held_forms_removed": 0,
                                                        "sign_ins_removed": 0}
    assert jobs["self_service_housekeeping"].function(now=later) == {"sessions_removed": 1}
