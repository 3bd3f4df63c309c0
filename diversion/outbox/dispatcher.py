"""The dispatcher: claim due messages, send them outside the transaction, record the result.

One run (`dispatch_due`) first resolves rows a crashed dispatcher left in `sending`, then claims
due rows in small batches and sends them one at a time. docs/messaging.md describes the rules.
It runs as a scheduler job, never inside a web request, and commits each step itself: a claim,
and each message's start (with the previous message's result) are separate transactions, so
that nothing is held open while a channel talks to the outside world (the
one-transaction-per-request rule is core/transactions.py's).
"""

from __future__ import annotations

import datetime as dt
import logging
import random
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any, cast

from flask import Flask, current_app
from jinja2 import Environment, StrictUndefined, TemplateNotFound
from sqlalchemy import Table, Update, and_, bindparam, case, or_, select, update

from diversion.core.config import ConfigError, Settings
from diversion.core.extensions import db
from diversion.outbox.channels import (
    Attachment,
    Channel,
    LogChannel,
    NotifyChannel,
    PermanentFailure,
    Rendered,
    SMTPChannel,
    SupportsLookup,
    TemporaryFailure,
)
from diversion.outbox.models import Channel as ChannelKind
from diversion.outbox.models import MessageStatus, OutboxMessage
from diversion.outbox.rules import indiscreet_words, next_allowed_sms_time, retry_delay

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
CLAIM_BATCH = 20
# A row still `sending` this long after its claim belongs to a dispatcher that died. A batch of
# CLAIM_BATCH sends with 10-second timeouts ends well inside it.
STALE_AFTER = dt.timedelta(minutes=15)
UNKNOWN_OUTCOME = (
    "delivery unknown: the dispatcher stopped while this message was being sent and the "
    "provider cannot be asked; check with the recipient before sending it again"
)


@dataclass
class DispatchSummary:
    claimed: int = 0
    sent: int = 0
    failed: int = 0
    retrying: int = 0
    expired: int = 0
    deferred: int = 0  # SMS held back until 08:00 London time
    recovered: int = 0  # rows a crashed dispatcher left in `sending`


def build_channels(settings: Settings) -> dict[ChannelKind, Channel]:
    """The channel for each kind of message, as the settings choose."""
    log_channel = LogChannel()

    def notify(kind: str, template_id: str | None) -> NotifyChannel:
        if not settings.notify_api_key:
            raise ConfigError("DIVERSION_NOTIFY_API_KEY must be set to send through Notify")
        if not template_id:
            raise ConfigError(
                f"DIVERSION_NOTIFY_{kind.upper()}_TEMPLATE_ID must be set to send {kind} "
                "through Notify (docs/notify.md)")
        return NotifyChannel(kind=kind, api_key=settings.notify_api_key,
                             base_url=settings.notify_base_url, template_id=template_id)

    email: Channel
    if settings.email_backend == "smtp":
        email = SMTPChannel(host=settings.smtp_host, port=settings.smtp_port,
                            mail_from=settings.mail_from, username=settings.smtp_username,
                            password=settings.smtp_password, starttls=settings.smtp_starttls,
                            timeout=settings.smtp_timeout_seconds)
    elif settings.email_backend == "notify":
        email = notify("email", settings.notify_email_template_id)
    else:
        email = log_channel
    sms: Channel = (notify("sms", settings.notify_sms_template_id)
                    if settings.sms_backend == "notify" else log_channel)
    return {ChannelKind.EMAIL: email, ChannelKind.SMS: sms}


def channels_from_settings() -> dict[ChannelKind, Channel]:
    """This app's channels, built once from its settings."""
    configured: dict[ChannelKind, Channel] = current_app.extensions.setdefault(
        "diversion_channels", {})
    if not configured:
        configured.update(build_channels(current_app.config["SETTINGS"]))
    return configured


class IndiscreetMessage(ValueError):
    """A subject line or SMS would name the offence."""


