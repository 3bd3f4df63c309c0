"""Lists and search of referrals for the web pages: scoped, filtered, sorted, paged.

- `ReferralFilters` (a dataclass; the list view parses it from the query string in one place)
  and `filtered_referrals(actor, filters, today=)`: the scoped, filtered query, unordered.
- `SORTS` / `DEFAULT_SORT` and `referral_page(...)`: one page on the shared pager
  (diversion.core.paging: capped count, keyset next/previous, page numbers). Each sort's
  columns are non-null, end with the referral id and are served by an index (migration 0023).
- `search_condition(text, today=)`: reference, crime reference, PNC ID, or a name: family,
  given, "given family" or "family, given", each a prefix of the stored name keys. The
  condition is `referrals.id IN (a UNION of index lookups)`, never an OR that scans.
- `export_rows(...)`: the filtered rows for the CSV, at most MAX_EXPORT_ROWS.
- `list_referrals(...)`: the (referral_date, id) keyset of diversion.referrals.paging, whose
  cursor format the API keeps.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, cast

from sqlalchemy import ColumnElement, Select, String, and_, bindparam, func, or_, select, union

from diversion.audit.models import AuditCategory
from diversion.audit.services import record, shown_details
from diversion.auth.models import Force, Role, User
from diversion.core import paging as pager
from diversion.core.extensions import db
from diversion.outbox.services import SubjectPerson
from diversion.programmes.models import Programme
from diversion.referrals.matching import name_key
from diversion.referrals.models import OPEN_STATUSES, Person, Referral, ReferralStatus
from diversion.referrals.paging import ReferralPage, keyset_page
from diversion.referrals.pnc import InvalidPnc, parse_pnc
from diversion.referrals.reading import (
    REFERENCE_ALPHABET,
    REFERENCE_LENGTH,
    force_is,
    visible_referrals,
)

PAGE_SIZE = 25
DEADLINE_SOON_DAYS = 14
_PNC_SHAPE = re.compile(r"^\d{2}(\d{2})?/\d{1,7}[A-Z]$")
_REFERENCE = re.compile(f"^[{REFERENCE_ALPHABET}]{{{REFERENCE_LENGTH}}}$")


MAX_EXPORT_ROWS = 50_000


@dataclass(frozen=True)
class ReferralFilters:
    """What the list is narrowed to; every filter combines with the others (AND)."""

    status: ReferralStatus | None = None
    force_id: int | None = None  # managers only; police are always scoped to their force
    programme_id: int | None = None
    referred_from: dt.date | None = None
    referred_to: dt.date | None = None
    deadline_soon: bool = False
    mine: bool = False  # referred by the acting user (Referral.officer_user_id)
    search: str = ""
    # The dashboard's links (docs/DESIGN.md, "Dashboard"): each a bounded window on an index.
    booking_due_within_days: int | None = None  # awaiting booking, booking deadline in [today, +N]
    closed_within_days: int | None = None  # closed (terminal) in [today - N, today]

    @property
    def is_empty(self) -> bool:
        return self == ReferralFilters()

    def as_details(self) -> dict[str, Any]:
        """The filters set, for an audit row (JSON values). The search text is not kept (it is
        often a name): `"search": true` says there was one, and the row's ids say what it found."""
        details: dict[str, Any] = {}
        for key, value in asdict(self).items():
            if value in (None, False, ""):
                continue
            if key == "search":
                details[key] = True
                continue
            details[key] = (value.isoformat() if isinstance(value, dt.date)
                            else value.value if isinstance(value, ReferralStatus) else value)
        return details


def _key(*columns: Any) -> tuple[ColumnElement[Any], ...]:
    return tuple(columns)


# The sorts of the list. Person columns come in by the join in `_sorted_query`.
SORTS: dict[str, pager.Sort] = {
    "referred": pager.Sort("Referred", _key(Referral.referral_date, Referral.id), descending=True),
    "name": pager.Sort("Name", _key(Person.family_name_key, Person.given_name_key, Person.id,
                                    Referral.id)),
    "deadline": pager.Sort("Book by", _key(Referral.booking_deadline, Referral.id)),
    "status": pager.Sort("Status", _key(Referral.status, Referral.referral_date, Referral.id)),
    "reference": pager.Sort("Reference", _key(Referral.reference, Referral.id)),
}
DEFAULT_SORT = "referred"
FORCE_INDEXED_SORTS = ("referred", "status")


