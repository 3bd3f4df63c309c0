"""A second scheduler waits as a standby and takes over when the active one dies: it returns
the dead one's claimed rows to the queue at once and marks only the message that was in flight
"delivery unknown" (docs/messaging.md, "Two schedulers: failover")."""

from __future__ import annotations

import datetime as dt
import signal
import time

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select, text

from diversion.core.extensions import db
from diversion.outbox.dispatcher import (
    UNKNOWN_OUTCOME,
    LeftSending,
    build_channels,
    recover_after_takeover,
    split_after_takeover,
)
from diversion.outbox.models import Channel, MessageStatus, OutboxMessage
from diversion.outbox.services import enqueue
from diversion.scheduler.lock import LockLost, SchedulerLock
from tests.outbox.servers import free_port
from tests.scheduler.test_killed_mid_dispatch import (
    STUCK_ON,
    HoldingHandler,
    assert_each_sent_once_but_the_one_in_doubt,
    enqueue_due_emails,
    smtp_environment,
)
from tests.scheduler.test_scheduler_process import SchedulerProcess

NOW = dt.datetime(2026, 6, 15, 9, 0, tzinfo=dt.UTC)


def test_claimed_rows_never_handed_to_a_provider_go_back_to_the_queue():
    rows = [LeftSending(3, None), LeftSending(1, None), LeftSending(2, NOW)]
    assert split_after_takeover(rows) == ([1, 3], [2])


def test_only_a_row_whose_send_began_is_in_doubt():
    assert split_after_takeover([LeftSending(7, NOW)]) == ([], [7])
    assert split_after_takeover([LeftSending(7, None)]) == ([7], [])
    assert split_after_takeover([]) == ([], [])


def test_rows_from_two_dead_dispatchers_are_each_in_doubt_never_resent():
    rows = [LeftSending(1, NOW - dt.timedelta(hours=1)), LeftSending(2, NOW), LeftSending(3, None)]
    assert split_after_takeover(rows) == ([3], [1, 2])


def test_a_standby_gets_the_lock_once_the_holder_lets_go(app):
    holder = SchedulerLock(db.engine, app.instance_path)
    standby = SchedulerLock(db.engine, app.instance_path)
    try:
        assert holder.try_acquire()
        assert not standby.try_acquire()
        assert not standby.try_acquire(), "trying again while it is held still fails"
        holder.release()
        assert standby.try_acquire()
        assert not holder.try_acquire()
    finally:
        holder.release()
        standby.release()


def test_an_active_scheduler_notices_when_its_database_session_ends(app):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("only a PostgreSQL advisory lock lives in a database session")
    holder = SchedulerLock(db.engine, app.instance_path)
    try:
        assert holder.try_acquire()
        holder.check()  # still held: nothing raised
        pid = holder._connection.execute(text("SELECT pg_backend_pid()")).scalar()
        holder._connection.commit()
        db.session.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        db.session.commit()
        with pytest.raises(LockLost):
            holder.check()
        assert not holder.held
        standby = SchedulerLock(db.engine, app.instance_path)
        try:
            assert standby.try_acquire(), "the lock went with the session"
        finally:
            standby.release()
    finally:
        holder.release()


def _message(key: str, *, status: MessageStatus, send_started_at: dt.datetime | None = None,
             claimed_at: dt.datetime | None = None) -> int:
    message = enqueue(dedupe_key=key, channel=Channel.EMAIL, recipient=f"{key}@example.org",
                      template="test_message", due_at=NOW - dt.timedelta(minutes=5),
                      now=NOW - dt.timedelta(minutes=5))
    assert message is not None
    message.status = status
    message.claimed_at = claimed_at
    message.send_started_at = send_started_at
    db.session.commit()
    return message.id


