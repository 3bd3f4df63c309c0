"""The scheduler's jobs: sweeps over the database, each runnable once from the command line.

Features register their sweeps with @job; `scheduler run` runs them all on intervals and
`scheduler run-once [JOB ...]` runs the named ones (or all) once.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from diversion.timeutils import now_utc

log = logging.getLogger(__name__)

JobFunction = Callable[[dt.datetime], Any]


@dataclass(frozen=True)
class Job:
    name: str
    function: JobFunction
    interval: dt.timedelta
    description: str


JOBS: dict[str, Job] = {}


def job(name: str, *, every: dt.timedelta, description: str) -> Callable[[JobFunction], JobFunction]:
    """Register a sweep. It receives `now` and returns something printable."""

    def decorate(function: JobFunction) -> JobFunction:
        JOBS[name] = Job(name, function, every, description)
        return function

    return decorate


def run_job(name: str, *, now: dt.datetime | None = None) -> Any:
    """Run one job once, in the current app context."""
    from diversion.extensions import db

    chosen = JOBS[name]
    try:
        result = chosen.function(now or now_utc())
        db.session.commit()
        return result
    except Exception:
        db.session.rollback()
        log.exception("job %s failed", name)
        raise
    finally:
        db.session.remove()


@job("dispatch", every=dt.timedelta(seconds=30), description="send the outbox's due messages")
def dispatch(now: dt.datetime) -> Any:
    from diversion.notifications.dispatcher import dispatch_due

    return dispatch_due(now=now)


@job("housekeeping", every=dt.timedelta(hours=24),
     description="forget old sign-in failures")
def housekeeping(now: dt.datetime) -> Any:
    from diversion.auth.services import purge_old_sign_in_failures

    return {"sign_in_failures_removed": purge_old_sign_in_failures(before=now - dt.timedelta(days=1))}


@job("monthly_report", every=dt.timedelta(hours=1),
     description="on the month's first working day, store last month's report PDFs and "
                 "email managers a link")
def monthly_report(now: dt.datetime) -> Any:
    from diversion.reports.jobs import prepare_monthly

    return prepare_monthly(now=now)
