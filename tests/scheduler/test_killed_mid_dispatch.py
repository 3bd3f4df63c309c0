"""The scheduler process killed (SIGKILL) while it is sending over SMTP, then started again:
no message is lost and none arrives twice (docs/messaging.md, "A dispatcher that died")."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import signal
import threading
from collections import Counter
from typing import Any

from aiosmtpd.controller import Controller
from sqlalchemy import select

from diversion.core.extensions import db
from diversion.core.timeutils import now_utc
from diversion.outbox.dispatcher import (
    STALE_AFTER,
    UNKNOWN_OUTCOME,
    build_channels,
    dispatch_due,
)
from diversion.outbox.models import Channel, MessageStatus, OutboxMessage
from diversion.outbox.services import enqueue
from tests.outbox.servers import RecordingHandler, free_port
from tests.scheduler.test_scheduler_process import SchedulerProcess

MESSAGES = 6
STUCK_ON = 3  # the server holds the third message's DATA until the scheduler is killed


class HoldingHandler(RecordingHandler):
    """Records every message; keeps the client waiting on the STUCK_ON-th one."""

    def __init__(self) -> None:
        super().__init__()
        self.stuck = threading.Event()
        self.release = threading.Event()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        reply = await super().handle_DATA(server, session, envelope)
        if len(self.messages) == STUCK_ON and not self.release.is_set():
            self.stuck.set()
            while not self.release.is_set():
                await asyncio.sleep(0.05)
        return reply


def enqueue_due_emails(prefix: str, count: int = MESSAGES) -> list[int]:
    """`count` emails due a minute ago, committed; their ids in order."""
    now = now_utc()
    ids = []
    for number in range(count):
        message = enqueue(dedupe_key=f"{prefix}-{number}", channel=Channel.EMAIL,
                          recipient=f"person{number}@example.org", template="test_message",
                          due_at=now - dt.timedelta(minutes=1), now=now,
                          context={"note": f"message {number}"})
        assert message is not None
        ids.append(message.id)
    db.session.commit()
    db.session.remove()
    return ids


def smtp_environment(port: int) -> dict[str, str]:
    """A scheduler process's settings for the local SMTP server on `port`."""
    return {"DIVERSION_EMAIL_BACKEND": "smtp", "DIVERSION_SMTP_HOST": "127.0.0.1",
            "DIVERSION_SMTP_PORT": str(port), "DIVERSION_SMTP_STARTTLS": "no",
            "DIVERSION_MAIL_FROM": "noreply@diversion.example.org"}


def assert_each_sent_once_but_the_one_in_doubt(handler: RecordingHandler, ids: list[int]) -> None:
    """Every message reached the server exactly once; the one whose send was cut off is
    failed as "outcome unknown" (never resent), the others sent."""
    received = Counter(int(mail["X-Diversion-Reference"]) for mail in handler.messages)
    assert sorted(received) == sorted(ids) and max(received.values()) == 1
    rows = {m.id: m for m in db.session.scalars(select(OutboxMessage))}
    in_doubt = rows.pop(ids[STUCK_ON - 1])
    assert (in_doubt.status, in_doubt.last_error) == (MessageStatus.FAILED, UNKNOWN_OUTCOME)
    assert {row.status for row in rows.values()} == {MessageStatus.SENT}


def test_a_scheduler_killed_while_sending_loses_and_doubles_nothing(app, database_url):
    ids = enqueue_due_emails("kill")

    handler = HoldingHandler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        process = SchedulerProcess(database_url, **smtp_environment(port))
        try:
            assert handler.stuck.wait(timeout=60), "the scheduler never reached the server"
        finally:
            process.stop(signal.SIGKILL)
        handler.release.set()

        rows = {m.id: m for m in db.session.scalars(select(OutboxMessage))}
        assert [rows[i].status for i in ids[:STUCK_ON - 1]] == [MessageStatus.SENT] * 2
        assert rows[ids[STUCK_ON - 1]].status is MessageStatus.SENDING
        assert rows[ids[STUCK_ON - 1]].send_started_at is not None
        db.session.remove()

        # Started again once the rows are stale (dispatch_due is what `scheduler run` calls).
        settings = dataclasses.replace(app.config["SETTINGS"], email_backend="smtp",
                                       smtp_host="127.0.0.1", smtp_port=port,
                                       smtp_starttls=False,
                                       mail_from="noreply@diversion.example.org")
        later = now_utc() + STALE_AFTER + dt.timedelta(seconds=1)
        summary = dispatch_due(now=later, channels=build_channels(settings))
        assert summary.recovered == MESSAGES - (STUCK_ON - 1)
        dispatch_due(now=later + dt.timedelta(minutes=1), channels=build_channels(settings))
    finally:
        controller.stop()

    assert_each_sent_once_but_the_one_in_doubt(handler, ids)