def _prefix_range(key: str) -> tuple[str, str]:
    """[key, upper) holds exactly the strings starting with key (it uses a plain b-tree index)."""
    return key, key[:-1] + chr(ord(key[-1]) + 1)


def _people_named(family: str, given: str = "") -> Select[Any]:
    """People whose family name key starts with `family` (and first given name key with
    `given`, if given): a range on ix_people_name_sort."""
    low, high = _prefix_range(family)
    query = select(Person.id).where(Person.family_name_key >= low, Person.family_name_key < high)
    if given:
        g_low, g_high = _prefix_range(given)
        query = query.where(Person.given_name_key >= g_low, Person.given_name_key < g_high)
    return query


def _people_given(given: str) -> Select[Any]:
    """People whose first given name key starts with `given`: a range on ix_people_given_name."""
    low, high = _prefix_range(given)
    return select(Person.id).where(Person.given_name_key >= low, Person.given_name_key < high)


def _name_lookups(text: str) -> list[Select[Any]]:
    """Index lookups of people for a typed name: "Ian", "Trialby", "Ian Trialby",
    "Trialby, Ian" (and "Smith Jones" as one family name)."""
    if any(c.isdigit() for c in text):
        return []
    whole = name_key(text)
    if not whole:
        return []
    lookups = [_people_named(whole)]
    if "," in text:
        family, _, given = text.partition(",")
        family_key, given_key = name_key(family), name_key(given.split()[0] if given.split()
                                                           else "")
        if family_key and given_key:
            lookups.append(_people_named(family_key, given_key))
        return lookups
    words = [name_key(w) for w in text.replace("-", " ").split()]
    words = [w for w in words if w]
    if len(words) == 1:
        lookups.append(_people_given(words[0]))
    elif len(words) > 1:
        # "Ian Trialby" (given then family) and "Trialby Ian" (family then given).
        lookups.append(_people_named("".join(words[1:]), words[0]))
        lookups.append(_people_named(words[0], words[-1]))
    return lookups


def search_condition(text: str, *, today: dt.date) -> Any | None:
    """Search by reference, crime reference, PNC ID or name (normalised prefixes of the family
    and first given name). `referrals.id IN (lookup UNION lookup …)`, each lookup an index."""
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
    lookups: list[Select[Any]] = [select(Referral.id).where(Referral.crime_reference == upper)]
    if _REFERENCE.match(compact):
        lookups.append(select(Referral.id).where(Referral.reference == compact))
    people = _name_lookups(text)
    if people:
        lookups.append(select(Referral.id).where(
            Referral.person_id.in_(union(*people) if len(people) > 1 else people[0])))
    return Referral.id.in_(union(*lookups))


def filtered_referrals(actor: User, filters: ReferralFilters, *, today: dt.date,
                       force_by_index: bool = True) -> Select[Referral]:
    """The actor's visible referrals with the filters applied, unordered. `force_by_index`
    False: the force condition uses no index (see reading.force_is)."""
    query = visible_referrals(actor, force_by_index=force_by_index)
    if filters.force_id is not None and actor.role is not Role.POLICE:
        query = query.where(force_is(filters.force_id, by_index=force_by_index))
    if filters.status is not None:
        query = query.where(Referral.status == filters.status)
    if filters.programme_id is not None:
        query = query.where(Referral.programme_id == filters.programme_id)
    if filters.mine:
        query = query.where(Referral.officer_user_id == actor.id)
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
    if filters.booking_due_within_days is not None:
        query = query.where(Referral.status == ReferralStatus.AWAITING_BOOKING,
                            Referral.booking_deadline.between(
                                today, today + dt.timedelta(days=filters.booking_due_within_days)))
    if filters.closed_within_days is not None:
        query = query.where(Referral.closed_on.between(
            today - dt.timedelta(days=filters.closed_within_days), today))
    condition = search_condition(filters.search, today=today)
    if condition is not None:
        query = query.where(condition)
    return query