def message_environment() -> Environment:
    """The app's Jinja environment, but strict: a variable missing from a message's context is
    an error (the message fails for review) rather than a blank in a letter to a person."""
    environment: Environment | None = current_app.extensions.get("diversion_message_jinja")
    if environment is None or environment.loader is not current_app.jinja_env.loader:
        environment = current_app.jinja_env.overlay(undefined=StrictUndefined)
        current_app.extensions["diversion_message_jinja"] = environment
    return environment


def render_message(message: OutboxMessage, *, attach_files_at: dt.datetime | None = None,
                   for_delivery: bool = False) -> Rendered:
    """Render templates/messages/<template>.{txt,subject.txt,html}; attach `ics` as invite.ics.

    An email whose template has no .html part gets its text as simple HTML paragraphs
    (messages/_text.html), so every email has both parts and the wording lives in one file.
    A context `attachment` (a file the dispatcher makes, such as the completion certificate) is
    made only for an email whose channel can carry it (`attach_files_at`, the time it is made);
    the template learns whether it went through `has_attachment`, so it can say so, or say how
    to ask for the file instead. A context `secret` (such as a password reset link) is made
    only `for_delivery`; anywhere else (the messages page, a resent copy's page) the template
    gets WITHHELD in its place, so no one reads it but the recipient.
    """
    environment = message_environment()
    base = f"messages/{message.template}"
    context = dict(message.context)
    if "secret" in context:
        context["secret"] = (_make_secret(context["secret"]) if for_delivery else WITHHELD)
    made: Attachment | None = None
    if "attachment" in context:
        if attach_files_at is not None and message.channel is ChannelKind.EMAIL:
            made = _make_attachment(context["attachment"], message_id=message.id,
                                    now=attach_files_at)
        context["has_attachment"] = made is not None
    text = environment.get_template(f"{base}.txt").render(**context).strip() + "\n"
    if message.channel is ChannelKind.SMS:
        _check_discreet(text, "SMS")
        return Rendered(subject=None, text=text)
    subject = " ".join(environment.get_template(f"{base}.subject.txt").render(**context).split())
    _check_discreet(subject, "subject line")
    try:
        html_template = environment.get_template(f"{base}.html")
    except TemplateNotFound:
        html = environment.get_template("messages/_text.html").render(
            subject=subject, paragraphs=_paragraphs(text))
    else:
        html = html_template.render(subject=subject, **context)
    attachments: tuple[Attachment, ...] = ()
    if context.get("ics"):
        attachments = (Attachment("invite.ics", "text/calendar",
                                  str(context["ics"]).encode("utf-8")),)
    if made is not None:
        attachments += (made,)
    return Rendered(subject=subject, text=text, html=html, attachments=attachments)


def render_subject(message: OutboxMessage) -> str:
    """An email's subject line alone, for the messages page (no attachment is made)."""
    context = {k: v for k, v in message.context.items() if k != "attachment"}
    context["has_attachment"] = False
    if "secret" in context:
        context["secret"] = WITHHELD
    text = message_environment().get_template(f"messages/{message.template}.subject.txt")
    subject = " ".join(text.render(**context).split())
    _check_discreet(subject, "subject line")
    return subject


AttachmentMaker = Callable[[dict[str, Any], dt.datetime], "Attachment | None"]
_MAKERS = "diversion.outbox_attachment_makers"


def add_attachment_maker(app: Flask, kind: str, maker: AttachmentMaker) -> None:
    """Let messages name an attachment of this kind (`{"kind": kind, ...}` in their context);
    `maker(spec, now)` makes the file when the message is sent, or None when it cannot."""
    app.extensions.setdefault(_MAKERS, {})[kind] = maker


