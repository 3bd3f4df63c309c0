"""The dispatcher: claims, sends once, retries, fails, expires, and recovers after a crash."""

from __future__ import annotations

import datetime as dt
import random
import threading

import pytest
from jinja2 import ChoiceLoader, DictLoader
from sqlalchemy import select, update

from diversion.core.extensions import db
from diversion.outbox.channels import LogChannel, NotifyChannel, Rendered, SMTPChannel
from diversion.outbox.dispatcher import (
    MAX_ATTEMPTS,
    STALE_AFTER,
    UNKNOWN_OUTCOME,
    claim_due,
    dispatch_due,
)
from diversion.outbox.models import Channel, MessageStatus, OutboxMessage
from diversion.outbox.rules import BACKOFF_CAP, indiscreet_words, retry_delay
from diversion.outbox.services import enqueue
from tests.builders import NOW
from tests.outbox.servers import (
    API_KEY,
    EMAIL_TEMPLATE,
    SMS_TEMPLATE,
    running_notify_stand_in,
    running_smtp_server,
)

ICS = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n"


@pytest.fixture
def smtp_server():
    with running_smtp_server() as server:
        yield server


@pytest.fixture
def notify_api():
    with running_notify_stand_in() as api:
        yield api

def queue(key: str = "m1", *, channel: Channel = Channel.EMAIL, recipient: str = "sam@example.org",
          template: str = "test_message", due_at: dt.datetime = NOW, **extra) -> OutboxMessage:
    message = enqueue(dedupe_key=key, channel=channel, recipient=recipient, template=template,
                      due_at=due_at, now=NOW - dt.timedelta(days=1), **extra)
    assert message is not None
    db.session.commit()
    return message


def reload(message_id: int) -> OutboxMessage:
    db.session.expire_all()
    message = db.session.get(OutboxMessage, message_id)
    assert message is not None
    return message


def logs() -> tuple[LogChannel, dict[Channel, LogChannel]]:
    channel = LogChannel()
    return channel, {Channel.EMAIL: channel, Channel.SMS: channel}


def smtp_channels(port: int) -> dict:
    return {Channel.EMAIL: SMTPChannel(host="127.0.0.1", port=port, timeout=2,
                                       mail_from="noreply@diversion.example"),
            Channel.SMS: LogChannel()}


def notify_channels(api) -> dict:
    return {Channel.EMAIL: NotifyChannel(kind="email", api_key=API_KEY, base_url=api.base_url,
                                         template_id=EMAIL_TEMPLATE, timeout=2),
            Channel.SMS: NotifyChannel(kind="sms", api_key=API_KEY, base_url=api.base_url,
                                       template_id=SMS_TEMPLATE, timeout=2)}


def test_a_due_email_arrives_once_with_text_html_and_invite_over_smtp(app, smtp_server):
    port, server = smtp_server
    message = queue(context={"note": "course on Monday", "ics": ICS})

    first = dispatch_due(now=NOW, channels=smtp_channels(port))
    second = dispatch_due(now=NOW + dt.timedelta(minutes=1), channels=smtp_channels(port))

    assert (first.sent, second.claimed) == (1, 0)
    [received] = server.messages
    assert received["X-Diversion-Reference"] == str(message.id)
    assert received["Subject"] == "A test message from Diversion"
    assert indiscreet_words(received["Subject"]) == []
    assert "course on Monday" in received.get_body(("plain",)).get_content()
    assert "course on Monday" in received.get_body(("html",)).get_content()
    assert [a.get_filename() for a in received.iter_attachments()] == ["invite.ics"]
    sent = reload(message.id)
    assert (sent.status, sent.attempts, sent.sent_at) == (MessageStatus.SENT, 1, NOW)
    assert sent.provider_reference == f"<diversion-{message.id}@diversion.example>"


