"""Creating referrals, shared by the form, the CSV import and the API; and previewing what
creating one would decide.

All take keyword arguments, the acting user (`actor`, None for the system) and `now`; they
flush and never commit; they raise DomainErrors (diversion.core.errors) with messages for people.

- `create_referral(data=ReferralInput, actor=, now=, person_id=None, new_person=False)
  -> CreatedReferral(referral, pin, eligibility)`. person_id links to a chosen person;
  otherwise an exact match (diversion.referrals.matching) is linked and anything else creates a
  new person (new_person=True creates one even beside an exact name match). Raises
  ValidationFailed (errors keyed by the CSV column names), IneligibleReferral (422, `.results`,
  `.extra["eligibility"]`), Conflict (409, crime reference already used in that force). Data
  with `outcome` is a historical record: validated, not checked for eligibility, closed at once
  without notices, no PIN (pin is ""). `issue_pin=False` (bulk imports) also leaves it without
  a PIN until reissued.
- `preview_referral(data=, actor=, now=, person_id=None, new_person=False)
  -> ReferralPreview(matches, eligibility)`: create_referral's checks, writing nothing.
- `problems_with(data=, actor=, now=, invalid=()) -> Problems`: every problem the form
  can be told at once (each field's error, a crime reference already used, each blocking
  refusal that does not depend on who the person is), writing nothing; `.refused` names the
  fields whose problem is an eligibility refusal.
Status changes go through `diversion.referrals.lifecycle`.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Collection, Sequence
from typing import NamedTuple, TypeVarTuple

from sqlalchemy import ARRAY, ColumnElement, Select, String, bindparam, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import InstrumentedAttribute

from diversion.audit.models import AuditCategory
from diversion.audit.services import record
from diversion.auth.models import User
from diversion.auth.passwords import hash_password
from diversion.core.errors import Conflict, DomainError, ValidationFailed
from diversion.core.extensions import db
from diversion.core.timeutils import london_today
from diversion.programmes.models import Programme
from diversion.referrals import lifecycle, rules
from diversion.referrals.intake import (
    CleanReferral,
    Lookups,
    ReferralInput,
    blank,
    resolve_programme,
    validate_referral,
)
from diversion.referrals.matching import Match, find_matches, first_given_key, name_key
from diversion.referrals.models import ContactChannel, Person, Referral, ReferralStatus
from diversion.referrals.pins import NO_PIN, new_pin
from diversion.referrals.reading import (
    REFERENCE_ALPHABET,
    REFERENCE_LENGTH,
    get_referral_by_crime_reference,
)


class IneligibleReferral(DomainError):
    """A blocking eligibility rule failed; `results` holds every rule's result."""

    status = 422
    title = "Not eligible"

    def __init__(self, results: list[rules.RuleResult]) -> None:
        failed = [r.message for r in results if r.blocking and not r.passed]
        super().__init__("Not eligible for a diversion: " + "; ".join(failed),
                         eligibility=[r.as_dict() for r in results])
        self.results = results



class CreatedReferral(NamedTuple):
    referral: Referral
    pin: str
    eligibility: list[rules.RuleResult]


def programme_rules(programme: Programme) -> rules.ProgrammeRules:
    return rules.ProgrammeRules(
        programme_id=programme.id,
        eligible_offence_codes=list(programme.eligible_offence_codes),
        repeat_window_months=programme.repeat_window_months,
        referral_warning_days=programme.referral_warning_days,
    )


def prior_referrals_of(person_id: int) -> list[rules.PriorReferral]:
    rows = db.session.execute(
        select(Referral.reference, Referral.programme_id, Referral.referral_date, Referral.status,
               Referral.force_id)
        .where(Referral.person_id == person_id)
    )
    return [rules.PriorReferral(reference=ref, programme_id=programme_id, referral_date=day,
                                is_open=not status.is_terminal,
                                is_withdrawn=status is ReferralStatus.WITHDRAWN, force_id=force_id)
            for ref, programme_id, day, status, force_id in rows]


# Random bytes below the largest multiple of the alphabet's size, each standing for the
# character it leaves modulo that size (the others are dropped): every character alike.
_KEPT_BYTES = 256 - 256 % len(REFERENCE_ALPHABET)
_BYTE_TO_CHARACTER = b"".join(REFERENCE_ALPHABET[b % len(REFERENCE_ALPHABET)].encode()
                              if b < _KEPT_BYTES else b"?" for b in range(256))
_DROPPED_BYTES = bytes(range(_KEPT_BYTES, 256))


