"""Importing referrals from a CSV file (DESIGN.md "CSV: referrals"), all or nothing.

`import_referrals(content=, actor=, now=, dry_run=False, via=)` reads the file, checks every
row (fields, duplicates within the file, crime references already used, eligibility of new
referrals) a chunk at a time, deciding in memory what `creation.create_referral` would for each
row in turn (`_People` mirrors `_choose_person` and `_fill_blanks`), then writes the rows
inside a savepoint (`core.bulk.BulkInsert`: multi-row INSERTs on SQLite, one COPY a table on
PostgreSQL). Any problem raises ImportFailed listing them all and
writes nothing; a dry run writes nothing and reports what would happen. The caller commits.
Python's cycle collector is held off during an import, and SQLite's page cache is larger
(`core.bulk.bulk_write`).

A row whose force and crime reference are already on record for the same person is counted
as already present and left alone, so importing a file twice creates nothing new.

Imported new referrals get no PIN: nobody could be shown ten thousand of them, and hashing
one costs a quarter of a second. Officers reissue a PIN for each person when they hand out the
offer letter. Historical rows never get one.
"""

from __future__ import annotations

import bisect
import datetime as dt
import functools
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any, cast

from sqlalchemy import (
    ARRAY,
    Date,
    Dialect,
    String,
    Table,
    and_,
    bindparam,
    func,
    select,
    text,
)
from sqlalchemy.exc import IntegrityError

from diversion.audit.models import AuditCategory, AuditEvent
from diversion.audit.services import actor_label_for, record
from diversion.auth.models import Force, Role, User
from diversion.core.bulk import BulkInsert, bulk_write, one_of
from diversion.core.csvimport import (
    ImportFailed,
    Row,
    RowProblem,
    Wording,
    read_csv_rows,
)
from diversion.core.errors import Forbidden, ValidationFailed
from diversion.core.extensions import db
from diversion.core.timeutils import london_today
from diversion.programmes.models import Programme
from diversion.referrals import lifecycle, rules
from diversion.referrals.creation import (
    PERSON_FIELDS,
    IneligibleReferral,
    among,
    new_references,
    programme_rules,
    refusals_before_matching,
)
from diversion.referrals.intake import (
    HISTORICAL_OUTCOMES,
    CleanReferral,
    Lookups,
    ReferralInput,
    blank,
    read_referral_row,
    validate_referral,
)
from diversion.referrals.matching import PersonKeys, first_given_key, is_same_person, name_key
from diversion.referrals.models import (
    ContactChannel,
    Person,
    Referral,
    ReferralEvent,
    ReferralEventType,
    ReferralStatus,
)
from diversion.referrals.pins import NO_PIN
from diversion.referrals.pnc import InvalidPnc, parse_pnc
from diversion.referrals.signals import referrals_moved

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
    connection = db.session.connection()
    if connection.dialect.name == "sqlite":
        # Which are on record at all, asked of the driver (SQLAlchemy's work on an IN list of
        # 500 values cost more than SQLite's); only those are read with their people.
        on_record: list[str] = []
        for chunk in _chunks(references):
            marks = ", ".join(["?"] * len(chunk))
            on_record += connection.exec_driver_sql(
                "SELECT DISTINCT crime_reference FROM referrals "  # noqa: S608 (marks alone)
                f"WHERE crime_reference IN ({marks})", tuple(chunk)).scalars()
        references = sorted(on_record)
    found: dict[tuple[str, str], tuple[str, Person]] = {}
    for chunk in _chunks(references):
        query = among(select(Force.code, Force.name, Referral.crime_reference, Person)
                      .join(Referral.force).join(Referral.person),
                      Referral.crime_reference, chunk)
        for code, force_name, crime_reference, person in db.session.execute(query):
            if (code, crime_reference) in wanted:
                found[(code, crime_reference)] = (force_name, person)
    return found