def test_a_message_not_yet_due_stays_pending(app):
    log_channel, channels = logs()
    message = queue(due_at=NOW + dt.timedelta(minutes=5))
    assert dispatch_due(now=NOW, channels=channels).claimed == 0
    assert reload(message.id).status is MessageStatus.PENDING
    assert log_channel.sent == []


def test_retry_delays_grow_exponentially_with_jitter_and_stop_at_the_cap():
    rng = random.Random(7)
    for attempts in range(1, 15):
        step = min(dt.timedelta(minutes=2 ** (attempts - 1)), BACKOFF_CAP)
        delays = {retry_delay(attempts, rng=rng) for _ in range(20)}
        assert all(step / 2 <= delay <= step for delay in delays)
        assert len(delays) > 1, "jitter spreads the retries"
    assert retry_delay(30, rng=rng) <= BACKOFF_CAP


def test_a_notify_500_is_retried_after_the_backoff_and_then_delivered_once(app, notify_api):
    notify_api.script = [500]
    message = queue()
    first = dispatch_due(now=NOW, channels=notify_channels(notify_api), rng=random.Random(1))
    waiting = reload(message.id)
    assert first.retrying == 1
    assert waiting.status is MessageStatus.PENDING
    assert waiting.attempts == 1 and "500" in (waiting.last_error or "")
    assert NOW + dt.timedelta(seconds=30) <= waiting.next_attempt_at <= NOW + dt.timedelta(minutes=1)

    too_soon = dispatch_due(now=NOW + dt.timedelta(seconds=29), channels=notify_channels(notify_api))
    later = dispatch_due(now=waiting.next_attempt_at, channels=notify_channels(notify_api))

    assert too_soon.claimed == 0
    assert later.sent == 1
    [notification] = notify_api.notifications
    sent = reload(message.id)
    assert (sent.status, sent.attempts) == (MessageStatus.SENT, 2)
    assert sent.provider_reference == notification["id"]
    assert notification["reference"] == str(message.id)


def test_a_notify_429_keeps_retrying_until_the_attempts_run_out(app, notify_api):
    notify_api.script = [429] * MAX_ATTEMPTS
    message = queue()
    now = NOW
    for _ in range(MAX_ATTEMPTS):
        dispatch_due(now=now, channels=notify_channels(notify_api))
        now = reload(message.id).next_attempt_at + dt.timedelta(seconds=1)
    failed = reload(message.id)
    assert (failed.status, failed.attempts) == (MessageStatus.FAILED, MAX_ATTEMPTS)
    assert "429" in (failed.last_error or "")
    assert notify_api.notifications == []


def test_a_reply_lost_after_notify_accepted_is_found_by_reference_not_sent_twice(app, notify_api):
    notify_api.script = ["accept-then-500"]
    message = queue()
    dispatch_due(now=NOW, channels=notify_channels(notify_api))
    assert reload(message.id).status is MessageStatus.PENDING

    dispatch_due(now=NOW + dt.timedelta(hours=1), channels=notify_channels(notify_api))

    [notification] = notify_api.notifications
    sent = reload(message.id)
    assert sent.status is MessageStatus.SENT
    assert sent.provider_reference == notification["id"]


def test_a_bad_address_fails_at_once_without_retry(app, smtp_server):
    port, server = smtp_server
    message = queue(recipient="nobody@invalid.example")
    summary = dispatch_due(now=NOW, channels=smtp_channels(port))
    failed = reload(message.id)
    assert summary.failed == 1
    assert (failed.status, failed.attempts) == (MessageStatus.FAILED, 1)
    assert "550" in (failed.last_error or "")
    assert server.messages == []


def test_one_run_sends_its_emails_down_one_smtp_connection_each_recorded_as_it_goes(app,
                                                                                    smtp_server):
    port, server = smtp_server
    messages = [queue(f"m{n}", recipient=f"p{n}@example.org") for n in range(25)]  # two claims
    summary = dispatch_due(now=NOW, channels=smtp_channels(port))
    assert summary.sent == 25
    assert len(server.messages) == 25
    assert len(set(server.peers)) == 1
    assert {reload(m.id).status for m in messages} == {MessageStatus.SENT}