def _random_references(count: int) -> list[str]:
    """`count` random references, each of the alphabet's 23^8 alike: characters from
    os.urandom's bytes (one draw for the lot: an import makes thousands)."""
    wanted = count * REFERENCE_LENGTH
    text = b""
    while len(text) < wanted:
        more = secrets.token_bytes(wanted - len(text) + wanted // 8 + 16)
        text += more.translate(_BYTE_TO_CHARACTER, _DROPPED_BYTES)
    letters = text[:wanted].decode()
    return [letters[start:start + REFERENCE_LENGTH] for start in range(0, wanted,
                                                                        REFERENCE_LENGTH)]


def new_reference() -> str:
    """An unused reference of 8 characters from an alphabet with no look-alikes."""
    return new_references(1)[0]


_Columns = TypeVarTuple("_Columns")


def among(query: Select[*_Columns],
          column: ColumnElement[str] | InstrumentedAttribute[str],
          values: Sequence[str]) -> Select[*_Columns]:
    """`query` narrowed to the rows whose `column` is one of `values`: `column IN values`, or
    on PostgreSQL a join to the values as one array (unnest). A statement with one parameter
    a value is prepared by psycopg after its fifth run, and PostgreSQL's generic plan for it,
    made on statistics from before the last bulk write (autovacuum's ANALYZE comes a minute
    later), read the whole table for every statement, comparing each row with each value (an
    import's two lookups took 4 to 14 s each for a 10,000-row file straight after another, not
    0.1 s); joined, the values are an index probe each or one read of the table whatever the
    statistics say."""
    if db.session.get_bind().dialect.name != "postgresql":
        return query.where(column.in_(values))
    wanted = (func.unnest(bindparam(None, list(values), type_=ARRAY(String())))
              .table_valued("value").render_derived(name="wanted"))
    return query.join(wanted, column == wanted.c.value)


def _used_references(candidates: Sequence[str]) -> set[str]:
    """Which of these references are taken. On SQLite straight to the driver: SQLAlchemy's
    work on an IN list of 500 values cost more than SQLite's (an import checks 20 lists)."""
    connection = db.session.connection()
    if connection.dialect.name != "sqlite":
        return set(db.session.scalars(among(select(Referral.reference), Referral.reference,
                                            candidates)))
    marks = ", ".join(["?"] * len(candidates))
    return set(connection.exec_driver_sql(
        f"SELECT reference FROM referrals WHERE reference IN ({marks})",  # noqa: S608 (marks)
        tuple(candidates)).scalars())


def new_references(count: int, *, chunk: int = 500) -> list[str]:
    """`count` different unused references, checked against the table one query a chunk (a
    bulk import reserves its references this way rather than one query a row)."""
    found: list[str] = []
    for _ in range(20):
        wanted = count - len(found)
        if wanted <= 0:
            return found
        candidates = list(dict.fromkeys(_random_references(wanted)))
        candidates = [c for c in candidates if c not in found]
        for start in range(0, len(candidates), chunk):
            part = candidates[start:start + chunk]
            used = _used_references(part)
            found.extend(c for c in part if c not in used)
    if len(found) >= count:
        return found[:count]
    raise RuntimeError("could not find an unused reference")  # 23^8 ≈ 78 billion: not expected


def _choose_person(clean: CleanReferral, *, person_id: int | None, new_person: bool) -> Person | None:
    """The person to link, or None to create one. Never merges anyone."""
    data = clean.data
    holder = (db.session.scalar(select(Person).where(Person.pnc_id == data.pnc_id))
              if data.pnc_id else None)
    if person_id is not None:
        person = db.session.get(Person, person_id)
        if person is None:
            raise ValidationFailed({"person_id": "The person chosen no longer exists"})
        if data.pnc_id and person.pnc_id and person.pnc_id != data.pnc_id:
            raise ValidationFailed({"pnc_id": "This PNC ID is not the chosen person's PNC ID"})
        if holder is not None and holder.id != person.id:
            raise ValidationFailed({"pnc_id": "This PNC ID belongs to someone else on record"})
        return person
    if holder is not None:
        return holder  # the same PNC ID is the same person
    if new_person:
        return None
    assert data.date_of_birth is not None
    for match in find_matches(family_name=data.family_name, given_names=data.given_names,
                              date_of_birth=data.date_of_birth, pnc_id=data.pnc_id):
        if match.kind == "exact":
            return match.person
    return None


PERSON_FIELDS = ("pnc_id", "gender", "email", "mobile", "address_line_1", "address_line_2",
                  "town", "postcode", "access_needs", "language_needs")


def _new_person(data: ReferralInput, *, actor: User | None, now: dt.datetime) -> Person:
    assert data.date_of_birth is not None
    person = Person(
        family_name=data.family_name, given_names=data.given_names,
        family_name_key=name_key(data.family_name), given_name_key=first_given_key(data.given_names),
        date_of_birth=data.date_of_birth,
        preferred_contact=ContactChannel(data.preferred_contact or "post"),
        needs_step_free=bool(data.needs_step_free), created_at=now, updated_at=now,
        **{name: blank(getattr(data, name)) for name in PERSON_FIELDS},
    )
    db.session.add(person)
    db.session.flush()
    record(action="person.create", category=AuditCategory.COLLECTION, now=now, actor=actor,
           object_type="person", object_id=person.id)
    return person


def _fill_blanks(person: Person, data: ReferralInput, *, actor: User | None,
                 now: dt.datetime) -> None:
    """Add details the record lacks; never overwrite what is there."""
    filled = []
    for name in PERSON_FIELDS:
        value = blank(getattr(data, name))
        if value and not getattr(person, name):
            setattr(person, name, value)
            filled.append(name)
    if data.needs_step_free and not person.needs_step_free:
        person.needs_step_free = True
        filled.append("needs_step_free")
    if filled:
        person.updated_at = now
        record(action="person.update", category=AuditCategory.ALTERATION, now=now, actor=actor,
               object_type="person", object_id=person.id, details={"added": filled})


def _already_referred(clean: CleanReferral) -> Conflict:
    return Conflict(f"Crime reference {clean.data.crime_reference} has already been referred by "
                    f"{clean.force.name}", field="crime_reference")


def _eligibility(clean: CleanReferral, person: Person | None, *,
                 today: dt.date) -> list[rules.RuleResult]:
    """Every eligibility rule's result for this referral of this person (None: a new person)."""
    data = clean.data
    assert data.referral_date and data.offence_date and data.date_of_birth
    return rules.evaluate(
        rules.EligibilityInput(
            date_of_birth=data.date_of_birth, offence_code=data.offence_code,
            offence_date=data.offence_date, referral_date=data.referral_date,
            admitted=bool(data.admitted), consented=bool(data.consented),
            no_relevant_convictions=data.no_relevant_convictions,
            prior_referrals=prior_referrals_of(person.id) if person else [],
            force_id=clean.force.id,
        ),
        programme_rules(clean.programme), today=today)


def create_referral(*, data: ReferralInput, actor: User | None, now: dt.datetime,
                    person_id: int | None = None, new_person: bool = False,
                    issue_pin: bool = True, reference: str | None = None) -> CreatedReferral:
    """Validate, check eligibility, link or create the person, and create the referral.

    Nothing is written unless the referral is created. `issue_pin=False` (bulk imports, where
    no PIN could be shown) leaves the referral without a PIN until one is reissued.
    `reference` is one reserved by `new_references` (bulk imports); by default one is found.
    """
    today = london_today(now)
    clean = validate_referral(data, actor=actor, today=today)
    data, programme = clean.data, clean.programme
    assert data.referral_date and data.offence_date and data.date_of_birth
    if get_referral_by_crime_reference(force_id=clean.force.id,
                                       crime_reference=data.crime_reference) is not None:
        raise _already_referred(clean)
    person = _choose_person(clean, person_id=person_id, new_person=new_person)
    results: list[rules.RuleResult] = []
    if clean.outcome is None:
        results = _eligibility(clean, person, today=today)
        if not rules.is_eligible(results):
            raise IneligibleReferral(results)
    if person is None:
        person = _new_person(data, actor=actor, now=now)
    else:
        _fill_blanks(person, data, actor=actor, now=now)
    # A historical record is closed: it gets no PIN (and skips the slow hash on big imports).
    pin = "" if clean.outcome is not None or not issue_pin else new_pin()
    referral = Referral(
        reference=reference or new_reference(), pin_hash=hash_password(pin) if pin else NO_PIN,
        pin_issued_at=now,
        force=clean.force, programme=programme, person=person,
        crime_reference=data.crime_reference, referral_date=data.referral_date,
        offence_code=data.offence_code, offence_date=data.offence_date,
        offence_time=data.offence_time, offence_location=blank(data.offence_location),
        disposal=blank(data.disposal), admitted=bool(data.admitted),
        consented=bool(data.consented), no_relevant_convictions=data.no_relevant_convictions,
        officer_email=data.officer_email, officer_user_id=clean.officer.id if clean.officer else None,
        booking_deadline=rules.booking_deadline(data.referral_date, programme.booking_deadline_days),
        completion_deadline=rules.completion_deadline(
            data.offence_date, programme.completion_deadline_months, given=data.completion_deadline),
        is_completion_deadline_given=data.completion_deadline is not None,
        is_historical=clean.outcome is not None,
        eligibility=[r.as_dict() for r in results],
        created_at=now, created_by_user_id=actor.id if actor else None,
    )
    lifecycle.start(referral, actor=actor, now=now)
    db.session.add(referral)
    try:
        with db.session.begin_nested():
            db.session.flush()
    except IntegrityError as error:
        # Someone else used the crime reference between our check and our insert.
        raise _already_referred(clean) from error
    record(action="referral.create", category=AuditCategory.COLLECTION, now=now, actor=actor,
           object_type="referral", object_id=referral.id,
           details={"person_id": person.id, "historical": referral.is_historical,
                    "warnings": [r.code for r in results if not r.passed]})
    if clean.outcome is not None:
        lifecycle.transition(referral, lifecycle.IMPORT_OUTCOME_EVENTS[clean.outcome], actor=actor,
                             now=now, reason="Historical record imported",
                             closed_on=data.outcome_date)
    return CreatedReferral(referral, pin, results)


class Problems(dict[str, str]):
    """A new referral's problems by field; `refused` names those that are eligibility refusals
    (answers that may be right, but with which the person cannot be referred)."""

    refused: frozenset[str] = frozenset()


class ReferralPreview(NamedTuple):
    matches: list[Match]
    eligibility: list[rules.RuleResult]


def preview_referral(*, data: ReferralInput, actor: User | None, now: dt.datetime,
                     person_id: int | None = None, new_person: bool = False) -> ReferralPreview:
    """What create_referral would decide, writing nothing: the people on record who may be this
    person and every eligibility rule's result (for the person chosen). Raises the same
    ValidationFailed and Conflict as create_referral; ineligibility is in the results."""
    today = london_today(now)
    clean = validate_referral(data, actor=actor, today=today)
    data = clean.data
    assert data.referral_date and data.offence_date and data.date_of_birth
    if get_referral_by_crime_reference(force_id=clean.force.id,
                                       crime_reference=data.crime_reference) is not None:
        raise _already_referred(clean)
    matches = find_matches(family_name=data.family_name, given_names=data.given_names,
                           date_of_birth=data.date_of_birth, pnc_id=data.pnc_id)
    if clean.outcome is not None:
        return ReferralPreview(matches, [])
    person = _choose_person(clean, person_id=person_id, new_person=new_person)
    return ReferralPreview(matches, _eligibility(clean, person, today=today))




ELIGIBILITY_FIELDS = ("date_of_birth", "offence_code", "offence_date", "referral_date",
                      "admitted", "consented", "no_relevant_convictions")


def problems_with(*, data: ReferralInput, actor: User | None, now: dt.datetime,
                  invalid: Collection[str] = ()) -> Problems:
    """Every problem with a new referral that can be reported in one round, keyed by field:
    each field's error, the crime reference already used by the force, and each blocking
    eligibility refusal whose answers are themselves valid (the refusals about the person's
    earlier referrals wait until the person is chosen). `invalid` names fields the caller
    already found wrong (a date that is not a date): their rules are not judged. Writes
    nothing; empty when the referral can go on to matching and checking."""
    today = london_today(now)
    problems: dict[str, str] = {}
    try:
        clean = validate_referral(data, actor=actor, today=today)
    except ValidationFailed as error:
        problems.update(error.errors)
    else:
        data = clean.data
        if get_referral_by_crime_reference(force_id=clean.force.id,
                                           crime_reference=data.crime_reference) is not None:
            problems["crime_reference"] = _already_referred(clean).message
    if "preferred_contact" in invalid:
        # The way to contact him is not chosen yet: asking for the details of a way he was
        # not given (post, by default) would only confuse.
        problems = {name: message for name, message in problems.items()
                    if not message.endswith("or choose another way to contact the person")}
    found = Problems(problems)
    refusals = refusals_before_matching(data, wrong={*problems, *invalid}, today=today)
    found.refused = frozenset(name for name in refusals if name not in found)
    for name, message in refusals.items():
        found.setdefault(name, message)
    return found


def refusals_before_matching(data: ReferralInput, *, wrong: Collection[str], today: dt.date,
                             lookups: Lookups | None = None) -> dict[str, str]:
    """The blocking eligibility refusals, by field, that the answers not in `wrong` bring
    before anyone knows who the person is (his earlier referrals wait for matching), so that a
    form or an import row with a mistake is told them in the same round. None for a historical
    record, which is not checked."""
    if data.is_historical:
        return {}
    programme = resolve_programme(data, lookups)
    if programme is None:
        return {}
    known = {name: getattr(data, name) for name in ELIGIBILITY_FIELDS if name not in wrong}
    if isinstance(known.get("offence_code"), str):
        known["offence_code"] = known["offence_code"].strip().upper()
    return rules.refusals_by_field(known, programme_rules(programme), today=today)
