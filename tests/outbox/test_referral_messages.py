"""A referral's messages: on its page (managers) and in the per-referral view, which also shows
the messages about its bookings (the confirmation and the reminders are about the booking)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event, select

from diversion.bookings import places as bookings_places
from diversion.bookings import queries as bookings_queries
from diversion.core.extensions import db
from diversion.outbox.models import MessageStatus, OutboxMessage
from tests.builders import NOW, create_referral, future_session


def messages_about(referral) -> list[OutboxMessage]:  # type: ignore[no-untyped-def]
    booking_ids = [str(b.id) for b in bookings_queries.list_bookings_for(referral)]
    return [m for m in db.session.scalars(select(OutboxMessage))
            if (m.subject_type, m.subject_id) == ("referral", str(referral.id))
            or (m.subject_type == "booking" and m.subject_id in booking_ids)]


@contextmanager
def counting_queries() -> Iterator[list[str]]:
    statements: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        statements.append(statement)

    engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


def moved_twice():  # type: ignore[no-untyped-def]
    """A referral booked, moved, moved again: three bookings, each with its own messages."""
    referral = create_referral()
    bookings_places.book_place(referral=referral, session=future_session(days=10), actor=None, now=NOW)
    for days in (17, 24):
        bookings_places.transfer_booking(referral=referral, session=future_session(days=days), actor=None,
                                         now=NOW + dt.timedelta(hours=days))
    db.session.commit()
    return referral


def test_the_per_referral_view_shows_its_booking_messages_and_nobody_elses(client, login_as):
    login_as("manager")
    referral = moved_twice()
    other = create_referral()
    bookings_places.book_place(referral=other, session=future_session(days=10), actor=None, now=NOW)
    db.session.commit()
    mine = messages_about(referral)
    assert {m.template for m in mine} >= {"booking_confirmation", "reminder_first"}
    assert {m.subject_type for m in mine} == {"booking"}
    page = client.get(f"/messages?subject_type=referral&subject_id={referral.id}")
    text = page.get_data(as_text=True)
    name = f"{referral.person.family_name.upper()}, {referral.person.given_names}"
    assert f"{name} ({referral.reference})</a> and their bookings" in text
    assert f"referral {referral.id}" not in text
    assert all(f'data-message-id="{m.id}"' in text for m in mine)
    assert not any(f'data-message-id="{m.id}"' in text for m in messages_about(other))


def test_the_per_referral_view_takes_the_same_number_of_queries_however_many_bookings(
        client, login_as):
    login_as("manager")
    once = create_referral()
    bookings_places.book_place(referral=once, session=future_session(days=10), actor=None, now=NOW)
    db.session.commit()
    thrice = moved_twice()
    referral_ids = (once.id, thrice.id)
    db.session.commit()  # each request then starts its own transaction, as a real one does
    counts = []
    for referral_id in referral_ids:
        with counting_queries() as statements:
            page = client.get(f"/messages?subject_type=referral&subject_id={referral_id}")
        assert page.status_code == 200
        counts.append(statements)
    assert len(counts[0]) == len(counts[1]), counts


def test_a_referral_id_that_is_not_a_number_is_a_bad_request(client, login_as):
    login_as("manager")
    assert client.get("/messages?subject_type=referral&subject_id=abc").status_code == 400


def test_the_referral_page_counts_its_messages_by_status_and_links_to_them(client, login_as):
    login_as("manager")
    referral = moved_twice()
    text = client.get(f"/referrals/{referral.reference}").get_data(as_text=True)
    mine = messages_about(referral)
    pending = sum(m.status is MessageStatus.PENDING for m in mine)
    cancelled = sum(m.status is MessageStatus.CANCELLED for m in mine)
    assert f"{len(mine)} messages to the person or the officer" in text
    assert f"{pending} pending" in text and f"{cancelled} cancelled" in text
    assert f'href="/messages?subject_type=referral&amp;subject_id={referral.id}"' in text


def test_the_referral_page_shows_no_messages_to_the_police(client, login_as):
    officer = login_as("police")
    referral = create_referral(force=officer.force)
    db.session.commit()
    page = client.get(f"/referrals/{referral.reference}")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "data-referral-messages" not in text and "/messages?" not in text