def _make_attachment(spec: Any, *, message_id: int | None, now: dt.datetime) -> Attachment | None:
    """The file a message's `attachment` names, or None when it cannot be made (the message
    then goes without it and tells the person how to ask). An unknown kind is an error."""
    makers: dict[str, AttachmentMaker] = current_app.extensions.get(_MAKERS, {})
    maker = makers.get(str(spec.get("kind"))) if isinstance(spec, dict) else None
    if maker is None:
        raise ValueError("the message names an attachment of an unknown kind")
    made = maker(spec, now)
    if made is None:
        log.warning("message %s: its %s could not be made; sent without it", message_id,
                    spec["kind"])
    return made


WITHHELD = "[sent to the recipient only]"
SecretMaker = Callable[[dict[str, Any]], str]
_SECRET_MAKERS = "diversion.outbox_secret_makers"  # noqa: S105  (a registry name)


def add_secret_maker(app: Flask, kind: str, maker: SecretMaker) -> None:
    """Let messages carry a secret of this kind (`"secret": {"kind": kind, ...}` in their
    context) that the outbox row does not hold: `maker(spec)` makes the text (a link) from the
    spec when the message is sent, and nowhere else."""
    app.extensions.setdefault(_SECRET_MAKERS, {})[kind] = maker


def _make_secret(spec: Any) -> str:
    makers: dict[str, SecretMaker] = current_app.extensions.get(_SECRET_MAKERS, {})
    maker = makers.get(str(spec.get("kind"))) if isinstance(spec, dict) else None
    if maker is None:
        raise ValueError("the message names a secret of an unknown kind")
    return maker(spec)


def _paragraphs(text: str) -> list[list[str]]:
    """Blank-line separated paragraphs of a text part, each a list of its lines."""
    blocks = (block.strip() for block in text.replace("\r\n", "\n").split("\n\n"))
    return [[line.strip() for line in block.splitlines() if line.strip()]
            for block in blocks if block]


def _check_discreet(text: str, what: str) -> None:
    words = indiscreet_words(text)
    if words:
        raise IndiscreetMessage(f"the {what} would reveal too much ({', '.join(words)})")


def claim_due(*, now: dt.datetime, limit: int) -> list[int]:
    """Atomically move due pending rows to `sending` and return their ids (`_claim`)."""
    return [row.id for row in _claim(now=now, limit=limit, returning=(OutboxMessage.id,))]


def _claim(*, now: dt.datetime, limit: int, returning: tuple[Any, ...]) -> list[Any]:
    """Atomically move due pending rows to `sending`; their `returning` columns, by id.

    On PostgreSQL, FOR UPDATE SKIP LOCKED lets dispatchers share the queue without sending a
    row twice. On SQLite every transaction outside a web page that only reads (so every
    scheduler and CLI transaction) starts with BEGIN IMMEDIATE (diversion.core.db), so claims
    are serialised.
    """
    due = (
        select(OutboxMessage.id)
        .where(OutboxMessage.status == MessageStatus.PENDING,
               OutboxMessage.next_attempt_at <= now)
        .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
        .limit(limit)
    )
    if db.session.get_bind().dialect.name == "postgresql":
        # Chosen once, in a CTE PostgreSQL must materialise: as a plain `IN (subquery)` the
        # planner may run the subquery again for each row, and every run skips the rows the
        # statement has just locked and takes LIMIT more, until one claim takes everything due.
        chosen = due.with_for_update(skip_locked=True).cte("chosen").prefix_with("MATERIALIZED")
        due = select(chosen.c.id)
    claimed = db.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(due.scalar_subquery()),
               OutboxMessage.status == MessageStatus.PENDING)
        .values(status=MessageStatus.SENDING, claimed_at=now, send_started_at=None)
        .returning(*returning)
        .execution_options(synchronize_session=False)
    ).all()
    db.session.commit()
    return sorted(claimed, key=lambda row: row.id)


