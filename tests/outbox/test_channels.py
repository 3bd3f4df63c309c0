"""The SMTP and Notify channels against real servers on loopback."""

from __future__ import annotations

import socket

import pytest

from diversion.core.config import ConfigError, read_settings
from diversion.outbox.channels import (
    Attachment,
    NotifyChannel,
    PermanentFailure,
    Rendered,
    SMTPChannel,
    TemporaryFailure,
)
from diversion.outbox.dispatcher import build_channels
from diversion.outbox.models import Channel as ChannelKind
from tests.outbox.servers import (
    API_KEY,
    EMAIL_TEMPLATE,
    SMS_TEMPLATE,
    free_port,
    running_notify_stand_in,
    running_smtp_server,
)

ICS = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nSUMMARY:Course\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
MESSAGE = Rendered(subject="Your course on 5 March", text="See you there.\n",
                   html="<p>See you there.</p>",
                   attachments=(Attachment("invite.ics", "text/calendar", ICS.encode()),))


@pytest.fixture
def smtp_server():
    with running_smtp_server() as server:
        yield server


@pytest.fixture
def notify_api():
    with running_notify_stand_in() as api:
        yield api

def smtp(port: int, **overrides: object) -> SMTPChannel:
    values: dict[str, object] = {"host": "127.0.0.1", "port": port,
                                 "mail_from": "Diversion <noreply@diversion.example>", "timeout": 2}
    values.update(overrides)
    return SMTPChannel(**values)  # type: ignore[arg-type]


def test_smtp_delivers_text_html_and_the_calendar_file_with_the_outbox_reference(smtp_server):
    port, server = smtp_server
    result = smtp(port).send(recipient="sam@example.org", message=MESSAGE, reference="42")

    [received] = server.messages
    assert server.envelopes == [("noreply@diversion.example", ["sam@example.org"])]
    assert received["To"] == "sam@example.org"
    assert received["Subject"] == "Your course on 5 March"
    assert received["X-Diversion-Reference"] == "42"
    assert received["Message-ID"] == "<diversion-42@diversion.example>"
    assert result.provider_reference == "<diversion-42@diversion.example>"
    assert received.get_body(("plain",)).get_content().replace("\r\n", "\n") == "See you there.\n"
    assert received.get_body(("html",)).get_content().strip() == "<p>See you there.</p>"
    [attachment] = list(received.iter_attachments())
    assert attachment.get_filename() == "invite.ics"
    assert attachment.get_content_type() == "text/calendar"
    assert attachment.get_content().replace("\r\n", "\n") == ICS.replace("\r\n", "\n")


def test_smtp_refusing_the_address_for_good_is_a_permanent_failure(smtp_server):
    port, server = smtp_server
    with pytest.raises(PermanentFailure, match="550"):
        smtp(port).send(recipient="nobody@invalid.example", message=MESSAGE, reference="1")
    assert server.messages == []


def test_smtp_refusing_the_address_for_now_is_a_temporary_failure(smtp_server):
    port, _ = smtp_server
    with pytest.raises(TemporaryFailure, match="451"):
        smtp(port).send(recipient="someone@busy.example", message=MESSAGE, reference="1")


def test_an_smtp_server_that_is_not_listening_is_a_temporary_failure():
    with pytest.raises(TemporaryFailure, match="unreachable"):
        smtp(free_port()).send(recipient="sam@example.org", message=MESSAGE, reference="1")


def test_an_smtp_server_that_never_answers_times_out_as_a_temporary_failure():
    with socket.socket() as silent:  # accepts connections (the kernel does) but never speaks
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        channel = smtp(silent.getsockname()[1], timeout=0.5)
        with pytest.raises(TemporaryFailure, match="unreachable"):
            channel.send(recipient="sam@example.org", message=MESSAGE, reference="1")


def test_starttls_required_but_not_offered_is_a_temporary_failure_and_nothing_is_sent(smtp_server):
    port, server = smtp_server
    with pytest.raises(TemporaryFailure, match="does not support"):
        smtp(port, starttls=True).send(recipient="sam@example.org", message=MESSAGE, reference="1")
    assert server.messages == []


def notify(api, kind: str = "email") -> NotifyChannel:
    return NotifyChannel(kind=kind, api_key=API_KEY, base_url=api.base_url,
                         template_id=EMAIL_TEMPLATE if kind == "email" else SMS_TEMPLATE, timeout=2)


