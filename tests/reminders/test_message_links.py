"""The links in messages to the man: `/book?ref=<REFERENCE>` to his booking (docs/DESIGN.md,
"Links in messages"), absolute from DIVERSION_BASE_URL."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import delete, select

from diversion.bookings import places as bookings_places
from diversion.core.extensions import db
from diversion.outbox.channels import LogChannel
from diversion.outbox.dispatcher import dispatch_due, render_message
from diversion.outbox.models import Channel, OutboxMessage
from diversion.referrals import lifecycle
from diversion.referrals.models import ReferralEventType
from diversion.reminders import session_reminders as reminders_session_reminders
from diversion.reminders import triggers as reminders_triggers
from tests.builders import NOW, create_booking, create_referral, future_session
from tests.outbox.test_message_snapshots import CONTEXTS

BASE = "http://127.0.0.1:5000"


def messages(template: str) -> list[OutboxMessage]:
    db.session.flush()
    return list(db.session.scalars(select(OutboxMessage).where(OutboxMessage.template == template)
                                   .order_by(OutboxMessage.id)))


def test_every_booking_message_links_to_his_booking_with_his_reference(app):
    referral = create_referral()
    create_booking(referral, future_session(days=10))
    bookings_places.cancel_booking(referral=referral, actor=None, now=NOW + dt.timedelta(hours=1))
    link = f"{BASE}/book?ref={referral.reference}"
    for template in ("booking_confirmation", "reminder_first", "reminder_final",
                     "booking_cancelled"):
        (message,) = messages(template)
        assert message.context["manage_url"] == link
        for channel in (Channel.EMAIL, Channel.SMS):
            rendered = render_message(OutboxMessage(template=template, channel=channel,
                                                    context=message.context))
            assert link in rendered.text, (template, channel)
        email = render_message(OutboxMessage(template=template, channel=Channel.EMAIL,
                                             context=message.context))
        assert link in (email.html or "")
        if template.startswith("reminder_"):  # written as HTML: the link is a link
            assert f'href="{link}"' in (email.html or "")


def test_the_link_is_built_from_the_base_url_setting_not_the_request(app, monkeypatch):
    monkeypatch.setitem(app.config, "DIVERSION_BASE_URL", "https://diversion.example.org/")
    referral = create_referral()
    create_booking(referral, future_session(days=10))
    (message,) = messages("booking_confirmation")
    assert message.context["manage_url"] == (
        f"https://diversion.example.org/book?ref={referral.reference}")


def test_the_deadline_reminder_and_the_sweep_planned_reminders_carry_the_link(app):
    referral = create_referral()  # referred 10 June: book by 8 July, told on 1 July
    reminders_triggers.run_reminder_sweep(now=dt.datetime(2026, 6, 30, 12, 0, tzinfo=dt.UTC))
    (deadline,) = messages("reminder_booking_deadline")
    assert deadline.context["manage_url"] == f"{BASE}/book?ref={referral.reference}"
    # The bulk path (auto-allocation) builds its context by hand: the same link.
    other = create_referral()
    booking = bookings_places.book_place(referral=other, session=future_session(days=12),
                                         actor=None, now=NOW)
    db.session.execute(  # forget the per-booking planning, plan again in bulk
        delete(OutboxMessage).where(OutboxMessage.subject_id == str(booking.id),
                                    OutboxMessage.template == "reminder_first"))
    reminders_session_reminders.plan_reminders_in_bulk([booking.id], now=NOW)
    (first,) = [m for m in messages("reminder_first") if m.subject_id == str(booking.id)]
    assert first.context["manage_url"] == f"{BASE}/book?ref={other.reference}"


def test_the_offer_withdrawn_notice_carries_no_booking_link(app):
    referral = create_referral()
    lifecycle.transition(referral, ReferralEventType.WITHDRAWN, actor=None, now=NOW,
                         reason="Charged instead")
    (message,) = messages("offer_withdrawn")
    assert "manage_url" not in message.context


def test_a_sent_reminder_carries_the_link(app):
    referral = create_referral()
    booking = create_booking(referral, future_session(days=10))
    db.session.commit()
    channel = LogChannel()
    dispatch_due(now=dt.datetime(2026, 6, 18, 9, 1, tzinfo=dt.UTC),
                 channels={Channel.EMAIL: channel, Channel.SMS: LogChannel()})
    (first,) = [m for m in messages("reminder_first") if m.subject_id == str(booking.id)]
    rendered = next(message for _, message, ref in channel.sent if ref == str(first.id))
    link = f"{BASE}/book?ref={referral.reference}"
    assert link in rendered.text and f'href="{link}"' in rendered.html


LINKED = ("booking_confirmation", "booking_cancelled", "session_cancelled", "reminder_first",
          "reminder_final", "reminder_joining_details", "reminder_booking_deadline")


@pytest.mark.parametrize("name", LINKED)
def test_a_message_planned_before_the_links_existed_still_renders_without_one(app, name):
    context = {key: value for key, value in CONTEXTS[name].items() if key != "manage_url"}
    for channel in (Channel.EMAIL, Channel.SMS):
        rendered = render_message(OutboxMessage(template=name, channel=channel, context=context))
        assert "/book?ref=" not in rendered.text and "{{" not in rendered.text
        assert context["reference"] in rendered.text
    with_link = render_message(OutboxMessage(template=name, channel=Channel.EMAIL,
                                             context=CONTEXTS[name]))
    assert CONTEXTS[name]["manage_url"] in with_link.text
