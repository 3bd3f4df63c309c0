"""The messages list names people: "did Mr X get his reminder?" is one search (issue 14)."""

from __future__ import annotations

import csv
import html
import io
import re

import pytest
from sqlalchemy import select, update

from diversion.audit.models import AuditEvent
from diversion.core import paging
from diversion.core.extensions import db
from diversion.outbox.models import Channel, MessageStatus, OutboxMessage
from tests.builders import create_booking, create_message, create_referral, future_session
from tests.pages import error_summary
from tests.queries import count_queries

pytestmark = pytest.mark.usefixtures("clock")


def booked(family_name: str):  # type: ignore[no-untyped-def]
    """A referral booked on a session: its confirmation and reminders are about the booking."""
    referral = create_referral(family_name=family_name, given_names="Peter")
    booking = create_booking(referral, future_session(days=10))
    db.session.commit()
    return referral, booking


def ids_on(page: str) -> set[int]:
    return {int(m) for m in re.findall(r'data-message-id="(\d+)"', page)}


def test_each_row_names_the_person_and_reference_not_the_subject_id(client, login_as):
    login_as("manager")
    referral, booking = booked("Xavier")
    page = client.get("/messages").get_data(as_text=True)
    assert "XAVIER, Peter" in page
    assert f'href="/referrals/{referral.reference}"' in page
    assert "Booking confirmation" in page and "First reminder" in page
    assert f"booking {booking.id}" not in page
    confirmation = db.session.scalar(select(OutboxMessage.id).where(
        OutboxMessage.template == "booking_confirmation"))
    assert f"{confirmation}: booking confirmation" not in page
    assert "p•••@example.com" in page  # the recipient, masked


def test_did_mr_x_get_his_reminder_is_one_search(client, login_as):
    login_as("manager")
    xavier, _ = booked("Xavier")
    booked("Young")
    mine = set(db.session.scalars(select(OutboxMessage.id).where(
        OutboxMessage.template == "reminder_first")))
    page = client.get("/messages?q=xavier&kind=reminder_first").get_data(as_text=True)
    shown = ids_on(page)
    assert len(shown) == 1 and shown < mine
    assert "XAVIER, Peter" in page and "YOUNG" not in page
    assert "1 message." in page
    by_reference = client.get(f"/messages?q={xavier.reference}&kind=reminder_first")
    assert ids_on(by_reference.get_data(as_text=True)) == shown


def test_several_statuses_combine_with_the_channel(client, login_as):
    login_as("manager")
    failed = create_message("f", MessageStatus.FAILED)
    expired = create_message("e", MessageStatus.EXPIRED)
    create_message("s", MessageStatus.SENT)
    text = create_message("t", MessageStatus.FAILED, channel=Channel.SMS, recipient="+447700900123")
    db.session.commit()
    both = client.get("/messages?status=failed&status=expired").get_data(as_text=True)
    assert ids_on(both) == {failed.id, expired.id, text.id}
    emails = client.get("/messages?status=failed&status=expired&channel=email")
    assert ids_on(emails.get_data(as_text=True)) == {failed.id, expired.id}
    assert client.get("/messages?status=failed&status=nonsense").status_code == 400


def test_the_date_filter_is_by_london_day_due(client, login_as):
    login_as("manager")
    early = create_message("a")  # due NOW: 15 June 2026
    later = create_message("b", due_at=future_session(days=3).starts_at)
    db.session.commit()
    page = client.get("/messages?date_from-day=16&date_from-month=6&date_from-year=2026")
    assert ids_on(page.get_data(as_text=True)) == {later.id}
    page = client.get("/messages?date_to-day=15&date_to-month=6&date_to-year=2026")
    assert ids_on(page.get_data(as_text=True)) == {early.id}
    assert client.get("/messages?date_to-day=31&date_to-month=2&date_to-year=2026").status_code == 400


def test_sorting_by_status_and_oldest_first(client, login_as):
    login_as("manager")
    sent = create_message("s", MessageStatus.SENT)
    failed = create_message("f", MessageStatus.FAILED)
    cancelled = create_message("c", MessageStatus.CANCELLED)
    db.session.commit()
    order = [int(i) for i in re.findall(
        r'data-message-id="(\d+)"', client.get("/messages?sort=status").get_data(as_text=True))]
    assert order == [cancelled.id, failed.id, sent.id]
    oldest = client.get("/messages?sort=oldest").get_data(as_text=True)
    assert oldest.index(f'data-message-id="{sent.id}"') < oldest.index(
        f'data-message-id="{cancelled.id}"')