def _sorted_query(actor: User, filters: ReferralFilters, ordering: pager.Ordering, *,
                  today: dt.date) -> Select[Any]:
    """The ids of the filtered referrals, with the table the sort needs joined in, unordered.

    Ids only: the eager joins of a Referral (force, programme, person) would lead SQLite's
    planner away from the sort's index, so the rows are loaded after the page is chosen."""
    # Sorted by the date or the status, a force's index (force, [status,] date, id) gives the
    # order; sorted otherwise, the sort's own index does, and the force is checked per row.
    query = cast("Select[Any]", filtered_referrals(
        actor, filters, today=today, force_by_index=ordering.key in FORCE_INDEXED_SORTS))
    query = query.with_only_columns(Referral.id)
    if ordering.key == "name":
        query = query.join(Person, Person.id == Referral.person_id)
    return query


def referral_page(*, actor: User, filters: ReferralFilters, ordering: pager.Ordering,
                  args: Mapping[str, str], today: dt.date,
                  size: int = pager.PAGE_SIZE) -> pager.Page:
    """One page of the list: three queries, the capped count, the page's ids by the sort's
    index, and those referrals' columns the table shows (`LIST_COLUMNS`: rows, not ORM objects,
    which would cost more to build than the page takes to render). InvalidCursor for a cursor
    or page not made here."""
    page = pager.paginate(_sorted_query(actor, filters, ordering, today=today), ordering,
                          args=args, size=size)
    ids = list(page.items)
    loaded = {row.id: row for row in db.session.execute(
        _LIST_ROWS, {"ids": ids})} if ids else {}
    page.items = [loaded[i] for i in ids]
    return page


# What a row of the list shows (and its id, for the audit row).
LIST_COLUMNS = (Referral.id, Referral.reference, Person.family_name, Person.given_names,
                Referral.referral_date, Force.code.label("force_code"), Referral.booking_deadline,
                Referral.status)
# The page's rows by id: one statement made once, its ids a bound list (a new statement with
# 25 literal ids a page cost more to build than to run).
_LIST_ROWS = (select(*LIST_COLUMNS).join(Person, Person.id == Referral.person_id)
              .join(Force, Force.id == Referral.force_id)
              .where(Referral.id.in_(bindparam("ids", expanding=True))))


@dataclass(frozen=True)
class ExportRow:
    reference: str
    family_name: str
    given_names: str
    date_of_birth: dt.date | None
    pnc_id: str | None
    force: str
    programme: str
    crime_reference: str
    offence_code: str
    referral_date: dt.date
    booking_deadline: dt.date
    completion_deadline: dt.date
    status: str
    closed_on: dt.date | None
    officer_email: str
    referral_id: int  # for the export's audit row only: not a column of the file


EXPORT_COLUMNS = tuple(name for name in ExportRow.__dataclass_fields__ if name != "referral_id")


def export_rows(*, actor: User, filters: ReferralFilters, ordering: pager.Ordering,
                today: dt.date, limit: int = MAX_EXPORT_ROWS) -> Iterator[ExportRow]:
    """The filtered rows in the list's order, at most `limit + 1` (the caller tells that the
    export was cut when it gets more than `limit`). Plain columns, one query, streamed."""
    columns = ordering.sort.columns
    query = _sorted_query(actor, filters, ordering, today=today).with_only_columns(
        Referral.reference, Person.family_name, Person.given_names, Person.date_of_birth,
        Person.pnc_id, Force.code, Programme.code, Referral.crime_reference, Referral.offence_code,
        Referral.referral_date, Referral.booking_deadline, Referral.completion_deadline,
        Referral.status, Referral.closed_on, Referral.officer_email, Referral.id,
        maintain_column_froms=False)
    query = query.join(Force, Force.id == Referral.force_id).join(
        Programme, Programme.id == Referral.programme_id)
    if ordering.key != "name":
        query = query.join(Person, Person.id == Referral.person_id)
    query = query.order_by(*(c.desc() if ordering.descending else c.asc() for c in columns))
    for row in db.session.execute(query.limit(limit + 1).execution_options(yield_per=1000)):
        values: list[Any] = list(row)
        values[12] = ReferralStatus(values[12]).label
        yield ExportRow(*values)


