"""Referral services, shared by the form, the CSV import and the API.

All take keyword arguments, the acting user (`actor`, None for the system) and `now`; they
flush and never commit; they raise DomainErrors (diversion.core.errors) with messages for people.

- `find_matches(family_name=, given_names=, date_of_birth=, pnc_id=None) -> list[Match]`
  people on record who may be this person (`kind` "exact" | "possible", `reasons`).
- `create_referral(data=ReferralInput, actor=, now=, person_id=None, new_person=False)
  -> CreatedReferral(referral, pin, eligibility)`. person_id links to a chosen person;
  otherwise an exact match is linked and anything else creates a new person (new_person=True
  creates one even beside an exact name match). Raises ValidationFailed (errors keyed by the
  CSV column names), IneligibleReferral (422, `.results`, `.extra["eligibility"]`), Conflict
  (409, crime reference already used in that force). Data with `outcome` is a historical
  record: validated, not checked for eligibility, closed at once without notices, no PIN
  (pin is ""). `issue_pin=False` (bulk imports) also leaves it without a PIN until reissued.
- `referral_input_from_row(row) -> ReferralInput`: CSV/text values parsed (dates YYYY-MM-DD or
  DD/MM/YYYY, yes/no); ValidationFailed keyed by column.
- `preview_referral(data=, actor=, now=, person_id=None, new_person=False)
  -> ReferralPreview(matches, eligibility)`: create_referral's checks, writing nothing.
- `get_referral_for(reference=, actor=, now=) -> Referral`: scoped (police: own force;
  manager, admin: all; others: NotFound), writes a CONSULTATION audit row.
- `visible_referrals(actor) -> Select[Referral]`: the scoped base query for lists.
- `get_referral_by_crime_reference(force_id=, crime_reference=) -> Referral | None`.
- `withdraw_referral(reference=, reason=, actor=, now=) -> Referral` (police own force, manager;
  InvalidTransition (409) when already ended).
- `reissue_pin(reference=, actor=, now=) -> (Referral, pin)`: the old PIN stops working.
- `verify_pin(referral, pin) -> bool`.
- `count_people()`, `count_referrals_by_status()`.
Status changes go through `diversion.referrals.lifecycle.transition`.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, NamedTuple

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import Select, false, func, select
from sqlalchemy.exc import IntegrityError

from diversion.audit.models import AuditCategory
from diversion.audit.services import record
from diversion.auth.models import Force, Role, User
from diversion.auth.passwords import hash_password, verify_password
from diversion.core import csvimport, parsing
from diversion.core.errors import Conflict, DomainError, Forbidden, NotFound, ValidationFailed
from diversion.core.extensions import db
from diversion.core.timeutils import london_today
from diversion.programmes.models import Programme
from diversion.referrals import lifecycle, rules
from diversion.referrals.matching import Match, find_matches, first_given_key, name_key
from diversion.referrals.models import (
    ContactChannel,
    Person,
    Referral,
    ReferralStatus,
)
from diversion.referrals.pnc import InvalidPnc, parse_pnc

__all__ = [
    "CreatedReferral", "IneligibleReferral", "Match", "ReferralInput", "count_people",
    "count_referrals_by_status", "create_referral", "find_matches", "get_referral_by_crime_reference",
    "get_referral_for", "preview_referral", "referral_input_from_row", "reissue_pin", "verify_pin",
    "visible_referrals", "withdraw_referral",
]

REFERENCE_ALPHABET = "ACDEFHJKMNPRTUVWXY34679"
REFERENCE_LENGTH = 8
PIN_DIGITS = 6
NO_PIN = "!"  # not an Argon2 hash, so no PIN ever verifies against it
HISTORICAL_OUTCOMES = {"completed": ReferralStatus.COMPLETED,
                       "not_completed": ReferralStatus.NOT_COMPLETED,
                       "withdrawn": ReferralStatus.WITHDRAWN}


class IneligibleReferral(DomainError):
    """A blocking eligibility rule failed; `results` holds every rule's result."""

    status = 422
    title = "Not eligible"

    def __init__(self, results: list[rules.RuleResult]) -> None:
        failed = [r.message for r in results if r.blocking and not r.passed]
        super().__init__("Not eligible for a diversion: " + "; ".join(failed),
                         eligibility=[r.as_dict() for r in results])
        self.results = results