def test_the_page_takes_the_same_queries_for_one_person_or_many(client, login_as):
    login_as("manager")
    booked("Alpha")
    db.session.commit()
    counts = []
    for extra in (0, 6):
        for n in range(extra):
            booked(f"Beta{'abcdefgh'[n]}")
        with count_queries() as statements:
            page = client.get("/messages")
        assert page.status_code == 200
        counts.append(len(statements))
    assert counts[0] == counts[1], counts


def test_a_cursor_not_made_here_is_404(client, login_as):
    login_as("manager")
    page = client.get("/messages?after=not-a-cursor&page=2")
    assert page.status_code == 404
    assert paging.NO_SUCH_PAGE in page.get_data(as_text=True)


def test_the_csv_holds_the_filtered_rows_named_and_guarded_and_is_audited(client, login_as):
    manager = login_as("manager")
    booked("Xavier")
    booked("Young")
    failing = db.session.scalar(select(OutboxMessage).where(OutboxMessage.template == "reminder_first")
                                .order_by(OutboxMessage.id))
    db.session.execute(update(OutboxMessage).where(OutboxMessage.id == failing.id)
                       .values(status=MessageStatus.FAILED, last_error="=HYPERLINK(1)"))
    db.session.commit()
    response = client.get("/messages.csv?q=xavier&status=failed")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert [(r["Message"], r["Name"], r["Kind"], r["Status"]) for r in rows] == [
        (str(failing.id), "XAVIER, Peter", "First reminder", "failed")]
    assert rows[0]["Last error"] == "'=HYPERLINK(1)"
    assert rows[0]["To (masked)"].startswith("p•••@")
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "messages.export"))
    assert event is not None and event.actor_user_id == manager.id
    assert event.details["count"] == 1 and event.details["filters"]["statuses"] == ["failed"]
    assert "xavier" not in str(event.details).lower()  # never the name searched for


@pytest.mark.parametrize(("query", "anchor", "message"), [
    ("kind=%00", "kind", "Choose the kind of message from the list"),
    ("date_from-day=1&date_from-month=1&date_from-year=2026&date_to-day=31&date_to-month=2"
     "&date_to-year=2026", "date_to-day", "Due on or before must be a real date"),
])
def test_a_bad_filter_in_the_csv_link_is_named_on_the_list_not_a_bare_400(
        client, login_as, query, anchor, message):
    login_as("manager")
    download = client.get(f"/messages.csv?{query}")
    assert download.status_code == 302 and download.headers["Location"].startswith("/messages?")
    page = client.get(download.headers["Location"])
    assert page.status_code == 400
    assert error_summary(page.text) == [(f"#{anchor}", message)]
    assert db.session.scalar(select(AuditEvent).where(
        AuditEvent.action == "messages.export")) is None


def test_a_messages_own_page_shows_its_words_and_is_audited(client, login_as):
    login_as("manager")
    message = create_message("m", context={"note": "see you there"})
    db.session.commit()
    page = client.get(f"/messages/{message.id}")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "A test message from Diversion" in text and "see you there" in text
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "message.view"))
    assert event is not None and event.object_id == str(message.id)
    assert client.get("/messages/999999").status_code == 404


@pytest.mark.parametrize("role", ["police", "facilitator"])
@pytest.mark.parametrize("url", ["/messages.csv", "/messages/{id}"])
def test_only_managers_and_admins_reach_the_csv_and_a_message(client, login_as, role, url):
    message = create_message("m")
    db.session.commit()
    login_as(role)
    assert client.get(url.format(id=message.id)).status_code == 403


def test_admins_see_the_list_too(client, login_as):
    login_as("admin")
    assert client.get("/messages?status=failed&status=expired").status_code == 200


def test_paging_by_status_walks_every_message_once(client, login_as):
    login_as("manager")
    statuses = [MessageStatus.SENT, MessageStatus.FAILED, MessageStatus.PENDING]
    made = {create_message(f"w{n}", statuses[n % 3]).id for n in range(30)}
    db.session.commit()
    first = client.get("/messages?sort=status").get_data(as_text=True)
    next_href = html.unescape(re.search(r'href="([^"]*)" rel="next"', first).group(1))
    second = client.get(next_href).get_data(as_text=True)
    assert "showing 26 to 30" in second
    assert ids_on(first) | ids_on(second) == made and not ids_on(first) & ids_on(second)
    back = html.unescape(re.search(r'href="([^"]*)" rel="prev"', second).group(1))
    assert ids_on(client.get(back).get_data(as_text=True)) == ids_on(first)