def _check_actor(actor: User | None) -> None:
    if actor is not None and actor.role not in (Role.POLICE, Role.MANAGER):
        raise Forbidden("Only police officers and programme managers can import referrals")


Progress = Callable[[int, int], None]

CHUNK = 1_000
BLOCKS_A_QUERY = 250


# People, as the import sees them --------------------------------------------------------------

def _rank(someone: _Someone) -> tuple[int, int]:
    return someone.rank


@dataclass(eq=False)
class _Someone:
    """A person on record (`person`) or one this import creates (`values`), with what matching
    compares as it stands after the rows before: the import matches in memory, exactly as
    `creation._choose_person` would against the rows written so far."""

    rank: tuple[int, int]  # people on record by id, then the import's new people in order
    family_name_key: str
    given_name_key: str
    date_of_birth: dt.date
    pnc_id: str | None
    full_name: str
    person: Person | None = None
    values: dict[str, Any] | None = None
    priors: list[rules.PriorReferral] = field(default_factory=list)
    # Blanks of a person on record that rows fill in, applied when the rows are written.
    changes: dict[str, Any] = field(default_factory=dict)

    def get(self, name: str) -> Any:
        if self.values is not None:
            return self.values[name]
        return self.changes.get(name, getattr(self.person, name))

    def put(self, name: str, value: Any) -> None:
        if self.values is not None:
            self.values[name] = value
        else:
            self.changes[name] = value

    @property
    def id(self) -> int:
        if self.person is not None:
            return self.person.id
        assert self.values is not None and "id" in self.values
        return int(self.values["id"])


@functools.cache
def _block_terms(count: int) -> str:
    """`SELECT id FROM people WHERE (family_name_key = ? AND date_of_birth = ?) OR ...`,
    `count` terms (SQLite)."""
    return "SELECT id FROM people WHERE " + " OR ".join(  # noqa: S608 (no values in it)
        ["(family_name_key = ? AND date_of_birth = ?)"] * count)


def _date_processor(dialect: Dialect) -> Callable[[Any], Any]:
    """A date as the driver takes it (SQLite: the text SQLAlchemy's Date stores)."""
    processor = Date().dialect_impl(dialect).bind_processor(dialect)
    return processor if processor is not None else (lambda value: value)


# A row's person fields at once (at C speed), and the contact channels by value (calling the
# enum costs more than the rest of a new person's values).
_person_fields = itemgetter(*PERSON_FIELDS)
_CHANNELS = {channel.value: channel for channel in ContactChannel}


def _channel(value: str) -> ContactChannel:
    found = _CHANNELS.get(value)
    return found if found is not None else ContactChannel(value)