@dataclass
class ReferralInput:
    """A referral as the form, the CSV (same column names) and the API give it."""

    crime_reference: str
    referral_date: dt.date | None
    family_name: str
    given_names: str
    date_of_birth: dt.date | None
    offence_code: str
    offence_date: dt.date | None
    officer_email: str
    admitted: bool | None
    consented: bool | None
    no_relevant_convictions: bool | None = None
    force_code: str | None = None
    programme_code: str | None = None
    pnc_id: str | None = None
    gender: str | None = None
    email: str | None = None
    mobile: str | None = None
    address_line_1: str | None = None
    address_line_2: str | None = None
    town: str | None = None
    postcode: str | None = None
    preferred_contact: str | None = None  # email | sms | post; inferred when not given
    access_needs: str | None = None
    needs_step_free: bool = False
    language_needs: str | None = None
    offence_time: dt.time | None = None
    offence_location: str | None = None
    disposal: str | None = None
    completion_deadline: dt.date | None = None
    outcome: str | None = None  # historical records: completed | not_completed | withdrawn
    outcome_date: dt.date | None = None

    @property
    def is_historical(self) -> bool:
        return bool(self.outcome and self.outcome.strip())


class CreatedReferral(NamedTuple):
    referral: Referral
    pin: str
    eligibility: list[rules.RuleResult]


# Parsing text (CSV rows, form fields) ------------------------------------------------------

DATE_FORMAT_MESSAGE = "must be a real date, like 2026-03-27 or 27/03/2026"


def parse_date(text: str | None, *, what: str = "The date") -> dt.date | None:
    """YYYY-MM-DD or DD/MM/YYYY between 1900 and 2100; None when blank.

    Raises parsing.ParseError: "<what> must be a real date, like …" for anything that is not a
    date, and parsing.OutOfRange, naming the range, for a date outside it."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        return parsing.parse_date(text, what=what, uk_format=True)
    except parsing.OutOfRange:
        raise
    except parsing.ParseError as error:
        raise parsing.ParseError(f"{what} {DATE_FORMAT_MESSAGE}") from error


def parse_yes_no(text: str | None) -> bool | None:
    value = (text or "").strip().lower()
    if not value:
        return None
    if value in ("yes", "y", "true"):
        return True
    if value in ("no", "n", "false"):
        return False
    raise ValueError(text)


_LABELS = {
    "referral_date": "Referral date", "date_of_birth": "Date of birth",
    "offence_date": "Offence date", "completion_deadline": "Completion deadline",
    "outcome_date": "Outcome date", "admitted": "Admitted", "consented": "Consented",
    "no_relevant_convictions": "No relevant convictions",
}


def referral_input_from_row(row: Mapping[str, str | None]) -> ReferralInput:
    """A ReferralInput from text values keyed by the CSV's column names."""
    errors = csvimport.text_errors(row)
    values: dict[str, Any] = {}

    def text(name: str) -> str | None:
        value = (row.get(name) or "").strip()
        return value or None

    for name in ("referral_date", "date_of_birth", "offence_date", "completion_deadline",
                 "outcome_date"):
        try:
            values[name] = parse_date(row.get(name), what=_LABELS[name])
        except parsing.ParseError as error:
            errors.setdefault(name, str(error))
    for name in ("admitted", "consented", "no_relevant_convictions"):
        try:
            values[name] = parse_yes_no(row.get(name))
        except ValueError:
            errors.setdefault(name, f"{_LABELS[name]} must be yes or no")
    if errors:
        raise ValidationFailed(errors)
    return ReferralInput(
        crime_reference=text("crime_reference") or "",
        family_name=text("family_name") or "",
        given_names=text("given_names") or "",
        offence_code=text("offence_code") or "",
        officer_email=text("officer_email") or "",
        force_code=text("force_code"), programme_code=text("programme_code"),
        pnc_id=text("pnc_id"), gender=text("gender"), email=text("email"),
        mobile=text("mobile"), address_line_1=text("address_line_1"),
        address_line_2=text("address_line_2"), town=text("town"), postcode=text("postcode"),
        offence_location=text("offence_location"), disposal=text("disposal"),
        outcome=text("outcome"), **values,
    )


