"""Channels that deliver a rendered message: SMTP, GOV.UK Notify, and `log` for development.

Every channel raises TemporaryFailure (worth retrying: timeouts, refused connections, 429, 5xx)
or PermanentFailure (never worth retrying: a bad address, a rejected message). The outbox id is
the reference each provider records, so a message can be traced (and, on Notify, looked up).
"""

from __future__ import annotations

import email.utils
import logging
import smtplib
import ssl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import encoders
from email.charset import QP, Charset
from email.header import Header
from email.message import Message
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.nonmultipart import MIMENonMultipart
from typing import Any, Protocol, runtime_checkable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str  # "text/calendar"
    content: bytes


@dataclass(frozen=True)
class Rendered:
    """A message ready to go: text (and, for email, subject, optional HTML and attachments)."""

    subject: str | None
    text: str
    html: str | None = None
    attachments: tuple[Attachment, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class SendResult:
    provider_reference: str | None


class TemporaryFailure(Exception):
    """Worth trying again later: a timeout, a 429, a 5xx."""


class PermanentFailure(Exception):
    """Never worth retrying: a bad address, a rejected message."""


class Channel(Protocol):
    name: str
    attaches_files: bool  # can deliver Rendered.attachments (the dispatcher renders them only then)

    def send(self, *, recipient: str, message: Rendered, reference: str) -> SendResult: ...


@runtime_checkable
class SupportsLookup(Protocol):
    """A provider that can say whether it already accepted a message with our reference."""

    def find_by_reference(self, reference: str) -> str | None:
        """The provider's id for the message sent with this reference, or None."""
        ...


class LogChannel:
    """Writes that a message was sent, without the recipient or the content (personal data)."""

    name = "log"
    attaches_files = True  # stands in for email in development and tests

    def __init__(self) -> None:
        self.sent: list[tuple[str, Rendered, str]] = []

    def send(self, *, recipient: str, message: Rendered, reference: str) -> SendResult:
        log.info("log channel: message %s sent (%d characters)", reference, len(message.text))
        self.sent.append((recipient, message, reference))
        return SendResult(provider_reference=f"log-{reference}")


class SMTPChannel:
    """Email through an SMTP server: multipart text and HTML, attachments, optional STARTTLS.

    Each send opens its own connection, except inside `connection()`, where the sends share
    one (the dispatcher holds it for a run). Any error closes it, so the next send starts afresh;
    a connection left idle for IDLE_CHECK_SECONDS is checked with NOOP before it is used again.
    """

    name = "smtp"
    attaches_files = True

    def __init__(self, *, host: str, port: int, mail_from: str, username: str | None = None,
                 password: str | None = None, starttls: bool = False, timeout: float = 10.0,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        self.host = host
        self.port = port
        self.mail_from = mail_from
        self.username = username
        self.password = password
        self.starttls = starttls
        self.timeout = timeout
        self.ssl_context = ssl_context
        self._holding = False
        self._server: smtplib.SMTP | None = None
        self._last_used = 0.0

    IDLE_CHECK_SECONDS = 5.0

    @contextmanager
    def connection(self) -> Iterator[None]:
        """Keep one connection open for the sends made inside; QUIT at the end."""
        self._holding = True
        try:
            yield
        finally:
            self._holding = False
            self._close(polite=True)

    def _connect(self) -> smtplib.SMTP:
        server = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        try:
            server.ehlo()
            if self.starttls:
                server.starttls(context=self.ssl_context or ssl.create_default_context())
                server.ehlo()
            if self.username:
                server.login(self.username, self.password or "")
        except BaseException:
            server.close()
            raise
        return server

    def _open(self) -> smtplib.SMTP:
        """The held connection when it is still good, else a new one."""
        if self._server is not None and time.monotonic() - self._last_used > self.IDLE_CHECK_SECONDS:
            try:
                alive = self._server.noop()[0] == 250
            except (smtplib.SMTPException, OSError):
                alive = False
            if not alive:
                self._close(polite=False)
        if self._server is None:
            self._server = self._connect()
        return self._server

    def _close(self, *, polite: bool) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        try:
            if polite:
                server.quit()
        except (smtplib.SMTPException, OSError):
            pass
        finally:
            server.close()

    def build(self, *, recipient: str, message: Rendered, reference: str) -> Message:
        """The MIME message, its Message-ID and X-Diversion-Reference carrying the outbox id.

        Built with the email package's MIME classes (its compat32 policy): the modern
        EmailMessage API parses every header it is given, which cost fifteen times as much as
        sending the message down a held connection.
        """
        parts: list[Message] = [_text_part(message.text, "plain")]
        if message.html:
            parts.append(_text_part(message.html, "html"))
        mail: Message = parts[0] if len(parts) == 1 else MIMEMultipart("alternative", _subparts=parts)
        if message.attachments:
            mail = MIMEMultipart("mixed", _subparts=[mail])
            for attachment in message.attachments:
                maintype, _, subtype = attachment.content_type.partition("/")
                part = MIMEBase(maintype, subtype)
                part.set_payload(attachment.content)
                encoders.encode_base64(part)
                part.add_header("Content-Disposition", "attachment", filename=attachment.filename)
                mail.attach(part)
        mail["From"] = _address(self.mail_from)
        mail["To"] = _address(recipient)
        mail["Subject"] = _text_header(" ".join((message.subject or "").split()))
        mail["Date"] = email.utils.formatdate(localtime=False)
        domain = self.mail_from.rpartition("@")[2].strip(">") or "diversion.invalid"
        mail["Message-ID"] = f"<diversion-{reference}@{domain}>"
        mail["X-Diversion-Reference"] = reference
        return mail

    def send(self, *, recipient: str, message: Rendered, reference: str) -> SendResult:
        mail = self.build(recipient=recipient, message=message, reference=reference)
        try:
            try:
                refused = self._open().send_message(mail)
            except BaseException:
                self._close(polite=False)  # whatever state it is in, the next send starts afresh
                raise
            if self._holding:
                self._last_used = time.monotonic()
            else:
                self._close(polite=True)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            raise _smtp_failure(min(codes) if codes else 550, "recipient refused") from exc
        except smtplib.SMTPResponseException as exc:
            raise _smtp_failure(exc.smtp_code, _smtp_text(exc.smtp_error)) from exc
        except smtplib.SMTPNotSupportedError as exc:
            raise TemporaryFailure(f"SMTP server does not support what is configured: {exc}") from exc
        except (smtplib.SMTPException, OSError) as exc:  # timeouts, refused, disconnected
            raise TemporaryFailure(f"SMTP server unreachable: {type(exc).__name__}") from exc
        if refused:
            code = min(code for code, _ in refused.values())
            raise _smtp_failure(code, "recipient refused")
        return SendResult(provider_reference=mail["Message-ID"])


# Text parts in UTF-8, quoted-printable (readable in a mail log, unlike base64).
_UTF8 = Charset("utf-8")
_UTF8.body_encoding = QP


def _text_part(text: str, subtype: str) -> Message:
    part = MIMENonMultipart("text", subtype, charset="utf-8")
    part.set_payload(text, _UTF8)
    return part


def _text_header(value: str) -> str:
    return value if value.isascii() else Header(value, "utf-8").encode()


def _address(value: str) -> str:
    """An address header's value, its display name encoded when it is not ASCII."""
    if value.isascii():
        return value
    name, address = email.utils.parseaddr(value)
    return email.utils.formataddr((name, address), charset="utf-8") if address else value


def _smtp_text(error: bytes | str) -> str:
    text = error.decode("utf-8", "replace") if isinstance(error, bytes) else str(error)
    return " ".join(text.split())[:300]


def _smtp_failure(code: int, text: str) -> Exception:
    # 5xx replies are final; 4xx (and anything odd) may succeed later. Authentication failures
    # (535) are a configuration fault an operator can fix, so they are retried, not dropped.
    if 500 <= code < 600 and code != 535:
        return PermanentFailure(f"SMTP {code}: {text}")
    return TemporaryFailure(f"SMTP {code}: {text}")


class NotifyChannel:
    """GOV.UK Notify, through its official client, with one generic template per channel.

    Notify sends only from templates, so each channel has one whose content is `((subject))` /
    `((body))` (docs/notify.md). The outbox id is the Notify `reference`.
    """

    name = "notify"
    # Notify's email API takes files only as links placed by `prepare_upload` into a template
    # placeholder; our one generic template has none, so messages say how to ask instead.
    attaches_files = False

    def __init__(self, *, kind: str, api_key: str, base_url: str, template_id: str,
                 timeout: float = 10.0) -> None:
        from notifications_python_client.notifications import NotificationsAPIClient

        if kind not in {"email", "sms"}:
            raise ValueError("kind must be email or sms")
        self.kind = kind
        self.template_id = template_id
        self.client = NotificationsAPIClient(api_key, base_url=base_url, timeout=timeout)

    def send(self, *, recipient: str, message: Rendered, reference: str) -> SendResult:
        try:
            if self.kind == "email":
                response = self.client.send_email_notification(
                    email_address=recipient, template_id=self.template_id,
                    personalisation={"subject": message.subject or "", "body": message.text},
                    reference=reference)
            else:
                response = self.client.send_sms_notification(
                    phone_number=recipient, template_id=self.template_id,
                    personalisation={"body": message.text}, reference=reference)
        except Exception as exc:
            raise _notify_failure(exc) from exc
        return SendResult(provider_reference=str(response["id"]))

    def find_by_reference(self, reference: str) -> str | None:
        try:
            response = self.client.get_all_notifications(reference=reference)
        except Exception as exc:
            raise _notify_failure(exc) from exc
        for notification in response.get("notifications", []):
            if notification.get("reference") == reference:
                return str(notification["id"])
        return None


def _notify_failure(exc: Exception) -> Exception:
    from notifications_python_client.errors import APIError

    if not isinstance(exc, APIError):
        return TemporaryFailure(f"Notify request failed: {type(exc).__name__}")
    # The client reports timeouts and refused connections as 503.
    status = exc.status_code
    detail = _notify_detail(exc)
    if status == 429 or status >= 500:
        return TemporaryFailure(f"Notify {status}: {detail}")
    return PermanentFailure(f"Notify {status}: {detail}")


def _notify_detail(exc: Any) -> str:
    message = exc.message
    if isinstance(message, list):
        message = "; ".join(str(item.get("message", item)) if isinstance(item, dict) else str(item)
                            for item in message)
    return " ".join(str(message).split())[:300]
