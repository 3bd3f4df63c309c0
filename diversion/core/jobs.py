"""Background jobs: sweeps over the database that features add in their init_app.

`flask scheduler run` (diversion.scheduler) runs every job of the app on its interval;
`flask scheduler run-once [JOB ...]` runs the named ones (or all) once. A job is called with
the keyword `now`, returns something printable, and commits nothing: `run_job` commits once when it succeeds.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any, Protocol

from flask import Flask, current_app

from diversion.core.extensions import db
from diversion.core.timeutils import now_utc

log = logging.getLogger(__name__)



class JobFunction(Protocol):
    """A job: called with the keyword `now` only."""

    def __call__(self, *, now: dt.datetime) -> Any: ...

_EXTENSION = "diversion.jobs"


@dataclass(frozen=True)
class Job:
    name: str
    function: JobFunction
    interval: dt.timedelta
    description: str


def add_job(app: Flask, name: str, function: JobFunction, *, every: dt.timedelta,
            description: str) -> None:
    """Run `function(now=…)` every `every` in the scheduler process."""
    jobs: dict[str, Job] = app.extensions.setdefault(_EXTENSION, {})
    if name in jobs and jobs[name].function is not function:
        raise ValueError(f"two jobs are called {name}")
    jobs[name] = Job(name, function, every, description)


def jobs_of(app: Flask) -> dict[str, Job]:
    """Every job the app's features added, by name."""
    jobs: dict[str, Job] = app.extensions.get(_EXTENSION, {})
    return jobs


def run_job(name: str, *, now: dt.datetime | None = None) -> Any:
    """Run one job of the current app once, in one transaction."""
    chosen = jobs_of(current_app)[name]
    try:
        result = chosen.function(now=now or now_utc())
        db.session.commit()
        return result
    except Exception:
        db.session.rollback()
        log.exception("job %s failed", name)
        raise
    finally:
        db.session.remove()