def test_taking_over_resolves_every_sending_row_at_once(app):
    claimed = NOW - dt.timedelta(seconds=20)  # far from stale: STALE_AFTER would wait 15 min
    unsent = [_message(f"unsent-{n}", status=MessageStatus.SENDING, claimed_at=claimed)
              for n in range(2)]
    in_flight = _message("in-flight", status=MessageStatus.SENDING, claimed_at=claimed,
                         send_started_at=NOW - dt.timedelta(seconds=5))
    waiting = _message("waiting", status=MessageStatus.PENDING)
    sent = _message("sent", status=MessageStatus.SENT)

    resolved = recover_after_takeover(now=NOW, channels=build_channels(app.config["SETTINGS"]))

    assert resolved == 3
    rows = {m.id: m for m in db.session.scalars(select(OutboxMessage))}
    for message_id in unsent:
        row = rows[message_id]
        assert (row.status, row.next_attempt_at, row.attempts, row.last_error) == (
            MessageStatus.PENDING, NOW, 0, None)
    doubt = rows[in_flight]
    assert (doubt.status, doubt.last_error, doubt.attempts, doubt.send_started_at) == (
        MessageStatus.FAILED, UNKNOWN_OUTCOME, 1, None)
    assert doubt.last_error.startswith("delivery unknown")
    assert rows[waiting].status is MessageStatus.PENDING
    assert rows[waiting].next_attempt_at == NOW - dt.timedelta(minutes=5)
    assert rows[sent].status is MessageStatus.SENT


def test_run_once_dispatch_refuses_while_a_scheduler_is_active(app, database_url):
    db.session.remove()
    process = SchedulerProcess(database_url)
    try:
        process.wait_for("scheduler started")
        result = app.test_cli_runner().invoke(args=["scheduler", "run-once", "dispatch"])
        assert result.exit_code == 1
        assert "not run: a scheduler is active" in result.output
        result = app.test_cli_runner().invoke(args=["scheduler", "run-once", "housekeeping"])
        assert result.exit_code == 0, "jobs other than dispatch still run by hand"
    finally:
        process.stop(signal.SIGKILL)
    # PostgreSQL ends the killed process's session (and its advisory lock) once its backend
    # sees the connection close: a moment later, longer on a busy machine.
    deadline = time.monotonic() + 15
    result = app.test_cli_runner().invoke(args=["scheduler", "run-once", "dispatch"])
    while result.exit_code != 0 and time.monotonic() < deadline:
        assert "not run: a scheduler is active" in result.output, result.output
        time.sleep(0.2)
        result = app.test_cli_runner().invoke(args=["scheduler", "run-once", "dispatch"])
    assert result.exit_code == 0, result.output


def test_the_standby_takes_over_when_the_active_scheduler_is_killed_mid_send(app, database_url):
    ids = enqueue_due_emails("failover")

    handler = HoldingHandler()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    settings = {**smtp_environment(port), "DIVERSION_SCHEDULER_STANDBY_POLL_SECONDS": "1"}
    active = SchedulerProcess(database_url, **settings)
    standby = None
    try:
        active.wait_for("active: no other scheduler holds the lock")
        standby = SchedulerProcess(database_url, **settings)
        standby.wait_for("standby: another scheduler is active")
        assert handler.stuck.wait(timeout=60), "the active scheduler never reached the server"
        assert standby.process.poll() is None
        active.stop(signal.SIGKILL)  # mid-send: the server holds the third message's DATA
        killed_at = time.monotonic()
        handler.release.set()

        standby.wait_for("active: took over", timeout=30)
        assert time.monotonic() - killed_at < 30
        standby.wait_for(f"recovered {len(ids) - (STUCK_ON - 1)} message(s) left sending")
        standby.wait_for("job dispatch: DispatchSummary(claimed=3, sent=3,")
    finally:
        active.stop(signal.SIGKILL)
        if standby is not None:
            assert standby.stop(signal.SIGTERM) == 0
        controller.stop()

    assert_each_sent_once_but_the_one_in_doubt(handler, ids)
