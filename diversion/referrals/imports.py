"""Importing referrals from a CSV file (DESIGN.md "CSV: referrals"), all or nothing.

`import_referrals(content=, actor=, now=, dry_run=False, via=)` reads the file, checks every
row (fields, duplicates within the file, crime references already used, eligibility of new
referrals), and creates every referral through `services.create_referral` inside a savepoint.
Any problem rolls the savepoint back and raises ImportFailed listing them all; a dry run rolls
back too and reports what would happen. The caller commits.

A row whose force and crime reference are already on record for the same person is counted
as already present and left alone, so importing a file twice creates nothing new.

Imported new referrals get no PIN: nobody could be shown ten thousand of them, and hashing
one costs a quarter of a second. Officers reissue a PIN for each person when they hand out the
offer letter. Historical rows never get one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from diversion.audit.models import AuditCategory
from diversion.audit.services import record
from diversion.auth.models import Force, Role, User
from diversion.core.csvimport import ImportFailed, Row, RowProblem, Wording, read_csv_rows
from diversion.core.errors import Conflict, Forbidden, ValidationFailed
from diversion.core.extensions import db
from diversion.core.timeutils import london_today
from diversion.referrals.creation import IneligibleReferral, create_referral, new_references
from diversion.referrals.intake import HISTORICAL_OUTCOMES, ReferralInput, referral_input_from_row
from diversion.referrals.matching import PersonKeys, is_same_person
from diversion.referrals.models import Person, Referral, ReferralStatus
from diversion.referrals.pnc import InvalidPnc, parse_pnc

MAX_BYTES = 10 * 1024 * 1024
MAX_ROWS = 50_000
PREVIEW_ROWS = 20

REQUIRED_COLUMNS = ("force_code", "crime_reference", "referral_date", "family_name",
                    "given_names", "date_of_birth", "offence_code", "offence_date",
                    "officer_email", "admitted", "consented")
NEW_REFERRAL_COLUMNS = ("no_relevant_convictions",)  # required unless every row has an outcome
OPTIONAL_COLUMNS = ("programme_code", "pnc_id", "gender", "email", "mobile", "address_line_1",
                    "address_line_2", "town", "postcode", "offence_location", "disposal",
                    "completion_deadline", "outcome", "outcome_date")
COLUMNS = REQUIRED_COLUMNS + NEW_REFERRAL_COLUMNS + OPTIONAL_COLUMNS

NOT_UTF8 = Wording().not_utf8

# The column a failed eligibility rule is reported against.
RULE_COLUMNS = {
    "adult": "date_of_birth",
    "offence_code": "offence_code",
    "admitted_consented": "admitted",
    "no_recent_diversion": "offence_date",
    "no_open_referral": "family_name",
    "no_relevant_convictions": "no_relevant_convictions",
    "timing": "offence_date",
}


@dataclass(frozen=True)
class PreviewRow:
    """A row that will be imported, for the upload page's preview."""

    line: int
    force_code: str
    crime_reference: str
    name: str
    referral_date: dt.date
    status: ReferralStatus
    warnings: int


@dataclass
class ImportResult:
    """What an import did (or, on a dry run, would do)."""

    rows: int = 0
    imported: int = 0
    historical: int = 0
    already_present: int = 0
    with_warnings: int = 0
    preview: list[PreviewRow] = field(default_factory=list)


def _check_header(header: Sequence[str], rows: Sequence[Row]) -> list[RowProblem]:
    """no_relevant_convictions is needed unless every row is historical (has an outcome)."""
    if "no_relevant_convictions" not in header and any(
            not (row.get("outcome") or "").strip() for _, row in rows):
        return [RowProblem(1, "no_relevant_convictions",
                           "column is missing (it is needed for new referrals)")]
    return []


# Checking and importing ---------------------------------------------------------------------

@dataclass
class _Row:
    line: int
    data: ReferralInput
    force_code: str
    crime_reference: str


def _chunks(values: Sequence[Any], size: int = 500) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), size):
        yield values[start:start + size]


def _same_person(data: ReferralInput, person: Person, today: dt.date) -> bool:
    pnc = None
    if data.pnc_id:
        try:
            pnc = parse_pnc(data.pnc_id, today=today)
        except InvalidPnc:
            pnc = None
    if data.date_of_birth is None:  # only the PNC ID can say who it is
        return pnc is not None and pnc == person.pnc_id
    query = PersonKeys.of(family_name=data.family_name, given_names=data.given_names,
                          date_of_birth=data.date_of_birth, pnc_id=pnc)
    return is_same_person(query, PersonKeys.of_person(person))


def _existing(rows: Sequence[_Row]) -> dict[tuple[str, str], tuple[str, Person]]:
    """Referrals already on record for these (force code, crime reference) pairs: one query a chunk."""
    wanted = {(row.force_code, row.crime_reference) for row in rows}
    references = sorted({row.crime_reference for row in rows})
    found: dict[tuple[str, str], tuple[str, Person]] = {}
    for chunk in _chunks(references):
        query = (select(Force.code, Force.name, Referral.crime_reference, Person)
                 .join(Referral.force).join(Referral.person)
                 .where(Referral.crime_reference.in_(chunk)))
        for code, force_name, crime_reference, person in db.session.execute(query):
            if (code, crime_reference) in wanted:
                found[(code, crime_reference)] = (force_name, person)
    return found


