"""Recording reoffences: one at a time (form, API) or a whole CSV file (CLI, upload page).

A person is found by PNC ID, or by exact normalised family name + first given name + date of
birth; two people matching is ambiguous and refused. A police user may record only for people
referred by their own force; anyone else is, to them, nobody we know (NotFound), so the answer
never reveals that a person exists in another force's records.

Services take the acting user and `now`, flush, never commit; errors are DomainErrors.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, func, or_, select

from diversion.audit.models import AuditCategory
from diversion.audit.services import record
from diversion.auth.models import Role, User
from diversion.core.csvimport import ImportFailed, Row, RowProblem, Wording, read_csv_rows, text_errors
from diversion.core.errors import Forbidden, NotFound, ValidationFailed
from diversion.core.extensions import db
from diversion.core.parsing import ParseError
from diversion.core.timeutils import london_today
from diversion.referrals.intake import parse_date
from diversion.referrals.matching import PersonKeys, is_same_person, name_key
from diversion.referrals.models import Person, Referral
from diversion.referrals.pnc import InvalidPnc, parse_pnc
from diversion.reoffences.models import Reoffence, ReoffenceOutcome

COLUMNS = ("pnc_id", "family_name", "given_names", "date_of_birth", "offence_code",
           "offence_date", "outcome", "outcome_date", "source_reference")
REQUIRED_COLUMNS = ("offence_code", "offence_date", "outcome", "source_reference")
NO_PERSON = "No person on record matches this PNC ID, or name and date of birth"
AMBIGUOUS = ("More than one person on record has this name and date of birth: "
             "give the PNC ID")
MAX_BYTES = 10 * 1024 * 1024
MAX_ROWS = 50_000
WORDING = Wording(not_utf8="The file must be saved as UTF-8",
                  column_missing="This column is missing", no_rows="The file has no rows")
_CHUNK = 500  # keeps IN (...) lists well inside every database's parameter limit
_LABELS = {"date_of_birth": "Date of birth", "offence_date": "Offence date",
           "outcome_date": "Outcome date"}


@dataclass
class ReoffenceInput:
    """A reoffence as the form, the CSV (same column names) and the API give it."""

    offence_code: str
    offence_date: dt.date | None
    outcome: str
    source_reference: str
    outcome_date: dt.date | None = None
    pnc_id: str | None = None
    family_name: str | None = None
    given_names: str | None = None
    date_of_birth: dt.date | None = None


def reoffence_input_from_row(row: Mapping[str, str | None]) -> ReoffenceInput:
    """A ReoffenceInput from text values keyed by the CSV's column names."""
    errors = text_errors(row, COLUMNS)
    dates: dict[str, dt.date | None] = {}
    for name in ("date_of_birth", "offence_date", "outcome_date"):
        try:
            dates[name] = parse_date(row.get(name), what=_LABELS[name])
        except ParseError as error:
            errors.setdefault(name, str(error))
    if errors:
        raise ValidationFailed(errors)

    def text(name: str) -> str:
        return (row.get(name) or "").strip()

    return ReoffenceInput(
        pnc_id=text("pnc_id") or None, family_name=text("family_name") or None,
        given_names=text("given_names") or None, date_of_birth=dates["date_of_birth"],
        offence_code=text("offence_code").upper(), offence_date=dates["offence_date"],
        outcome=text("outcome").lower(), outcome_date=dates["outcome_date"],
        source_reference=text("source_reference"),
    )


@dataclass(frozen=True)
class _Clean:
    data: ReoffenceInput
    outcome: ReoffenceOutcome
    offence_date: dt.date
    pnc_id: str | None


