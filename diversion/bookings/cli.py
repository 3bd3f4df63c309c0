"""`flask --app diversion sessions allocate [--dry-run]`."""

from __future__ import annotations

import sys

import click
from flask.cli import AppGroup

from diversion.bookings.allocation import allocate
from diversion.core.errors import DomainError
from diversion.core.extensions import db
from diversion.core.timeutils import format_london, now_utc

sessions_cli = AppGroup("sessions", help="Course sessions and bookings.")


@sessions_cli.command("allocate")
@click.option("--dry-run", is_flag=True, help="Show who would be placed; book nothing.")
def allocate_command(dry_run: bool) -> None:
    """Book every referral awaiting a booking onto its earliest suitable session."""
    try:
        result = allocate(actor=None, now=now_utc(), dry_run=dry_run)
    except DomainError as error:
        db.session.rollback()
        click.echo(error.message, err=True)
        sys.exit(1)
    verb = "would place" if dry_run else "placed"
    for referral, session in result.placed:
        click.echo(f"{verb} {referral.reference}: session {session.id} on "
                   f"{format_london(session.starts_at)}")
    for referral, reason in result.unplaced:
        click.echo(f"not placed {referral.reference}: {reason}")
    if dry_run:
        db.session.rollback()
    else:
        db.session.commit()
    click.echo(f"{verb} {len(result.placed)}, not placed {len(result.unplaced)}"
               + (" (dry run: nothing booked)" if dry_run else ""))
