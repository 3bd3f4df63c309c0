"""`flask --app diversion reoffences import FILE.csv [--dry-run] [--skip-unmatched]` and
`flask --app diversion comparison import FILE.csv [--dry-run]`."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import click
from flask.cli import AppGroup

from diversion.core.csvimport import run_import_command
from diversion.reoffences import comparison
from diversion.reoffences.comparison import ComparisonImportResult
from diversion.reoffences.services import MAX_BYTES, ImportResult, import_reoffences

reoffences_cli = AppGroup("reoffences", help="Reoffence records.")


@reoffences_cli.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Check the file and report; write nothing.")
@click.option("--skip-unmatched", is_flag=True,
              help="Skip rows about nobody on record instead of failing.")
def import_command(path: Path, dry_run: bool, skip_unmatched: bool) -> None:
    """Import reoffences from a CSV file, all or nothing."""

    def after(result: ImportResult) -> list[str]:
        lines = []
        if result.already_imported:
            lines.append(f"already imported {result.already_imported}")
        if result.unmatched:
            lines.append(f"skipped {len(result.unmatched)} unmatched (rows "
                         + ", ".join(str(n) for n in result.unmatched) + ")")
        return lines

    run_import_command(
        path, dry_run=dry_run, max_bytes=MAX_BYTES,
        run=partial(import_reoffences, actor=None, skip_unmatched=skip_unmatched),
        dry_run_line=lambda result: f"dry run: would import {result.imported}; nothing written",
        after=after)


comparison_cli = AppGroup("comparison", help="The comparison cohort of the reoffending report.")


@comparison_cli.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Check the file and report; write nothing.")
def import_comparison_command(path: Path, dry_run: bool) -> None:
    """Import a comparison cohort from a CSV file, all or nothing."""

    def after(result: ComparisonImportResult) -> list[str]:
        lines = []
        if result.people_created:
            lines.append(f"people added {result.people_created}")
        if result.already_imported:
            lines.append(f"already imported {result.already_imported}")
        return lines

    run_import_command(
        path, dry_run=dry_run, max_bytes=comparison.MAX_BYTES,
        run=partial(comparison.import_comparison_cases, actor=None),
        dry_run_line=lambda result: f"dry run: would import {result.imported}; nothing written",
        after=after)
