"""Importing a comparison cohort (DESIGN.md "CSV: comparison cohort"), all or nothing.

Each row is a person dealt with otherwise for the kind of offence the programme takes. The
person is found as the imports find people (referrals.matching: the PNC ID, else the exact
normalised family name, first given name and date of birth) or, when nobody on record matches,
created, so that the reoffences recorded for people (the reoffences table) apply to them too.

Services take the acting user and `now`, flush, never commit; errors are DomainErrors.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from sqlalchemy import and_, func, or_, select

from diversion.audit.models import AuditCategory
from diversion.audit.services import record
from diversion.auth.models import Force, Role, User
from diversion.core.csvimport import ImportFailed, Row, RowProblem, Wording, read_csv_rows, text_errors
from diversion.core.errors import Forbidden
from diversion.core.extensions import db
from diversion.core.parsing import ParseError, parse_int
from diversion.core.timeutils import london_today
from diversion.referrals.intake import parse_date
from diversion.referrals.matching import PersonKeys, first_given_key, is_same_person, name_key
from diversion.referrals.models import ContactChannel, Person
from diversion.referrals.pnc import InvalidPnc, parse_pnc
from diversion.reoffences.models import ComparisonCase, ComparisonDisposal

COLUMNS = ("force_code", "pnc_id", "family_name", "given_names", "date_of_birth", "index_date",
           "prior_offences", "disposal", "source_reference")
REQUIRED_COLUMNS = ("force_code", "date_of_birth", "index_date", "prior_offences", "disposal",
                    "source_reference")
MAX_BYTES = 10 * 1024 * 1024
MAX_ROWS = 50_000
MAX_PRIOR_OFFENCES = 999
WORDING = Wording(not_utf8="The file must be saved as UTF-8",
                  column_missing="This column is missing", no_rows="The file has no rows")
AMBIGUOUS = ("More than one person on record has this name and date of birth: "
             "give the PNC ID")
_CHUNK = 500
T = TypeVar("T")


@dataclass(frozen=True)
class _Clean:
    line: int
    force_code: str
    pnc_id: str | None
    family_name: str | None
    given_names: str | None
    date_of_birth: dt.date
    index_date: dt.date
    prior_offences: int
    disposal: ComparisonDisposal
    source_reference: str


@dataclass(frozen=True)
class PreviewRow:
    """A row that will be imported, for the upload page's check step."""

    line: int
    person_name: str
    new_person: bool
    force_code: str
    index_date: dt.date
    prior_offences: int
    disposal: ComparisonDisposal
    source_reference: str


@dataclass
class ComparisonImportResult:
    """What an import did (or, on a dry run, would do)."""

    imported: int = 0
    already_imported: int = 0
    people_created: int = 0
    preview: list[PreviewRow] = field(default_factory=list)


def _check_role(actor: User | None) -> None:
    if actor is not None and actor.role is not Role.MANAGER:
        raise Forbidden("Only programme managers can import a comparison cohort")


def _check_header(header: Sequence[str], rows: Sequence[Row]) -> list[RowProblem]:
    if "pnc_id" in header or {"family_name", "given_names"} <= set(header):
        return []
    return [RowProblem(1, "pnc_id", WORDING.column_missing)]


