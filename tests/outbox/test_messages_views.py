"""The managers' messages page: filters, paging, per-subject view, and sending again."""

from __future__ import annotations

import datetime as dt
import html
import re

import pytest
from sqlalchemy import select, update

from diversion.audit.models import AuditEvent
from diversion.core.extensions import db
from diversion.outbox.models import MessageStatus, OutboxMessage
from tests.builders import NOW, create_message


@pytest.mark.parametrize("role", ["police", "facilitator"])
def test_only_managers_and_admins_see_messages(client, login_as, role):
    login_as(role)
    assert client.get("/messages").status_code == 403


def test_managers_find_the_messages_page_in_the_menu(client, login_as):
    login_as("manager")
    page = client.get("/dashboard").get_data(as_text=True)
    assert 'href="/messages"' in page


def test_the_list_shows_status_attempts_and_last_error_but_not_the_content(client, login_as):
    login_as("manager")
    create_message("a", MessageStatus.FAILED, subject_type="booking", subject_id=7,
                   recipient="sam.jones@example.org", context={"note": "a private note"})
    db.session.commit()
    page = client.get("/messages").get_data(as_text=True)
    assert "SMTP 550: no such user" in page
    assert "Failed" in page
    assert "test message" in page
    assert "a private note" not in page
    assert "sam.jones@example.org" not in page
    assert "s•••@example.org" in page


def test_the_list_filters_by_status(client, login_as):
    login_as("manager")
    failed = create_message("f", MessageStatus.FAILED)
    sent = create_message("s", MessageStatus.SENT)
    db.session.commit()
    page = client.get("/messages?status=failed").get_data(as_text=True)
    assert f'data-message-id="{failed.id}"' in page
    assert f'data-message-id="{sent.id}"' not in page
    assert client.get("/messages?status=nonsense").status_code == 400


def test_the_list_shows_one_subjects_messages(client, login_as):
    login_as("manager")
    mine = create_message("b7", subject_type="booking", subject_id=7)
    other = create_message("b8", subject_type="booking", subject_id=8)
    db.session.commit()
    page = client.get("/messages?subject_type=booking&subject_id=7").get_data(as_text=True)
    assert "Showing messages about booking 7." in page  # no booking 7: nobody to name
    assert f'data-message-id="{mine.id}"' in page
    assert f'data-message-id="{other.id}"' not in page


def test_the_list_pages_by_keyset_newest_first(client, login_as):
    login_as("manager")
    ids = [create_message(f"k{n}").id for n in range(55)]
    db.session.commit()
    first = client.get("/messages").get_data(as_text=True)
    assert "<strong>55</strong> messages, showing 1 to 25." in first
    assert f'data-message-id="{ids[-1]}"' in first
    assert f'data-message-id="{ids[29]}"' not in first
    next_href = html.unescape(re.search(r'href="([^"]*)" rel="next"', first).group(1))
    assert "after=" in next_href and "page=2" in next_href
    second = client.get(next_href).get_data(as_text=True)
    assert "showing 26 to 50" in second
    assert [f'data-message-id="{i}"' in second for i in ids[4:31]] == [False] + [True] * 25 + [False]
    third = client.get("/messages?page=3").get_data(as_text=True)
    assert [f'data-message-id="{i}"' in third for i in ids[:6]] == [True] * 5 + [False]


def test_resending_a_failed_message_queues_a_copy_under_a_new_key_and_audits_it(client, login_as):
    manager = login_as("manager")
    original = create_message("booking-7-reminder", MessageStatus.FAILED, subject_type="booking",
                              subject_id=7)

    db.session.commit()
    response = client.post(f"/messages/{original.id}/resend",
                           data={"back_status": "failed", "back_q": "Smith"})

    assert response.status_code == 302
    assert response.headers["Location"] == "/messages?status=failed&q=Smith"
    copy = db.session.scalar(select(OutboxMessage).where(OutboxMessage.id != original.id))
    assert copy is not None
    assert copy.dedupe_key == "booking-7-reminder:resend:1"
    assert (copy.status, copy.recipient, copy.template) == (
        MessageStatus.PENDING, original.recipient, original.template)
    assert (copy.subject_type, copy.subject_id) == ("booking", "7")
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "message.resend"))
    assert event is not None
    assert event.actor_user_id == manager.id
    assert event.object_id == str(original.id)
    assert event.details["new_message_id"] == copy.id


