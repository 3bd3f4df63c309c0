"""The self-service start page's form, filled in for a known referral (tests.builders.Known)."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient

from tests.builders import Known


def details(known: Known, **overrides: str) -> dict[str, str]:
    """The start page's form fields for this person, with any field replaced."""
    values = {
        "reference": known.reference, "pin": known.pin,
        "dob_day": str(known.date_of_birth.day), "dob_month": str(known.date_of_birth.month),
        "dob_year": str(known.date_of_birth.year),
    }
    values.update(overrides)
    return values


def sign_in(client: FlaskClient, known: Known, address: str = "192.0.2.1", **overrides: str) -> Any:
    return client.post("/book", data=details(known, **overrides),
                       environ_base={"REMOTE_ADDR": address})


def book(client: FlaskClient, session_id: int) -> Any:
    """Choose a date, then confirm it on the check page: the answer to "Confirm booking"."""
    chosen = client.post("/book/choose", data={"session_id": session_id})
    assert chosen.headers.get("Location") == f"/book/check?session_id={session_id}", chosen.status
    return client.post(chosen.headers["Location"])