class _People:
    """Everyone the import may link rows to, found one chunk at a time through the blocking key
    (normalised family name and date of birth: `ix_people_match_keys`) and the PNC ID."""

    def __init__(self) -> None:
        self.by_block: dict[tuple[str, dt.date], list[_Someone]] = {}
        self.by_pnc: dict[str, _Someone] = {}
        self.on_record: dict[int, _Someone] = {}
        self.blocks_read: set[tuple[str, dt.date]] = set()
        self.pncs_read: set[str] = set()
        self.created = 0
        self.programmes: dict[Programme, rules.ProgrammeRules] = {}

    def rules_of(self, programme: Programme) -> rules.ProgrammeRules:
        """A programme's eligibility settings, read once for the file (by the object: the
        session's one object for the programme, and not an attribute read a row)."""
        found = self.programmes.get(programme)
        if found is None:
            found = self.programmes[programme] = programme_rules(programme)
        return found

    def _know(self, person: Person) -> _Someone:
        someone = self.on_record.get(person.id)
        if someone is None:
            someone = _Someone((0, person.id), person.family_name_key, person.given_name_key,
                               person.date_of_birth, person.pnc_id, person.full_name,
                               person=person)
            self.on_record[person.id] = someone
            self._index(someone)
        return someone

    def _index(self, someone: _Someone) -> None:
        block = self.by_block.setdefault((someone.family_name_key, someone.date_of_birth), [])
        bisect.insort(block, someone, key=_rank)
        if someone.pnc_id:
            self.by_pnc.setdefault(someone.pnc_id, someone)

    def read(self, chunk: Sequence[CleanReferral]) -> None:
        """The people on record who could be these rows' people, and their referrals: a fixed
        number of queries whatever the chunk's size."""
        blocks = {(name_key(c.data.family_name), c.data.date_of_birth) for c in chunk
                  if c.data.date_of_birth is not None} - self.blocks_read
        pncs = {c.data.pnc_id for c in chunk if c.data.pnc_id} - self.pncs_read
        found: list[Person] = []
        if blocks and db.session.get_bind().dialect.name == "postgresql":
            # The blocks as two arrays, joined: whatever PostgreSQL believes of the table's
            # size, it either probes ix_people_match_keys once a block or reads the table once
            # (hash join). Planned on statistics of an emptier table (just after an import,
            # before autovacuum's ANALYZE), the ORed terms below were tested on every row: 3.6
            # to 11 s a 10,000-row file where 0.15 s was usual (issue 17).
            keys, born = zip(*sorted(blocks), strict=True)
            block = func.unnest(bindparam("keys", list(keys), type_=ARRAY(String())),
                                bindparam("born", list(born), type_=ARRAY(Date()))
                                ).table_valued("family_name_key", "date_of_birth"
                                               ).render_derived(name="block")
            found += db.session.scalars(select(Person).join(block, and_(
                Person.family_name_key == block.c.family_name_key,
                Person.date_of_birth == block.c.date_of_birth)))
            blocks_by_terms: list[tuple[str, dt.date]] = []
        else:
            blocks_by_terms = sorted(blocks)
        # SQLite: one (family name key = ? AND date of birth = ?) term a block, ORed, which it
        # answers with an index search a term on ix_people_match_keys (it scans the table for
        # a row-value IN list); 250 terms a query keep within its expression depth. The terms
        # go to the driver as they are, asking for the ids alone, and only the people found
        # are loaded: SQLAlchemy's work on a statement of 500 parameters (its cache key, each
        # value's conversion, the ORM's) cost ten times SQLite's own, a twentieth of an
        # import's time, mostly to find nobody.
        if blocks_by_terms:
            connection = db.session.connection()
            to_date = _date_processor(connection.dialect)
            ids: list[int] = []
            for part in _chunks(blocks_by_terms, BLOCKS_A_QUERY):
                ids += connection.exec_driver_sql(
                    _block_terms(len(part)),
                    tuple(value for family_key, born in part
                          for value in (family_key, to_date(born)))).scalars()
            if ids:
                found += db.session.scalars(select(Person).where(one_of(Person.id, ids)))
        if pncs:
            found += db.session.scalars(
                select(Person).where(one_of(Person.pnc_id, sorted(pncs))))
        self.blocks_read |= blocks
        self.pncs_read |= pncs
        new = [person for person in found if person.id not in self.on_record]
        for person in sorted(new, key=lambda p: p.id):
            self._know(person)
        if new:
            priors = db.session.execute(
                select(Referral.person_id, Referral.reference, Referral.programme_id,
                       Referral.referral_date, Referral.status, Referral.force_id)
                .where(Referral.person_id.in_([p.id for p in new])).order_by(Referral.id))
            for person_id, reference, programme_id, day, status, force_id in priors:
                self.on_record[person_id].priors.append(rules.PriorReferral(
                    reference=reference, programme_id=programme_id, referral_date=day,
                    is_open=not status.is_terminal,
                    is_withdrawn=status is ReferralStatus.WITHDRAWN, force_id=force_id))

    def choose(self, data: ReferralInput) -> _Someone | None:
        """`creation._choose_person` for a row: the PNC holder, else the first exact match."""
        if data.pnc_id and (holder := self.by_pnc.get(data.pnc_id)) is not None:
            return holder
        assert data.date_of_birth is not None
        block = self.by_block.get((name_key(data.family_name), data.date_of_birth))
        if not block:  # nobody shares the blocking key: most rows of a file of new people
            return None
        query = PersonKeys.of(family_name=data.family_name, given_names=data.given_names,
                              date_of_birth=data.date_of_birth, pnc_id=data.pnc_id)
        for someone in block:
            keys = PersonKeys(someone.family_name_key, someone.given_name_key,
                              someone.date_of_birth, someone.pnc_id)
            if is_same_person(query, keys):
                return someone
        return None

    def create(self, data: ReferralInput, *, now: dt.datetime) -> _Someone:
        """A new person (written later), known to the rows after this one."""
        assert data.date_of_birth is not None
        self.created += 1
        values: dict[str, Any] = {
            "family_name": data.family_name, "given_names": data.given_names,
            "family_name_key": name_key(data.family_name),
            "given_name_key": first_given_key(data.given_names),
            "date_of_birth": data.date_of_birth,
            "preferred_contact": _channel(data.preferred_contact or "post"),
            "needs_step_free": bool(data.needs_step_free), "created_at": now, "updated_at": now,
            "erased_at": None}
        values.update(zip(PERSON_FIELDS, map(blank, _person_fields(vars(data))), strict=True))
        someone = _Someone((1, self.created), values["family_name_key"],
                           values["given_name_key"], data.date_of_birth, values["pnc_id"],
                           f"{data.given_names} {data.family_name}", values=values)
        self._index(someone)
        return someone

    def fill_blanks(self, someone: _Someone, data: ReferralInput, *,
                    now: dt.datetime) -> list[str]:
        """`creation._fill_blanks`: details the record lacks, never overwriting; the names."""
        get, put = someone.get, someone.put
        filled = []
        for name in PERSON_FIELDS:
            value = blank(getattr(data, name))
            if value and not get(name):
                put(name, value)
                filled.append(name)
        if data.needs_step_free and not get("needs_step_free"):
            put("needs_step_free", True)
            filled.append("needs_step_free")
        if filled:
            put("updated_at", now)
            if "pnc_id" in filled:
                someone.pnc_id = get("pnc_id")
                self.by_pnc.setdefault(get("pnc_id"), someone)
        return filled


