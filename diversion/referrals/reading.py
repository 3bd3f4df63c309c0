"""Reading referrals with the reader's scope: police see their force's, managers and admins
all, facilitators none.

- `visible_referrals(actor) -> Select[Referral]`: the scoped base query for lists.
- `get_scoped_referral(reference, actor) -> Referral`: NotFound outside the actor's scope.
- `read_referral_audited(reference=, actor=, now=) -> Referral`: the same, and writes a
  CONSULTATION audit row recording that the actor looked at it.
- `record_matches_shown(person_ids=, actor=, now=)`: the audit row of the people on record an
  officer was shown as possibly the person he is referring.
- `get_referral_by_crime_reference(force_id=, crime_reference=) -> Referral | None`.
- `normalise_reference(reference)`, `REFERENCE_ALPHABET`, `REFERENCE_LENGTH`.
- `count_people()`, `count_referrals_by_status()`.
"""

from __future__ import annotations

import datetime as dt
import re

from sqlalchemy import ColumnElement, Select, false, func, select

from diversion.audit.models import AuditCategory
from diversion.audit.services import record, shown_details
from diversion.auth.models import Role, User
from diversion.core.errors import NotFound
from diversion.core.extensions import db
from diversion.referrals.models import Person, Referral, ReferralStatus

REFERENCE_ALPHABET = "ACDEFHJKMNPRTUVWXY34679"
REFERENCE_LENGTH = 8


def normalise_reference(reference: str) -> str:
    return re.sub(r"[\s-]+", "", reference or "").upper()


def force_is(force_id: int | None, *, by_index: bool = True) -> ColumnElement[bool]:
    """`referrals.force_id = force_id`; with by_index=False written `force_id + 0 = …`, which
    no index serves, so a list sorted by another index (a name, a deadline) walks that index
    and checks the force row by row instead of sorting all the force's referrals."""
    if by_index:
        return Referral.force_id == force_id
    return (Referral.force_id + 0) == force_id


def visible_referrals(actor: User, *, force_by_index: bool = True) -> Select[Referral]:
    """The referrals this user may see: police their force's, managers and admins all."""
    query = select(Referral)
    if actor.role is Role.POLICE:
        return query.where(force_is(actor.force_id, by_index=force_by_index))
    if actor.role in (Role.MANAGER, Role.ADMIN):
        return query
    return query.where(false())  # facilitators see no referrals


def get_scoped_referral(reference: str, actor: User) -> Referral:
    """A referral the actor may see, without recording the read; NotFound otherwise."""
    referral = db.session.scalar(visible_referrals(actor).where(
        Referral.reference == normalise_reference(reference)))
    if referral is None:
        raise NotFound("No referral with that reference")
    return referral


def read_referral_audited(*, reference: str, actor: User, now: dt.datetime) -> Referral:
    """A referral the actor may see (NotFound otherwise); records that they looked at it."""
    referral = get_scoped_referral(reference, actor)
    record(action="referral.view", category=AuditCategory.CONSULTATION, now=now, actor=actor,
           object_type="referral", object_id=referral.id)
    return referral


def record_matches_shown(*, person_ids: list[int], actor: User, now: dt.datetime) -> None:
    """The officer was shown these people on record (name, date of birth, PNC ID, town) as
    possibly the man he is referring, whichever force referred them: a consultation."""
    record(action="person.matches_view", category=AuditCategory.CONSULTATION, now=now,
           actor=actor, details=shown_details(person_ids, key="people"))


def get_referral_by_crime_reference(*, force_id: int, crime_reference: str) -> Referral | None:
    return db.session.scalar(select(Referral).where(
        Referral.force_id == force_id,
        Referral.crime_reference == crime_reference.strip().upper()))


def count_people() -> int:
    return db.session.scalar(select(func.count()).select_from(Person)) or 0


def count_referrals_by_status() -> dict[str, int]:
    counts = {status.value: 0 for status in ReferralStatus}
    for status, n in db.session.execute(
            select(Referral.status, func.count()).group_by(Referral.status)):
        counts[status.value] = n
    return counts
