"""Finding people already on record, the one implementation for every feature (referrals,
their CSV import, reoffences). Candidates are shown with reasons; nothing is merged.

- same PNC ID: exact
- same normalised family name, date of birth and first given name: exact (unless both have
  PNC IDs and they differ, which makes them two people who only look alike: possible)
- same date of birth and names spelled nearly alike (RapidFuzz): possible
"""

from __future__ import annotations

import datetime as dt
import functools
import unicodedata
from dataclasses import dataclass, field
from typing import Literal

from rapidfuzz.distance import JaroWinkler
from sqlalchemy import or_, select

from diversion.core.extensions import db
from diversion.referrals.models import Person

MatchKind = Literal["exact", "possible"]
# Jaro-Winkler similarity (0-100), which suits short names and shared beginnings:
# Smith/Smyth 89, John/Jon 93, Mohammed/Muhammad 85, Smith/Jones 0.
NEAR_FAMILY = 87.0
NEAR_GIVEN = 85.0


@functools.lru_cache(maxsize=65536)
def name_key(name: str) -> str:
    """Lower case letters only, accents removed: "O'Brien-Smyth" -> "obriensmyth"."""
    decomposed = unicodedata.normalize("NFKD", name or "")
    return "".join(c for c in decomposed.casefold() if c.isalpha() and not unicodedata.combining(c))


def first_given_key(given_names: str) -> str:
    parts = (given_names or "").replace("-", " ").split()
    return name_key(parts[0]) if parts else ""


@dataclass(frozen=True)
class PersonKeys:
    family_name_key: str
    given_name_key: str
    date_of_birth: dt.date
    pnc_id: str | None = None

    @classmethod
    def of(cls, *, family_name: str, given_names: str, date_of_birth: dt.date,
           pnc_id: str | None = None) -> PersonKeys:
        return cls(name_key(family_name), first_given_key(given_names), date_of_birth,
                   pnc_id or None)

    @classmethod
    def of_person(cls, person: Person) -> PersonKeys:
        """The keys of a person on record (stored normalised)."""
        return cls(person.family_name_key, person.given_name_key, person.date_of_birth,
                   person.pnc_id)


@dataclass
class Match:
    person: Person
    kind: MatchKind
    reasons: list[str] = field(default_factory=list)
    score: float = 0.0


def compare(query: PersonKeys, candidate: PersonKeys) -> tuple[MatchKind, list[str], float] | None:
    """How a person on record matches the one being entered, or None. Pure."""
    if query.pnc_id and candidate.pnc_id == query.pnc_id:
        return "exact", ["Same PNC ID"], 100.0
    if query.date_of_birth != candidate.date_of_birth:
        return None
    family = 100 * JaroWinkler.normalized_similarity(query.family_name_key,
                                                     candidate.family_name_key)
    given = 100 * JaroWinkler.normalized_similarity(query.given_name_key, candidate.given_name_key)
    same_names = (query.family_name_key == candidate.family_name_key
                  and query.given_name_key == candidate.given_name_key)
    if same_names:
        if query.pnc_id and candidate.pnc_id:
            return "possible", ["Same name and date of birth", "Different PNC IDs"], 90.0
        return "exact", ["Same family name, first given name and date of birth"], 99.0
    if family >= NEAR_FAMILY and (given >= NEAR_GIVEN or query.given_name_key[:1]
                                  == candidate.given_name_key[:1]):
        reasons = ["Same date of birth"]
        reasons.append("Same family name" if family == 100 else "Similar family name")
        reasons.append("Same first name" if given == 100 else
                       "Similar first name" if given >= NEAR_GIVEN else "Same first initial")
        return "possible", reasons, (family + given) / 2
    return None


def is_same_person(query: PersonKeys, candidate: PersonKeys) -> bool:
    """Whether the person on record is this person (an exact match): the one rule for linking
    a referral, a reoffence or an imported row to someone already on record. Pure."""
    found = compare(query, candidate)
    return found is not None and found[0] == "exact"


def find_matches(*, family_name: str, given_names: str, date_of_birth: dt.date,
                 pnc_id: str | None = None, limit: int = 10) -> list[Match]:
    """People on record who may be this person, best first. Exact matches come first."""
    query = PersonKeys.of(family_name=family_name, given_names=given_names,
                          date_of_birth=date_of_birth, pnc_id=pnc_id)
    conditions = [Person.date_of_birth == date_of_birth]
    if query.pnc_id:
        conditions.append(Person.pnc_id == query.pnc_id)
    # Bounded: people born on one day, plus at most one PNC holder.
    people = db.session.scalars(select(Person).where(or_(*conditions)).limit(500))
    matches = []
    for person in people:
        found = compare(query, PersonKeys.of_person(person))
        if found is not None:
            kind, reasons, score = found
            matches.append(Match(person=person, kind=kind, reasons=reasons, score=score))
    matches.sort(key=lambda m: (m.kind != "exact", -m.score, m.person.id))
    return matches[:limit]