def test_after_a_refusal_the_next_email_goes_on_a_new_connection_and_arrives(app, smtp_server):
    port, server = smtp_server
    first = queue("m1", recipient="a@example.org")
    refused = queue("m2", recipient="someone@busy.example")
    last = queue("m3", recipient="c@example.org")
    summary = dispatch_due(now=NOW, channels=smtp_channels(port))
    assert (summary.sent, summary.retrying) == (2, 1)
    assert [to for _, [to] in server.envelopes] == ["a@example.org", "c@example.org"]
    assert len(set(server.peers)) == 2
    assert reload(refused.id).status is MessageStatus.PENDING
    assert {reload(first.id).status, reload(last.id).status} == {MessageStatus.SENT}


def test_a_held_smtp_connection_the_server_dropped_is_replaced_before_sending(app, smtp_server,
                                                                              monkeypatch):
    port, server = smtp_server
    channel = SMTPChannel(host="127.0.0.1", port=port, timeout=2, mail_from="noreply@d.example")
    message = Rendered(subject="s", text="t")
    with channel.connection():
        channel.send(recipient="a@example.org", message=message, reference="1")
        assert channel._server is not None
        channel._server.sock.close()  # as a server closing an idle connection would
        monkeypatch.setattr(SMTPChannel, "IDLE_CHECK_SECONDS", 0.0)
        channel.send(recipient="b@example.org", message=message, reference="2")
    assert [to for _, [to] in server.envelopes] == ["a@example.org", "b@example.org"]
    assert channel._server is None  # closed when the run ends


def test_a_reminder_whose_event_has_started_expires_instead_of_sending(app):
    log_channel, channels = logs()
    message = queue(expires_at=NOW - dt.timedelta(minutes=1))
    summary = dispatch_due(now=NOW, channels=channels)
    assert summary.expired == 1
    assert reload(message.id).status is MessageStatus.EXPIRED
    assert log_channel.sent == []


def test_a_template_whose_subject_names_the_offence_is_failed_not_sent(app):
    original = app.jinja_env.loader
    app.jinja_env.loader = ChoiceLoader([DictLoader({
        "messages/indiscreet_test.subject.txt": "Your kerb crawling course",
        "messages/indiscreet_test.txt": "Hello",
    }), original])  # type: ignore[list-item]
    try:
        log_channel, channels = logs()
        message = queue(template="indiscreet_test")
        dispatch_due(now=NOW, channels=channels)
    finally:
        app.jinja_env.loader = original
    failed = reload(message.id)
    assert failed.status is MessageStatus.FAILED
    assert "kerb" in (failed.last_error or "")
    assert log_channel.sent == []


def test_an_sms_due_in_the_evening_waits_for_8am_london_time(app):
    evening = dt.datetime(2026, 6, 15, 19, 30, tzinfo=dt.UTC)  # 20:30 BST
    message = queue(channel=Channel.SMS, recipient="07700900123", due_at=evening)
    assert reload(message.id).due_at == dt.datetime(2026, 6, 16, 7, 0, tzinfo=dt.UTC)


def test_an_sms_claimed_late_in_the_evening_is_held_until_the_morning(app):
    log_channel, channels = logs()
    message = queue(channel=Channel.SMS, recipient="07700900123")  # due 10:00 BST
    late = dt.datetime(2026, 6, 15, 21, 15, tzinfo=dt.UTC)  # a backlog cleared at 22:15 BST
    summary = dispatch_due(now=late, channels=channels)
    held = reload(message.id)
    assert summary.deferred == 1
    assert (held.status, held.attempts) == (MessageStatus.PENDING, 0)
    assert held.next_attempt_at == dt.datetime(2026, 6, 16, 7, 0, tzinfo=dt.UTC)
    assert log_channel.sent == []