def _check_actor(actor: User | None) -> None:
    if actor is not None and actor.role not in (Role.POLICE, Role.MANAGER):
        raise Forbidden("Only police officers and programme managers can import referrals")


Progress = Callable[[int, int], None]


def import_referrals(*, content: bytes, actor: User | None, now: dt.datetime,
                     dry_run: bool = False, via: str = "cli",
                     progress: Progress | None = None) -> ImportResult:
    """Import a CSV file of referrals, all or nothing (see the module's docstring).

    `progress(rows done, rows)` is called as the rows are checked and created (the CLI's
    progress bar)."""
    _check_actor(actor)
    _, raw_rows = read_csv_rows(content, required_columns=REQUIRED_COLUMNS,
                                optional_columns=NEW_REFERRAL_COLUMNS + OPTIONAL_COLUMNS,
                                max_bytes=MAX_BYTES, max_rows=MAX_ROWS, wording=Wording(),
                                check_header=_check_header)
    today = london_today(now)
    own_force = actor.force.code if actor is not None and actor.force is not None else ""
    problems: list[RowProblem] = []
    result = ImportResult(rows=len(raw_rows))

    rows: list[_Row] = []
    first_line: dict[tuple[str, str], int] = {}
    for line, raw in raw_rows:
        try:
            data = referral_input_from_row(raw)
        except ValidationFailed as error:
            problems.extend(RowProblem(line, column, message)
                            for column, message in error.errors.items())
            continue
        force_code = (data.force_code or own_force).strip().upper()
        crime_reference = data.crime_reference.strip().upper()
        key = (force_code, crime_reference)
        if crime_reference and key in first_line:
            problems.append(RowProblem(line, "crime_reference",
                                       f"crime reference {crime_reference} is also on row "
                                       f"{first_line[key]}"))
            continue
        first_line.setdefault(key, line)
        rows.append(_Row(line, data, force_code, crime_reference))

    existing = _existing(rows)
    references = iter(new_references(
        sum(1 for row in rows if (row.force_code, row.crime_reference) not in existing)))
    savepoint = db.session.begin_nested()
    try:
        for done, row in enumerate(rows, start=1):
            if progress is not None:
                progress(done, len(rows))
            on_record = existing.get((row.force_code, row.crime_reference))
            if on_record is not None:
                force_name, person = on_record
                if _same_person(row.data, person, today):
                    result.already_present += 1
                else:
                    problems.append(RowProblem(
                        row.line, "crime_reference",
                        f"crime reference {row.crime_reference} has already been referred by "
                        f"{force_name} for someone else"))
                continue
            try:
                created = create_referral(data=row.data, actor=actor, now=now, issue_pin=False,
                                          reference=next(references))
            except IneligibleReferral as error:
                problems.extend(RowProblem(row.line, RULE_COLUMNS.get(r.code, "eligibility"),
                                           r.message)
                                for r in error.results if r.blocking and not r.passed)
                continue
            except ValidationFailed as error:
                problems.extend(RowProblem(row.line, column, message)
                                for column, message in error.errors.items())
                continue
            except Conflict as error:
                problems.append(RowProblem(row.line, error.field or "crime_reference",
                                           error.message))
                continue
            result.imported += 1
            referral = created.referral
            if referral.is_historical:
                result.historical += 1
            warnings = sum(1 for r in created.eligibility if not r.passed)
            result.with_warnings += 1 if warnings else 0
            if len(result.preview) < PREVIEW_ROWS:
                result.preview.append(PreviewRow(
                    line=row.line, force_code=referral.force.code,
                    crime_reference=referral.crime_reference,
                    name=referral.person.full_name, referral_date=referral.referral_date,
                    status=referral.status, warnings=warnings))
        db.session.flush()  # so that a rollback takes the last row's audit rows with it
    except BaseException:
        savepoint.rollback()
        raise
    if problems or dry_run:
        savepoint.rollback()
    else:
        savepoint.commit()
    if problems:
        raise ImportFailed(sorted(problems, key=lambda p: p.line))
    if not dry_run:
        record(action="referral.import", category=AuditCategory.COLLECTION, now=now, actor=actor,
               object_type="referral_import", object_id=None,
               details={"via": via, "rows": result.rows, "imported": result.imported,
                        "historical": result.historical,
                        "already_present": result.already_present})
        db.session.flush()
    return result


__all__ = ["COLUMNS", "HISTORICAL_OUTCOMES", "MAX_BYTES", "MAX_ROWS", "NOT_UTF8",
           "OPTIONAL_COLUMNS", "REQUIRED_COLUMNS", "ImportFailed", "ImportResult", "PreviewRow",
           "RowProblem", "import_referrals"]
