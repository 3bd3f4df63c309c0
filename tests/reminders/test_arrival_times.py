"""The reminders tell him the time to arrive (or join) by and the late cut-off, in London time,
as his booking confirmation does: not "arrive on time" or "late arrivals cannot be admitted"."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from diversion.core.extensions import db
from diversion.outbox.dispatcher import render_message
from diversion.outbox.models import Channel, OutboxMessage
from tests.builders import NOW, create_booking, create_referral, create_session, create_venue

# 9:30am in London on a summer day (BST) and on a winter day (GMT): the same words either side
# of a clock change.
SUMMER = dt.datetime(2026, 7, 2, 8, 30, tzinfo=dt.UTC)
WINTER = dt.datetime(2026, 11, 5, 9, 30, tzinfo=dt.UTC)


def texts(template: str) -> list[str]:
    db.session.flush()
    found = db.session.scalars(select(OutboxMessage).where(OutboxMessage.template == template))
    return [render_message(OutboxMessage(template=template, channel=channel,
                                         context=message.context)).text
            for message in found for channel in (Channel.EMAIL, Channel.SMS)]


@pytest.mark.parametrize("starts_at", [SUMMER, WINTER])
def test_the_reminders_give_the_time_to_arrive_by_and_the_cut_off_in_london_time(app, starts_at):
    referral = create_referral(offence_date=dt.date(2026, 6, 1),
                               completion_deadline=dt.date(2026, 12, 1))
    create_booking(referral, create_session(starts_at=starts_at))
    for template in ("reminder_first", "reminder_final"):
        for text in texts(template):
            assert "Arrive by 9:30am" in text, (template, text)
            assert "after 9:45am" in text, (template, text)
            assert "on time" not in text and "cannot be admitted" not in text


def test_the_final_reminder_for_an_online_course_says_join_by(app):
    venue = create_venue(is_online=True, joining_link="https://meet.example.org/abc",
                         address_line_1=None, town=None, postcode=None)
    create_booking(create_referral(), create_session(starts_at=SUMMER, venue=venue))
    for text in texts("reminder_final"):
        assert "Join by 9:30am: if you join after 9:45am you will not be let in" in text
    assert NOW < SUMMER