def dispatch_due(*, now: dt.datetime, limit: int = 200,
                 channels: dict[ChannelKind, Channel] | None = None,
                 rng: random.Random | None = None) -> DispatchSummary:
    """Send up to `limit` messages due at `now`, one at a time, recording each result.

    A channel that can hold a connection (SMTP's `connection()`) holds one for the whole run,
    so the messages of a run go down one connection. The claim returns its batch's rows;
    a message's result is committed together with the next message's `send_started_at`, just
    before that message's channel is called (and the last result at the end), so there is one
    commit per message and `send_started_at` is still committed before every send.
    """
    channels = channels or channels_from_settings()
    summary = DispatchSummary()
    recover_stale(now=now, channels=channels, summary=summary)
    writes = _Writes(now)
    with ExitStack() as held:
        for channel in {id(c): c for c in channels.values()}.values():
            connection = getattr(channel, "connection", None)
            if connection is not None:
                held.enter_context(connection())
        try:
            while summary.claimed < limit:
                batch = _claimed_messages(now=now,
                                          limit=min(CLAIM_BATCH, limit - summary.claimed))
                if not batch:
                    break
                summary.claimed += len(batch)
                for message in batch:
                    _deliver(message, now=now, channels=channels, summary=summary, rng=rng,
                             writes=writes)
        except BaseException:
            # Those sends happened: record their results if the database still can. If it
            # cannot, the last one stays `sending` with send_started_at, "delivery unknown".
            db.session.rollback()
            try:
                writes.commit()
            except Exception:
                log.exception("the results of the last sends could not be recorded")
                db.session.rollback()
            raise
        writes.commit()  # the last result
    return summary


# What the dispatcher may change on a claimed row, and what it needs to read of it.
_WRITTEN = ("status", "attempts", "next_attempt_at", "last_error", "provider_reference",
            "send_started_at", "sent_at")
_READ = ("id", "channel", "recipient", "template", "context", "expires_at", *_WRITTEN)


def _claimed_messages(*, now: dt.datetime, limit: int) -> list[OutboxMessage]:
    """Claim a batch (`claim_due`), its rows read by the claim itself (RETURNING), as copies
    outside the session: the dispatcher's commits then expire nothing and reload nothing, and
    objects the caller holds in the session are left alone. `_Writes` writes their changes."""
    columns = tuple(getattr(OutboxMessage, name) for name in _READ)
    return [OutboxMessage(**row._asdict())
            for row in _claim(now=now, limit=limit, returning=columns)]


_TABLE = cast(Table, OutboxMessage.__table__)
# Core statements built once, with bound parameters: per message, building an ORM UPDATE cost
# more than running it.
_START_SENDING = (
    update(_TABLE)
    .where(_TABLE.c.id == bindparam("start_id"), _TABLE.c.status == MessageStatus.SENDING)
    .values(send_started_at=bindparam("started", type_=_TABLE.c.send_started_at.type))
    .returning(_TABLE.c.id))


def _finish_and_start() -> Update:
    """One message's result and the next one's send_started_at in one statement (one round trip
    to PostgreSQL instead of two): the row `done_id` gets every written column, the row
    `start_id`, if still `sending`, gets send_started_at. RETURNING says which were updated."""
    done = _TABLE.c.id == bindparam("done_id")
    values: dict[str, Any] = {
        name: case((done, bindparam(f"new_{name}", type_=_TABLE.c[name].type)),
                   else_=_TABLE.c[name])
        for name in _WRITTEN if name != "send_started_at"}
    values["send_started_at"] = case(
        (done, bindparam("new_send_started_at", type_=_TABLE.c.send_started_at.type)),
        else_=bindparam("started", type_=_TABLE.c.send_started_at.type))
    return (update(_TABLE)
            .where(or_(done, and_(_TABLE.c.id == bindparam("start_id"),
                                  _TABLE.c.status == MessageStatus.SENDING)))
            .values(values)
            .returning(_TABLE.c.id))


