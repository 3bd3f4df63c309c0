"""The scheduler process: APScheduler 3 running the registered jobs on UTC intervals.

Started only by `flask --app diversion scheduler run`, never by create_app or a web worker.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from flask import Flask

from diversion.core.extensions import db
from diversion.core.jobs import jobs_of, run_job
from diversion.core.timeutils import now_utc
from diversion.outbox.dispatcher import channels_from_settings, recover_after_takeover
from diversion.scheduler.lock import LockLost, SchedulerLock

if TYPE_CHECKING:
    from apscheduler.schedulers.background import BackgroundScheduler

log = logging.getLogger(__name__)

JOB_DEFAULTS = {
    "coalesce": True,  # after a pause, run a missed job once, not once per missed interval
    "max_instances": 1,  # a slow sweep is never overlapped by its next run
    "misfire_grace_time": 15 * 60,
}


def build_scheduler(app: Flask) -> BackgroundScheduler:
    """A scheduler with every registered job, each due at once and then on its interval."""
    # Lazy: only `scheduler run` needs APScheduler; web workers and other commands do not
    # pay for importing it (issue 17, light start-up).
    from apscheduler.schedulers.background import BackgroundScheduler  # noqa: PLC0415

    scheduler = BackgroundScheduler(timezone="UTC", job_defaults=JOB_DEFAULTS)
    for job in jobs_of(app).values():
        scheduler.add_job(_in_context(app, job.name), "interval",
                          seconds=job.interval.total_seconds(), id=job.name, name=job.name,
                          next_run_time=now_utc())
    return scheduler


def run_forever(app: Flask) -> None:
    """Block, running every job on its interval, while holding the single-scheduler lock.

    While another scheduler holds the lock this one waits as a standby, trying the lock every
    `scheduler_standby_poll_seconds`; when it takes the lock it first resolves every row left
    `sending` (no one else can be sending them), then starts the jobs.
    """
    with app.app_context():
        engine = db.engine
        channels = channels_from_settings()  # a misconfigured channel stops the process now
        poll = float(app.config["SETTINGS"].scheduler_standby_poll_seconds)
    _configure_logging()
    # SIGTERM and Ctrl-C only set a flag: the main thread then stops the scheduler, letting
    # running jobs finish (a send in flight is recorded, not abandoned).
    stopping = threading.Event()
    previous = {sig: signal.signal(sig, lambda _s, _f: stopping.set())
                for sig in (signal.SIGTERM, signal.SIGINT)}
    lock = SchedulerLock(engine, app.instance_path)
    try:
        if not _wait_for_lock(lock, stopping, poll):
            log.info("scheduler stopped")
            return
        with app.app_context():
            recovered = recover_after_takeover(now=now_utc(), channels=channels)
        log.info("recovered %d message(s) left sending", recovered)
        _run_while_active(app, lock, stopping, poll)
    finally:
        lock.release()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _wait_for_lock(lock: SchedulerLock, stopping: threading.Event, poll: float) -> bool:
    """Take the lock, waiting as a standby while another scheduler holds it; False if stopped."""
    standby = False
    while not stopping.is_set():
        try:
            acquired = lock.try_acquire()
        except Exception:  # the database is unreachable for now: keep waiting, try again
            log.warning("could not reach the database to try the scheduler lock; trying again")
        else:
            if acquired:
                log.info("active: took over from the scheduler that stopped" if standby
                         else "active: no other scheduler holds the lock")
                return True
            if not standby:
                log.info("standby: another scheduler is active; trying its lock every %gs", poll)
                standby = True
        stopping.wait(poll)
    return False


def _run_while_active(app: Flask, lock: SchedulerLock, stopping: threading.Event,
                      poll: float) -> None:
    scheduler = build_scheduler(app)
    scheduler.start()
    log.info("scheduler started with jobs: %s", ", ".join(sorted(jobs_of(app))))
    try:
        while not stopping.wait(poll):
            lock.check()  # raises LockLost: a standby may be active now, so stop at once
    except LockLost:
        log.error("scheduler lock lost (the database session ended); stopping")
        raise
    finally:
        scheduler.shutdown(wait=True)
        log.info("scheduler stopped")


def _configure_logging() -> None:
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        formatter = logging.Formatter("%(asctime)sZ %(levelname)s %(name)s: %(message)s")
        formatter.converter = time.gmtime  # log times in UTC, like the database, whatever TZ says
        handler.setFormatter(formatter)
        root.addHandler(handler)
    if root.level > logging.INFO or root.level == logging.NOTSET:
        root.setLevel(logging.INFO)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)


def _in_context(app: Flask, name: str) -> Callable[[], None]:
    def run() -> None:
        with app.app_context():
            try:
                result = run_job(name)
                log.info("job %s: %s", name, result)
            except Exception:  # keep the scheduler alive; run_job has logged the failure
                log.warning("job %s raised; it runs again at its next interval", name)

    return run