# Checking and importing ---------------------------------------------------------------------

@dataclass
class _Planned:
    """A row that will be created: everything its rows need but the ids."""

    row: _Row
    clean: CleanReferral
    someone: _Someone
    new_person: bool
    filled: list[str]
    results: list[rules.RuleResult]
    reference: str


def _plan_row(row: _Row, clean: CleanReferral, people: _People, *, today: dt.date,
              now: dt.datetime, reference: str) -> _Planned:
    """What `create_referral` decides for a row, in memory; IneligibleReferral as it would."""
    data = clean.data
    someone = people.choose(data)
    results: list[rules.RuleResult] = []
    if clean.outcome is None:
        assert data.referral_date and data.offence_date and data.date_of_birth
        results = rules.evaluate(
            rules.EligibilityInput(
                date_of_birth=data.date_of_birth, offence_code=data.offence_code,
                offence_date=data.offence_date, referral_date=data.referral_date,
                admitted=bool(data.admitted), consented=bool(data.consented),
                no_relevant_convictions=data.no_relevant_convictions,
                prior_referrals=list(someone.priors) if someone else [],
                force_id=clean.force.id),
            people.rules_of(clean.programme), today=today)
        if not rules.is_eligible(results):
            raise IneligibleReferral(results)
    filled: list[str] = []
    new_person = someone is None
    if someone is None:
        someone = people.create(data, now=now)
    else:
        filled = people.fill_blanks(someone, data, now=now)
    assert data.referral_date is not None
    someone.priors.append(rules.PriorReferral(
        reference=reference, programme_id=clean.programme.id, referral_date=data.referral_date,
        is_open=clean.outcome is None or not clean.outcome.is_terminal,
        is_withdrawn=clean.outcome is ReferralStatus.WITHDRAWN, force_id=clean.force.id))
    return _Planned(row, clean, someone, new_person, filled, results, reference)