def test_notify_email_uses_the_generic_template_with_subject_and_body_and_our_reference(notify_api):
    result = notify(notify_api).send(recipient="sam@example.org", message=MESSAGE, reference="42")

    [sent] = notify_api.notifications
    assert result.provider_reference == sent["id"]
    assert sent["reference"] == "42"
    assert sent["template"]["id"] == EMAIL_TEMPLATE
    assert sent["email_address"] == "sam@example.org"
    assert sent["personalisation"] == {"subject": "Your course on 5 March",
                                       "body": "See you there.\n"}


def test_notify_sms_sends_the_text_as_the_body(notify_api):
    notify(notify_api, "sms").send(recipient="07700900123",
                                   message=Rendered(subject=None, text="Reminder: tomorrow 10am"),
                                   reference="7")
    [sent] = notify_api.notifications
    assert sent["phone_number"] == "07700900123"
    assert sent["personalisation"] == {"body": "Reminder: tomorrow 10am"}
    assert sent["template"]["id"] == SMS_TEMPLATE


@pytest.mark.parametrize("status", [429, 500, 503])
def test_notify_rate_limits_and_server_errors_are_temporary_failures(notify_api, status):
    notify_api.script = [status]
    with pytest.raises(TemporaryFailure, match=str(status)):
        notify(notify_api).send(recipient="sam@example.org", message=MESSAGE, reference="1")
    assert notify_api.notifications == []


def test_notify_rejecting_the_address_is_a_permanent_failure(notify_api):
    with pytest.raises(PermanentFailure, match="400.*Not a valid address"):
        notify(notify_api).send(recipient="x@invalid.example", message=MESSAGE, reference="1")


def test_notify_refusing_a_wrong_key_is_a_permanent_failure(notify_api):
    wrong = NotifyChannel(kind="email", api_key=API_KEY[:-4] + "0000", base_url=notify_api.base_url,
                          template_id=EMAIL_TEMPLATE)
    with pytest.raises(PermanentFailure, match="403"):
        wrong.send(recipient="sam@example.org", message=MESSAGE, reference="1")
    assert notify_api.notifications == []


def test_notify_unreachable_is_a_temporary_failure():
    channel = NotifyChannel(kind="email", api_key=API_KEY,
                            base_url=f"http://127.0.0.1:{free_port()}", template_id=EMAIL_TEMPLATE)
    with pytest.raises(TemporaryFailure):
        channel.send(recipient="sam@example.org", message=MESSAGE, reference="1")


def test_notify_finds_a_message_by_our_reference_and_only_that_one(notify_api):
    channel = notify(notify_api)
    sent = channel.send(recipient="sam@example.org", message=MESSAGE, reference="42")
    assert channel.find_by_reference("42") == sent.provider_reference
    assert channel.find_by_reference("43") is None
    assert ("GET", "/v2/notifications?reference=42") in notify_api.requests


def test_settings_choose_the_channels():
    settings = read_settings({
        "DIVERSION_EMAIL_BACKEND": "smtp", "DIVERSION_SMTP_HOST": "mail.example",
        "DIVERSION_SMTP_PORT": "2525", "DIVERSION_SMTP_STARTTLS": "yes",
        "DIVERSION_MAIL_FROM": "noreply@diversion.example",
        "DIVERSION_SMS_BACKEND": "notify", "DIVERSION_NOTIFY_API_KEY": API_KEY,
        "DIVERSION_NOTIFY_SMS_TEMPLATE_ID": SMS_TEMPLATE,
    })
    channels = build_channels(settings)
    email, sms = channels[ChannelKind.EMAIL], channels[ChannelKind.SMS]
    assert isinstance(email, SMTPChannel)
    assert (email.host, email.port, email.starttls) == ("mail.example", 2525, True)
    assert isinstance(sms, NotifyChannel)
    assert sms.template_id == SMS_TEMPLATE


def test_notify_without_a_template_id_is_refused_as_a_configuration_error():
    settings = read_settings({"DIVERSION_EMAIL_BACKEND": "notify",
                              "DIVERSION_NOTIFY_API_KEY": API_KEY})
    with pytest.raises(ConfigError, match="DIVERSION_NOTIFY_EMAIL_TEMPLATE_ID"):
        build_channels(settings)
