"""`flask --app diversion reoffences import FILE.csv [--dry-run] [--skip-unmatched]`."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask.cli import AppGroup

from diversion.errors import DomainError
from diversion.extensions import db
from diversion.reoffences.services import ImportFailed, import_reoffences
from diversion.timeutils import now_utc

reoffences_cli = AppGroup("reoffences", help="Reoffence records.")


@reoffences_cli.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Check the file and report; write nothing.")
@click.option("--skip-unmatched", is_flag=True,
              help="Skip rows about nobody on record instead of failing.")
def import_command(path: Path, dry_run: bool, skip_unmatched: bool) -> None:
    """Import reoffences from a CSV file, all or nothing."""
    try:
        result = import_reoffences(content=path.read_bytes(), actor=None, now=now_utc(),
                                   dry_run=dry_run, skip_unmatched=skip_unmatched)
    except ImportFailed as error:
        db.session.rollback()
        for problem in error.problems:
            click.echo(str(problem), err=True)
        sys.exit(1)
    except DomainError as error:
        db.session.rollback()
        click.echo(error.message, err=True)
        sys.exit(1)
    if dry_run:
        db.session.rollback()
        click.echo(f"dry run: would import {result.imported}; nothing written")
    else:
        db.session.commit()
        click.echo(f"imported {result.imported}")
    if result.already_imported:
        click.echo(f"already imported {result.already_imported}")
    if result.unmatched:
        click.echo(f"skipped {len(result.unmatched)} unmatched (rows "
                   + ", ".join(str(n) for n in result.unmatched) + ")")