# Field checks -------------------------------------------------------------------------------

def normalise_mobile(value: str) -> str:
    """A mobile number in E.164 ("07911 123456" -> "+447911123456"); ValueError if not one."""
    try:
        number = phonenumbers.parse(value, "GB")
    except phonenumbers.NumberParseException as error:
        raise ValueError(value) from error
    if not phonenumbers.is_valid_number(number) or phonenumbers.number_type(number) not in (
        phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
    ):
        raise ValueError(value)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise_email_address(value: str) -> str:
    try:
        # Format only; ".test" addresses are allowed so test and demo accounts can be used.
        return validate_email(value.strip(), check_deliverability=False,
                              test_environment=True).normalized
    except EmailNotValidError as error:
        raise ValueError(value) from error


@dataclass
class _Clean:
    """Validated, normalised input."""

    data: ReferralInput
    force: Force
    programme: Programme
    officer: User | None
    outcome: ReferralStatus | None


def _blank(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


def _check_dates(data: ReferralInput, today: dt.date, errors: dict[str, str]) -> None:
    required = {"referral_date": "Enter the referral date", "date_of_birth": "Enter the date of birth",
                "offence_date": "Enter the offence date"}
    for name, message in required.items():
        if getattr(data, name) is None:
            errors.setdefault(name, message)
    for name in ("referral_date", "date_of_birth", "offence_date", "outcome_date"):
        value = getattr(data, name)
        if value is not None and value > today:
            errors.setdefault(name, f"{_LABELS[name]} must be today or in the past")
    dob, offence, referral = data.date_of_birth, data.offence_date, data.referral_date
    if dob is not None and dob.year < 1900:
        errors.setdefault("date_of_birth", "Date of birth must be after 1900")
    if dob and offence and "date_of_birth" not in errors and "offence_date" not in errors:
        if offence < dob:
            errors["offence_date"] = "Offence date must be after the date of birth"
        elif rules.age_on(dob, offence) < 18:
            errors["date_of_birth"] = (
                "The person must have been 18 or over on the offence date. "
                "The programme is only for adults")
    if offence and referral and "offence_date" not in errors and referral < offence:
        errors.setdefault("referral_date", "Referral date must be on or after the offence date")
    if data.completion_deadline and offence and data.completion_deadline <= offence:
        errors["completion_deadline"] = "Completion deadline must be after the offence date"


def _check_person_fields(data: ReferralInput, today: dt.date, errors: dict[str, str]) -> ReferralInput:
    """Names, identifiers and contact details. A historical record's contact details and
    address are optional (a force's old records often lack them) but checked when present."""
    changes: dict[str, Any] = {}
    if not data.family_name.strip():
        errors["family_name"] = "Enter the family name"
    elif len(data.family_name.strip()) > 100 or not name_key(data.family_name):
        errors["family_name"] = "Enter a family name of up to 100 letters"
    if not data.given_names.strip():
        errors["given_names"] = "Enter the given names"
    elif len(data.given_names.strip()) > 200 or not first_given_key(data.given_names):
        errors["given_names"] = "Enter given names of up to 200 letters"
    if pnc := _blank(data.pnc_id):
        try:
            changes["pnc_id"] = parse_pnc(pnc, today=today)
        except InvalidPnc as error:
            errors["pnc_id"] = str(error)
    if email := _blank(data.email):
        try:
            changes["email"] = normalise_email_address(email)
        except ValueError:
            errors["email"] = "Enter an email address in the correct format, like name@example.com"
    if mobile := _blank(data.mobile):
        try:
            changes["mobile"] = normalise_mobile(mobile)
        except ValueError:
            errors["mobile"] = "Enter a mobile phone number, like 07911 123456 or +44 7911 123456"
    if postcode := _blank(data.postcode):
        if normalised := parsing.normalise_postcode(postcode):
            changes["postcode"] = normalised
        else:
            errors["postcode"] = "Enter a real UK postcode, like LS1 4AP"
    for name, limit in (("gender", 40), ("address_line_1", 200), ("address_line_2", 200),
                        ("town", 100), ("offence_location", 200), ("disposal", 100)):
        value = _blank(getattr(data, name))
        if value and len(value) > limit:
            errors[name] = f"Enter no more than {limit} characters"
        changes[name] = value
    channel = _blank(data.preferred_contact)
    if channel is None:
        channel = ("email" if changes.get("email") else "sms" if changes.get("mobile") else "post")
    if channel not in {c.value for c in ContactChannel}:
        errors["preferred_contact"] = "Choose email, text message or post"
    elif data.is_historical:
        pass  # nobody will be contacted about a closed record
    elif channel == "email" and not changes.get("email") and "email" not in errors:
        errors["email"] = "Enter an email address, or choose another way to contact the person"
    elif channel == "sms" and not changes.get("mobile") and "mobile" not in errors:
        errors["mobile"] = "Enter a mobile number, or choose another way to contact the person"
    elif channel == "post" and not (changes.get("address_line_1") and changes.get("postcode")):
        errors.setdefault("address_line_1",
                          "Enter the address and postcode, or choose another way to contact the person")
    changes["preferred_contact"] = channel
    return replace(data, **changes)


def _resolve_force(data: ReferralInput, actor: User | None, errors: dict[str, str]) -> Force | None:
    code = (_blank(data.force_code) or "").upper()
    if actor is not None and actor.role is Role.POLICE:
        own = actor.force
        if code and own is not None and code != own.code:
            errors["force_code"] = f"You can only make referrals for your own force ({own.code})"
            return None
        return own
    if not code:
        errors["force_code"] = "Enter the police force's code"
        return None
    force = db.session.scalar(select(Force).where(Force.code == code))
    if force is None:
        errors["force_code"] = f"There is no police force with the code {code}"
    return force


def _resolve_programme(data: ReferralInput, errors: dict[str, str]) -> Programme | None:
    code = (_blank(data.programme_code) or "").upper()
    if code:
        programme = db.session.scalar(select(Programme).where(Programme.code == code))
        if programme is None:
            errors["programme_code"] = f"There is no programme with the code {code}"
        return programme
    programmes = list(db.session.scalars(select(Programme).limit(2)))
    if len(programmes) == 1:
        return programmes[0]
    errors["programme_code"] = ("Enter the programme's code" if programmes
                                else "No programme has been set up yet. Ask an administrator")
    return None


def _validate(data: ReferralInput, *, actor: User | None, today: dt.date) -> _Clean:
    if actor is not None and actor.role not in (Role.POLICE, Role.MANAGER, Role.ADMIN):
        raise Forbidden("Only police officers and programme managers can make referrals")
    errors: dict[str, str] = {}
    crime_reference = data.crime_reference.strip().upper()
    if not crime_reference:
        errors["crime_reference"] = "Enter the crime reference"
    elif len(crime_reference) > 40:
        errors["crime_reference"] = "Enter a crime reference of up to 40 characters"
    offence_code = data.offence_code.strip().upper()
    if not offence_code:
        errors["offence_code"] = "Enter the offence code"
    elif len(offence_code) > 32:
        errors["offence_code"] = "Enter an offence code of up to 32 characters"
    officer_email = data.officer_email.strip()
    if not officer_email:
        errors["officer_email"] = "Enter the referring officer's email address"
    else:
        try:
            normalise_email_address(officer_email)
        except ValueError:
            errors["officer_email"] = (
                "Enter the officer's email address in the correct format, like name@example.com")
    if data.admitted is None:
        errors["admitted"] = "Say whether the person admitted the offence (yes or no)"
    if data.consented is None:
        errors["consented"] = "Say whether the person consented to the diversion (yes or no)"
    outcome = None
    if data.is_historical:
        outcome = HISTORICAL_OUTCOMES.get((data.outcome or "").strip().lower())
        if outcome is None:
            errors["outcome"] = "Outcome must be completed, not_completed or withdrawn"
        if data.outcome_date is None:
            errors["outcome_date"] = "Enter the date of the outcome"
        elif data.referral_date and data.outcome_date < data.referral_date:
            errors["outcome_date"] = "Outcome date must be on or after the referral date"
    else:
        if data.outcome_date is not None:
            errors["outcome"] = "Enter the outcome that goes with the outcome date"
        if data.no_relevant_convictions is None:
            errors["no_relevant_convictions"] = (
                "Confirm whether the person has relevant previous convictions (yes or no)")
    _check_dates(data, today, errors)
    data = _check_person_fields(data, today, errors)
    force = _resolve_force(data, actor, errors)
    programme = _resolve_programme(data, errors)
    if errors or force is None or programme is None:
        raise ValidationFailed(errors)
    officer = db.session.scalar(select(User).where(User.email == officer_email.lower()))
    data = replace(data, crime_reference=crime_reference, offence_code=offence_code,
                   officer_email=officer_email, family_name=data.family_name.strip(),
                   given_names=" ".join(data.given_names.split()))
    return _Clean(data=data, force=force, programme=programme, officer=officer, outcome=outcome)


# Creating -----------------------------------------------------------------------------------

def programme_rules(programme: Programme) -> rules.ProgrammeRules:
    return rules.ProgrammeRules(
        programme_id=programme.id,
        eligible_offence_codes=list(programme.eligible_offence_codes),
        repeat_window_months=programme.repeat_window_months,
        referral_warning_days=programme.referral_warning_days,
    )


def prior_referrals_of(person_id: int) -> list[rules.PriorReferral]:
    rows = db.session.execute(
        select(Referral.reference, Referral.programme_id, Referral.referral_date, Referral.status)
        .where(Referral.person_id == person_id)
    )
    return [rules.PriorReferral(reference=ref, programme_id=programme_id, referral_date=day,
                                is_open=not status.is_terminal,
                                is_withdrawn=status is ReferralStatus.WITHDRAWN)
            for ref, programme_id, day, status in rows]


def new_reference() -> str:
    """An unused reference of 8 characters from an alphabet with no look-alikes."""
    for _ in range(20):
        reference = "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(REFERENCE_LENGTH))
        if db.session.scalar(select(Referral.id).where(Referral.reference == reference)) is None:
            return reference
    raise RuntimeError("could not find an unused reference")  # 23^8 ≈ 78 billion: not expected


def new_pin() -> str:
    return f"{secrets.randbelow(10 ** PIN_DIGITS):0{PIN_DIGITS}d}"


def get_referral_by_crime_reference(*, force_id: int, crime_reference: str) -> Referral | None:
    return db.session.scalar(select(Referral).where(
        Referral.force_id == force_id,
        Referral.crime_reference == crime_reference.strip().upper()))


def _choose_person(clean: _Clean, *, person_id: int | None, new_person: bool) -> Person | None:
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


_PERSON_FIELDS = ("pnc_id", "gender", "email", "mobile", "address_line_1", "address_line_2",
                  "town", "postcode", "access_needs", "language_needs")


def _new_person(data: ReferralInput, *, actor: User | None, now: dt.datetime) -> Person:
    assert data.date_of_birth is not None
    person = Person(
        family_name=data.family_name, given_names=data.given_names,
        family_name_key=name_key(data.family_name), given_name_key=first_given_key(data.given_names),
        date_of_birth=data.date_of_birth,
        preferred_contact=ContactChannel(data.preferred_contact or "post"),
        needs_step_free=bool(data.needs_step_free), created_at=now, updated_at=now,
        **{name: _blank(getattr(data, name)) for name in _PERSON_FIELDS},
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
    for name in _PERSON_FIELDS:
        value = _blank(getattr(data, name))
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


def create_referral(*, data: ReferralInput, actor: User | None, now: dt.datetime,
                    person_id: int | None = None, new_person: bool = False,
                    issue_pin: bool = True) -> CreatedReferral:
    """Validate, check eligibility, link or create the person, and create the referral.

    Nothing is written unless the referral is created. `issue_pin=False` (bulk imports, where
    no PIN could be shown) leaves the referral without a PIN until one is reissued.
    """
    today = london_today(now)
    clean = _validate(data, actor=actor, today=today)
    data, programme = clean.data, clean.programme
    assert data.referral_date and data.offence_date and data.date_of_birth
    if get_referral_by_crime_reference(force_id=clean.force.id,
                                       crime_reference=data.crime_reference) is not None:
        raise Conflict(f"Crime reference {data.crime_reference} has already been referred by "
                       f"{clean.force.name}", field="crime_reference")
    person = _choose_person(clean, person_id=person_id, new_person=new_person)
    results: list[rules.RuleResult] = []
    if clean.outcome is None:
        results = rules.evaluate(
            rules.EligibilityInput(
                date_of_birth=data.date_of_birth, offence_code=data.offence_code,
                offence_date=data.offence_date, referral_date=data.referral_date,
                admitted=bool(data.admitted), consented=bool(data.consented),
                no_relevant_convictions=data.no_relevant_convictions,
                prior_referrals=prior_referrals_of(person.id) if person else [],
            ),
            programme_rules(programme), today=today)
        if not rules.is_eligible(results):
            raise IneligibleReferral(results)
    if person is None:
        person = _new_person(data, actor=actor, now=now)
    else:
        _fill_blanks(person, data, actor=actor, now=now)
    # A historical record is closed: it gets no PIN (and skips the slow hash on big imports).
    pin = "" if clean.outcome is not None or not issue_pin else new_pin()
    referral = Referral(
        reference=new_reference(), pin_hash=hash_password(pin) if pin else NO_PIN,
        pin_issued_at=now,
        force=clean.force, programme=programme, person=person,
        crime_reference=data.crime_reference, referral_date=data.referral_date,
        offence_code=data.offence_code, offence_date=data.offence_date,
        offence_time=data.offence_time, offence_location=_blank(data.offence_location),
        disposal=_blank(data.disposal), admitted=bool(data.admitted),
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
        raise Conflict(f"Crime reference {data.crime_reference} has already been referred by "
                       f"{clean.force.name}", field="crime_reference") from error
    record(action="referral.create", category=AuditCategory.COLLECTION, now=now, actor=actor,
           object_type="referral", object_id=referral.id,
           details={"person_id": person.id, "historical": referral.is_historical,
                    "warnings": [r.code for r in results if not r.passed]})
    if clean.outcome is not None:
        lifecycle.transition(referral, lifecycle.IMPORT_OUTCOME_EVENTS[clean.outcome], actor=actor,
                             now=now, reason="Historical record imported",
                             closed_on=data.outcome_date)
    return CreatedReferral(referral, pin, results)


class ReferralPreview(NamedTuple):
    matches: list[Match]
    eligibility: list[rules.RuleResult]


def preview_referral(*, data: ReferralInput, actor: User | None, now: dt.datetime,
                     person_id: int | None = None, new_person: bool = False) -> ReferralPreview:
    """What create_referral would decide, writing nothing: the people on record who may be this
    person and every eligibility rule's result (for the person chosen). Raises the same
    ValidationFailed and Conflict as create_referral; ineligibility is in the results."""
    today = london_today(now)
    clean = _validate(data, actor=actor, today=today)
    data = clean.data
    assert data.referral_date and data.offence_date and data.date_of_birth
    if get_referral_by_crime_reference(force_id=clean.force.id,
                                       crime_reference=data.crime_reference) is not None:
        raise Conflict(f"Crime reference {data.crime_reference} has already been referred by "
                       f"{clean.force.name}", field="crime_reference")
    matches = find_matches(family_name=data.family_name, given_names=data.given_names,
                           date_of_birth=data.date_of_birth, pnc_id=data.pnc_id)
    if clean.outcome is not None:
        return ReferralPreview(matches, [])
    person = _choose_person(clean, person_id=person_id, new_person=new_person)
    results = rules.evaluate(
        rules.EligibilityInput(
            date_of_birth=data.date_of_birth, offence_code=data.offence_code,
            offence_date=data.offence_date, referral_date=data.referral_date,
            admitted=bool(data.admitted), consented=bool(data.consented),
            no_relevant_convictions=data.no_relevant_convictions,
            prior_referrals=prior_referrals_of(person.id) if person else [],
        ),
        programme_rules(clean.programme), today=today)
    return ReferralPreview(matches, results)


# Reading, with scope ------------------------------------------------------------------------

def normalise_reference(reference: str) -> str:
    return re.sub(r"[\s-]+", "", reference or "").upper()


def visible_referrals(actor: User) -> Select[Referral]:
    """The referrals this user may see: police their force's, managers and admins all."""
    query = select(Referral)
    if actor.role is Role.POLICE:
        return query.where(Referral.force_id == actor.force_id)
    if actor.role in (Role.MANAGER, Role.ADMIN):
        return query
    return query.where(false())  # facilitators see no referrals


def _get_scoped(reference: str, actor: User) -> Referral:
    referral = db.session.scalar(visible_referrals(actor).where(
        Referral.reference == normalise_reference(reference)))
    if referral is None:
        raise NotFound("No referral with that reference")
    return referral


def get_referral_for(*, reference: str, actor: User, now: dt.datetime) -> Referral:
    """A referral the actor may see (NotFound otherwise); records that they looked at it."""
    referral = _get_scoped(reference, actor)
    record(action="referral.view", category=AuditCategory.CONSULTATION, now=now, actor=actor,
           object_type="referral", object_id=referral.id)
    return referral


# Changing -----------------------------------------------------------------------------------

def _check_can_change(actor: User) -> None:
    if actor.role not in (Role.POLICE, Role.MANAGER):
        raise Forbidden("Only police officers and programme managers can change referrals")


def withdraw_referral(*, reference: str, reason: str, actor: User, now: dt.datetime) -> Referral:
    """Withdraw the offer of a diversion; the reason is kept in the history."""
    referral = _get_scoped(reference, actor)
    _check_can_change(actor)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed({"reason": "Enter why the offer is being withdrawn"})
    if len(reason) > 1000:
        raise ValidationFailed({"reason": "Enter a reason of up to 1000 characters"})
    lifecycle.transition(referral, lifecycle.E.WITHDRAWN, actor=actor, now=now, reason=reason)
    return referral


def reissue_pin(*, reference: str, actor: User, now: dt.datetime) -> tuple[Referral, str]:
    """A new PIN for the person's self-service page; the old one stops working at once."""
    referral = _get_scoped(reference, actor)
    _check_can_change(actor)
    if referral.status.is_terminal:
        raise Conflict("This referral has ended, so it has no PIN to reissue")
    pin = new_pin()
    referral.pin_hash = hash_password(pin)
    referral.pin_issued_at = now
    record(action="referral.pin_reissue", category=AuditCategory.ALTERATION, now=now, actor=actor,
           object_type="referral", object_id=referral.id)
    return referral, pin


def verify_pin(referral: Referral, pin: str) -> bool:
    """True when the PIN is the referral's current one."""
    pin = (pin or "").strip()
    if referral.pin_hash == NO_PIN or not pin:
        return False
    return verify_password(referral.pin_hash, pin)


# Counts -------------------------------------------------------------------------------------

def count_people() -> int:
    return db.session.scalar(select(func.count()).select_from(Person)) or 0


def count_referrals_by_status() -> dict[str, int]:
    counts = {status.value: 0 for status in ReferralStatus}
    for status, n in db.session.execute(
            select(Referral.status, func.count()).group_by(Referral.status)):
        counts[status.value] = n
    return counts
