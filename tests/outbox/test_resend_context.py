"""A failed message sent again says what is true now: the fee owed when it is sent again, not
when it failed; a fee reminder whose fee has been paid since is not sent again at all."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from diversion.core.extensions import db
from diversion.outbox.models import MessageStatus, OutboxMessage
from diversion.reminders.rules import FEE_TEMPLATE
from tests.builders import create_booking, create_referral, future_session, pay_fee

pytestmark = pytest.mark.usefixtures("clock")


def _failed(template: str) -> OutboxMessage:
    message = db.session.scalars(select(OutboxMessage).where(
        OutboxMessage.template == template)).one()
    message.status, message.last_error = MessageStatus.FAILED, "550 mailbox unavailable"
    db.session.commit()
    return message


def _copies(message: OutboxMessage) -> list[OutboxMessage]:
    db.session.expire_all()
    return list(db.session.scalars(select(OutboxMessage).where(
        OutboxMessage.dedupe_key.startswith(message.dedupe_key + ":resend:"))))


def test_a_confirmation_sent_again_after_he_paid_no_longer_asks_for_the_fee(client, login_as):
    manager = login_as("manager")
    referral = create_referral(email="sam@example.org")
    create_booking(referral, future_session(days=20))
    db.session.commit()
    confirmation = _failed("booking_confirmation")
    assert confirmation.context["outstanding"] == "£200.00"
    pay_fee(referral, manager)
    db.session.commit()

    assert client.post(f"/messages/{confirmation.id}/resend").status_code == 302

    [copy] = _copies(confirmation)
    assert "outstanding" not in copy.context and "pay_url" not in copy.context
    assert copy.context["reference"] == referral.reference  # the rest as it was queued


def test_a_fee_reminder_is_not_sent_again_once_the_fee_is_paid(client, login_as):
    manager = login_as("manager")
    referral = create_referral(email="sam@example.org")
    create_booking(referral, future_session(days=20))
    db.session.commit()
    reminder = _failed(FEE_TEMPLATE)
    pay_fee(referral, manager)
    db.session.commit()

    response = client.post(f"/messages/{reminder.id}/resend", follow_redirects=True)

    assert "Nothing is owed now" in response.get_data(as_text=True)
    assert _copies(reminder) == []
