"""The issue's "Done when", end to end through the command line: demo data, a booking, and
`scheduler run-once plan_reminders dispatch`, first with the log channel, then with SMTP
settings pointing at a real SMTP server (aiosmtpd), run twice: every message arrives once."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import Counter
from collections.abc import Iterator

import pytest
from flask import Flask
from sqlalchemy import select

from diversion.bookings import places as bookings_places
from diversion.bookings import queries as bookings_queries
from diversion.core.extensions import db
from diversion.core.timeutils import london_to_utc, now_utc, to_london
from diversion.outbox.models import MessageStatus, OutboxMessage
from diversion.referrals.models import Referral, ReferralStatus
from tests.outbox.servers import RecordingHandler, running_smtp_server

RUN_ONCE = ["scheduler", "run-once", "plan_reminders", "dispatch"]


def run_once(app: Flask) -> str:
    result = app.test_cli_runner().invoke(args=RUN_ONCE)
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    return result.output


def ten_am_london(day: dt.date) -> dt.datetime:
    return london_to_utc(dt.datetime.combine(day, dt.time(10, 0)))


def book_a_demo_referral(app: Flask) -> tuple[str, str, int]:
    """`demo load`, then book a demo referral awaiting a booking on a session over a week away;
    returns the person's email address, the reference and the booking's id."""
    result = app.test_cli_runner().invoke(args=["demo", "load"])
    assert result.exit_code == 0, result.output
    now = now_utc()
    for referral in db.session.scalars(
            select(Referral).where(Referral.crime_reference.like("DEMO/%"),
                                   Referral.status == ReferralStatus.AWAITING_BOOKING)
            .order_by(Referral.id)):
        if not referral.person.email:
            continue
        for option in bookings_queries.list_bookable_sessions(referral=referral, now=now):
            if option.session.starts_at > now + dt.timedelta(days=8):
                booking = bookings_places.book_place(referral=referral, session=option.session,
                                                     actor=None, now=now)
                found = (referral.person.email, referral.reference, booking.id)
                db.session.commit()
                return found
    pytest.fail("the demo data has no referral awaiting a booking with a session a week away")


def booking_messages(booking_id: int) -> dict[str, OutboxMessage]:
    return {m.template: m for m in db.session.scalars(select(OutboxMessage).where(
        OutboxMessage.subject_type == "booking", OutboxMessage.subject_id == str(booking_id)))}


@pytest.fixture
def smtp_settings(app: Flask) -> Iterator[RecordingHandler]:
    """The app's settings switched to SMTP at a real aiosmtpd server, for the test only."""
    original = app.config["SETTINGS"]
    with running_smtp_server() as (port, handler):
        app.config["SETTINGS"] = dataclasses.replace(
            original, email_backend="smtp", smtp_host="127.0.0.1", smtp_port=port,
            smtp_starttls=False, smtp_username=None, smtp_password=None,
            mail_from="Diversion <noreply@diversion.example.org>")
        app.extensions.pop("diversion_channels", None)
        try:
            yield handler
        finally:
            app.config["SETTINGS"] = original
            app.extensions.pop("diversion_channels", None)


def test_a_booked_referral_is_confirmed_at_once_and_reminded_at_ten_london_time(app):
    address, reference, booking_id = book_a_demo_referral(app)
    output = run_once(app)
    assert "plan_reminders:" in output and "dispatch: DispatchSummary(" in output
    messages = booking_messages(booking_id)
    confirmation = messages["booking_confirmation"]
    assert confirmation.status is MessageStatus.SENT
    assert confirmation.provider_reference == f"log-{confirmation.id}"
    assert confirmation.recipient == address
    start = messages["reminder_first"].expires_at
    assert start is not None
    session_day = to_london(start).date()
    first, final = messages["reminder_first"], messages["reminder_final"]
    assert (first.status, first.due_at) == (
        MessageStatus.PENDING, ten_am_london(session_day - dt.timedelta(days=7)))
    assert (final.status, final.due_at) == (
        MessageStatus.PENDING, ten_am_london(session_day - dt.timedelta(days=1)))
    assert first.attempts == final.attempts == 0


def test_with_smtp_settings_every_message_arrives_once_though_dispatch_runs_twice(
        app, smtp_settings):
    address, reference, booking_id = book_a_demo_referral(app)
    run_once(app)
    run_once(app)
    received = Counter(mail["X-Diversion-Reference"] for mail in smtp_settings.messages)
    assert received and max(received.values()) == 1
    sent = set(db.session.scalars(select(OutboxMessage.id).where(
        OutboxMessage.status == MessageStatus.SENT,
        OutboxMessage.provider_reference.like("<diversion-%"))))
    assert {int(reference) for reference in received} == sent
    confirmation = booking_messages(booking_id)["booking_confirmation"]
    assert received[str(confirmation.id)] == 1
    [mail] = [m for m in smtp_settings.messages
              if m["X-Diversion-Reference"] == str(confirmation.id)]
    assert mail["To"] == address
    assert mail["Subject"] == f"Your course booking is confirmed ({reference})"
    assert {part.get_content_type() for part in mail.walk()} >= {
        "text/plain", "text/html", "text/calendar"}