def test_a_message_is_not_resent_twice_while_its_copy_is_on_its_way(client, login_as):
    login_as("manager")
    original = create_message("k", MessageStatus.FAILED)
    db.session.commit()
    client.post(f"/messages/{original.id}/resend")
    page = client.post(f"/messages/{original.id}/resend", follow_redirects=True)
    assert "already been sent again" in page.get_data(as_text=True)
    keys = set(db.session.scalars(select(OutboxMessage.dedupe_key)))
    assert keys == {"k", "k:resend:1"}


def test_a_failed_copy_can_be_resent_under_the_next_number(client, login_as):
    login_as("manager")
    original = create_message("k", MessageStatus.FAILED)
    db.session.commit()
    client.post(f"/messages/{original.id}/resend")
    db.session.execute(update(OutboxMessage).where(OutboxMessage.dedupe_key == "k:resend:1")
                       .values(status=MessageStatus.FAILED))
    db.session.commit()
    client.post(f"/messages/{original.id}/resend")
    keys = set(db.session.scalars(select(OutboxMessage.dedupe_key)))
    assert keys == {"k", "k:resend:1", "k:resend:2"}


@pytest.mark.parametrize("status", [MessageStatus.SENT, MessageStatus.PENDING, MessageStatus.EXPIRED])
def test_only_failed_messages_can_be_resent(client, login_as, status):
    login_as("manager")
    original = create_message("k", status)
    db.session.commit()
    page = client.post(f"/messages/{original.id}/resend", follow_redirects=True)
    assert "Only a failed message can be sent again" in page.get_data(as_text=True)
    assert db.session.scalar(select(OutboxMessage.id).where(OutboxMessage.id != original.id)) is None


def test_a_message_about_something_already_started_is_not_resent(client, login_as):
    login_as("manager")
    original = create_message("k", MessageStatus.FAILED, expires_at=dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
    db.session.commit()
    page = client.post(f"/messages/{original.id}/resend", follow_redirects=True)
    assert "out of date" in page.get_data(as_text=True)


@pytest.mark.usefixtures("clock")  # the 30 days end on the clock's day
def test_the_dashboard_counts_messages_not_delivered_each_linked_to_its_status(client, login_as):
    login_as("manager")
    create_message("p1")
    create_message("p2")
    create_message("f1", MessageStatus.FAILED)
    create_message("e1", MessageStatus.EXPIRED)
    create_message("c1", MessageStatus.CANCELLED)
    old = create_message("f-old", MessageStatus.FAILED, due_at=NOW - dt.timedelta(days=31))
    db.session.commit()
    page = client.get("/dashboard").get_data(as_text=True)
    for label, count in (("Failed in the last 30 days", 1),
                         ("Expired before they could be sent, last 30 days", 1)):
        assert f'data-count="{label}">{count}<' in page
    window = "date_from-day=17&amp;date_from-month=5&amp;date_from-year=2026"
    assert (f'href="/messages?status=failed&amp;{window}" '
            'data-line="Failed in the last 30 days"') in page
    assert f'href="/messages?status=expired&amp;{window}"' in page
    # The older failure is on the list of every failure, not on the dashboard's 30 days.
    assert f'href="/messages/{old.id}"' in client.get("/messages?status=failed").get_data(
        as_text=True)
    windowed = html.unescape(re.search(r'href="(/messages\?status=failed[^"]*)"', page)[1])
    assert f'href="/messages/{old.id}"' not in client.get(windowed).get_data(as_text=True)
    assert 'data-count="Pending"' not in page and 'data-count="Sent"' not in page
