"""The reminder templates: discreet subject lines and SMS, a text and an HTML part for email."""

from __future__ import annotations

from pathlib import Path

import pytest

from diversion.outbox.dispatcher import render_message
from diversion.outbox.models import Channel, OutboxMessage
from diversion.outbox.rules import indiscreet_words
from diversion.reminders.rules import TEMPLATES

TEMPLATE_DIR = Path(__file__).resolve().parents[2] / "templates" / "messages"
NAMES = sorted(TEMPLATES.values())
CONTEXT = {
    "reference": "K7Q2M9XA", "given_name": "Adam", "starts_at": "Thursday 25 June 2026 at 10:00am",
    "starts_on": "Thursday 25 June", "ends_at": "5:00pm", "is_online": False,
    "venue_name": "Civic Hall", "venue_address": "1 Park Row, Leeds, LS1 5HD",
    "joining_link": "https://meet.example/abc", "booking_deadline": "Wednesday 8 July 2026",
    "manage_url": "https://diversion.example.org/book?ref=K7Q2M9XA",
    "pay_url": "https://diversion.example.org/book?ref=K7Q2M9XA&then=pay",
    "outstanding": "£200.00", "pays_online": True, "phone": "0113 496 0000",
    "start_time": "10:00am", "late_cutoff": "10:15am",
    "hours": "Monday to Friday, 9am to 5pm",
}


@pytest.mark.parametrize("name", NAMES)
def test_each_reminder_has_a_text_a_subject_and_an_html_part(name):
    for suffix in (".txt", ".subject.txt", ".html"):
        assert (TEMPLATE_DIR / f"{name}{suffix}").is_file(), f"{name}{suffix}"


@pytest.mark.parametrize("name", NAMES)
def test_no_reminder_sms_or_subject_line_names_the_offence(name):
    for suffix in (".txt", ".subject.txt"):
        assert indiscreet_words((TEMPLATE_DIR / f"{name}{suffix}").read_text()) == [], name


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("online", [False, True])
def test_each_reminder_renders_as_a_short_discreet_sms_and_a_full_email(app, name, online):
    context = {**CONTEXT, "is_online": online}
    sms = render_message(OutboxMessage(template=name, channel=Channel.SMS, context=context))
    assert indiscreet_words(sms.text) == [] and "K7Q2M9XA" in sms.text
    assert len(sms.text) <= 480  # at most three text message parts
    email = render_message(OutboxMessage(template=name, channel=Channel.EMAIL, context=context))
    assert email.subject and indiscreet_words(email.subject) == []
    assert email.html is not None and "K7Q2M9XA" in email.html and "{{" not in email.text


def test_only_the_joining_details_carry_the_joining_link(app):
    for name in NAMES:
        text = render_message(OutboxMessage(template=name, channel=Channel.EMAIL,
                                            context={**CONTEXT, "is_online": True})).text
        assert ("meet.example" in text) == (name == "reminder_joining_details"), name
