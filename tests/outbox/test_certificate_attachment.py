"""The completion email carries the certificate PDF where the channel can carry a file (SMTP);
through Notify and by SMS the person is told how to ask for a copy instead."""

from __future__ import annotations

import io

import pytest
from pypdf import PdfReader

from diversion.attendance import outcomes as attendance_outcomes
from diversion.attendance import register as attendance_register
from diversion.attendance.rules import AttendanceStatus
from diversion.core.extensions import db
from diversion.outbox.channels import LogChannel, NotifyChannel, SMTPChannel
from diversion.outbox.dispatcher import dispatch_due
from diversion.outbox.models import Channel, MessageStatus, OutboxMessage
from diversion.referrals.models import Referral
from tests.attendance.helpers import messages
from tests.builders import DURING, clear_fee, session_with_people
from tests.outbox.servers import (
    API_KEY,
    EMAIL_TEMPLATE,
    SMS_TEMPLATE,
    running_notify_stand_in,
    running_smtp_server,
)

ATTACHED = "Your certificate of completion is attached to this email"
ASK = "the programme team can send you a copy if you ask"


def complete_course(**overrides) -> tuple[Referral, OutboxMessage]:  # type: ignore[no-untyped-def]
    """A referral whose register recorded it attending (fee waived): completed, and told."""
    session, (referral,) = session_with_people(1, **overrides)
    clear_fee(referral)
    attendance_register.save_register(
        session=session, submit=True, actor=None, now=DURING,
        marks=[attendance_register.MarkInput(reference=referral.reference,
                                             status=AttendanceStatus.ATTENDED, id_checked=True)])
    [message] = messages(attendance_outcomes.COMPLETION_TEMPLATE)
    db.session.commit()
    return referral, message


def pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def test_the_completion_email_arrives_over_smtp_with_the_certificate_attached(app):
    referral, message = complete_course()
    with running_smtp_server() as (port, server):
        channels = {Channel.EMAIL: SMTPChannel(host="127.0.0.1", port=port, timeout=5,
                                               mail_from="noreply@diversion.example"),
                    Channel.SMS: LogChannel()}
        summary = dispatch_due(now=DURING, channels=channels)

    assert summary.failed == summary.retrying == 0
    [received] = [m for m in server.messages if m["X-Diversion-Reference"] == str(message.id)]
    assert ATTACHED in received.get_body(("plain",)).get_content()
    assert ASK not in received.get_body(("plain",)).get_content()
    [certificate] = list(received.iter_attachments())
    assert certificate.get_filename() == f"certificate-{referral.reference}.pdf"
    assert certificate.get_content_type() == "application/pdf"
    text = pdf_text(certificate.get_content())
    assert referral.person.full_name in text
    assert referral.reference in text
    assert "OFFICIAL-SENSITIVE" in text
    assert db.session.get(OutboxMessage, message.id).status is MessageStatus.SENT


def test_through_notify_the_email_says_how_to_ask_for_the_certificate(app):
    referral, message = complete_course()
    with running_notify_stand_in() as api:
        channels = {kind: NotifyChannel(kind=kind.value, api_key=API_KEY, base_url=api.base_url,
                                        template_id=template, timeout=5)
                    for kind, template in ((Channel.EMAIL, EMAIL_TEMPLATE),
                                           (Channel.SMS, SMS_TEMPLATE))}
        assert dispatch_due(now=DURING, channels=channels).failed == 0

    [notification] = [n for n in api.notifications if n["reference"] == str(message.id)]
    body = notification["personalisation"]["body"]
    assert ASK in body and ATTACHED not in body
    assert referral.reference in body


def test_by_sms_nothing_is_attached_and_the_person_is_told_how_to_ask(app):
    _, message = complete_course(preferred_contact="sms", mobile="07911 123456")
    assert message.channel is Channel.SMS
    sms = LogChannel()

    assert dispatch_due(now=DURING, channels={Channel.EMAIL: LogChannel(),
                                              Channel.SMS: sms}).failed == 0

    [rendered] = [r for _, r, ref in sms.sent if ref == str(message.id)]
    assert rendered.attachments == ()
    assert ASK in rendered.text


def test_a_certificate_that_cannot_be_made_leaves_the_email_to_go_without_it(app):
    referral, message = complete_course()
    referral.reference = "NOSUCHRF"  # the message now names a referral that is not there
    db.session.commit()
    email = LogChannel()

    assert dispatch_due(now=DURING, channels={Channel.EMAIL: email,
                                              Channel.SMS: LogChannel()}).failed == 0

    [rendered] = [r for _, r, ref in email.sent if ref == str(message.id)]
    assert rendered.attachments == ()
    assert ASK in rendered.text


@pytest.mark.parametrize("kind", ["invoice", None])
def test_an_attachment_of_an_unknown_kind_fails_the_message_for_review(app, kind):
    from diversion.outbox.services import enqueue
    from tests.builders import NOW

    enqueue(dedupe_key=f"odd-{kind}", channel=Channel.EMAIL, recipient="sam@example.org",
            template="course_completed_person", due_at=NOW, now=NOW,
            context={"reference": "K7QM9XAD", "given_name": "Adam", "attended_on": "1 June 2026",
                     "attachment": {"kind": kind, "reference": "K7QM9XAD"}})
    db.session.commit()

    summary = dispatch_due(now=NOW, channels={Channel.EMAIL: LogChannel(),
                                              Channel.SMS: LogChannel()})

    assert summary.failed == 1
