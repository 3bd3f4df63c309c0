"""The one-shot dispatcher: claim due messages, send them outside the transaction, record."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from flask import current_app, render_template
from sqlalchemy import select, update

from diversion.extensions import db
from diversion.notifications.channels import (
    Channel,
    LogChannel,
    PermanentFailure,
    Rendered,
    TemporaryFailure,
)
from diversion.notifications.models import Channel as ChannelKind
from diversion.notifications.models import MessageStatus, OutboxMessage

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
BACKOFF_BASE = dt.timedelta(seconds=60)
BACKOFF_CAP = dt.timedelta(hours=6)


@dataclass
class DispatchSummary:
    claimed: int = 0
    sent: int = 0
    failed: int = 0
    retrying: int = 0
    expired: int = 0


def channels_from_settings() -> dict[ChannelKind, Channel]:
    """The channel for each kind of message, as the settings choose."""
    settings = current_app.config["SETTINGS"]
    configured = current_app.extensions.setdefault("diversion_channels", {})
    if configured:
        return configured
    log_channel = LogChannel()
    if settings.email_backend != "log" or settings.sms_backend != "log":
        raise NotImplementedError(
            "only the log channel exists yet; set DIVERSION_EMAIL_BACKEND=log"
        )
    configured.update({ChannelKind.EMAIL: log_channel, ChannelKind.SMS: log_channel})
    return configured


def render_message(message: OutboxMessage) -> Rendered:
    """Render a message's template: templates/messages/<template>.{subject,txt,html}."""
    base = f"messages/{message.template}"
    context = dict(message.context)
    text = render_template(f"{base}.txt", **context).strip() + "\n"
    if message.channel is ChannelKind.SMS:
        return Rendered(subject=None, text=text)
    subject = render_template(f"{base}.subject.txt", **context).strip()
    return Rendered(subject=subject, text=text)


def backoff(attempts: int) -> dt.timedelta:
    """Exponential backoff: 1, 2, 4 … minutes, capped at six hours."""
    delay: dt.timedelta = BACKOFF_BASE * (2 ** max(attempts - 1, 0))
    return min(delay, BACKOFF_CAP)


def claim_due(*, now: dt.datetime, limit: int) -> list[int]:
    """Atomically move due pending rows to `sending` and return their ids.

    On PostgreSQL, FOR UPDATE SKIP LOCKED lets dispatchers share the queue without sending a
    row twice. On SQLite the transaction starts with BEGIN IMMEDIATE, so claims are serialised.
    """
    query = (
        select(OutboxMessage.id)
        .where(OutboxMessage.status == MessageStatus.PENDING,
               OutboxMessage.next_attempt_at <= now)
        .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
        .limit(limit)
    )
    if db.session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    ids = list(db.session.scalars(query))
    if ids:
        db.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(ids), OutboxMessage.status == MessageStatus.PENDING)
            .values(status=MessageStatus.SENDING, claimed_at=now)
            .execution_options(synchronize_session=False)
        )
    db.session.commit()
    return ids


def dispatch_due(*, now: dt.datetime, limit: int = 200,
                 channels: dict[ChannelKind, Channel] | None = None) -> DispatchSummary:
    """Send every message due at `now`, one at a time, recording each result."""
    channels = channels or channels_from_settings()
    summary = DispatchSummary()
    ids = claim_due(now=now, limit=limit)
    summary.claimed = len(ids)
    for message_id in ids:
        message = db.session.get(OutboxMessage, message_id)
        if message is None:
            continue
        if message.expires_at is not None and message.expires_at <= now:
            message.status = MessageStatus.EXPIRED
            summary.expired += 1
            db.session.commit()
            continue
        try:
            rendered = render_message(message)
        except Exception as exc:  # a broken template will not mend itself on retry
            log.exception("message %s could not be rendered", message.id)
            _record_failure(message, f"could not render: {type(exc).__name__}", now,
                            permanent=True)
            summary.failed += 1
            db.session.commit()
            continue
        recipient, reference = message.recipient, str(message.id)
        db.session.commit()  # nothing held open while the channel talks to the outside world
        try:
            result = channels[message.channel].send(
                recipient=recipient, message=rendered, reference=reference)
        except PermanentFailure as exc:
            _record_failure(message, str(exc), now, permanent=True)
            summary.failed += 1
        except TemporaryFailure as exc:
            if _record_failure(message, str(exc), now, permanent=False):
                summary.failed += 1
            else:
                summary.retrying += 1
        else:
            message.status = MessageStatus.SENT
            message.attempts += 1
            message.sent_at = now
            message.provider_reference = result.provider_reference
            message.last_error = None
            summary.sent += 1
        db.session.commit()
    return summary


def _record_failure(message: OutboxMessage, error: str, now: dt.datetime, *,
                    permanent: bool) -> bool:
    """Record a failed attempt; True when the message has failed for good."""
    message.attempts += 1
    message.last_error = error[:1000]
    if permanent or message.attempts >= MAX_ATTEMPTS:
        message.status = MessageStatus.FAILED
        return True
    message.status = MessageStatus.PENDING
    message.next_attempt_at = now + backoff(message.attempts)
    return False
