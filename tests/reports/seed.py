"""Seeding referrals with known outcomes and their reoffences, for report and import tests."""

from __future__ import annotations

import datetime as dt
from typing import Any

from diversion.auth.models import Force, User
from diversion.core.extensions import db
from diversion.reoffences.services import ReoffenceInput, record_reoffence
from tests.builders import NOW, create_referral


def referral(*, family_name: str, referral_date: dt.date, outcome: str | None,
             force: Force | None = None, days_to_outcome: int = 30, **overrides: Any) -> Any:
    """A referral for the named person (one person per name), historical when `outcome`."""
    values: dict[str, Any] = {
        "family_name": family_name, "given_names": "Adam", "referral_date": referral_date,
        "offence_date": referral_date - dt.timedelta(days=5), "date_of_birth": dt.date(1980, 1, 2),
    }
    if outcome:
        values.update(outcome=outcome,
                      outcome_date=referral_date + dt.timedelta(days=days_to_outcome))
    values.update(overrides)
    return create_referral(force=force, **values)


def reoffence(*, person_id: int, offence_date: dt.date, outcome: str,
              outcome_date: dt.date | None, reference: str, actor: User | None = None,
              offence_code: str = "TH68001") -> Any:
    from diversion.referrals.models import Person

    person = db.session.get(Person, person_id)
    assert person is not None
    data = ReoffenceInput(offence_code=offence_code, offence_date=offence_date, outcome=outcome,
                          outcome_date=outcome_date, source_reference=reference,
                          family_name=person.family_name, given_names=person.given_names,
                          date_of_birth=person.date_of_birth)
    recorded, _ = record_reoffence(data=data, actor=actor, now=NOW)
    db.session.flush()
    return recorded
