"""The scheduler runs in one dedicated process: never in web workers, never twice."""

from __future__ import annotations

import datetime as dt
import os
import queue
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from diversion.core.extensions import db
from diversion.core.jobs import jobs_of
from diversion.core.timeutils import now_utc
from diversion.outbox.models import Channel, MessageStatus, OutboxMessage
from diversion.outbox.services import enqueue
from diversion.scheduler.lock import AlreadyRunning, scheduler_lock
from diversion.scheduler.runner import JOB_DEFAULTS, build_scheduler
from tests.conftest import make_app

PROJECT_ROOT = Path(__file__).resolve().parents[2]
FLASK = PROJECT_ROOT / ".venv" / "bin" / "flask"


def test_creating_the_app_starts_no_threads_and_no_scheduler(database_url, tmp_path):
    before = {thread.ident for thread in threading.enumerate()}
    make_app(database_url, tmp_path)
    after = {thread.ident for thread in threading.enumerate()}
    assert after == before


def test_every_job_runs_coalesced_one_at_a_time_on_a_utc_interval(app):
    scheduler = build_scheduler(app)
    jobs = {job.id: job for job in scheduler.get_jobs()}
    assert set(jobs) == set(jobs_of(app)) >= {"dispatch", "housekeeping"}
    assert JOB_DEFAULTS["coalesce"] is True and JOB_DEFAULTS["max_instances"] == 1
    assert jobs["dispatch"].trigger.interval == dt.timedelta(seconds=30)
    assert str(scheduler.timezone) == "UTC"


class SchedulerProcess:
    """`flask --app diversion scheduler run` as a real process on the test database."""

    def __init__(self, database_url: str, **settings: str) -> None:
        env = {key: value for key, value in os.environ.items()
               if not key.startswith("DIVERSION_")}
        env.update(DATABASE_URL=database_url, DIVERSION_EMAIL_BACKEND="log",
                   DIVERSION_SMS_BACKEND="log", PYTHONUNBUFFERED="1")
        env.update(settings)
        self.process = subprocess.Popen(
            [str(FLASK), "--app", "diversion", "scheduler", "run"], cwd=PROJECT_ROOT, env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.put(line)

    def wait_for(self, text: str, timeout: float = 30) -> None:
        deadline = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=timeout)
        while dt.datetime.now(dt.UTC) < deadline:
            try:
                line = self.lines.get(timeout=0.2)
            except queue.Empty:
                if self.process.poll() is not None:
                    break
                continue
            self.output.append(line)
            if text in line:
                return
        raise AssertionError(f"scheduler never said {text!r}: {''.join(self.output)}")

    def drain(self) -> None:
        """Move every line read so far into `output`."""
        while True:
            try:
                self.output.append(self.lines.get_nowait())
            except queue.Empty:
                return

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout=30)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
            self.reader.join(timeout=10)
            if self.process.stderr is not None:
                self.process.stderr.close()


@pytest.fixture
def running_scheduler(app, database_url):
    db.session.remove()
    process = SchedulerProcess(database_url)
    try:
        process.wait_for("scheduler started")
        yield process
    finally:
        process.stop(signal.SIGKILL)


def test_a_second_scheduler_waits_as_a_standby_without_running_jobs(app, database_url,
                                                                      running_scheduler):
    message = enqueue(dedupe_key="standby-1", channel=Channel.EMAIL, recipient="sam@example.org",
                      template="test_message", due_at=now_utc() + dt.timedelta(hours=1),
                      now=now_utc())
    assert message is not None
    db.session.commit()
    db.session.remove()
    standby = SchedulerProcess(database_url, DIVERSION_SCHEDULER_STANDBY_POLL_SECONDS="1")
    try:
        standby.wait_for("standby: another scheduler is active")
        time.sleep(2.5)  # two polls and more: still waiting
        assert standby.process.poll() is None, "the standby keeps waiting"
        assert running_scheduler.process.poll() is None, "the first one keeps running"
        standby.drain()
        assert not any("active:" in line or "scheduler started" in line
                       for line in standby.output), standby.output
    finally:
        assert standby.stop(signal.SIGTERM) == 0  # a standby stops cleanly too
    standby.wait_for("scheduler stopped")


def test_a_scheduler_stopped_with_sigterm_finishes_and_frees_the_lock(app, running_scheduler):
    assert running_scheduler.stop(signal.SIGTERM) == 0
    running_scheduler.wait_for("scheduler stopped")
    with scheduler_lock(db.engine, app.instance_path):
        pass  # taken: the lock went with the process


def test_a_killed_scheduler_leaves_no_lock_behind(app, running_scheduler):
    with pytest.raises(AlreadyRunning), scheduler_lock(db.engine, app.instance_path):
        pass
    running_scheduler.stop(signal.SIGKILL)
    # PostgreSQL frees an advisory lock when its server process notices the dead client,
    # a moment after the kill rather than at it; a standby polls, so it must be free soon
    # (well inside the 30 seconds a takeover may take), never wait for anyone to clear it.
    deadline = time.monotonic() + 10
    while True:
        try:
            with scheduler_lock(db.engine, app.instance_path):
                return
        except AlreadyRunning:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_the_scheduler_process_dispatches_due_messages_when_it_starts(app, database_url):
    message = enqueue(dedupe_key="sched-1", channel=Channel.EMAIL, recipient="sam@example.org",
                      template="test_message", due_at=now_utc() - dt.timedelta(minutes=1),
                      now=now_utc())
    assert message is not None
    db.session.commit()
    message_id = message.id
    db.session.remove()
    process = SchedulerProcess(database_url)
    try:
        process.wait_for("job dispatch: DispatchSummary(claimed=1, sent=1")
    finally:
        process.stop(signal.SIGTERM)
    status = db.session.scalar(select(OutboxMessage.status).where(OutboxMessage.id == message_id))
    assert status is MessageStatus.SENT


def test_run_once_sends_due_messages_and_reports(app):
    enqueue(dedupe_key="once-1", channel=Channel.EMAIL, recipient="sam@example.org",
            template="test_message", due_at=now_utc() - dt.timedelta(minutes=1), now=now_utc())
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["scheduler", "run-once", "dispatch"])
    assert result.exit_code == 0, result.output
    assert "dispatch: DispatchSummary(claimed=1, sent=1" in result.output
    assert db.session.scalar(select(OutboxMessage.status)) is MessageStatus.SENT


def test_run_once_refuses_an_unknown_job(app):
    result = app.test_cli_runner().invoke(args=["scheduler", "run-once", "no-such-job"])
    assert result.exit_code == 2
    assert "unknown job: no-such-job" in result.output
