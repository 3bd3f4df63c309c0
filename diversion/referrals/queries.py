"""Lists and search of referrals for the web pages: scoped, filtered, keyset-paginated.

Pages are ordered newest referral date first, then by id (newest first), and move by keyset
(diversion.referrals.paging, shared with the API). Every page is one query (person, force and
programme are joined in).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, String, and_, cast, func, or_, select

from diversion.auth.models import Force, Role, User
from diversion.core.extensions import db
from diversion.outbox.services import SubjectPerson
from diversion.referrals.matching import name_key
from diversion.referrals.models import OPEN_STATUSES, Person, Referral, ReferralStatus
from diversion.referrals.paging import ReferralPage, keyset_page
from diversion.referrals.pnc import InvalidPnc, parse_pnc
from diversion.referrals.reading import REFERENCE_ALPHABET, REFERENCE_LENGTH, visible_referrals

PAGE_SIZE = 25
DEADLINE_SOON_DAYS = 14
_PNC_SHAPE = re.compile(r"^\d{2}(\d{2})?/\d{1,7}[A-Z]$")
_REFERENCE = re.compile(f"^[{REFERENCE_ALPHABET}]{{{REFERENCE_LENGTH}}}$")


@dataclass(frozen=True)
class ReferralFilters:
    status: ReferralStatus | None = None
    force_id: int | None = None  # managers only; police are always scoped to their force
    referred_from: dt.date | None = None
    referred_to: dt.date | None = None
    deadline_soon: bool = False
    search: str = ""

    @property
    def is_empty(self) -> bool:
        return self == ReferralFilters()


def _prefix_range(key: str) -> tuple[str, str]:
    """[key, upper) holds exactly the strings starting with key (it uses a plain b-tree index)."""
    return key, key[:-1] + chr(ord(key[-1]) + 1)


def search_condition(text: str, *, today: dt.date) -> object | None:
    """Search by reference, crime reference, PNC ID or family name (normalised prefix)."""
    text = " ".join((text or "").split())
    if not text:
        return None
    upper = text.upper()
    compact = re.sub(r"[\s-]+", "", upper)
    if _PNC_SHAPE.match(compact):
        try:
            pnc = parse_pnc(compact, today=today)
        except InvalidPnc:
            pnc = compact
        return Referral.person_id.in_(select(Person.id).where(Person.pnc_id == pnc))
    conditions = [Referral.crime_reference == upper]
    if _REFERENCE.match(compact):
        conditions.append(Referral.reference == compact)
    key = name_key(text)
    if key and not any(c.isdigit() for c in text):
        low, high = _prefix_range(key)
        conditions.append(Referral.person_id.in_(select(Person.id).where(
            Person.family_name_key >= low, Person.family_name_key < high)))
    return or_(*conditions)


def filtered_referrals(actor: User, filters: ReferralFilters, *, today: dt.date) -> Select[Referral]:
    """The actor's visible referrals with the filters applied, unordered."""
    query = visible_referrals(actor)
    if filters.force_id is not None and actor.role is not Role.POLICE:
        query = query.where(Referral.force_id == filters.force_id)
    if filters.status is not None:
        query = query.where(Referral.status == filters.status)
    if filters.referred_from is not None:
        query = query.where(Referral.referral_date >= filters.referred_from)
    if filters.referred_to is not None:
        query = query.where(Referral.referral_date <= filters.referred_to)
    if filters.deadline_soon:
        until = today + dt.timedelta(days=DEADLINE_SOON_DAYS)
        query = query.where(or_(
            and_(Referral.status == ReferralStatus.AWAITING_BOOKING,
                 Referral.booking_deadline.between(today, until)),
            and_(Referral.status.in_(sorted(OPEN_STATUSES)),
                 Referral.completion_deadline.between(today, until)),
        ))
    condition = search_condition(filters.search, today=today)
    if condition is not None:
        query = query.where(condition)  # type: ignore[arg-type]
    return query


def list_referrals(*, actor: User, filters: ReferralFilters, today: dt.date,
                   after: str | None = None, before: str | None = None,
                   limit: int = PAGE_SIZE) -> ReferralPage:
    """One page of referrals, newest first: after a cursor (older) or before one (newer)."""
    return keyset_page(filtered_referrals(actor, filters, today=today), limit=limit,
                       after=after, before=before)


def list_forces() -> list[Force]:
    return list(db.session.scalars(select(Force).order_by(Force.name)))


def count_by_status(actor: User) -> dict[ReferralStatus, int]:
    """How many of the actor's visible referrals are in each status (one query)."""
    counts = dict.fromkeys(ReferralStatus, 0)
    query = visible_referrals(actor).with_only_columns(
        Referral.status, func.count(), maintain_column_froms=True).group_by(Referral.status)
    for status, n in db.session.execute(query):
        counts[ReferralStatus(status)] = n
    return counts


def count_deadline_soon(actor: User, *, today: dt.date) -> int:
    """How many of the actor's open referrals have a deadline in the next 14 days."""
    query = filtered_referrals(actor, ReferralFilters(deadline_soon=True), today=today)
    return db.session.scalar(
        query.with_only_columns(func.count(), maintain_column_froms=True)) or 0


def user_names(user_ids: Sequence[int | None]) -> dict[int, str]:
    """The names of these users, in one query (for a referral's history)."""
    wanted = {i for i in user_ids if i is not None}
    if not wanted:
        return {}
    return {user_id: name for user_id, name in db.session.execute(
        select(User.id, User.name).where(User.id.in_(sorted(wanted))))}


def display_name(family_name: str, given_names: str, erased: bool) -> str:
    """How staff lists name a person: "SMITH, John"; "" once the details were erased."""
    if erased:
        return ""
    return f"{family_name.upper()}, {given_names}".rstrip(", ")


def referral_people(referral_ids: Sequence[int]) -> dict[int, tuple[str, str]]:
    """(name, reference) of each of these referrals, in one query (for the staff lists)."""
    wanted = sorted(set(referral_ids))
    if not wanted:
        return {}
    rows = db.session.execute(
        select(Referral.id, Referral.reference, Person.family_name, Person.given_names,
               Person.erased_at)
        .join(Person, Person.id == Referral.person_id).where(Referral.id.in_(wanted)))
    return {row.id: (display_name(row.family_name, row.given_names, row.erased_at is not None),
                     row.reference) for row in rows}


def matching_referral_ids(text: str, *, today: dt.date) -> Select[Any] | None:
    """A query of the ids of every referral a name or reference search finds (any force: for
    managers' and admins' lists), or None for an empty search."""
    condition = search_condition(text, today=today)
    if condition is None:
        return None
    return select(Referral.id).where(condition)  # type: ignore[arg-type]  # an or_()


def messages_people(subject_ids: Sequence[str]) -> dict[str, SubjectPerson]:
    """The person of each referral a message is about (outbox.add_subject_people)."""
    found = referral_people([int(i) for i in subject_ids if i.isdigit() and len(i) < 18])
    return {str(key): SubjectPerson(name, reference) for key, (name, reference) in found.items()}


def messages_search(text: str, today: dt.date) -> Select[Any] | None:
    ids = matching_referral_ids(text, today=today)
    return None if ids is None else select(cast(Referral.id, String)).where(
        Referral.id.in_(ids))