def crash_while_sending(*message_ids: int, reached_channel: bool) -> None:
    """What a dispatcher killed mid-run leaves behind: claimed rows in `sending`."""
    claim_due(now=NOW, limit=100)
    if reached_channel:
        db.session.execute(update(OutboxMessage).where(OutboxMessage.id.in_(message_ids))
                           .values(send_started_at=NOW))
        db.session.commit()


AFTER_RESTART = NOW + STALE_AFTER + dt.timedelta(seconds=1)


def test_rows_claimed_but_never_sent_by_a_killed_dispatcher_are_sent_after_restart(app):
    log_channel, channels = logs()
    messages = [queue(f"m{n}") for n in range(3)]
    crash_while_sending(reached_channel=False)
    assert dispatch_due(now=NOW + dt.timedelta(minutes=1), channels=channels).claimed == 0

    summary = dispatch_due(now=AFTER_RESTART, channels=channels)

    assert summary.recovered == 3
    assert sorted(ref for _, _, ref in log_channel.sent) == sorted(str(m.id) for m in messages)


def test_an_smtp_send_interrupted_midway_is_failed_for_review_not_sent_again(app, smtp_server):
    port, server = smtp_server
    message = queue()
    crash_while_sending(message.id, reached_channel=True)
    dispatch_due(now=AFTER_RESTART, channels=smtp_channels(port))
    held = reload(message.id)
    assert held.status is MessageStatus.FAILED
    assert held.last_error == UNKNOWN_OUTCOME
    assert server.messages == []


def test_a_notify_send_interrupted_after_acceptance_is_marked_sent_from_the_lookup(app, notify_api):
    message = queue()
    crash_while_sending(message.id, reached_channel=True)
    channels = notify_channels(notify_api)
    channels[Channel.EMAIL].send(recipient="sam@example.org",  # it got there before the crash
                                 message=Rendered(subject="s", text="t"), reference=str(message.id))
    dispatch_due(now=AFTER_RESTART, channels=channels)
    [notification] = notify_api.notifications
    sent = reload(message.id)
    assert sent.status is MessageStatus.SENT
    assert sent.provider_reference == notification["id"]


def test_a_notify_send_interrupted_before_acceptance_is_sent_once_after_restart(app, notify_api):
    message = queue()
    crash_while_sending(message.id, reached_channel=True)
    dispatch_due(now=AFTER_RESTART, channels=notify_channels(notify_api))
    [notification] = notify_api.notifications
    assert notification["reference"] == str(message.id)
    assert reload(message.id).status is MessageStatus.SENT


