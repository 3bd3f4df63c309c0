"""`flask --app diversion retention run [--dry-run]`."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from diversion.core.extensions import db
from diversion.core.timeutils import now_utc
from diversion.retention.services import run_retention

retention_cli = AppGroup("retention", help="Data retention (docs/data-protection.md).")


@retention_cli.command("run")
@click.option("--dry-run", is_flag=True, help="Count who would be erased; write nothing.")
def run_command(dry_run: bool) -> None:
    """Erase the identifying data of people whose referrals are past their retention period."""
    result = run_retention(now=now_utc(), dry_run=dry_run)
    if dry_run:
        db.session.rollback()
        click.echo(f"{result.summary()} (dry run: nothing written)")
        return
    db.session.commit()
    click.echo(result.summary())