def _new_ids(table: Table, count: int) -> list[int]:
    """Ids for `count` rows about to be inserted, so that one statement writes them and the
    rows that name them (RETURNING would be a statement a row on SQLite, where the order of the
    rows it returns is not promised). PostgreSQL draws them from the table's sequence; on
    SQLite the writer holds the database's one write lock (BEGIN IMMEDIATE, core.db), so the
    ids after the largest are free."""
    if db.session.get_bind().dialect.name == "postgresql":
        return list(db.session.scalars(
            text("SELECT nextval(pg_get_serial_sequence(:table, 'id')) "
                 "FROM generate_series(1, :count)"), {"table": table.name, "count": count}))
    # Straight to the driver: SQLAlchemy's work on the statement cost more than SQLite's.
    top = db.session.connection().exec_driver_sql(
        f"SELECT max(id) FROM {table.name}").scalar() or 0  # noqa: S608 (our own table)
    return list(range(top + 1, top + 1 + count))


PEOPLE_COLUMNS = ("id", "family_name", "given_names", "family_name_key", "given_name_key",
                  "date_of_birth", *PERSON_FIELDS, "preferred_contact", "needs_step_free",
                  "created_at", "updated_at", "erased_at")
REFERRAL_COLUMNS = ("id", "reference", "pin_hash", "pin_issued_at", "force_id", "programme_id",
                    "person_id", "crime_reference", "referral_date", "offence_code",
                    "offence_date", "offence_time", "offence_location", "disposal", "admitted",
                    "consented", "no_relevant_convictions", "officer_email", "officer_user_id",
                    "booking_deadline", "completion_deadline", "is_completion_deadline_given",
                    "status", "closed_on", "is_historical", "eligibility", "created_at",
                    "created_by_user_id")
EVENT_COLUMNS = ("referral_id", "at", "actor_user_id", "actor_label", "event", "from_status",
                 "to_status", "reason")
AUDIT_COLUMNS = ("at", "actor_user_id", "actor_label", "action", "category", "object_type",
                 "object_id", "address", "details")

# One details object for every "person.create" audit row, so that BulkInsert serialises it
# once, not once a row (it is never changed).
_NO_DETAILS: dict[str, Any] = {}