_FINISH_AND_START = _finish_and_start()
_UPDATES: dict[tuple[str, ...], Update] = {}


def _update_of(names: tuple[str, ...]) -> Update:
    """UPDATE outbox_messages SET <names> WHERE id = :row_id, built once for each set of names."""
    statement = _UPDATES.get(names)
    if statement is None:
        statement = _UPDATES[names] = (
            update(_TABLE).where(_TABLE.c.id == bindparam("row_id"))
            .values({name: bindparam(name, type_=_TABLE.c[name].type) for name in names}))
    return statement


class _Writes:
    """Changes to claimed rows waiting for the next commit, made just before a channel is
    called (with that message's `send_started_at`) or at the end of the run. Nothing is
    executed until then, so no transaction is open while a channel or provider is asked."""

    def __init__(self, now: dt.datetime) -> None:
        self.now = now
        self._pending: list[tuple[OutboxMessage, dict[str, Any]]] = []

    def before(self, message: OutboxMessage) -> dict[str, Any]:
        return {name: getattr(message, name) for name in _WRITTEN}

    def record(self, message: OutboxMessage, before: dict[str, Any]) -> None:
        changed = {name: getattr(message, name) for name in _WRITTEN
                   if getattr(message, name) != before[name]}
        if changed:
            self._pending.append((message, changed))

    @staticmethod
    def _options() -> dict[str, Any] | None:
        """On PostgreSQL, each statement commits itself (no BEGIN and COMMIT round trips: one
        round trip a message). Each is atomic, and nothing needs more: a result is written
        before, or with, the next message's send_started_at. Not when the session has begun a
        transaction already (an attachment or a secret was made), and not on SQLite, whose
        writes must begin IMMEDIATE (diversion.core.db)."""
        if db.session().in_transaction() or db.session.get_bind().dialect.name != "postgresql":
            return None
        return {"isolation_level": "AUTOCOMMIT"}

    def commit(self, *, starting: OutboxMessage | None = None) -> bool:
        """Write the waiting changes and, for `starting`, send_started_at, in one commit.
        False when `starting` is no longer ours to send (another dispatcher resolved it)."""
        if not self._pending and starting is None:
            return True
        connection = db.session.connection(execution_options=self._options())
        last = self._pending.pop() if self._pending and starting is not None else None
        for message, values in self._pending:
            connection.execute(_update_of(tuple(values)), {"row_id": message.id, **values})
        self._pending.clear()
        ours = True
        if starting is not None:
            start = {"start_id": starting.id, "started": self.now}
            if last is None:
                updated = connection.execute(_START_SENDING, start).scalars().all()
            else:
                done = {f"new_{name}": getattr(last[0], name) for name in _WRITTEN}
                updated = connection.execute(_FINISH_AND_START,
                                             {"done_id": last[0].id, **done, **start}
                                             ).scalars().all()
            ours = starting.id in updated
            if ours:
                starting.send_started_at = self.now
        db.session.commit()
        return ours


