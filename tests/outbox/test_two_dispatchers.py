"""Scaling out (docs/deployment.md): two app processes on other machines share one PostgreSQL
and both dispatch the outbox at once. FOR UPDATE SKIP LOCKED in `claim_due` hands each row to
one of them: every message reaches the SMTP server exactly once."""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from diversion.core.extensions import db
from diversion.core.timeutils import now_utc
from diversion.outbox.dispatcher import claim_due
from diversion.outbox.models import Channel, MessageStatus, OutboxMessage
from diversion.outbox.services import enqueue_many
from tests.outbox.servers import RecordingHandler, running_smtp_server

PROJECT_ROOT = Path(__file__).resolve().parents[2]
MESSAGES = 200

# One app process on its own: waits for the starting gun, then dispatches until nothing is due,
# and prints how many messages it sent. It calls the dispatcher itself, as a second scheduler
# on another machine would if the lock did not keep it standing by.
WORKER = """
import os, sys, time
from diversion import create_app
from diversion.core.timeutils import now_utc
from diversion.outbox.dispatcher import dispatch_due

app = create_app()
with app.app_context():
    open(sys.argv[2], "w").close()
    while not os.path.exists(sys.argv[1]):
        time.sleep(0.01)
    sent = 0
    while True:
        summary = dispatch_due(now=now_utc(), limit=40)
        sent += summary.sent
        if summary.claimed == 0:
            break
    print(sent)
"""


def _enqueue(count: int, now: dt.datetime) -> None:
    enqueue_many([{"dedupe_key": f"two-{n}", "channel": Channel.EMAIL,
                   "recipient": f"person{n}@example.org", "template": "test_message",
                   "due_at": now - dt.timedelta(minutes=1), "context": {"note": f"message {n}"}}
                  for n in range(count)], now=now)
    db.session.commit()


def test_a_claim_takes_no_more_than_its_limit(app):
    now = now_utc()
    _enqueue(50, now)
    first = claim_due(now=now, limit=20)
    second = claim_due(now=now, limit=20)
    assert len(first) == len(second) == 20 and not set(first) & set(second)
    assert len(claim_due(now=now, limit=20)) == 10
    statuses = Counter(db.session.scalars(select(OutboxMessage.status)))
    assert statuses == {MessageStatus.SENDING: 50}


class SlowHandler(RecordingHandler):
    """Takes 10 ms over each message, as a real relay does, so that the two runs overlap."""

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        await asyncio.sleep(0.01)
        return await super().handle_DATA(server, session, envelope)


def test_two_app_processes_dispatch_one_outbox_without_a_duplicate(app, database_url, tmp_path):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("several machines share one PostgreSQL; SQLite serialises every claim")
    now = now_utc()
    _enqueue(MESSAGES, now)
    ids = set(db.session.scalars(select(OutboxMessage.id)))
    assert len(ids) == MESSAGES
    db.session.remove()

    go, ready = tmp_path / "go", [tmp_path / "ready-1", tmp_path / "ready-2"]
    with running_smtp_server(SlowHandler()) as (port, handler):
        env = {key: value for key, value in os.environ.items() if not key.startswith("DIVERSION_")}
        env.update(DATABASE_URL=database_url, DIVERSION_EMAIL_BACKEND="smtp",
                   DIVERSION_SMTP_HOST="127.0.0.1", DIVERSION_SMTP_PORT=str(port),
                   DIVERSION_SMTP_STARTTLS="no", DIVERSION_MAIL_FROM="noreply@diversion.example.org",
                   DIVERSION_SMS_BACKEND="log", PYTHONPATH=str(PROJECT_ROOT))
        workers = [subprocess.Popen(  # noqa: S603 (our own interpreter and program)
            [sys.executable, "-c", WORKER, str(go), str(flag)], cwd=PROJECT_ROOT, env=env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for flag in ready]
        deadline = time.monotonic() + 60
        while not all(flag.exists() for flag in ready) and time.monotonic() < deadline:
            time.sleep(0.05)
        go.touch()  # both apps are up: they start together
        results = [worker.communicate(timeout=120) for worker in workers]
        for worker, (_, error) in zip(workers, results, strict=True):
            assert worker.returncode == 0, error
        sent = [int(out.strip().splitlines()[-1]) for out, _ in results]
        messages = list(handler.messages)

    received = Counter(mail["Message-ID"] for mail in messages)
    assert len(received) == MESSAGES and max(received.values()) == 1
    assert {int(mail["X-Diversion-Reference"]) for mail in messages} == ids
    assert sum(sent) == MESSAGES
    assert min(sent) > 0, f"one process sent everything: {sent}"
    statuses = Counter(db.session.scalars(select(OutboxMessage.status)))
    assert statuses == {MessageStatus.SENT: MESSAGES}