class _Writer:
    """The import's four inserts (people, referrals, their history, the audit rows), each made
    once for the file (`BulkInsert`: multi-row INSERTs, or a COPY a table)."""

    def __init__(self, *, actor: User | None, now: dt.datetime) -> None:
        dialect = db.session.get_bind().dialect
        self.people = BulkInsert(cast(Table, Person.__table__), PEOPLE_COLUMNS, dialect)
        self.referrals = BulkInsert(cast(Table, Referral.__table__), REFERRAL_COLUMNS, dialect)
        self.events = BulkInsert(cast(Table, ReferralEvent.__table__), EVENT_COLUMNS, dialect)
        self.audits = BulkInsert(cast(Table, AuditEvent.__table__), AUDIT_COLUMNS, dialect)
        self.person_values = itemgetter(*PEOPLE_COLUMNS)
        self.actor, self.now = actor, now
        self.actor_id, self.label = getattr(actor, "id", None), actor_label_for(actor)
        self.deadlines_of: dict[tuple[Any, ...], tuple[dt.date, dt.date]] = {}
        self.eligibilities: dict[tuple[int, ...], tuple[tuple[rules.RuleResult, ...],
                                                      list[dict[str, Any]], list[str]]] = {}

    def eligibility(self, results: list[rules.RuleResult]
                    ) -> tuple[list[dict[str, Any]], list[str]]:
        """The referral's eligibility column, one object for rows whose results are alike
        (which BulkInsert then serialises once), and the codes of its warnings. The rules give
        one RuleResult object for alike results (`rules._result` remembers them), so the
        results are told apart by identity, not by hashing each dataclass (a fortieth of an
        import's time); the results are kept beside their column, so no id is reused while
        the writer lives."""
        key = tuple(map(id, results))
        found = self.eligibilities.get(key)
        if found is None:
            found = self.eligibilities[key] = (
                tuple(results), [r.as_dict() for r in results],
                [r.code for r in results if not r.passed])
        return found[1], found[2]

    def deadlines(self, referral_date: dt.date, offence_date: dt.date, programme: Programme,
                  given: dt.date | None) -> tuple[dt.date, dt.date]:
        """The booking and completion deadlines (`rules`), worked out once for each distinct
        set of dates and programme: a file's rows share a few referral and offence dates."""
        key = (referral_date, offence_date, programme, given)
        found = self.deadlines_of.get(key)
        if found is None:
            found = self.deadlines_of[key] = (
                rules.booking_deadline(referral_date, programme.booking_deadline_days),
                rules.completion_deadline(offence_date, programme.completion_deadline_months,
                                          given=given))
        return found

    def write(self, planned: Sequence[_Planned]) -> None:
        """Write the file's planned rows: one statement a table on PostgreSQL (a COPY, whose
        rows are made as they are sent, so the client makes the next part while the server
        stores the one before), multi-row INSERTs on SQLite (`BulkInsert`)."""
        connection = db.session.connection()
        new_people = [p.someone for p in planned if p.new_person]
        if new_people:
            ids = _new_ids(cast(Table, Person.__table__), len(new_people))
            rows = []
            for someone, person_id in zip(new_people, ids, strict=True):
                assert someone.values is not None
                someone.values["id"] = person_id
                rows.append(self.person_values(someone.values))
            self.people.execute(connection, rows)
        db.session.flush()  # blanks filled in people on record
        referral_ids = _new_ids(cast(Table, Referral.__table__), len(planned))
        events: list[tuple[Any, ...]] = []
        audits: list[tuple[Any, ...]] = []
        historical: list[int] = []
        self.referrals.execute(connection, self._referral_rows(
            planned, referral_ids, events=events, audits=audits, historical=historical))
        self.events.execute(connection, events)
        self.audits.execute(connection, audits)
        for part in _chunks(historical, CHUNK):
            self._tell_closed(part)

    def _referral_rows(self, planned: Sequence[_Planned], referral_ids: Sequence[int], *,
                       events: list[tuple[Any, ...]], audits: list[tuple[Any, ...]],
                       historical: list[int]) -> Iterator[tuple[Any, ...]]:
        """The referrals' rows, made one by one as they are written; each referral's history
        and audit rows are added to `events` and `audits`, and a historical one's id to
        `historical`, as its row is made."""
        actor_id, label, now = self.actor_id, self.label, self.now
        initial = lifecycle.INITIAL_STATUS
        created = ReferralEventType.CREATED
        collection, alteration = AuditCategory.COLLECTION, AuditCategory.ALTERATION
        for p, referral_id in zip(planned, referral_ids, strict=True):
            clean = p.clean
            data, programme, outcome = clean.data, clean.programme, clean.outcome
            assert data.referral_date and data.offence_date
            person_id = p.someone.id
            eligibility, warnings = self.eligibility(p.results)
            yield (referral_id, p.reference, NO_PIN, now, clean.force.id, programme.id,
                   person_id, data.crime_reference, data.referral_date, data.offence_code,
                   # validate_referral has already made blank text None (its `blank`).
                   data.offence_date, data.offence_time, data.offence_location,
                   data.disposal, bool(data.admitted), bool(data.consented),
                   data.no_relevant_convictions, data.officer_email,
                   clean.officer.id if clean.officer else None,
                   *self.deadlines(data.referral_date, data.offence_date, programme,
                                   data.completion_deadline),
                   data.completion_deadline is not None, outcome or initial,
                   data.outcome_date if outcome is not None else None, outcome is not None,
                   eligibility, now, actor_id)
            events.append((referral_id, now, actor_id, label, created, None, initial, None))
            if p.new_person:
                audits.append((now, actor_id, label, "person.create", collection, "person",
                               str(person_id), None, _NO_DETAILS))
            elif p.filled:
                audits.append((now, actor_id, label, "person.update", alteration, "person",
                               str(person_id), None, {"added": p.filled}))
            audits.append((now, actor_id, label, "referral.create", collection, "referral",
                           str(referral_id), None,
                           {"person_id": person_id, "historical": outcome is not None,
                            "warnings": warnings}))
            if outcome is not None:
                move = lifecycle.IMPORT_OUTCOME_EVENTS[outcome]
                events.append((referral_id, now, actor_id, label, move, initial, outcome,
                               HISTORICAL_REASON))
                audits.append((now, actor_id, label, f"referral.{move.value}", alteration,
                               "referral", str(referral_id), None,
                               {"from": initial.value, "to": outcome.value}))
                historical.append(referral_id)

    def _tell_closed(self, referral_ids: Sequence[int]) -> None:
        """What listeners do when a referral closes (a completed one's certificate code), told
        once for a chunk of historical referrals, as `transition_many` tells them."""
        loaded = {r.id: r for r in db.session.scalars(
            select(Referral).where(Referral.id.in_(referral_ids)))}
        initial = lifecycle.INITIAL_STATUS
        referrals_moved.send([
            lifecycle.Moved(referral=loaded[referral_id],
                            event=lifecycle.IMPORT_OUTCOME_EVENTS[loaded[referral_id].status],
                            from_status=initial, to_status=loaded[referral_id].status,
                            actor=self.actor, now=self.now, reason=HISTORICAL_REASON)
            for referral_id in referral_ids])


