"""The command line: `flask --app diversion …`. Output is for people; logs are not used here."""

from __future__ import annotations

import json
import sys
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from diversion.auth import services as auth_services
from diversion.auth.models import Role
from diversion.errors import DomainError, ValidationFailed
from diversion.extensions import db
from diversion.timeutils import now_utc

forces_cli = AppGroup("forces", help="Police forces.")
users_cli = AppGroup("users", help="User accounts.")
tokens_cli = AppGroup("tokens", help="API tokens.")
demo_cli = AppGroup("demo", help="Demonstration data.")
scheduler_cli = AppGroup("scheduler", help="The background scheduler.")


def _fail(error: DomainError) -> None:
    if isinstance(error, ValidationFailed):
        for field, message in error.errors.items():
            click.echo(f"{field}: {message}", err=True)
    else:
        click.echo(error.message, err=True)
    db.session.rollback()
    sys.exit(1)


@forces_cli.command("create")
@click.option("--code", required=True)
@click.option("--name", required=True)
def create_force(code: str, name: str) -> None:
    """Add a police force."""
    try:
        force = auth_services.create_force(code=code, name=name, actor=None, now=now_utc())
    except DomainError as error:
        _fail(error)
        return
    db.session.commit()
    click.echo(f"created force {force.code}")


@users_cli.command("create")
@click.option("--email", required=True)
@click.option("--name", required=True)
@click.option("--role", required=True, type=click.Choice([r.value for r in Role]))
@click.option("--force", "force_code", help="The force code; required for police.")
def create_user(email: str, name: str, role: str, force_code: str | None) -> None:
    """Add a user. The password is read from standard input."""
    if sys.stdin.isatty():
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    force = None
    if force_code:
        force = auth_services.get_force_by_code(force_code)
        if force is None:
            click.echo(f"force: no force with code {force_code}", err=True)
            sys.exit(1)
    try:
        user = auth_services.create_user(email=email, name=name, role=Role(role),
                                         password=password, force=force, actor=None,
                                         now=now_utc())
    except DomainError as error:
        _fail(error)
        return
    db.session.commit()
    click.echo(f"created {user.role.value} {user.email}")


@tokens_cli.command("create")
@click.option("--email", required=True)
def create_token(email: str) -> None:
    """Issue an API token for a user and print it. It is shown this once only."""
    user = auth_services.get_user_by_email(email)
    if user is None:
        click.echo(f"email: no user with email {email}", err=True)
        sys.exit(1)
    try:
        _, clear = auth_services.create_api_token(user=user, actor=None, now=now_utc())
    except DomainError as error:
        _fail(error)
        return
    db.session.commit()
    click.echo(clear)


@demo_cli.command("load")
def load_demo() -> None:
    """Load demonstration data (idempotent) and print the demo logins."""
    from diversion.demo import DEMO_PASSWORD, load_demo_data

    users = load_demo_data(now=now_utc())
    db.session.commit()
    click.echo("Demo logins (password for all: " + DEMO_PASSWORD + ")")
    for role, email in users:
        click.echo(f"  {role:<12} {email}")


@click.command("stats")
def stats() -> None:
    """Print counts of what the database holds, as JSON."""
    from diversion.stats import collect_stats

    click.echo(json.dumps(collect_stats(), indent=2, sort_keys=True))


@scheduler_cli.command("run")
def scheduler_run() -> None:
    """Run the scheduler in this process until stopped. Start exactly one."""
    from diversion.scheduler.lock import AlreadyRunning
    from diversion.scheduler.runner import run_forever

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
    from diversion.scheduler.jobs import JOBS, run_job

    unknown = [name for name in jobs if name not in JOBS]
    if unknown:
        click.echo(f"unknown job: {', '.join(unknown)}; jobs are {', '.join(sorted(JOBS))}",
                   err=True)
        sys.exit(2)
    for name in jobs or tuple(JOBS):
        result = run_job(name)
        click.echo(f"{name}: {result}")


def register_cli(app: Flask) -> None:
    for group in (forces_cli, users_cli, tokens_cli, demo_cli, scheduler_cli):
        app.cli.add_command(group)
    app.cli.add_command(stats)
    from diversion.reoffences.cli import reoffences_cli
    from diversion.reports.cli import reports_cli

    app.cli.add_command(reoffences_cli)
    app.cli.add_command(reports_cli)
    from diversion.referrals.cli import referrals_cli

    app.cli.add_command(referrals_cli)
    from diversion.bookings.cli import sessions_cli

    app.cli.add_command(sessions_cli)
    from diversion.retention.cli import retention_cli

    app.cli.add_command(retention_cli)