def _clean(line: int, row: Mapping[str, str], *, today: dt.date,
           forces: Collection[str]) -> _Clean | list[RowProblem]:
    """The row's values, or every problem with it."""
    errors = text_errors(row, COLUMNS)

    def text(name: str) -> str:
        return (row.get(name) or "").strip()

    dates: dict[str, dt.date | None] = {}
    for name, what in (("date_of_birth", "Date of birth"), ("index_date", "Index date")):
        try:
            dates[name] = parse_date(row.get(name), what=what)
        except ParseError as error:
            errors.setdefault(name, str(error))
            dates[name] = None
        if name not in errors and dates[name] is None:
            errors[name] = f"Enter the {what.lower()}"
    born, index = dates["date_of_birth"], dates["index_date"]
    if index is not None and index > today:
        errors.setdefault("index_date", "The index date cannot be in the future")
    if born is not None and index is not None and born >= index:
        errors.setdefault("date_of_birth", "The date of birth must be before the index date")
    pnc_id = None
    if text("pnc_id"):
        try:
            pnc_id = parse_pnc(text("pnc_id"), today=today)
        except InvalidPnc as error:
            errors.setdefault("pnc_id", str(error))
    elif not (text("family_name") and text("given_names")):
        for name, message in (("family_name", "Enter the family name, or the PNC ID"),
                              ("given_names", "Enter the given names, or the PNC ID")):
            if not text(name):
                errors.setdefault(name, message)
    for name, limit in (("family_name", 100), ("given_names", 200)):
        if len(text(name)) > limit:
            errors.setdefault(name, f"Must be {limit} characters or fewer")
    prior = 0
    try:
        prior = parse_int(text("prior_offences") or "", minimum=0, maximum=MAX_PRIOR_OFFENCES,
                          what="Prior offences")
    except ParseError as error:
        errors.setdefault("prior_offences", str(error))
    disposal = None
    try:
        disposal = ComparisonDisposal(text("disposal").lower())
    except ValueError:
        errors.setdefault("disposal", "Disposal must be charged, cautioned, community_resolution "
                                      "or other")
    if not text("force_code"):
        errors.setdefault("force_code", "Enter the force code")
    elif text("force_code").upper() not in forces:
        errors.setdefault("force_code", "No force has this code")
    if not text("source_reference"):
        errors.setdefault("source_reference", "Enter the source reference")
    elif len(text("source_reference")) > 80:
        errors.setdefault("source_reference", "The source reference must be 80 characters or fewer")
    if errors or born is None or index is None or disposal is None:
        return [RowProblem(line, column, message) for column, message in errors.items()]
    return _Clean(line=line, force_code=text("force_code").upper(), pnc_id=pnc_id,
                  family_name=text("family_name") or None, given_names=text("given_names") or None,
                  date_of_birth=born, index_date=index, prior_offences=prior, disposal=disposal,
                  source_reference=text("source_reference"))


def _chunks(values: Sequence[T]) -> list[Sequence[T]]:
    return [values[start:start + _CHUNK] for start in range(0, len(values), _CHUNK)]


class _People:
    """People on record the rows may be, loaded in a few queries (no force scoping: managers)."""

    def __init__(self, rows: Sequence[_Clean]) -> None:
        pncs = sorted({r.pnc_id for r in rows if r.pnc_id})
        keys = sorted({(name_key(r.family_name), r.date_of_birth) for r in rows if r.family_name})
        found: dict[int, Person] = {}
        for chunk in _chunks(pncs):
            found.update((p.id, p) for p in db.session.scalars(
                select(Person).where(Person.pnc_id.in_(chunk))))
        for key_chunk in _chunks(keys):
            found.update((p.id, p) for p in db.session.scalars(select(Person).where(or_(*(
                and_(Person.family_name_key == key, Person.date_of_birth == born)
                for key, born in key_chunk)))))
        self.by_pnc = {p.pnc_id: p for p in found.values() if p.pnc_id}
        self.born: dict[tuple[str, dt.date], list[Person]] = defaultdict(list)
        for person in sorted(found.values(), key=lambda p: p.id):
            self.born[(person.family_name_key, person.date_of_birth)].append(person)

    def find(self, row: _Clean) -> Person | None | RowProblem:
        """The one person the row is about; None: nobody (to be created); a problem."""
        if row.pnc_id and row.pnc_id in self.by_pnc:
            person = self.by_pnc[row.pnc_id]
            if person.date_of_birth != row.date_of_birth:
                return RowProblem(row.line, "date_of_birth", "The person on record with this PNC "
                                                             "ID has another date of birth")
            return person
        if row.family_name and row.given_names:
            query = PersonKeys.of(family_name=row.family_name, given_names=row.given_names,
                                  date_of_birth=row.date_of_birth, pnc_id=row.pnc_id)
            candidates = [p for p in self.born.get((query.family_name_key, query.date_of_birth), [])
                          if is_same_person(query, PersonKeys.of_person(p))]
            if len(candidates) > 1:
                return RowProblem(row.line, "family_name", AMBIGUOUS)
            if candidates:
                return candidates[0]
            return None
        return RowProblem(row.line, "family_name", "No person on record has this PNC ID: give "
                                                   "the family name and given names too")


def _new_person(row: _Clean, *, actor: User | None, now: dt.datetime) -> Person:
    assert row.family_name and row.given_names
    person = Person(family_name=row.family_name, given_names=row.given_names,
                    family_name_key=name_key(row.family_name),
                    given_name_key=first_given_key(row.given_names),
                    date_of_birth=row.date_of_birth, pnc_id=row.pnc_id,
                    preferred_contact=ContactChannel.POST, needs_step_free=False,
                    created_at=now, updated_at=now)
    db.session.add(person)
    return person