def _deliver(message: OutboxMessage, *, now: dt.datetime, channels: dict[ChannelKind, Channel],
             summary: DispatchSummary, rng: random.Random | None, writes: _Writes) -> None:
    before = writes.before(message)
    if message.expires_at is not None and message.expires_at <= now:
        message.status = MessageStatus.EXPIRED
        summary.expired += 1
        writes.record(message, before)
        return
    if message.channel is ChannelKind.SMS and next_allowed_sms_time(now) > now:
        message.status = MessageStatus.PENDING
        message.next_attempt_at = next_allowed_sms_time(now)
        summary.deferred += 1
        writes.record(message, before)
        return
    channel = channels[message.channel]
    try:
        rendered = render_message(
            message, attach_files_at=now if getattr(channel, "attaches_files", False) else None,
            for_delivery=True)
    except Exception as exc:  # a broken or indiscreet template will not mend itself on retry
        log.exception("message %s could not be rendered", message.id)
        detail = str(exc) if isinstance(exc, IndiscreetMessage) else type(exc).__name__
        _count(summary, _record_failure(message, f"could not render: {detail}", now,
                                        permanent=True, rng=rng))
        writes.record(message, before)
        return
    reference = str(message.id)
    if message.attempts > 0 and isinstance(channel, SupportsLookup):
        # An earlier attempt may have reached the provider before failing (a timeout): ask.
        try:
            provider_id = channel.find_by_reference(reference)
        except (TemporaryFailure, PermanentFailure) as exc:
            _count(summary, _record_failure(message, str(exc), now,
                                            permanent=isinstance(exc, PermanentFailure), rng=rng))
            writes.record(message, before)
            return
        if provider_id is not None:
            _record_sent(message, provider_id, now)
            summary.sent += 1
            writes.record(message, before)
            return
    # The previous message's result and this one's send_started_at, in one commit; nothing
    # held open while the channel talks to the outside world.
    if not writes.commit(starting=message):
        return
    before = writes.before(message)
    try:
        result = channel.send(recipient=message.recipient, message=rendered, reference=reference)
    except PermanentFailure as exc:
        _count(summary, _record_failure(message, str(exc), now, permanent=True, rng=rng))
    except TemporaryFailure as exc:
        _count(summary, _record_failure(message, str(exc), now, permanent=False, rng=rng))
    except Exception as exc:  # a fault of ours; retried like a temporary failure, and logged
        log.exception("channel %s raised on message %s", channel.name, message.id)
        _count(summary, _record_failure(message, f"unexpected error: {type(exc).__name__}", now,
                                        permanent=False, rng=rng))
    else:
        _record_sent(message, result.provider_reference, now)
        summary.sent += 1
    writes.record(message, before)


def _count(summary: DispatchSummary, failed_for_good: bool) -> None:
    if failed_for_good:
        summary.failed += 1
    else:
        summary.retrying += 1


def _record_sent(message: OutboxMessage, provider_reference: str | None,
                 now: dt.datetime) -> None:
    message.status = MessageStatus.SENT
    message.attempts += 1
    message.sent_at = now
    message.provider_reference = provider_reference
    message.last_error = None
    message.send_started_at = None


def _record_failure(message: OutboxMessage, error: str, now: dt.datetime, *,
                    permanent: bool, rng: random.Random | None) -> bool:
    """Record a failed attempt; True when the message has failed for good."""
    message.attempts += 1
    message.last_error = error[:1000]
    message.send_started_at = None
    if permanent or message.attempts >= MAX_ATTEMPTS:
        message.status = MessageStatus.FAILED
        return True
    message.status = MessageStatus.PENDING
    retry_at = now + retry_delay(message.attempts, rng=rng)
    if message.channel is ChannelKind.SMS:
        retry_at = next_allowed_sms_time(retry_at)
    message.next_attempt_at = retry_at
    return False


def recover_stale(*, now: dt.datetime, channels: dict[ChannelKind, Channel],
                  summary: DispatchSummary | None = None) -> int:
    """Resolve rows left in `sending` by a dispatcher that stopped (docs/messaging.md).

    Never reached a channel → pending again. Reached one that can be asked (Notify) → sent if
    it has the reference, else pending again. Reached one that cannot (SMTP, log) → failed,
    with an error saying the outcome is unknown, for a manager to decide.
    """
    cutoff = now - STALE_AFTER
    # Re-stamping claimed_at is the claim: a second dispatcher's identical UPDATE finds the
    # rows no longer stale (PostgreSQL re-checks the WHERE after waiting for the row lock).
    ids = sorted(db.session.scalars(
        update(OutboxMessage)
        .where(OutboxMessage.status == MessageStatus.SENDING, OutboxMessage.claimed_at < cutoff)
        .values(claimed_at=now)
        .returning(OutboxMessage.id)
        .execution_options(synchronize_session=False)
    ).all())
    db.session.commit()
    for message_id in ids:
        _resolve_left_sending(message_id, now=now, channels=channels, summary=summary)
    return len(ids)


