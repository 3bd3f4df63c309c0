"""Builders for the self-service tests: referrals with a known PIN, dated around today.

The pages read the real clock, so these referrals and sessions are dated from it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from flask.testing import FlaskClient

from diversion.core.extensions import db
from diversion.core.timeutils import london_today, now_utc
from diversion.courses.models import CourseSession
from diversion.referrals import creation as referral_creation
from diversion.referrals.models import Referral
from tests.builders import create_force, create_programme, referral_input
from tests.courses.helpers import create_session

DOB = dt.date(1984, 3, 27)


@dataclass
class Known:
    """A referral and the details its person signs in with."""

    referral: Referral
    pin: str
    date_of_birth: dt.date = DOB

    @property
    def reference(self) -> str:
        return self.referral.reference


def known_referral(**overrides: Any) -> Known:
    """An eligible referral made today through the referrals service, with its PIN."""
    create_programme()
    now = now_utc()
    today = london_today(now)
    overrides.setdefault("force_code", create_force().code)
    overrides.setdefault("date_of_birth", DOB)
    overrides.setdefault("offence_date", today - dt.timedelta(days=5))
    overrides.setdefault("referral_date", today - dt.timedelta(days=2))
    created = referral_creation.create_referral(data=referral_input(**overrides), actor=None,
                                                now=now)
    db.session.commit()
    return Known(created.referral, created.pin, overrides["date_of_birth"])


def upcoming_session(days: int = 10, **overrides: Any) -> CourseSession:
    """A scheduled session `days` from now, 9am to 4pm UTC."""
    start = (now_utc() + dt.timedelta(days=days)).replace(hour=9, minute=0, second=0,
                                                          microsecond=0)
    session = create_session(starts_at=start, **overrides)
    db.session.commit()
    return session


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