def import_comparison_cases(*, content: bytes, actor: User | None, now: dt.datetime,
                            dry_run: bool = False) -> ComparisonImportResult:
    """Import a comparison cohort CSV file, all or nothing.

    Rows whose source reference is already imported (for the same person) are left alone, so
    importing a file twice creates nothing new. Raises ImportFailed listing every problem.
    On success the cases (and the people not yet on record) are added and flushed, unless
    `dry_run`; one audit row records the import, one more each person created.
    """
    _check_role(actor)
    _, rows = read_csv_rows(content, required_columns=REQUIRED_COLUMNS, optional_columns=COLUMNS,
                            max_bytes=MAX_BYTES, max_rows=MAX_ROWS, wording=WORDING,
                            check_header=_check_header)
    today = london_today(now)
    forces: dict[str, int] = {code: force_id for code, force_id in db.session.execute(
        select(Force.code, Force.id))}
    problems: list[RowProblem] = []
    clean: list[_Clean] = []
    for line, raw in rows:
        checked = _clean(line, raw, today=today, forces=forces)
        if isinstance(checked, list):
            problems.extend(checked)
        else:
            clean.append(checked)

    existing: dict[str, int] = {}
    for chunk in _chunks(sorted({r.source_reference for r in clean})):
        existing.update((reference, person_id) for reference, person_id in db.session.execute(
            select(ComparisonCase.source_reference, ComparisonCase.person_id)
            .where(ComparisonCase.source_reference.in_(chunk))))
    people = _People(clean)
    result = ComparisonImportResult()
    seen: set[str] = set()
    to_add: list[tuple[_Clean, Person | None]] = []
    for row in clean:
        if row.source_reference in seen:
            problems.append(RowProblem(row.line, "source_reference",
                                       "The same source reference is on an earlier row"))
            continue
        seen.add(row.source_reference)
        found = people.find(row)
        if isinstance(found, RowProblem):
            problems.append(found)
            continue
        if row.source_reference in existing:
            if found is None or existing[row.source_reference] != found.id:
                problems.append(RowProblem(row.line, "source_reference", "This source reference "
                                                                         "is already used for someone else"))
            else:
                result.already_imported += 1
            continue
        to_add.append((row, found))
        result.preview.append(PreviewRow(
            line=row.line, new_person=found is None,
            person_name=found.full_name if found is not None else
            f"{row.given_names} {row.family_name}",
            force_code=row.force_code, index_date=row.index_date,
            prior_offences=row.prior_offences, disposal=row.disposal,
            source_reference=row.source_reference))

    if problems:
        problems.sort(key=lambda p: p.line)
        raise ImportFailed(problems)
    result.imported = len(to_add)
    if dry_run or not to_add:
        return result
    created: dict[tuple[str, ...], Person] = {}
    chosen: list[tuple[_Clean, Person]] = []
    for row, person in to_add:
        if person is None:
            # The same PNC ID is the same person; without one, the same names and birth date.
            query = PersonKeys.of(family_name=row.family_name or "",
                                  given_names=row.given_names or "",
                                  date_of_birth=row.date_of_birth)
            key = (("pnc", row.pnc_id) if row.pnc_id else
                   ("name", query.family_name_key, query.given_name_key,
                    row.date_of_birth.isoformat()))
            person = created.get(key)
            if person is None:
                person = created[key] = _new_person(row, actor=actor, now=now)
        chosen.append((row, person))
    db.session.flush()
    cases = [ComparisonCase(
        person_id=person.id, force_id=forces[row.force_code], index_date=row.index_date,
        prior_offences=row.prior_offences, disposal=row.disposal,
        source_reference=row.source_reference, imported_at=now,
        imported_by_user_id=actor.id if actor is not None else None) for row, person in chosen]
    db.session.add_all(cases)
    db.session.flush()
    result.people_created = len(created)
    for person in created.values():
        record(action="person.create", category=AuditCategory.COLLECTION, now=now, actor=actor,
               object_type="person", object_id=person.id, details={"via": "comparison_import"})
    record(action="comparison.import", category=AuditCategory.COLLECTION, now=now, actor=actor,
           object_type="comparison_cohort", object_id="import",
           details={"imported": result.imported, "already_imported": result.already_imported,
                    "people_created": result.people_created})
    db.session.flush()
    return result


def count_comparison_cases() -> int:
    return db.session.scalar(select(func.count()).select_from(ComparisonCase)) or 0


__all__ = ["COLUMNS", "MAX_BYTES", "ComparisonImportResult", "ImportFailed", "PreviewRow",
           "count_comparison_cases", "import_comparison_cases"]
