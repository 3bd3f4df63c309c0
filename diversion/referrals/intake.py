"""What a referral is made of, as the form, the CSV import and the API send it: parsing text
values and checking every field, before anything is written.

- `ReferralInput`: the fields, keyed like the CSV's columns.
- `referral_input_from_row(row) -> ReferralInput`: CSV/text values parsed (dates YYYY-MM-DD or
  DD/MM/YYYY, yes/no); ValidationFailed keyed by column. `read_referral_row(row)` gives the
  input and those problems together (a value it cannot read is None).
- `parse_date(text, what=)`, `parse_yes_no(text)`, `normalise_mobile(value)`,
  `normalise_email_address(value)`: one field each; `check_contact_addresses(email=, mobile=,
  errors=)` and `check_preferred_contact(value, …)`: the contact details' checks, shared with
  their later correction.
- `validate_referral(data, actor=, today=) -> CleanReferral`: every field checked and normalised,
  the force and programme resolved; ValidationFailed keyed by the CSV column names, Forbidden
  for users who cannot refer.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import MISSING, dataclass, fields
from typing import Any

from sqlalchemy import select

from diversion.auth.models import Force, Role, User
from diversion.core import csvimport, parsing
from diversion.core.errors import Forbidden, ValidationFailed
from diversion.core.extensions import db
from diversion.programmes.models import Programme
from diversion.referrals import rules
from diversion.referrals.matching import first_given_key, name_key
from diversion.referrals.models import ContactChannel, ReferralStatus
from diversion.referrals.pnc import InvalidPnc, parse_pnc

HISTORICAL_OUTCOMES = {"completed": ReferralStatus.COMPLETED,
                       "not_completed": ReferralStatus.NOT_COMPLETED,
                       "withdrawn": ReferralStatus.WITHDRAWN}


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


# Parsing text (CSV rows, form fields) ------------------------------------------------------

DATE_FORMAT_MESSAGE = "must be a real date, like 2026-03-27 or 27/03/2026"


@functools.lru_cache(maxsize=4096)  # an import's rows share most of their dates
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
    data, errors = read_referral_row(row)
    if errors:
        raise ValidationFailed(errors)
    return data


def read_referral_row(row: Mapping[str, str | None]) -> tuple[ReferralInput, dict[str, str]]:
    """A ReferralInput from text values keyed by the CSV's column names, and the problems found
    reading them, keyed by column. A date or yes/no that cannot be read is None in the input,
    so `validate_referral` can still judge the rest of the row (every problem in one round)."""
    errors = csvimport.text_errors(row)
    values: dict[str, Any] = {}
    for name in ("referral_date", "date_of_birth", "offence_date", "completion_deadline",
                 "outcome_date"):
        try:
            values[name] = parse_date(row.get(name), what=_LABELS[name])
        except parsing.ParseError as error:
            errors.setdefault(name, str(error))
            values[name] = None
    for name in ("admitted", "consented", "no_relevant_convictions"):
        try:
            values[name] = parse_yes_no(row.get(name))
        except ValueError:
            errors.setdefault(name, f"{_LABELS[name]} must be yes or no")
            values[name] = None
    get = row.get
    values.update({name: (get(name) or "").strip() for name in _REQUIRED_TEXT})
    values.update({name: (get(name) or "").strip() or None for name in _OPTIONAL_TEXT})
    return _made(values), errors


_REQUIRED_TEXT = ("crime_reference", "family_name", "given_names", "offence_code",
                  "officer_email")
_OPTIONAL_TEXT = ("force_code", "programme_code", "pnc_id", "gender", "email", "mobile",
                  "address_line_1", "address_line_2", "town", "postcode", "offence_location",
                  "disposal", "outcome")


# Field checks -------------------------------------------------------------------------------

# Ofcom keeps 07700 900000 to 900999 for drama and examples. libphonenumber calls them invalid,
# but they are the numbers GOV.UK hints (ours: "07700 900982") and test data use, so they are
# accepted; a message sent to one simply fails at the provider.
DRAMA_MOBILES = re.compile(r"7700900\d{3}")


def normalise_mobile(value: str) -> str:
    """A mobile number in E.164 ("07911 123456" -> "+447911123456"); ValueError if not one."""
    # libphonenumber's metadata and email-validator's grammar are imported on first use, so
    # starting a worker or the CLI does not pay for them (issue 17, light start-up).
    import phonenumbers  # noqa: PLC0415

    try:
        number = phonenumbers.parse(value, "GB")
    except phonenumbers.NumberParseException as error:
        raise ValueError(value) from error
    drama = number.country_code == 44 and DRAMA_MOBILES.fullmatch(str(number.national_number))
    if not drama and (not phonenumbers.is_valid_number(number) or phonenumbers.number_type(
            number) not in (phonenumbers.PhoneNumberType.MOBILE,
                            phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE)):
        raise ValueError(value)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise_email_address(value: str) -> str:
    normalised = _normalised_email(value.strip())
    if normalised is None:
        raise ValueError(value)
    return normalised


# The address's plainest form: a dot-atom of ASCII before the @ (email-validator's own
# DOT_ATOM_TEXT, which it returns as it is) and letters, digits, hyphens and dots after it.
_ATEXT = r"a-zA-Z0-9_!#$%&'*+\-/=?^`{|}~"
_PLAIN_EMAIL = re.compile(rf"([{_ATEXT}]+(?:\.[{_ATEXT}]+)*)@([a-zA-Z0-9.-]+)\Z")
_EMAIL_MAX_LENGTH = 254
# RFC 2142's mailbox names, which email-validator puts in lower case.
_CASE_INSENSITIVE_MAILBOXES = frozenset({
    "info", "marketing", "sales", "support", "abuse", "noc", "security", "postmaster",
    "hostmaster", "usenet", "news", "webmaster", "www", "uucp", "ftp"})


def _normalised_email(value: str) -> str | None:
    """email-validator's normal form of the address, or None when it is not one.

    An address in the plainest form is checked by the library a domain at a time: the part
    before the @ is one the library takes as it is, so only the domain can fail or change
    (an import checks ten thousand men's addresses at a handful of domains, and the library
    costs as much as the rest of a row's checks). Anything else goes to the library whole."""
    plain = _PLAIN_EMAIL.match(value)
    if (plain is None or len(value) > _EMAIL_MAX_LENGTH
            or plain[1].lower() in _CASE_INSENSITIVE_MAILBOXES):
        return _validated_email(value)
    domain = _validated_domain(plain[2])
    return None if domain is None else f"{plain[1]}@{domain}"


@functools.lru_cache(maxsize=256)
def _validated_domain(domain: str) -> str | None:
    """The normal form of the domain of an address in the plainest form (any plain local
    part gets the same answer), or None."""
    address = _validated_email(f"a@{domain}")
    return None if address is None else address.rpartition("@")[2]


@functools.lru_cache(maxsize=256)
def _validated_email(value: str) -> str | None:
    """Remembered: an import checks the same officer's address on thousands of rows (a small
    cache, as the men's own addresses do not repeat)."""
    from email_validator import EmailNotValidError, validate_email  # noqa: PLC0415  (see above)

    try:
        # Format only; ".test" addresses are allowed so test and demo accounts can be used.
        return str(validate_email(value, check_deliverability=False,
                                  test_environment=True).normalized)
    except EmailNotValidError:
        return None




@dataclass
class CleanReferral:
    """Validated, normalised input."""

    data: ReferralInput
    force: Force
    programme: Programme
    officer: User | None
    outcome: ReferralStatus | None


def blank(value: str | None) -> str | None:
    """The text stripped, or None when there is none."""
    value = (value or "").strip()
    return value or None


_REQUIRED_DATES = {"referral_date": "Enter the referral date",
                   "date_of_birth": "Enter the date of birth",
                   "offence_date": "Enter the offence date"}


def _check_dates(data: ReferralInput, today: dt.date, errors: dict[str, str]) -> None:
    for name, message in _REQUIRED_DATES.items():
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


_CHANNELS = frozenset(c.value for c in ContactChannel)

# Checked once a distinct value: an import's rows share a few officers' addresses and, often,
# postcodes.
_normalised_postcode = functools.lru_cache(maxsize=4096)(parsing.normalise_postcode)


@functools.lru_cache(maxsize=256)
def _is_email_address(value: str) -> bool:
    return _normalised_email(value.strip()) is not None


def _check_person_fields(data: ReferralInput, today: dt.date,
                         errors: dict[str, str]) -> dict[str, Any]:
    """Names, identifiers and contact details, and their normal forms to put in `data`. A
    historical record's contact details and address are optional (a force's old records often
    lack them) but checked when present."""
    changes: dict[str, Any] = {}
    if not data.family_name.strip():
        errors["family_name"] = "Enter the family name"
    elif len(data.family_name.strip()) > 100 or not name_key(data.family_name):
        errors["family_name"] = "Enter a family name of up to 100 letters"
    if not data.given_names.strip():
        errors["given_names"] = "Enter the given names"
    elif len(data.given_names.strip()) > 200 or not first_given_key(data.given_names):
        errors["given_names"] = "Enter given names of up to 200 letters"
    if pnc := blank(data.pnc_id):
        try:
            changes["pnc_id"] = parse_pnc(pnc, today=today)
        except InvalidPnc as error:
            errors["pnc_id"] = str(error)
    changes.update(check_contact_addresses(email=data.email, mobile=data.mobile, errors=errors))
    if postcode := blank(data.postcode):
        if normalised := _normalised_postcode(postcode):
            changes["postcode"] = normalised
        else:
            errors["postcode"] = "Enter a real UK postcode, like LS1 4AP"
    for name, limit in (("gender", 40), ("address_line_1", 200), ("address_line_2", 200),
                        ("town", 100), ("offence_location", 200), ("disposal", 100)):
        value = blank(getattr(data, name))
        if value and len(value) > limit:
            errors[name] = f"Enter no more than {limit} characters"
        changes[name] = value
    changes["preferred_contact"] = check_preferred_contact(
        data.preferred_contact, email=changes.get("email"), mobile=changes.get("mobile"),
        has_postal_address=bool(changes.get("address_line_1") and changes.get("postcode")),
        is_historical=data.is_historical, errors=errors)
    return changes


def check_contact_addresses(*, email: str | None, mobile: str | None,
                            errors: dict[str, str]) -> dict[str, str]:
    """The email address and mobile number in their normal forms (a blank one is left out),
    a problem with either put in `errors` under "email" or "mobile". Intake and the change of
    contact details (`referrals.contact.change_contact_details`) both check them here."""
    normal: dict[str, str] = {}
    if email := blank(email):
        try:
            normal["email"] = normalise_email_address(email)
        except ValueError:
            errors["email"] = "Enter an email address in the correct format, like name@example.com"
    if mobile := blank(mobile):
        try:
            normal["mobile"] = normalise_mobile(mobile)
        except ValueError:
            errors["mobile"] = "Enter a mobile phone number, like 07911 123456 or +44 7911 123456"
    return normal


def check_preferred_contact(value: str | None, *, email: str | None, mobile: str | None,
                            has_postal_address: bool, errors: dict[str, str],
                            is_historical: bool = False) -> str:
    """The way to contact him (email | sms | post; inferred from the addresses when blank):
    the chosen way must have its address (email, mobile, or address and postcode), except on a
    historical record. Problems go in `errors` under "preferred_contact", "email", "mobile" or
    "address_line_1"."""
    channel = blank(value)
    if channel is None:
        channel = ("email" if email else "sms" if mobile else "post")
    if channel not in _CHANNELS:
        errors["preferred_contact"] = "Choose email, text message or post"
    elif is_historical:
        pass  # nobody will be contacted about a closed record
    elif channel == "email" and not email and "email" not in errors:
        errors["email"] = "Enter an email address, or choose another way to contact the person"
    elif channel == "sms" and not mobile and "mobile" not in errors:
        errors["mobile"] = "Enter a mobile number, or choose another way to contact the person"
    elif channel == "post" and not has_postal_address:
        errors.setdefault("address_line_1",
                          "Enter the address and postcode, or choose another way to contact the person")
    return channel


class Lookups:
    """Forces, programmes and officers remembered across the rows of a bulk import, so that each
    is read once (officers: `load_officers`, one query a chunk), not once a row."""

    def __init__(self) -> None:
        self.forces: dict[str, Force | None] = {}
        self.programmes: dict[str, Programme | None] = {}
        self.first_programmes: list[Programme] | None = None
        self.officers: dict[str, User | None] = {}

    def force(self, code: str) -> Force | None:
        if code not in self.forces:
            self.forces[code] = db.session.scalar(select(Force).where(Force.code == code))
        return self.forces[code]

    def programme(self, code: str) -> Programme | None:
        if code not in self.programmes:
            self.programmes[code] = db.session.scalar(
                select(Programme).where(Programme.code == code))
        return self.programmes[code]

    def two_programmes(self) -> list[Programme]:
        if self.first_programmes is None:
            self.first_programmes = list(db.session.scalars(select(Programme).limit(2)))
        return self.first_programmes

    def load_officers(self, emails: Iterable[str]) -> None:
        """Read the users with these (lower-case) addresses in one query."""
        wanted = sorted({email for email in emails if email not in self.officers})
        if not wanted:
            return
        found = {user.email: user for user in db.session.scalars(
            select(User).where(User.email.in_(wanted)))}
        for email in wanted:
            self.officers[email] = found.get(email)

    def officer(self, email: str) -> User | None:
        if email not in self.officers:
            self.load_officers([email])
        return self.officers[email]


def _resolve_force(data: ReferralInput, actor: User | None, errors: dict[str, str],
                   lookups: Lookups | None = None) -> Force | None:
    code = (blank(data.force_code) or "").upper()
    if actor is not None and actor.role is Role.POLICE:
        own = actor.force
        if code and own is not None and code != own.code:
            errors["force_code"] = f"You can only make referrals for your own force ({own.code})"
            return None
        return own
    if not code:
        errors["force_code"] = "Enter the police force's code"
        return None
    force = (lookups.force(code) if lookups is not None
             else db.session.scalar(select(Force).where(Force.code == code)))
    if force is None:
        errors["force_code"] = f"There is no police force with the code {code}"
    return force


def _resolve_programme(data: ReferralInput, errors: dict[str, str],
                       lookups: Lookups | None = None) -> Programme | None:
    code = (blank(data.programme_code) or "").upper()
    if code:
        programme = (lookups.programme(code) if lookups is not None
                     else db.session.scalar(select(Programme).where(Programme.code == code)))
        if programme is None:
            errors["programme_code"] = f"There is no programme with the code {code}"
        return programme
    programmes = (lookups.two_programmes() if lookups is not None
                  else list(db.session.scalars(select(Programme).limit(2))))
    if len(programmes) == 1:
        return programmes[0]
    errors["programme_code"] = ("Enter the programme's code" if programmes
                                else "No programme has been set up yet. Ask an administrator")
    return None


def resolve_programme(data: ReferralInput, lookups: Lookups | None = None) -> Programme | None:
    """The programme the referral is for, or None when its code names none."""
    return _resolve_programme(data, {}, lookups)


def _replaced(data: ReferralInput, changes: dict[str, Any]) -> ReferralInput:
    """`dataclasses.replace(data, **changes)` for a ReferralInput, which has no __post_init__
    and no field outside __init__: a copy of its fields, changed (replace calls __init__ with
    every field by name, a sixth of the time an import takes to check a row)."""
    unknown = changes.keys() - _INPUT_FIELDS
    if unknown:
        raise TypeError(f"ReferralInput has no {', '.join(sorted(unknown))}")
    copy = object.__new__(ReferralInput)
    copy.__dict__.update(data.__dict__)
    copy.__dict__.update(changes)
    return copy


_INPUT_FIELDS = frozenset(f.name for f in fields(ReferralInput))
_INPUT_DEFAULTS = {f.name: f.default for f in fields(ReferralInput) if f.default is not MISSING}
_INPUT_REQUIRED = _INPUT_FIELDS - _INPUT_DEFAULTS.keys()


def _made(values: dict[str, Any]) -> ReferralInput:
    """`ReferralInput(**values)`, its fields' defaults and then the values put in its
    __dict__ at once (as `_replaced` does): the row parser makes one a row."""
    if not values.keys() >= _INPUT_REQUIRED or not values.keys() <= _INPUT_FIELDS:
        return ReferralInput(**values)  # raises TypeError, naming the field
    made = object.__new__(ReferralInput)
    made.__dict__.update(_INPUT_DEFAULTS)
    made.__dict__.update(values)
    return made


def validate_referral(data: ReferralInput, *, actor: User | None, today: dt.date,
                      lookups: Lookups | None = None) -> CleanReferral:
    """Every field checked and normalised; ValidationFailed with every problem found.
    `lookups` (bulk imports) remembers the forces, programmes and officers read."""
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
    elif not _is_email_address(officer_email):
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
    changes = _check_person_fields(data, today, errors)
    force = _resolve_force(data, actor, errors, lookups)
    programme = _resolve_programme(data, errors, lookups)
    if errors or force is None or programme is None:
        raise ValidationFailed(errors)
    officer = (lookups.officer(officer_email.lower()) if lookups is not None
               else db.session.scalar(select(User).where(User.email == officer_email.lower())))
    data = _replaced(data, {**changes, "crime_reference": crime_reference,
                            "offence_code": offence_code, "officer_email": officer_email,
                            "family_name": data.family_name.strip(),
                            "given_names": " ".join(data.given_names.split())})
    return CleanReferral(data=data, force=force, programme=programme, officer=officer, outcome=outcome)


# Creating -----------------------------------------------------------------------------------
