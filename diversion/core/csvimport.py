"""What the CSV imports share: reading a file into numbered rows, problems by line, and the
`import` command's body.

Each feature (referrals, reoffences) keeps its own columns, row checks and wording of the
problems that concern its data; this module reads the file (UTF-8, a BOM allowed, size and row
limits, blank rows skipped, each row numbered by the file line it starts on) and checks the
header against the columns the feature names. Anything wrong raises ImportFailed listing every
problem, so nothing is written.
"""

from __future__ import annotations

import csv
import io
import sys
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeVar

import click

from diversion.core.errors import DomainError, ValidationFailed
from diversion.core.extensions import db
from diversion.core.parsing import has_control_characters
from diversion.core.timeutils import now_utc

# Every column of these files is single-line text (diversion.core.parsing's rule for typed text).
CONTROL_CHARACTERS = "must be on one line, with no tabs, line breaks or other special characters"


@dataclass(frozen=True)
class RowProblem:
    line: int
    column: str
    message: str

    def __str__(self) -> str:
        return f"row {self.line}: {self.column}: {self.message}"


class ImportFailed(ValidationFailed):
    """The file has problems; nothing was written. `problems` lists them by line."""

    def __init__(self, problems: list[RowProblem], summary: str | None = None) -> None:
        count = len(problems)
        super().__init__({f"row {p.line}: {p.column}": p.message for p in problems},
                         summary or f"The file has {count} problem{'' if count == 1 else 's'}; "
                                    "nothing was imported")
        self.problems = problems


def text_errors(row: Mapping[str, str | None],
                columns: Collection[str] | None = None) -> dict[str, str]:
    """{column: message} for each value (of `columns`, default all) that breaks the single-line
    text rule. The features' row parsers report these with the row's other problems."""
    # Most rows have none: one search of the values together says so (a character of the
    # joined text is a character of one value).
    if not has_control_characters("".join(filter(None, row.values()))):
        return {}
    return {name: CONTROL_CHARACTERS for name, value in row.items()
            if value and (columns is None or name in columns) and has_control_characters(value)}


def fail(line: int, column: str, message: str) -> ImportFailed:
    """An ImportFailed with one problem."""
    return ImportFailed([RowProblem(line, column, message)])


@dataclass(frozen=True)
class Wording:
    """How a feature words the reading problems its users already know."""

    not_utf8: str = ("the file is not saved as CSV UTF-8: in Excel, choose Save As and the file "
                     "type 'CSV UTF-8 (Comma delimited)'")
    column_missing: str = "column is missing"
    no_rows: str = "the file has a header but no rows"


Row = tuple[int, dict[str, str]]  # (the file line the row starts on, values by column)


def read_csv_rows(content: bytes, *, required_columns: Sequence[str],
                  optional_columns: Collection[str] | None, max_bytes: int, max_rows: int,
                  wording: Wording = Wording(),
                  check_header: Callable[[Sequence[str], Sequence[Row]], list[RowProblem]]
                  | None = None) -> tuple[list[str], list[Row]]:
    """The header (names stripped, lower case) and (line, row) pairs of a UTF-8 CSV file.

    The header is line 1; a row's line is the line it starts on; blank rows are skipped.
    `optional_columns` None lets any other column through (ignored); otherwise a column that is
    neither required nor optional is refused, as is a name used twice. `check_header` adds a
    feature's own header rules (columns needed only by some rows, alternatives).
    """
    header, rows = _read(content, max_bytes=max_bytes, max_rows=max_rows, wording=wording)
    problems = [RowProblem(1, name, wording.column_missing)
                for name in required_columns if name not in header]
    if check_header is not None:
        problems += check_header(header, rows)
    if optional_columns is not None:
        known = set(required_columns) | set(optional_columns)
        seen: set[str] = set()
        for name in header:
            if not name:
                problems.append(RowProblem(1, "file", "a column has no name"))
            elif name in seen:
                problems.append(RowProblem(1, name, "column appears more than once"))
            elif name not in known:
                problems.append(RowProblem(1, name, "unknown column; check its spelling"))
            seen.add(name)
    if problems:
        raise ImportFailed(problems)
    if not rows:
        raise fail(1, "file", wording.no_rows)
    return header, rows


def _read(content: bytes, *, max_bytes: int, max_rows: int,
          wording: Wording) -> tuple[list[str], list[Row]]:
    if len(content) > max_bytes:
        raise fail(1, "file", f"the file is larger than {max_bytes // (1024 * 1024)} MB; "
                              "split it into smaller files")
    if content.startswith(b"PK\x03\x04") or content.startswith(b"\xd0\xcf\x11\xe0"):
        raise fail(1, "file", "this is a spreadsheet workbook, not a CSV file; "
                              "save it as CSV UTF-8")
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = content[:error.start].count(b"\n") + 1
        raise fail(line, "file", wording.not_utf8) from error
    if "\x00" in text:
        raise fail(1, "file", "this is not a CSV file; save it as CSV UTF-8")

    reader = csv.reader(io.StringIO(text, newline=""))
    rows: list[Row] = []
    header: list[str] | None = None
    problems: list[RowProblem] = []
    previous_line = 0
    try:
        for values in reader:
            start, previous_line = previous_line + 1, reader.line_num
            if header is None:
                header = [name.strip().lower() for name in values]
                continue
            if not "".join(values).strip():  # every value blank
                continue
            if len(rows) >= max_rows:
                raise fail(start, "file", f"the file has more than {max_rows:,} rows; "
                                          "split it into smaller files")
            if len(values) > len(header):
                problems.append(RowProblem(start, "file", f"this row has {len(values)} values "
                                                          f"but the header has {len(header)} "
                                                          "columns"))
                continue
            rows.append((start, dict(zip(header, values, strict=False))))
    except csv.Error as error:
        raise fail(previous_line + 1, "file",
                   f"this is not a readable CSV file ({error}); save it as CSV UTF-8") from error
    if header is None or not any(header):
        raise fail(1, "file", "the file is empty; it needs a header row and at least one row")
    if problems:
        raise ImportFailed(problems)
    return header, rows


# The `flask <feature> import FILE.csv` command ------------------------------------------------

class ImportOutcome(Protocol):
    imported: int


Outcome = TypeVar("Outcome", bound=ImportOutcome)


def run_import_command(path: Path, *, dry_run: bool, max_bytes: int,
                       run: Callable[..., Outcome],
                       dry_run_line: Callable[[Outcome], str],
                       after: Callable[[Outcome], list[str]] = lambda _: []) -> None:
    """Read the file (no more than `max_bytes` + 1 bytes, enough to know it is too big), call
    `run(content=, now=, dry_run=)`, and report: problems on stderr with exit status 1, else
    commit (or roll back a dry run) and print `imported N` (or `dry_run_line`), then `after`."""
    with path.open("rb") as file:
        content = file.read(max_bytes + 1)
    try:
        result = run(content=content, now=now_utc(), dry_run=dry_run)
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
        click.echo(dry_run_line(result))
    else:
        db.session.commit()
        click.echo(f"imported {result.imported}")
    for line in after(result):
        click.echo(line)


__all__ = ["ImportFailed", "ImportOutcome", "Row", "RowProblem", "Wording", "fail",
           "read_csv_rows", "run_import_command", "text_errors"]