@dataclass(frozen=True)
class LeftSending:
    """A row found in `sending` when a scheduler takes over: its id and when its send began."""

    id: int
    send_started_at: dt.datetime | None


def split_after_takeover(rows: list[LeftSending]) -> tuple[list[int], list[int]]:
    """(ids to return to the queue, ids whose delivery is in doubt) for rows left `sending`.

    A dispatcher sends one message at a time and records "about to hand to the provider"
    (send_started_at, committed) just before the channel is called, clearing it in the same
    commit as the outcome. So a row claimed but with no send_started_at never reached a
    provider and goes back to the queue at once; a row with it set is the one that was in
    flight when the dispatcher died and may have arrived. With one dispatcher there is at most
    one such row; should there be more (a dispatcher run by hand that died as well), each of
    them is in doubt, so none is ever sent twice.
    """
    requeue = sorted(row.id for row in rows if row.send_started_at is None)
    in_doubt = sorted(row.id for row in rows if row.send_started_at is not None)
    return requeue, in_doubt


def recover_after_takeover(*, now: dt.datetime, channels: dict[ChannelKind, Channel]) -> int:
    """Resolve every row in `sending` at once, without waiting STALE_AFTER.

    Only a scheduler that has just taken the single-scheduler lock may call this: it is then
    the only dispatcher (`scheduler run-once dispatch` takes the same lock), so every `sending`
    row belongs to one that died. Returns how many rows it resolved.
    """
    rows = [LeftSending(id=row.id, send_started_at=row.send_started_at)
            for row in db.session.execute(
                select(OutboxMessage.id, OutboxMessage.send_started_at)
                .where(OutboxMessage.status == MessageStatus.SENDING))]
    requeue, in_doubt = split_after_takeover(rows)
    if requeue:
        db.session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(requeue), OutboxMessage.status == MessageStatus.SENDING,
                   OutboxMessage.send_started_at.is_(None))
            .values(status=MessageStatus.PENDING, next_attempt_at=now, claimed_at=None)
            .execution_options(synchronize_session=False))
        log.warning("took over: %d claimed but unsent message(s) returned to the queue",
                    len(requeue))
    db.session.commit()
    for message_id in in_doubt:
        _resolve_left_sending(message_id, now=now, channels=channels, summary=None)
    return len(requeue) + len(in_doubt)


def _resolve_left_sending(message_id: int, *, now: dt.datetime,
                          channels: dict[ChannelKind, Channel],
                          summary: DispatchSummary | None) -> None:
    message = db.session.get(OutboxMessage, message_id)
    if message is None or message.status is not MessageStatus.SENDING:
        db.session.commit()
        return
    channel = channels[message.channel]
    if message.send_started_at is None:
        message.status = MessageStatus.PENDING
        message.next_attempt_at = now
    elif isinstance(channel, SupportsLookup):
        try:
            provider_id = channel.find_by_reference(str(message.id))
        except TemporaryFailure:
            db.session.rollback()
            return  # still `sending`; stale again after STALE_AFTER, asked again then
        except PermanentFailure as exc:
            _record_failure(message, str(exc), now, permanent=True, rng=None)
        else:
            if provider_id is not None:
                _record_sent(message, provider_id, now)
            else:
                _record_failure(message, "the dispatcher stopped while sending; the "
                                "provider has no record of it, so it is sent again",
                                now, permanent=False, rng=None)
                message.next_attempt_at = now
    else:
        message.status = MessageStatus.FAILED
        message.attempts += 1
        message.last_error = UNKNOWN_OUTCOME
        message.send_started_at = None
    log.warning("message %s was left sending; now %s", message.id, message.status.value)
    if summary is not None:
        summary.recovered += 1
    db.session.commit()
