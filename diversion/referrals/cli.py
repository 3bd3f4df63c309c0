"""`flask --app diversion referrals import FILE.csv [--dry-run]`."""

from __future__ import annotations

import sys
from functools import partial
from pathlib import Path
from typing import Any

import click
from flask.cli import AppGroup

from diversion.core.csvimport import run_import_command
from diversion.referrals.imports import MAX_BYTES, ImportResult, import_referrals

referrals_cli = AppGroup("referrals", help="Referrals.")


class ProgressBar:
    """click's progress bar on stderr, sized when the import knows its rows; shown only when
    stderr is a terminal, so piped output and logs hold the result lines alone."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.bar: Any = None
        self.done = 0

    def __call__(self, done: int, total: int) -> None:
        if self.bar is None:
            stderr = sys.stderr
            self.bar = click.progressbar(length=total, label=self.label, file=stderr,
                                         hidden=not stderr.isatty(), show_pos=True)
        self.bar.update(done - self.done)
        self.done = done

    def finish(self) -> None:
        if self.bar is not None:
            self.bar.render_finish()


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

    progress = ProgressBar("checking" if dry_run else "importing")
    try:
        run_import_command(
            path, dry_run=dry_run, max_bytes=MAX_BYTES,
            run=partial(import_referrals, actor=None, via="cli", progress=progress),
            dry_run_line=lambda result: (f"dry run: would import {result.imported} "
                                         f"({result.historical} historical); nothing written"),
            after=after)
    finally:
        progress.finish()
