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

from apscheduler.schedulers.background import BackgroundScheduler
from flask import Flask

from diversion.core.extensions import db
from diversion.core.jobs import jobs_of, run_job
from diversion.core.timeutils import now_utc
from diversion.outbox.dispatcher import channels_from_settings
from diversion.scheduler.lock import scheduler_lock

log = logging.getLogger(__name__)

JOB_DEFAULTS = {
    "coalesce": True,  # after a pause, run a missed job once, not once per missed interval
    "max_instances": 1,  # a slow sweep is never overlapped by its next run
    "misfire_grace_time": 15 * 60,
}


def build_scheduler(app: Flask) -> BackgroundScheduler:
    """A scheduler with every registered job, each due at once and then on its interval."""
    scheduler = BackgroundScheduler(timezone="UTC", job_defaults=JOB_DEFAULTS)
    for job in jobs_of(app).values():
        scheduler.add_job(_in_context(app, job.name), "interval",
                          seconds=job.interval.total_seconds(), id=job.name, name=job.name,
                          next_run_time=now_utc())
    return scheduler


def run_forever(app: Flask) -> None:
    """Block, running every job on its interval, while holding the single-scheduler lock."""
    with app.app_context():
        engine = db.engine
        channels_from_settings()  # a misconfigured channel stops the process now, not at 3 a.m.
    with scheduler_lock(engine, app.instance_path):
        _configure_logging()
        # SIGTERM and Ctrl-C only set a flag: the main thread then stops the scheduler, letting
        # running jobs finish (a send in flight is recorded, not abandoned).
        stopping = threading.Event()
        previous = {sig: signal.signal(sig, lambda _s, _f: stopping.set())
                    for sig in (signal.SIGTERM, signal.SIGINT)}
        scheduler = build_scheduler(app)
        scheduler.start()
        log.info("scheduler started with jobs: %s", ", ".join(sorted(jobs_of(app))))
        try:
            while not stopping.wait(1.0):
                pass
        finally:
            scheduler.shutdown(wait=True)
            for sig, handler in previous.items():
                signal.signal(sig, handler)
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
