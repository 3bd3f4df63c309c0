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


@job("plan_reminders", every=dt.timedelta(minutes=5),
     description="plan reminders for new bookings; cancel or re-time those of cancelled or "
                 "moved bookings and sessions; booking-deadline messages")
def plan_reminders(now: dt.datetime) -> Any:
    from diversion.notifications.reminders import run_reminder_sweep

    return run_reminder_sweep(now=now)


@job("housekeeping", every=dt.timedelta(hours=24),
     description="forget old sign-in failures")
def housekeeping(now: dt.datetime) -> Any:
    from diversion.auth.services import purge_old_sign_in_failures

    return {"sign_in_failures_removed": purge_old_sign_in_failures(before=now - dt.timedelta(days=1))}


@job("self_service_housekeeping", every=dt.timedelta(hours=1),
     description="forget old self-service refusals and ended person sessions")
def self_service_housekeeping(now: dt.datetime) -> Any:
    from diversion.selfservice.services import purge_ended_sessions, purge_old_failures

    return {"failures_removed": purge_old_failures(before=now - dt.timedelta(days=1)),
            "sessions_removed": purge_ended_sessions(now=now)}


@job("referral_drafts", every=dt.timedelta(minutes=5),
     description="remove expired referral drafts; clear offer-letter PINs held over 30 minutes")
def referral_drafts(now: dt.datetime) -> Any:
    from diversion.referrals.drafts import purge_expired_drafts

    return purge_expired_drafts(now=now)


@job("retention", every=dt.timedelta(hours=24),
     description="erase the identifying data of people whose referrals are past the "
                 "programme's retention period")
def retention(now: dt.datetime) -> Any:
    from diversion.retention.services import run_retention

    return run_retention(now=now)


@job("monthly_report", every=dt.timedelta(hours=1),
     description="on the month's first working day, store last month's report PDFs and "
                 "email managers a link")
def monthly_report(now: dt.datetime) -> Any:
    from diversion.reports.jobs import prepare_monthly

    return prepare_monthly(now=now)


@job("grace_window", every=dt.timedelta(hours=1),
     description="missed referrals whose grace window has closed become not completed")
def grace_window(now: dt.datetime) -> Any:
    from diversion.attendance.jobs import run_grace_window

    return run_grace_window(now=now)


@job("deadline", every=dt.timedelta(hours=1),
     description="complete attendees whose fee is cleared; close referrals past the "
                 "completion deadline")
def deadline(now: dt.datetime) -> Any:
    from diversion.attendance.jobs import run_deadline

    return run_deadline(now=now)