def test_two_dispatchers_running_at_once_send_each_of_200_messages_exactly_once(app):
    for n in range(200):
        enqueue(dedupe_key=f"bulk-{n}", channel=Channel.EMAIL, recipient=f"p{n}@example.org",
                template="test_message", due_at=NOW, now=NOW)
    db.session.commit()
    ids = sorted(db.session.scalars(select(OutboxMessage.id)))
    db.session.remove()
    sent: list[str] = []
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def run_dispatcher() -> None:
        channel = LogChannel()
        try:
            with app.app_context():
                start.wait()
                while dispatch_due(now=NOW, limit=10,
                                   channels={Channel.EMAIL: channel, Channel.SMS: channel}).claimed:
                    pass
                db.session.remove()
        except BaseException as exc:  # reported below
            errors.append(exc)
        sent.extend(ref for _, _, ref in channel.sent)

    threads = [threading.Thread(target=run_dispatcher) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert errors == []
    assert sorted(int(ref) for ref in sent) == ids
    statuses = set(db.session.scalars(select(OutboxMessage.status)))
    assert statuses == {MessageStatus.SENT}


@pytest.mark.parametrize("status", [MessageStatus.CANCELLED, MessageStatus.SENT, MessageStatus.FAILED])
def test_messages_not_pending_are_never_claimed(app, status):
    message = queue()
    db.session.execute(update(OutboxMessage).values(status=status))
    db.session.commit()
    _, channels = logs()
    assert dispatch_due(now=NOW, channels=channels).claimed == 0
    assert reload(message.id).status is status


class WatchingChannel(LogChannel):
    """Reads, through a connection of its own (so only what is committed), every claimed row as
    each message is handed to it; `stop_at` raises SystemExit instead of sending that one (a
    dispatcher killed mid-send), `resolve_elsewhere` marks that row failed from outside first."""

    def __init__(self, *, stop_at: str | None = None,
                 resolve_elsewhere: int | None = None) -> None:
        super().__init__()
        self.seen: list[tuple[str, dict[int, tuple[str, dt.datetime | None]]]] = []
        self.stop_at = stop_at
        self.resolve_elsewhere = resolve_elsewhere

    def committed(self) -> dict[int, tuple[str, dt.datetime | None]]:
        with db.engine.connect() as connection:
            rows = connection.execute(select(OutboxMessage.id, OutboxMessage.status,
                                             OutboxMessage.send_started_at)).all()
            connection.rollback()
        return {row.id: (str(row.status), row.send_started_at) for row in rows}

    def send(self, *, recipient: str, message: Rendered, reference: str):
        if self.resolve_elsewhere is not None:
            with db.engine.connect() as connection:
                connection.execute(update(OutboxMessage)
                                   .where(OutboxMessage.id == self.resolve_elsewhere)
                                   .values(status=MessageStatus.FAILED))
                connection.commit()
            self.resolve_elsewhere = None
        self.seen.append((reference, self.committed()))
        if reference == self.stop_at:
            raise SystemExit("killed mid-send")
        return super().send(recipient=recipient, message=message, reference=reference)


def test_each_send_starts_after_its_send_started_at_and_the_previous_result_are_committed(app):
    ids = [queue(f"m{n}").id for n in range(5)]
    channel = WatchingChannel()

    summary = dispatch_due(now=NOW, channels={Channel.EMAIL: channel, Channel.SMS: channel})

    assert summary.sent == 5
    assert [reference for reference, _ in channel.seen] == [str(i) for i in ids]
    for position, (reference, committed) in enumerate(channel.seen):
        assert committed[int(reference)] == ("sending", NOW)
        for earlier in ids[:position]:
            assert committed[earlier] == ("sent", None)
        for later in ids[position + 1:]:
            assert committed[later] == ("sending", None)
    assert channel.committed() == {i: ("sent", None) for i in ids}


def test_a_dispatcher_killed_mid_send_leaves_only_that_message_in_doubt(app):
    ids = [queue(f"m{n}").id for n in range(4)]
    channel = WatchingChannel(stop_at=str(ids[1]))

    with pytest.raises(SystemExit):
        dispatch_due(now=NOW, channels={Channel.EMAIL: channel, Channel.SMS: channel})

    assert channel.committed() == {ids[0]: ("sent", None), ids[1]: ("sending", NOW),
                                   ids[2]: ("sending", None), ids[3]: ("sending", None)}
    restarted, channels = logs()
    summary = dispatch_due(now=AFTER_RESTART, channels=channels)
    assert summary.recovered == 3
    assert sorted(reference for _, _, reference in restarted.sent) == [str(ids[2]), str(ids[3])]
    assert reload(ids[1]).last_error == UNKNOWN_OUTCOME


def test_a_claimed_row_resolved_elsewhere_before_its_send_is_not_sent(app):
    ids = [queue(f"m{n}").id for n in range(3)]
    channel = WatchingChannel(resolve_elsewhere=ids[1])

    summary = dispatch_due(now=NOW, channels={Channel.EMAIL: channel, Channel.SMS: channel})

    assert [reference for reference, _ in channel.seen] == [str(ids[0]), str(ids[2])]
    assert summary.sent == 2
    assert channel.committed()[ids[1]] == ("failed", None)
