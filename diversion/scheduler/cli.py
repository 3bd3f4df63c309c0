"""`flask --app diversion scheduler run|run-once`: the background process and its jobs."""

from __future__ import annotations

import sys
from typing import Any

import click
from flask import current_app
from flask.cli import AppGroup

from diversion.core.jobs import jobs_of, run_job
from diversion.scheduler.lock import AlreadyRunning
from diversion.scheduler.runner import run_forever

scheduler_cli = AppGroup("scheduler", help="The background scheduler.")


@scheduler_cli.command("run")
def scheduler_run() -> None:
    """Run the scheduler in this process until stopped. Start exactly one."""
    app: Any = current_app._get_current_object()  # type: ignore[attr-defined]
    try:
        run_forever(app)
    except AlreadyRunning as exc:
        click.echo(f"scheduler not started: {exc}", err=True)
        sys.exit(0)


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
    for name in jobs or tuple(jobs_by_name):
        result = run_job(name)
        click.echo(f"{name}: {result}")