HISTORICAL_REASON = "Historical record imported"


def _add_refusals(data: ReferralInput, errors: dict[str, str], *, today: dt.date,
                  lookups: Lookups) -> None:
    """A row's eligibility refusals beside its mistakes, so the file is corrected in one round;
    each under the column its rule is reported against when the row has no mistake."""
    for name, message in refusals_before_matching(data, wrong=errors.keys(), today=today,
                                                  lookups=lookups).items():
        column = RULE_COLUMNS["admitted_consented"] if (
            name == "consented" and "admitted" not in errors) else name
        errors.setdefault(column, message)


def _check_rows(rows: Sequence[_Row], *, existing: dict[tuple[str, str], tuple[str, Person]],
                references: Iterator[str], actor: User | None, now: dt.datetime,
                today: dt.date, people: _People, problems: list[RowProblem],
                result: ImportResult, planned: list[_Planned],
                progress: Progress | None) -> None:
    """Check every row, a chunk at a time, and plan the ones to create: what `create_referral`
    would decide for each in turn, with a fixed number of queries a chunk."""
    lookups = Lookups()
    done = 0
    for chunk in _chunks(rows, CHUNK):
        lookups.load_officers(row.data.officer_email.strip().lower() for row in chunk)
        checked: list[tuple[_Row, CleanReferral]] = []
        for row in chunk:
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
                checked.append((row, validate_referral(row.data, actor=actor, today=today,
                                                       lookups=lookups)))
            except ValidationFailed as error:
                errors = dict(error.errors)
                _add_refusals(row.data, errors, today=today, lookups=lookups)
                problems.extend(RowProblem(row.line, column, message)
                                for column, message in errors.items())
        people.read([clean for _, clean in checked])
        checking = iter(checked)
        upcoming = next(checking, None)
        for row in chunk:
            done += 1
            if progress is not None:
                progress(done, len(rows))
            if upcoming is None or upcoming[0] is not row:
                continue
            clean = upcoming[1]
            upcoming = next(checking, None)
            try:
                plan = _plan_row(row, clean, people, today=today, now=now,
                                 reference=next(references))
            except IneligibleReferral as error:
                problems.extend(RowProblem(row.line, RULE_COLUMNS.get(r.code, "eligibility"),
                                           r.message)
                                for r in error.results if r.blocking and not r.passed)
                continue
            planned.append(plan)
            result.imported += 1
            result.historical += 1 if clean.outcome is not None else 0
            warnings = sum(1 for r in plan.results if not r.passed)
            result.with_warnings += 1 if warnings else 0
            if len(result.preview) < PREVIEW_ROWS:
                result.preview.append(PreviewRow(
                    line=row.line, force_code=clean.force.code,
                    crime_reference=clean.data.crime_reference, name=plan.someone.full_name,
                    referral_date=clean.data.referral_date or today,
                    status=clean.outcome or lifecycle.INITIAL_STATUS, warnings=warnings))


