"""Every message template, rendered as an email, compared with a stored snapshot; and every
template given exactly the context the code that enqueues it passes.

Snapshots: tests/outbox/snapshots/<template>.subject.txt, .txt and .html, rendered from
the fixed contexts in CONTEXTS. Any difference fails. After changing a template on purpose:

    UPDATE_SNAPSHOTS=1 .venv/bin/pytest -q tests/outbox/test_message_snapshots.py

rewrites the snapshots; read the diff (`git diff tests/outbox/snapshots`) for plain,
discreet English before committing it. Rendering is strict (jinja2.StrictUndefined): a variable
missing from a context is an error, as it is when the dispatcher renders a real message.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from jinja2 import meta
from sqlalchemy import select

from diversion.attendance.outcomes import notify_person_completed
from diversion.auth.resets import ResetRules
from diversion.bookings import places as bookings_places
from diversion.bookings import session_cancellation as bookings_session_cancellation
from diversion.bookings import waiting_list as bookings_waiting_list
from diversion.core.extensions import db
from diversion.outbox.dispatcher import message_environment, render_message
from diversion.outbox.models import Channel, OutboxMessage
from diversion.outbox.rules import indiscreet_words
from diversion.password_reset import services as password_reset_services
from diversion.referrals import lifecycle
from diversion.referrals.models import ReferralEventType
from diversion.reminders import triggers as reminders_triggers
from diversion.reports.monthly import prepare_monthly_reports
from diversion.selfservice import services as selfservice
from tests.builders import NOW, create_referral, create_user, create_venue, future_session

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_DIR = ROOT / "templates" / "messages"
SNAPSHOT_DIR = Path(__file__).resolve().parent / "snapshots"
UPDATE = os.environ.get("UPDATE_SNAPSHOTS") == "1"
PARTS = (".subject.txt", ".txt", ".html")
NAMES = sorted(path.name.removesuffix(".subject.txt")
               for path in TEMPLATE_DIR.glob("*.subject.txt"))
# Keys the dispatcher itself reads rather than a template: `ics` is attached as invite.ics,
# `attachment` names a file it makes and attaches (the completion certificate).
DISPATCHER_KEYS = frozenset({"ics", "attachment"})
# Keys the dispatcher adds when rendering: whether the `attachment` went with the email.
DISPATCHER_SUPPLIED = frozenset({"has_attachment"})
ICS = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Diversion//EN\r\nEND:VCALENDAR\r\n"

_SESSION = {
    "starts_at": "Thursday 25 June 2026 at 9:30am", "ends_at": "4:30pm", "is_online": False,
    "venue_name": "Leeds Civic Hall", "venue_address": "Portland Crescent, Leeds, LS1 1UR",
}
_PERSON = {"reference": "K7QM9XAD", "given_name": "Adam"}
_LINKS = {"manage_url": "https://diversion.example.org/book?ref=K7QM9XAD"}

# Realistic contexts with exactly the keys the enqueueing code passes (checked below).
CONTEXTS: dict[str, dict[str, Any]] = {
    "booking_confirmation": {**_PERSON, **_LINKS, **_SESSION, "step_free": True, "is_change": False,
                             "from_waiting_list": False, "start_time": "9:30am",
                             "late_cutoff": "9:45am", "ics": ICS,
                             # the default programme's fee is owed when he is booked
                             "outstanding": "£200.00",
                             "pay_url": "https://diversion.example.org/book?ref=K7QM9XAD"
                                        "&then=pay",
                             "pays_online": False, "phone": "0113 496 0000",
                             "hours": "Monday to Friday, 9am to 5pm"},
    "booking_cancelled": {**_PERSON, **_LINKS, **_SESSION, "step_free": True,
                          "complete_by": "Thursday 1 October 2026", "ics": ICS},
    "waiting_list_removed": {**_PERSON, **_LINKS, "starts_at": _SESSION["starts_at"],
                             "course_cancelled": False, "complete_by": "Thursday 1 October 2026"},
    "session_cancelled": {**_PERSON, **_LINKS, "starts_at": "Thursday 2 July 2026 at 9:30am",
                          "ends_at": "4:30pm", "is_online": False,
                          "venue_name": "Bradford Resource Centre",
                          "venue_address": "17 Manor Row, Bradford, BD1 4PB", "step_free": True,
                          "cancel_reason": "the facilitator is unwell", "rebooked": True,
                          "old": {**_SESSION, "step_free": True},
                          "complete_by": "Thursday 1 October 2026", "ics": ICS},
    "reminder_first": {**_PERSON, **_LINKS, **_SESSION, "starts_on": "Thursday 25 June",
                       "start_time": "9:30am", "late_cutoff": "9:45am"},
    "reminder_final": {**_PERSON, **_LINKS, **_SESSION, "starts_on": "Thursday 25 June",
                       "start_time": "9:30am", "late_cutoff": "9:45am"},
    "reminder_joining_details": {**_PERSON, **_LINKS, "starts_at": _SESSION["starts_at"],
                                 "ends_at": _SESSION["ends_at"], "starts_on": "Thursday 25 June",
                                 "joining_link": "https://meet.example.org/diversion-2506"},
    "reminder_fee_outstanding": {**_PERSON, **_LINKS, "starts_at": _SESSION["starts_at"],
                                 "starts_on": "Thursday 25 June", "outstanding": "£150.00",
                                 "pay_url": "https://diversion.example.org/book?ref=K7QM9XAD"
                                            "&then=pay",
                                 "pays_online": True, "phone": "0113 496 0000",
                                 "hours": "Monday to Friday, 9am to 5pm"},
    "reminder_booking_deadline": {**_PERSON, **_LINKS, "booking_deadline": "Wednesday 8 July 2026"},
    "offer_withdrawn": {**_PERSON},
    "referral_outcome_officer": {"reference": "K7QM9XAD", "crime_reference": "13/45678/26",
                                 "outcome": "not_completed", "outcome_label": "not completed",
                                 "reason": "Completion deadline passed",
                                 "closed_on": "2 October 2026",
                                 "referral_url": "https://diversion.example.org/referrals/K7QM9XAD"},
    "self_service_locked": {"reference": "K7QM9XAD", "phone": "0113 496 0000",
                            "hours": "Monday to Friday, 9am to 5pm"},
    "course_completed_person": {**_PERSON, "attended_on": "25 June 2026",
                                "attachment": {"kind": "completion_certificate",
                                               "reference": "K7QM9XAD",
                                               "filename": "certificate-K7QM9XAD.pdf"}},
    "monthly_report": {"name": "Priya Shah", "month": "June 2026", "links": [
        {"title": "Attendance", "url": "https://diversion.example.org/reports/archive/41"},
        {"title": "Referral outcomes", "url": "https://diversion.example.org/reports/archive/42"},
        {"title": "Proven reoffending",
         "url": "https://diversion.example.org/reports/archive/43"}]},
    "test_message": {"note": "checking the mail settings"},
    # `secret` is made only when the email is sent: the snapshot shows what any other rendering
    # (the messages page) shows in its place.
    "password_reset": {"name": "Priya Shah", "minutes": 60,
                       "secret": {"kind": "password_reset_link", "nonce": "fixed-nonce"}},
}

# Keys the enqueueing code passes that no template shows, each with its reason. Pinned exactly:
# a key dropped by its owner, or a new one added, fails the test until this list is updated.
UNSHOWN: dict[str, frozenset[str]] = {
    # bookings: the whole session context goes with every booking message.
    "booking_confirmation": frozenset({"step_free"}),
    "booking_cancelled": frozenset({"ends_at", "is_online", "venue_name", "venue_address",
                                    "step_free"}),
    "session_cancelled": frozenset({"step_free"}),
}


def template_variables(name: str) -> set[str]:
    """The context variables the text, subject and HTML parts of a template read."""
    environment = message_environment()
    found: set[str] = set()
    for suffix in PARTS:
        path = TEMPLATE_DIR / f"{name}{suffix}"
        if path.is_file():
            found |= meta.find_undeclared_variables(environment.parse(path.read_text()))
    # `subject`: the HTML part's <title>, supplied by render_message, as are DISPATCHER_SUPPLIED.
    return found - {"subject"} - DISPATCHER_SUPPLIED


def email(name: str, context: dict[str, Any]) -> Any:
    return render_message(OutboxMessage(template=name, channel=Channel.EMAIL, context=context))


def test_every_message_template_has_a_fixed_context():
    assert sorted(CONTEXTS) == NAMES


def test_no_snapshot_is_left_over_from_a_template_that_is_gone():
    expected = {f"{name}{suffix}" for name in NAMES for suffix in PARTS}
    stored = {path.name for path in SNAPSHOT_DIR.iterdir()} if SNAPSHOT_DIR.is_dir() else set()
    assert stored - expected == set()


@pytest.mark.parametrize("name", NAMES)
def test_the_email_matches_its_stored_snapshot(app, name):
    rendered = email(name, CONTEXTS[name])
    parts = {".subject.txt": rendered.subject + "\n", ".txt": rendered.text, ".html": rendered.html}
    if UPDATE:
        SNAPSHOT_DIR.mkdir(exist_ok=True)
        for suffix, content in parts.items():
            (SNAPSHOT_DIR / f"{name}{suffix}").write_text(content, encoding="utf-8")
    for suffix, content in parts.items():
        snapshot = SNAPSHOT_DIR / f"{name}{suffix}"
        assert snapshot.is_file(), f"no snapshot {snapshot.name}: run with UPDATE_SNAPSHOTS=1"
        assert content == snapshot.read_text(encoding="utf-8"), snapshot.name


@pytest.mark.parametrize("name", NAMES)
def test_the_email_is_discreet_and_fully_rendered(app, name):
    rendered = email(name, CONTEXTS[name])
    assert indiscreet_words(rendered.subject) == []
    for part in (rendered.subject, rendered.text, rendered.html):
        assert "{{" not in part and "{%" not in part and "None" not in part
    assert rendered.html.startswith("<!DOCTYPE html>")


def test_a_context_missing_a_variable_is_refused_rather_than_left_blank(app):
    context = dict(CONTEXTS["reminder_final"])
    del context["venue_name"]
    with pytest.raises(Exception, match="venue_name"):
        email("reminder_final", context)


def test_the_text_becomes_the_html_part_escaped_when_there_is_no_html_template(app):
    rendered = email("test_message", {"note": "<b>bold</b> & more"})
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; more" in rendered.html


# The real contexts ----------------------------------------------------------------------------

def _latest(template: str) -> OutboxMessage:
    db.session.flush()
    message = db.session.scalars(select(OutboxMessage).where(OutboxMessage.template == template)
                                 .order_by(OutboxMessage.id.desc())).first()
    assert message is not None, f"nothing enqueued with {template}"
    return message


def _booked() -> Any:
    referral = create_referral()
    booking = bookings_places.book_place(referral=referral, session=future_session(days=10),
                                         actor=None, now=NOW)
    return referral, booking


def _booking_confirmation() -> None:
    _booked()


def _booking_cancelled() -> None:
    referral, _ = _booked()
    bookings_places.cancel_booking(referral=referral, actor=None, now=NOW + dt.timedelta(hours=1))


def _waiting_list_removed() -> None:
    session = future_session(days=10, capacity=1)
    bookings_places.book_place(referral=create_referral(), session=session, actor=None, now=NOW)
    entry = bookings_waiting_list.join_waiting_list(referral=create_referral(), session=session,
                                                    actor=None, now=NOW)
    bookings_waiting_list.remove_from_waiting_list(entry=entry, actor=None, now=NOW)


def _session_cancelled() -> None:
    referral, booking = _booked()
    future_session(days=17)
    bookings_session_cancellation.cancel_session_with_bookings(
        session=booking.session, reason="The facilitator is unwell",
        choices={booking.id: bookings_session_cancellation.AfterCancel.REBOOK}, actor=None, now=NOW)


def _reminder_first() -> None:
    _booked()


def _reminder_joining_details() -> None:
    venue = create_venue(is_online=True, joining_link="https://meet.example.org/abc",
                         address_line_1=None, town=None, postcode=None)
    bookings_places.book_place(referral=create_referral(), session=future_session(days=10, venue=venue),
                               actor=None, now=NOW)


def _reminder_booking_deadline() -> None:
    create_referral()  # referred 10 June: book by 8 July, so told on 1 July
    reminders_triggers.run_reminder_sweep(now=dt.datetime(2026, 6, 30, 12, 0, tzinfo=dt.UTC))


def _withdrawn() -> None:
    lifecycle.transition(create_referral(), ReferralEventType.WITHDRAWN, actor=None, now=NOW,
                         reason="Charged instead")


def _self_service_locked() -> None:
    referral = create_referral()
    for _ in range(selfservice.Limits().lock_after):
        with pytest.raises(selfservice.DetailsRefused):
            selfservice.sign_in_person(reference=referral.reference, pin="000000",
                                       date_of_birth=dt.date(1999, 9, 9), address="192.0.2.1",
                                       now=NOW)


def _course_completed_person() -> None:
    referral, booking = _booked()
    notify_person_completed(referral, session=booking.session, now=NOW)


def _monthly_report() -> None:
    create_user("manager")
    prepare_monthly_reports(today=dt.date(2026, 7, 1), now=NOW,
                            link_for=lambda archived: f"https://diversion.example.org/{archived.id}")


def _password_reset() -> None:
    user = create_user("manager")
    password_reset_services.send_reset_link(
        email=user.email, address="192.0.2.1", now=NOW,
        rules=ResetRules(lifetime=dt.timedelta(hours=1), max_per_address=10,
                         address_window=dt.timedelta(hours=1), secret_key="k" * 32))


ENQUEUED_BY: dict[str, Callable[[], None]] = {
    "password_reset": _password_reset,
    "booking_confirmation": _booking_confirmation,
    "booking_cancelled": _booking_cancelled,
    "waiting_list_removed": _waiting_list_removed,
    "session_cancelled": _session_cancelled,
    "reminder_first": _reminder_first,
    "reminder_final": _reminder_first,
    "reminder_joining_details": _reminder_joining_details,
    "reminder_booking_deadline": _reminder_booking_deadline,
    "reminder_fee_outstanding": _reminder_first,  # the default programme's fee is owed
    "offer_withdrawn": _withdrawn,
    "referral_outcome_officer": _withdrawn,
    "self_service_locked": _self_service_locked,
    "course_completed_person": _course_completed_person,
    "monthly_report": _monthly_report,
}
ONLY_IN_TESTS = {"test_message"}  # the dispatcher's own tests; nothing in the app sends it


def test_every_template_is_either_enqueued_by_the_app_or_known_to_be_for_tests():
    assert sorted(set(ENQUEUED_BY) | ONLY_IN_TESTS) == NAMES


@pytest.mark.parametrize("name", sorted(ENQUEUED_BY))
def test_the_code_passes_exactly_the_keys_the_template_reads(app, name):
    ENQUEUED_BY[name]()
    message = _latest(name)
    passed = set(message.context)
    used = template_variables(name)
    assert used - passed == set(), "the template reads keys the code does not pass"
    assert passed - used - DISPATCHER_KEYS == UNSHOWN.get(name, frozenset())
    assert passed == set(CONTEXTS[name]), "the snapshot context differs from the real one"
    for channel in (Channel.EMAIL, Channel.SMS):
        rendered = render_message(OutboxMessage(template=name, channel=channel,
                                                context=message.context))
        assert message.context["reference" if "reference" in passed else "name"] in rendered.text
