"""The dispatcher sending 2,000 emails to a local SMTP server (aiosmtpd in its own process on
loopback, SQLite), against raw smtplib sending the same MIME messages down one connection.

Three ways, in interleaved rounds (medians): `raw` (smtplib, one connection, messages built
beforehand), `per message` (the dispatcher as it was: a connection for each message) and
`dispatcher` (`dispatch_due` as it is: one connection held for the run). Each dispatcher round
records every result as it goes (one commit a message: its start, with the previous result).
Run with `make bench` (the table's row: dispatcher against raw, goal >= 0.5x, on SQLite or on
DATABASE_URL's PostgreSQL) or `python -m bench.bench_dispatch [MESSAGES] [ROUNDS]`.
"""

from __future__ import annotations

import datetime as dt
import smtplib
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .common import Context, Row, scratch_database

MESSAGES = 2_000
ROUNDS = 3
NOW = dt.datetime(2026, 6, 15, 9, 0, tzinfo=dt.UTC)
GOAL = 0.5


@contextmanager
def _smtp_server(port: int) -> Iterator[None]:
    """aiosmtpd accepting and dropping every message, in a process of its own (in this one it
    would share the interpreter lock with the client and slow every reply)."""
    server = subprocess.Popen(  # noqa: S603 (our own interpreter and arguments)
        [sys.executable, "-m", "aiosmtpd", "-n", "-c", "aiosmtpd.handlers.Sink",
         "-l", f"127.0.0.1:{port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                time.sleep(0.1)
        yield
    finally:
        server.terminate()
        server.wait(timeout=10)


class _OneConnectionEach:
    """The SMTP channel without `connection()`: what the dispatcher did before it held one."""

    def __init__(self, channel: Any) -> None:
        self.name = channel.name
        self.attaches_files = channel.attaches_files
        self._channel = channel

    def send(self, **kwargs: Any) -> Any:
        return self._channel.send(**kwargs)


def rows(ctx: Context) -> list[Row]:
    timings = measure(MESSAGES, ROUNDS)
    raw, dispatcher = (statistics.median(timings[k]) for k in ("raw", "dispatcher"))
    ratio = raw / dispatcher
    return [Row(f"dispatcher: {MESSAGES:,} emails to local SMTP", f">= {GOAL}x raw smtplib",
                MESSAGES / dispatcher, "emails/s", baseline=MESSAGES / raw, ratio=ratio,
                met=ratio >= GOAL, note="raw: smtplib, one connection, messages built before")]


def main(messages: int = MESSAGES, rounds: int = ROUNDS) -> None:
    timings = measure(messages, rounds)
    raw_seconds = statistics.median(timings["raw"])
    print(f"{messages:,} emails to aiosmtpd on loopback, median of {rounds} interleaved rounds "
          f"(goal: dispatcher >= {GOAL}x raw)")
    for label, values in timings.items():
        seconds = statistics.median(values)
        print(f"{label:>12}: {seconds:6.2f} s ({messages / seconds:7,.0f} emails/s; "
              f"{raw_seconds / seconds:.2f}x raw)")


def measure(messages: int, rounds: int) -> dict[str, list[float]]:
    from flask_migrate import upgrade
    from sqlalchemy import delete

    from diversion.core.extensions import db
    from diversion.outbox.channels import Rendered, SMTPChannel
    from diversion.outbox.dispatcher import dispatch_due, render_message
    from diversion.outbox.models import Channel, OutboxMessage
    from diversion.outbox.services import enqueue_many
    from tests.conftest import PROJECT_ROOT, make_app
    from tests.outbox.servers import free_port

    port = free_port()
    timings: dict[str, list[float]] = {"raw": [], "per message": [], "dispatcher": []}
    with (_smtp_server(port), tempfile.TemporaryDirectory() as folder,
          scratch_database("dispatch") as url):
        app = make_app(url, Path(folder))
        with app.app_context():
            upgrade(directory=str(PROJECT_ROOT / "migrations"), revision="heads")
            smtp = SMTPChannel(host="127.0.0.1", port=port, mail_from="diversion@bench.example")

            def fill(label: str) -> None:
                db.session.execute(delete(OutboxMessage))
                enqueue_many([
                    {"dedupe_key": f"{label}-{n}", "channel": Channel.EMAIL,
                     "recipient": f"person{n}@example.org", "template": "test_message",
                     "due_at": NOW, "context": {"note": f"message {n}"}}
                    for n in range(messages)], now=NOW)
                db.session.commit()

            def raw() -> float:
                fill("raw")
                mails = []
                for message in db.session.scalars(db.select(OutboxMessage)):
                    rendered: Rendered = render_message(message, for_delivery=True)
                    mails.append(smtp.build(recipient=message.recipient, message=rendered,
                                            reference=str(message.id)))
                db.session.commit()
                start = time.perf_counter()
                with smtplib.SMTP("127.0.0.1", port) as server:
                    server.ehlo()
                    for mail in mails:
                        server.send_message(mail)
                return time.perf_counter() - start

            def dispatch(channel: Any) -> float:
                fill("dispatch")
                start = time.perf_counter()
                summary = dispatch_due(now=NOW, limit=messages,
                                       channels={Channel.EMAIL: channel, Channel.SMS: channel})
                took = time.perf_counter() - start
                assert summary.sent == messages, summary
                return took

            for _ in range(rounds):
                timings["raw"].append(raw())
                timings["per message"].append(dispatch(_OneConnectionEach(smtp)))
                timings["dispatcher"].append(dispatch(smtp))
            db.session.remove()
            db.engine.dispose()
    return timings


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:3]]
    main(*args)
