"""The checks of a referral's fields that a form, the API and the CSV import share."""

from __future__ import annotations

import dataclasses
import random
import string

import pytest
from email_validator import EmailNotValidError, validate_email
from email_validator.rfc_constants import CASE_INSENSITIVE_MAILBOX_NAMES

from diversion.referrals import intake


def _library(address: str) -> str | None:
    try:
        return str(validate_email(address, check_deliverability=False,
                                  test_environment=True).normalized)
    except EmailNotValidError:
        return None


ADDRESSES = [
    "a@b.com", "A.B@Example.COM", "x@localhost", "x@example.test", "x@foo.local",
    "x@foo.invalid", "x@e.onion", "x@e.arpa", "Info@example.com", "WWW@e.com",
    "postmaster@E.com", "x@-bad.com", "x@bad-.com", "x@bad..com", "x@.com", "x@com",
    "x@123.456", "x@example.123", "x..y@e.com", ".x@e.com", "x.@e.com", "x@e.com.", "x@e",
    "x@xn--bcher-kva.example", "x@XN--BCHER-KVA.example", "x@a_b.com", "a" * 65 + "@e.com",
    "a" * 64 + "@e.com", "a@" + "b" * 250 + ".com", "a@" + ("b" * 63 + ".") * 3 + "com",
    "a@" + "b" * 64 + ".com", "o'brien@e.co.uk", "a+b/c=d?e^f`g{h|i}j~k@e.org", "x@1.2.3.4",
    "x@[1.2.3.4]", "a@b@c.com", "x y@e.com", "Name <x@e.com>", "x@e.com\n", "jo\u00eb@e.com",
    "x@b\u00fccher.example",
]


@pytest.mark.parametrize("address", ADDRESSES)
def test_an_address_is_normalised_as_email_validator_does(address: str) -> None:
    assert intake._normalised_email(address) == _library(address)


def test_random_addresses_are_normalised_as_email_validator_does() -> None:
    # Addresses in the plain form are checked a domain at a time: any difference from the
    # library on thousands of near-misses would show here.
    draw = random.Random(17)
    before, after = string.ascii_letters + string.digits + ".-_+'!@#", \
        string.ascii_letters + string.digits + ".-"
    for _ in range(3000):
        address = ("".join(draw.choice(before) for _ in range(draw.randint(1, 10))) + "@"
                   + "".join(draw.choice(after) for _ in range(draw.randint(1, 14))))
        assert intake._normalised_email(address) == _library(address), address


def test_the_mailbox_names_put_in_lower_case_are_the_librarys() -> None:
    assert set(CASE_INSENSITIVE_MAILBOX_NAMES) == intake._CASE_INSENSITIVE_MAILBOXES


def test_a_parsed_rows_input_is_the_one_the_dataclass_would_make():
    """The row parser fills a ReferralInput's __dict__ at once: every field is there, with its
    default when the CSV has no such column, exactly as ReferralInput(**values) makes it."""
    row = {"crime_reference": " 13/1/26 ", "referral_date": "10/06/2026", "family_name": "Smith",
           "given_names": "Adam", "date_of_birth": "1980-01-02", "offence_code": "X1",
           "officer_email": "pc@e.com", "admitted": "yes", "consented": "no",
           "postcode": "  ", "email": "a@b.com"}
    made = intake.referral_input_from_row(row)
    values = {f.name: getattr(made, f.name) for f in dataclasses.fields(intake.ReferralInput)}
    assert vars(made) == vars(intake.ReferralInput(**values))
    assert made == intake.ReferralInput(**{
        name: values[name] for name in values
        if name not in ("needs_step_free", "preferred_contact", "access_needs",
                        "language_needs", "offence_time")})
    assert (made.crime_reference, made.postcode, made.consented, made.needs_step_free) == (
        "13/1/26", None, False, False)