def import_referrals(*, content: bytes, actor: User | None, now: dt.datetime,
                     dry_run: bool = False, via: str = "cli",
                     progress: Progress | None = None) -> ImportResult:
    """Import a CSV file of referrals, all or nothing (see the module's docstring).

    Every row is checked before anything is written, a chunk of rows at a time with a fixed
    number of queries a chunk; then the rows are written, a COPY a table on PostgreSQL
    (`BulkInsert`).
    `progress(rows done, rows)` is called as the rows are checked (the CLI's progress bar)."""
    _check_actor(actor)
    with bulk_write():
        return _import(content=content, actor=actor, now=now, dry_run=dry_run, via=via,
                       progress=progress)


def _import(*, content: bytes, actor: User | None, now: dt.datetime, dry_run: bool, via: str,
            progress: Progress | None) -> ImportResult:
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
    lookups = Lookups()
    for line, raw in raw_rows:
        data, errors = read_referral_row(raw)
        if errors:
            # Every problem of the row in one round: the rest of it is checked as well.
            try:
                validate_referral(data, actor=actor, today=today, lookups=lookups)
            except ValidationFailed as error:
                for column, message in error.errors.items():
                    errors.setdefault(column, message)
            _add_refusals(data, errors, today=today, lookups=lookups)
            problems.extend(RowProblem(line, column, message)
                            for column, message in errors.items())
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
    people = _People()
    planned: list[_Planned] = []
    with db.session.no_autoflush:
        _check_rows(rows, existing=existing, references=references, actor=actor, now=now,
                    today=today, people=people, problems=problems, result=result, planned=planned,
                    progress=progress)
    if problems:
        raise ImportFailed(sorted(problems, key=lambda p: p.line))
    if dry_run:
        return result
    savepoint = db.session.begin_nested()
    try:
        for someone in people.on_record.values():
            assert someone.person is not None
            for name, value in someone.changes.items():
                setattr(someone.person, name, value)
        _Writer(actor=actor, now=now).write(planned)
        db.session.flush()
    except IntegrityError as error:
        savepoint.rollback()
        # Someone else used a crime reference between our check and our insert.
        taken = _existing([p.row for p in planned])
        raise ImportFailed([
            RowProblem(p.row.line, "crime_reference",
                       f"Crime reference {p.row.crime_reference} has already been referred by "
                       f"{taken[(p.row.force_code, p.row.crime_reference)][0]}")
            for p in planned if (p.row.force_code, p.row.crime_reference) in taken]
            or [RowProblem(1, "file", "the file could not be imported: import it again")]
        ) from error
    except BaseException:
        savepoint.rollback()
        raise
    savepoint.commit()
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