def _validate(data: ReoffenceInput, *, today: dt.date) -> _Clean:
    """Shape checks that need no database. Raises ValidationFailed keyed by column."""
    errors: dict[str, str] = {}
    pnc_id = None
    if data.pnc_id:
        try:
            pnc_id = parse_pnc(data.pnc_id, today=today)
        except InvalidPnc as exc:
            errors["pnc_id"] = str(exc)
    elif not (data.family_name and data.given_names and data.date_of_birth):
        for name, message in (("family_name", "Enter the family name, or the PNC ID"),
                              ("given_names", "Enter the given names, or the PNC ID"),
                              ("date_of_birth", "Enter the date of birth, or the PNC ID")):
            if not getattr(data, name):
                errors[name] = message
    if not data.offence_code:
        errors["offence_code"] = "Enter the offence code"
    elif len(data.offence_code) > 32:
        errors["offence_code"] = "The offence code must be 32 characters or fewer"
    if not data.source_reference:
        errors["source_reference"] = "Enter the source reference"
    elif len(data.source_reference) > 80:
        errors["source_reference"] = "The source reference must be 80 characters or fewer"
    outcome = None
    try:
        outcome = ReoffenceOutcome(data.outcome)
    except ValueError:
        errors["outcome"] = "Outcome must be conviction, caution, arrest or no_further_action"
    if data.offence_date is None:
        errors.setdefault("offence_date", "Enter the offence date")
    elif data.offence_date > today:
        errors["offence_date"] = "The offence date cannot be in the future"
    if data.outcome_date is not None:
        if data.outcome_date > today:
            errors["outcome_date"] = "The outcome date cannot be in the future"
        elif data.offence_date is not None and data.outcome_date < data.offence_date:
            errors["outcome_date"] = "The outcome date must be the same as or after the offence date"
    elif outcome is not None and outcome.needs_outcome_date:
        errors["outcome_date"] = f"Enter the outcome date of the {outcome.value}"
    if errors or outcome is None or data.offence_date is None:
        raise ValidationFailed(errors)
    return _Clean(data=data, outcome=outcome, offence_date=data.offence_date, pnc_id=pnc_id)


def _check_role(actor: User | None) -> None:
    if actor is not None and actor.role not in (Role.POLICE, Role.MANAGER):
        raise Forbidden("Only police officers and programme managers can record reoffences")


# Finding people, many at once -------------------------------------------------------------

def _chunks(values: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start:start + _CHUNK]


class _People:
    """The people a batch of rows may refer to, loaded in a few queries, scoped to the actor."""

    def __init__(self, rows: Sequence[_Clean], actor: User | None) -> None:
        pncs = sorted({r.pnc_id for r in rows if r.pnc_id})
        name_keys = sorted({
            (name_key(r.data.family_name or ""), r.data.date_of_birth)
            for r in rows if r.data.family_name and r.data.date_of_birth
        }, key=lambda k: (k[0], k[1].isoformat() if k[1] else ""))
        found: dict[int, Person] = {}
        for chunk in _chunks(pncs):
            found.update((p.id, p) for p in db.session.scalars(
                select(Person).where(Person.pnc_id.in_(chunk))))
        for chunk in _chunks(name_keys):
            found.update((p.id, p) for p in db.session.scalars(
                select(Person).where(or_(*(
                    and_(Person.family_name_key == key, Person.date_of_birth == born)
                    for key, born in chunk)))))
        if actor is not None and actor.role is Role.POLICE:
            ids = sorted(found)
            own: set[int] = set()
            for id_chunk in _chunks(ids):
                own.update(db.session.scalars(
                    select(Referral.person_id).where(Referral.person_id.in_(id_chunk),
                                                     Referral.force_id == actor.force_id)
                    .distinct()))
            found = {pid: p for pid, p in found.items() if pid in own}
        self.by_pnc = {p.pnc_id: p for p in found.values() if p.pnc_id}
        self.born: dict[tuple[str, dt.date], list[Person]] = defaultdict(list)
        for person in sorted(found.values(), key=lambda p: p.id):
            self.born[(person.family_name_key, person.date_of_birth)].append(person)

    def find(self, row: _Clean) -> Person:
        """The one person this row is about; NotFound (no one) or ValidationFailed (two)."""
        data = row.data
        if row.pnc_id and row.pnc_id in self.by_pnc:
            return self.by_pnc[row.pnc_id]
        if data.family_name and data.given_names and data.date_of_birth:
            query = PersonKeys.of(family_name=data.family_name, given_names=data.given_names,
                                  date_of_birth=data.date_of_birth, pnc_id=row.pnc_id)
            # The matching rule decides (a different PNC ID on record is a different person).
            candidates = [p for p in self.born.get((query.family_name_key, query.date_of_birth), [])
                          if is_same_person(query, PersonKeys.of_person(p))]
            if len(candidates) > 1:
                raise ValidationFailed({"family_name": AMBIGUOUS})
            if candidates:
                return candidates[0]
        raise NotFound(NO_PERSON, field="pnc_id" if row.pnc_id else "family_name")


