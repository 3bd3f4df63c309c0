"""`flask --app diversion scheduler run|run-once`: the background process and its jobs."""

from __future__ import annotations

import sys
from typing import Any

import click
from flask import current_app
from flask.cli import AppGroup

from diversion.core.extensions import db
from diversion.core.jobs import jobs_of, run_job
from diversion.scheduler.lock import AlreadyRunning, LockLost, scheduler_lock
from diversion.scheduler.runner import run_forever

scheduler_cli = AppGroup("scheduler", help="The background scheduler.")


@scheduler_cli.command("run")
def scheduler_run() -> None:
    """Run the scheduler in this process until stopped; a second one waits as a standby."""
    app: Any = current_app._get_current_object()  # type: ignore[attr-defined]
    try:
        run_forever(app)
    except LockLost as exc:
        click.echo(f"scheduler stopped: {exc}", err=True)
        sys.exit(1)


@scheduler_cli.command("run-once")
@click.argument("jobs", nargs=-1)
def scheduler_run_once(jobs: tuple[str, ...]) -> None:
    """Run the named jobs (or all) once, then exit."""
    jobs_by_name = jobs_of(current_app)
    unknown = [name for name in jobs if name not in jobs_by_name]
    if unknown:
        click.echo(f"unknown job: {', '.join(unknown)}; jobs are {', '.join(sorted(jobs_by_name))}",
                   err=True)
        sys.exit(2)
    names = jobs or tuple(jobs_by_name)
    if "dispatch" not in names:
        for name in names:
            click.echo(f"{name}: {run_job(name)}")
        return
    # Dispatching by hand takes the scheduler's lock, so that a scheduler taking over never
    # mistakes this run's messages for a dead dispatcher's (docs/messaging.md).
    try:
        with scheduler_lock(db.engine, current_app.instance_path):
            for name in names:
                click.echo(f"{name}: {run_job(name)}")
    except AlreadyRunning:
        click.echo("not run: a scheduler is active and dispatches every 30 seconds; "
                   "run-once dispatch is for when none is running", err=True)
        sys.exit(1)
