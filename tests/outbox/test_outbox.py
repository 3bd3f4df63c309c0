"""The outbox: one row per dedupe key, and only due rows are sent."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from diversion.core.extensions import db
from diversion.outbox.channels import LogChannel
from diversion.outbox.dispatcher import dispatch_due
from diversion.outbox.models import Channel, MessageStatus, OutboxMessage
from tests.builders import NOW, create_message

KEY = "booking-1-confirmation"


def _rows() -> int:
    return db.session.scalar(select(func.count()).select_from(OutboxMessage)) or 0


def test_enqueueing_the_same_dedupe_key_twice_keeps_one_row(app):
    first = create_message(KEY)
    second = create_message(KEY, context={"note": "second"}, recipient="someone.else@example.test")
    db.session.commit()
    assert first is not None and second is None
    assert _rows() == 1
    stored = db.session.scalar(select(OutboxMessage))
    assert stored.recipient == "person@example.test" and stored.context == {"note": "first"}


def test_a_new_message_is_pending_and_due_at_its_due_time(app):
    message = create_message(KEY, subject_type="booking", subject_id=42)
    assert message.status is MessageStatus.PENDING
    assert message.next_attempt_at == message.due_at == NOW
    assert message.subject_id == "42" and message.attempts == 0


def test_enqueue_is_part_of_the_callers_transaction(app):
    create_message(KEY)
    db.session.rollback()
    assert _rows() == 0


def test_enqueue_refuses_naive_times(app):
    with pytest.raises(ValueError):
        create_message(KEY, due_at=dt.datetime(2026, 6, 15, 9, 0))


def test_dispatch_sends_due_rows_and_leaves_later_ones(app):
    channel = LogChannel()
    create_message("due-now", due_at=NOW - dt.timedelta(minutes=5))
    create_message("due-later", due_at=NOW + dt.timedelta(hours=1))
    db.session.commit()
    summary = dispatch_due(now=NOW, channels={Channel.EMAIL: channel, Channel.SMS: channel})
    assert (summary.claimed, summary.sent) == (1, 1)
    statuses = dict(db.session.execute(select(OutboxMessage.dedupe_key, OutboxMessage.status)).all())
    assert statuses == {"due-now": MessageStatus.SENT, "due-later": MessageStatus.PENDING}
    [(recipient, rendered, _reference)] = channel.sent
    assert recipient == "person@example.test"
    assert rendered.subject == "A test message from Diversion"
    assert "first" in rendered.text


def test_a_sent_message_is_not_sent_again(app):
    channel = LogChannel()
    create_message(KEY)
    db.session.commit()
    dispatch_due(now=NOW, channels={Channel.EMAIL: channel, Channel.SMS: channel})
    again = dispatch_due(now=NOW + dt.timedelta(hours=1),
                         channels={Channel.EMAIL: channel, Channel.SMS: channel})
    assert again.claimed == 0
    assert len(channel.sent) == 1


def test_a_message_past_its_expiry_expires_instead_of_sending(app):
    channel = LogChannel()
    create_message(KEY, due_at=NOW - dt.timedelta(hours=2), expires_at=NOW - dt.timedelta(hours=1))
    db.session.commit()
    summary = dispatch_due(now=NOW, channels={Channel.EMAIL: channel, Channel.SMS: channel})
    assert summary.expired == 1 and channel.sent == []
    assert db.session.scalar(select(OutboxMessage.status)) is MessageStatus.EXPIRED


def test_failed_messages_count_as_to_send_again_until_a_copy_is_on_its_way(app):
    from diversion.outbox.services import count_failed_to_send_again

    about = OutboxMessage.subject_type == "referral"
    create_message("a_1%", MessageStatus.FAILED, subject_type="referral", subject_id="1")
    create_message("a_1%:resend:1", MessageStatus.FAILED, subject_type="referral", subject_id="1")
    create_message("b", MessageStatus.FAILED, subject_type="referral", subject_id="1")
    create_message("b:resend:1", MessageStatus.PENDING, subject_type="referral", subject_id="1")
    create_message("c", MessageStatus.FAILED, subject_type="referral", subject_id="1",
                   expires_at=NOW - dt.timedelta(minutes=1))
    create_message("abc", MessageStatus.FAILED, subject_type="referral", subject_id="1")
    create_message("aX1Y:resend:1", MessageStatus.SENT)  # "a_1%" unescaped in LIKE matches it
    db.session.commit()

    # "a_1%" (its copy failed too) and "abc"; "b" has a copy on its way, "c" is out of date.
    assert count_failed_to_send_again(about=about, now=NOW) == 2