def list_referrals(*, actor: User, filters: ReferralFilters, today: dt.date,
                   after: str | None = None, before: str | None = None,
                   limit: int = PAGE_SIZE) -> ReferralPage:
    """One page of referrals, newest first: after a cursor (older) or before one (newer)."""
    return keyset_page(filtered_referrals(actor, filters, today=today), limit=limit,
                       after=after, before=before)


def list_forces() -> list[Force]:
    return list(db.session.scalars(select(Force).order_by(Force.name)))


def force_names() -> list[tuple[int, str]]:
    """Every force's id and name, by name: plain rows for a list's choices."""
    return [(fid, name) for fid, name in db.session.execute(_FORCE_NAMES)]


_FORCE_NAMES = select(Force.id, Force.name).order_by(Force.name)


def count_by_status(actor: User) -> dict[ReferralStatus, int]:
    """How many of the actor's visible referrals are in each status (one query)."""
    counts = dict.fromkeys(ReferralStatus, 0)
    query = visible_referrals(actor).with_only_columns(
        Referral.status, func.count(), maintain_column_froms=True).group_by(Referral.status)
    for status, n in db.session.execute(query):
        counts[ReferralStatus(status)] = n
    return counts


def count_referrals(actor: User, filters: ReferralFilters, *, today: dt.date) -> int:
    """How many rows the list shows with these filters (every page together), in one query."""
    return db.session.scalar(count_referrals_query(actor, filters, today=today)) or 0


def count_referrals_query(actor: User, filters: ReferralFilters, *,
                          today: dt.date) -> Select[int]:
    """The statement `count_referrals` runs (for the dashboard, which makes its counts
    together)."""
    return filtered_referrals(actor, filters, today=today).with_only_columns(
        func.count(), maintain_column_froms=True)


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


def record_list_read(*, actor: User, filters: ReferralFilters, ordering: pager.Ordering,
                     page: pager.Page, now: dt.datetime) -> None:
    """The audit row for a page of the list: who, the filters and sort, and the referrals shown
    (one page's ids, so bounded by the page size)."""
    record(action="referral.list", category=AuditCategory.CONSULTATION, now=now, actor=actor,
           object_type="referral", details={
               "filters": filters.as_details(), "sort": ordering.key, "order": ordering.order,
               "page": page.number, "count": page.count_text,
               "shown": [item.id for item in page.items]})


def record_export(*, actor: User, filters: ReferralFilters, ordering: pager.Ordering,
                  referral_ids: Sequence[int], cut: bool, now: dt.datetime) -> None:
    """The audit row for a CSV export of the list: who, the filters, how many rows left and
    which referrals (the first SHOWN_LIMIT ids)."""
    record(action="referral.export", category=AuditCategory.DISCLOSURE, now=now, actor=actor,
           object_type="referral", details={
               **shown_details(referral_ids), "filters": filters.as_details(),
               "sort": ordering.key, "order": ordering.order, "rows": len(referral_ids),
               "cut": cut})


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
    return select(Referral.id).where(condition)


def messages_people(subject_ids: Sequence[str]) -> dict[str, SubjectPerson]:
    """The person of each referral a message is about (outbox.add_subject_people)."""
    found = referral_people([int(i) for i in subject_ids if i.isdigit() and len(i) < 18])
    return {str(key): SubjectPerson(name, reference) for key, (name, reference) in found.items()}


def messages_search(text: str, today: dt.date) -> Select[Any] | None:
    ids = matching_referral_ids(text, today=today)
    return None if ids is None else select(Referral.id.cast(String)).where(
        Referral.id.in_(ids))
