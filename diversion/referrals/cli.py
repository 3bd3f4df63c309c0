"""`flask --app diversion referrals import FILE.csv [--dry-run]`."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import click
from flask.cli import AppGroup

from diversion.core.csvimport import run_import_command
from diversion.referrals.imports import MAX_BYTES, ImportResult, import_referrals

referrals_cli = AppGroup("referrals", help="Referrals.")


@referrals_cli.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Check the file and report; write nothing.")
def import_command(path: Path, dry_run: bool) -> None:
    """Import referrals from a CSV file, all or nothing."""

    def after(result: ImportResult) -> list[str]:
        lines = []
        if result.already_present:
            lines.append(f"already present {result.already_present}")
        if result.imported - result.historical and not dry_run:
            lines.append("new referrals have no PIN yet: reissue one for each person when "
                         "handing out the offer letter")
        return lines

    run_import_command(
        path, dry_run=dry_run, max_bytes=MAX_BYTES,
        run=partial(import_referrals, actor=None, via="cli"),
        dry_run_line=lambda result: (f"dry run: would import {result.imported} "
                                     f"({result.historical} historical); nothing written"),
        after=after)