def _person_problem(row: _Clean, person: Person) -> dict[str, str]:
    if row.offence_date < person.date_of_birth:
        return {"offence_date": "The offence date is before the person's date of birth"}
    return {}


def _new_reoffence(row: _Clean, person: Person, *, actor: User | None,
                   now: dt.datetime) -> Reoffence:
    data = row.data
    reoffence = Reoffence(
        person_id=person.id, offence_code=data.offence_code, offence_date=row.offence_date,
        outcome=row.outcome, outcome_date=data.outcome_date,
        source_reference=data.source_reference,
        force_id=actor.force_id if actor is not None and actor.role is Role.POLICE else None,
        recorded_by_user_id=actor.id if actor is not None else None, recorded_at=now,
    )
    db.session.add(reoffence)
    return reoffence


def _audit(reoffence: Reoffence, *, actor: User | None, now: dt.datetime, via: str) -> None:
    record(action="reoffence.recorded", category=AuditCategory.COLLECTION, now=now, actor=actor,
           object_type="person", object_id=reoffence.person_id,
           details={"reoffence_id": reoffence.id, "via": via})


def get_reoffence_by_source_reference(source_reference: str) -> Reoffence | None:
    return db.session.scalar(
        select(Reoffence).where(Reoffence.source_reference == source_reference.strip()))


def record_reoffence(*, data: ReoffenceInput, actor: User | None, now: dt.datetime,
                     via: str = "form") -> tuple[Reoffence, bool]:
    """Record one reoffence; (reoffence, created). The same source reference again returns
    the existing record (created False) when it is about the same person, else ValidationFailed.

    Raises ValidationFailed (422, keyed by column), NotFound (404, nobody we know: for police,
    nobody their force referred), Forbidden (other roles).
    """
    _check_role(actor)
    row = _validate(data, today=london_today(now))
    person = _People([row], actor).find(row)
    problems = _person_problem(row, person)
    if problems:
        raise ValidationFailed(problems)
    existing = get_reoffence_by_source_reference(data.source_reference)
    if existing is not None:
        if existing.person_id != person.id:
            raise ValidationFailed({"source_reference":
                                    "This source reference is already used for someone else"})
        return existing, False
    reoffence = _new_reoffence(row, person, actor=actor, now=now)
    db.session.flush()
    _audit(reoffence, actor=actor, now=now, via=via)
    return reoffence, True


# CSV import ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class PreviewRow:
    """A row that will be imported, for the upload page's preview."""

    line: int
    person_name: str
    offence_code: str
    offence_date: dt.date
    outcome: ReoffenceOutcome
    outcome_date: dt.date | None
    source_reference: str


@dataclass
class ImportResult:
    """What an import did (or, on a dry run, would do)."""

    imported: int = 0
    already_imported: int = 0
    unmatched: list[int] = field(default_factory=list)  # lines skipped with --skip-unmatched
    problems: list[RowProblem] = field(default_factory=list)
    preview: list[PreviewRow] = field(default_factory=list)

    @property
    def is_ok(self) -> bool:
        return not self.problems


def _failed(problems: list[RowProblem]) -> ImportFailed:
    return ImportFailed(problems, f"The file has {len(problems)} problem(s); nothing was imported")


def _check_header(header: Sequence[str], rows: Sequence[Row]) -> list[RowProblem]:
    """A person is found by PNC ID or by name and date of birth: one set of columns is needed."""
    if {"pnc_id"} <= set(header) or {"family_name", "given_names", "date_of_birth"} <= set(header):
        return []
    return [RowProblem(1, "pnc_id", WORDING.column_missing)]


