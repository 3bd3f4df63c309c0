"""The scheduler process: APScheduler 3 running the registered jobs on UTC intervals."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

from apscheduler.schedulers.blocking import BlockingScheduler
from flask import Flask

from diversion.extensions import db
from diversion.scheduler.jobs import JOBS, run_job
from diversion.scheduler.lock import scheduler_lock

log = logging.getLogger(__name__)


def run_forever(app: Flask) -> None:
    """Block, running every job on its interval, while holding the single-scheduler lock."""
    with app.app_context():
        engine = db.engine
    with scheduler_lock(engine, app.instance_path):
        scheduler = BlockingScheduler(
            timezone="UTC",
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 300},
        )
        for job in JOBS.values():
            scheduler.add_job(_in_context(app, job.name), "interval",
                              seconds=job.interval.total_seconds(), id=job.name, name=job.name,
                              next_run_time=_soon())
        log.info("scheduler started with jobs: %s", ", ".join(sorted(JOBS)))
        try:
            scheduler.start()
        except (KeyboardInterrupt, SystemExit):
            log.info("scheduler stopped")


def _soon() -> dt.datetime:
    from diversion.timeutils import now_utc

    return now_utc()


def _in_context(app: Flask, name: str) -> Callable[[], None]:
    def run() -> None:
        with app.app_context():
            try:
                result = run_job(name)
                log.info("job %s: %s", name, result)
            except Exception:  # keep the scheduler alive; the failure is logged
                log.exception("job %s raised", name)

    return run