def import_reoffences(*, content: bytes, actor: User | None, now: dt.datetime,
                      dry_run: bool = False, skip_unmatched: bool = False) -> ImportResult:
    """Import a CSV file (DESIGN.md "CSV: reoffences"), all or nothing.

    Rows whose source reference is already recorded are left alone, so importing a file twice
    creates nothing new. Raises ImportFailed listing every problem; on success the records are
    added and flushed, unless `dry_run`. `skip_unmatched` skips rows about nobody we know and
    lists their lines instead of failing.
    """
    _check_role(actor)
    # Other columns are let through and ignored (optional_columns=None).
    _, rows = read_csv_rows(content, required_columns=REQUIRED_COLUMNS, optional_columns=None,
                            max_bytes=MAX_BYTES, max_rows=MAX_ROWS, wording=WORDING,
                            check_header=_check_header)

    today = london_today(now)
    result = ImportResult()
    clean: list[tuple[int, _Clean]] = []
    for line, raw in rows:
        try:
            clean.append((line, _validate(reoffence_input_from_row(raw), today=today)))
        except ValidationFailed as error:
            result.problems.extend(RowProblem(line, c, m) for c, m in error.errors.items())

    counts = Counter(row.data.source_reference for _, row in clean)
    existing: dict[str, int] = {}
    references = sorted(counts)
    for chunk in _chunks(references):
        existing.update((reference, person_id) for reference, person_id in db.session.execute(
            select(Reoffence.source_reference, Reoffence.person_id)
            .where(Reoffence.source_reference.in_(chunk))))

    people = _People([row for _, row in clean], actor)
    seen: set[str] = set()
    to_add: list[tuple[_Clean, Person]] = []
    for line, row in clean:
        reference = row.data.source_reference
        if reference in seen:
            result.problems.append(RowProblem(line, "source_reference",
                                              "The same source reference is on an earlier row"))
            continue
        seen.add(reference)
        try:
            person = people.find(row)
        except NotFound as error:
            if skip_unmatched:
                result.unmatched.append(line)
            else:
                result.problems.append(RowProblem(line, error.field or "pnc_id", error.message))
            continue
        except ValidationFailed as error:
            result.problems.extend(RowProblem(line, c, m) for c, m in error.errors.items())
            continue
        problems = _person_problem(row, person)
        if problems:
            result.problems.extend(RowProblem(line, c, m) for c, m in problems.items())
            continue
        if reference in existing:
            if existing[reference] != person.id:
                result.problems.append(RowProblem(
                    line, "source_reference", "This source reference is already used for "
                    "someone else"))
            else:
                result.already_imported += 1
            continue
        to_add.append((row, person))
        result.preview.append(PreviewRow(
            line=line, person_name=person.full_name, offence_code=row.data.offence_code,
            offence_date=row.offence_date, outcome=row.outcome,
            outcome_date=row.data.outcome_date, source_reference=reference))

    if result.problems:
        raise _failed(sorted(result.problems, key=lambda p: p.line))
    result.imported = len(to_add)
    if dry_run or not to_add:
        return result
    added = [_new_reoffence(row, person, actor=actor, now=now) for row, person in to_add]
    db.session.flush()
    for reoffence in added:
        _audit(reoffence, actor=actor, now=now, via="import")
    db.session.flush()
    return result


def count_reoffences() -> int:
    return db.session.scalar(select(func.count()).select_from(Reoffence)) or 0


def count_reoffences_by_outcome() -> dict[str, int]:
    """Recorded reoffences by outcome, every outcome listed (0 when none), for `flask stats`."""
    counts = dict(db.session.execute(
        select(Reoffence.outcome, func.count()).group_by(Reoffence.outcome)).all())
    return {outcome.value: counts.get(outcome, 0) for outcome in ReoffenceOutcome}


__all__ = ["COLUMNS", "MAX_BYTES", "MAX_ROWS", "ImportFailed", "ImportResult", "PreviewRow", "ReoffenceInput",
           "RowProblem", "count_reoffences", "count_reoffences_by_outcome",
           "get_reoffence_by_source_reference",
           "import_reoffences", "record_reoffence", "reoffence_input_from_row"]
