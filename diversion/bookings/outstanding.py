"""Fees outstanding: every referral still booked (on a session to come, or on one already held:
attended and waiting only for the fee, or its register not yet submitted) whose fee is not
cleared, for managers to chase. "Attended" here means the session has started and the referral
is still booked (an absent man leaves `booked` when the register is submitted).

Sorted by the session's start (the deadline to pay is the course date), then booking id, and
paged by keyset over that pair: a cursor is `<start as 20260625T0900Z>.<booking id>`, so a page
far down costs what the first costs. The balance is worked out per row from the referral's own
payments and waiver (their referral_id indexes); rows come from active bookings only
(`ix_bookings_status_session`), so the work follows the bookings still open, not the history.

- `Filters.from_args(args)`; `outstanding_page(filters=, now=, after=, limit=)` -> Page
- `outstanding_rows(filters=, now=)` -> every row (at most MAX_EXPORT_ROWS), for the CSV
- `csv_lines(rows)`; `count_outstanding(now=)`; `count_by_state(now=)` (the dashboard's);
  `record_read(...)`, `record_export(...)`
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, func, select, tuple_

from diversion.audit.models import AuditCategory
from diversion.audit.services import record, shown_details
from diversion.auth.models import Force
from diversion.bookings.fees import balance_expression, paid_expression, waived_expression
from diversion.bookings.models import Booking, BookingStatus
from diversion.core import parsing
from diversion.core.csvout import cell
from diversion.core.extensions import db
from diversion.core.timeutils import london_midnight_in_utc, to_london
from diversion.courses.models import CourseSession
from diversion.programmes.models import Programme
from diversion.referrals.models import Person, Referral, ReferralStatus

PAGE_SIZE = 50
MAX_EXPORT_ROWS = 50_000
BOOKED, ATTENDED = "booked", "attended"
STATES = (BOOKED, ATTENDED)
# A booked referral's booking stays active until the referral closes (bookings.places), so
# active bookings are the whole candidate set: those of sessions to come, and of sessions held
# whose referral is still open. Closed referrals' bookings (the history) are never read.

CSV_HEADER = ("reference", "family_name", "given_names", "force", "programme", "state",
              "session_starts_at", "session_date", "booking_deadline", "fee_pence", "paid_pence",
              "waived", "outstanding_pence")


class InvalidCursor(ValueError):
    """A page cursor that was not made by this module."""


@dataclass(frozen=True)
class Filters:
    force_id: int | None = None
    programme_id: int | None = None
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    state: str | None = None  # BOOKED, ATTENDED, or None for both

    @classmethod
    def from_args(cls, args: Mapping[str, str]) -> tuple[Filters, dict[str, str]]:
        """The filters a query string asks for, and an error per field that could not be read
        (that filter is then left out)."""
        errors: dict[str, str] = {}
        dates: dict[str, dt.date | None] = {}
        for name, what in (("from", "The from date"), ("to", "The to date")):
            text = (args.get(name) or "").strip()
            dates[name] = None
            if text:
                try:
                    dates[name] = parsing.parse_date(text, what=what, uk_format=True)
                except parsing.ParseError as error:
                    errors[name] = str(error)
        if dates["from"] and dates["to"] and dates["to"] < dates["from"]:
            # Kept (nothing matches), but said: an empty list alone looks like nobody owes.
            errors["to"] = "The to date must be the same as or after the from date"
        state = args.get("state") or None
        return cls(force_id=parsing.query_int(args.get("force")),
                   programme_id=parsing.query_int(args.get("programme")),
                   date_from=dates["from"], date_to=dates["to"],
                   state=state if state in STATES else None), errors

    def as_details(self) -> dict[str, Any]:
        """The filters as an audit row records them (no personal data)."""
        return {"force_id": self.force_id, "programme_id": self.programme_id,
                "from": self.date_from.isoformat() if self.date_from else None,
                "to": self.date_to.isoformat() if self.date_to else None, "state": self.state}


@dataclass(frozen=True)
class Row:
    booking_id: int
    referral_id: int
    reference: str
    family_name: str
    given_names: str
    force_name: str
    programme_name: str
    state: str
    starts_at: dt.datetime
    booking_deadline: dt.date
    fee_pence: int
    paid_pence: int
    waived: bool
    outstanding_pence: int


@dataclass(frozen=True)
class Page:
    rows: Sequence[Row]
    next_cursor: str | None


def _token(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y%m%dT%H%MZ")


def decode_cursor(text: str) -> tuple[dt.datetime, int]:
    stamp, _, number = (text or "").partition(".")
    try:
        at = dt.datetime.strptime(stamp, "%Y%m%dT%H%MZ").replace(tzinfo=dt.UTC)
        return at, parsing.parse_int(number, minimum=1, maximum=parsing.MAX_ID)
    except (ValueError, parsing.ParseError) as error:
        raise InvalidCursor(text) from error


def _query(filters: Filters, now: dt.datetime) -> Any:
    balance = balance_expression()
    query = (
        select(Booking.id, Booking.status, Referral.id.label("referral_id"), Referral.reference,
               Referral.booking_deadline, Person.family_name, Person.given_names,
               Force.name.label("force_name"), Programme.name.label("programme_name"),
               Programme.fee_pence, CourseSession.starts_at,
               paid_expression().label("paid"), waived_expression().label("waived"),
               balance.label("outstanding"))
        .join(CourseSession, CourseSession.id == Booking.session_id)
        .join(Referral, Referral.id == Booking.referral_id)
        .join(Person, Person.id == Referral.person_id)
        .join(Force, Force.id == Referral.force_id)
        .join(Programme, Programme.id == Referral.programme_id)
        .where(Booking.status == BookingStatus.ACTIVE, Referral.status == ReferralStatus.BOOKED,
               balance > 0))
    if filters.state == BOOKED:
        query = query.where(CourseSession.starts_at > now)
    elif filters.state == ATTENDED:
        query = query.where(CourseSession.starts_at <= now)
    if filters.force_id is not None:
        query = query.where(Referral.force_id == filters.force_id)
    if filters.programme_id is not None:
        query = query.where(Referral.programme_id == filters.programme_id)
    if filters.date_from is not None:
        query = query.where(CourseSession.starts_at >= london_midnight_in_utc(filters.date_from))
    if filters.date_to is not None:
        query = query.where(CourseSession.starts_at < london_midnight_in_utc(
            filters.date_to + dt.timedelta(days=1)))
    return query.order_by(CourseSession.starts_at, Booking.id)


def _row(found: Any, now: dt.datetime) -> Row:
    return Row(booking_id=found.id, referral_id=found.referral_id, reference=found.reference,
               family_name=found.family_name, given_names=found.given_names,
               force_name=found.force_name, programme_name=found.programme_name,
               state=ATTENDED if found.starts_at <= now else BOOKED,
               starts_at=found.starts_at, booking_deadline=found.booking_deadline,
               fee_pence=int(found.fee_pence), paid_pence=int(found.paid or 0),
               waived=bool(found.waived), outstanding_pence=int(found.outstanding))


def outstanding_page(*, filters: Filters, now: dt.datetime, after: str | None = None,
                     limit: int = PAGE_SIZE) -> Page:
    """One page of the list, in one query. InvalidCursor for a cursor not made here."""
    query = _query(filters, now)
    if after:
        at, booking_id = decode_cursor(after)
        query = query.where(tuple_(CourseSession.starts_at, Booking.id) > tuple_(at, booking_id))
    found = [_row(r, now) for r in db.session.execute(query.limit(limit + 1))]
    more = len(found) > limit
    rows = found[:limit]
    last = rows[-1] if rows else None
    return Page(rows, f"{_token(last.starts_at)}.{last.booking_id}" if more and last else None)


def outstanding_rows(*, filters: Filters, now: dt.datetime) -> Iterator[Row]:
    """Every row of the list with these filters (at most MAX_EXPORT_ROWS), read 500 at a time."""
    result = db.session.execute(_query(filters, now).limit(MAX_EXPORT_ROWS)
                                .execution_options(yield_per=500))
    for found in result:
        yield _row(found, now)


def csv_lines(rows: Iterator[Row]) -> Iterator[str]:
    """The CSV document line by line (UTF-8 text with a BOM for Excel), every cell made safe
    against formulas. Columns: CSV_HEADER (docs/DESIGN.md, "CSV: fees outstanding")."""
    yield "\ufeff" + _line(CSV_HEADER)
    for row in rows:
        yield _line((row.reference, row.family_name, row.given_names, row.force_name,
                     row.programme_name, row.state, row.starts_at.astimezone(dt.UTC),
                     to_london(row.starts_at).date(), row.booking_deadline, row.fee_pence,
                     row.paid_pence, row.waived, row.outstanding_pence))


def _line(values: Sequence[Any]) -> str:
    cells = []
    for value in values:
        text = cell(value)
        if any(ch in text for ch in ',"\r\n'):
            text = '"' + text.replace('"', '""') + '"'
        cells.append(text)
    return ",".join(cells) + "\r\n"


def count_outstanding(*, now: dt.datetime, filters: Filters | None = None) -> int:
    """How many rows the list has with these filters (the dashboard's counts), in one query."""
    return int(db.session.scalar(select(func.count()).select_from(
        _query(filters or Filters(), now).order_by(None).subquery())) or 0)


def count_by_state(*, now: dt.datetime) -> dict[str, int]:
    """How many rows the unfiltered list has in each state (BOOKED, ATTENDED: the dashboard's
    two lines), in one query. It starts from the booked referrals (or the active bookings: both
    indexed), so it never reads the sessions or bookings of history, however many years of it
    there are; the list's own count, filtered by state, walks the sessions held since the start."""
    attended = CourseSession.starts_at <= now
    counted = db.session.execute(
        select(func.count(case((attended, 1))), func.count(case((~attended, 1))))
        .select_from(Booking)
        .join(CourseSession, CourseSession.id == Booking.session_id)
        .join(Referral, Referral.id == Booking.referral_id)
        .join(Programme, Programme.id == Referral.programme_id)
        .where(Booking.status == BookingStatus.ACTIVE, Referral.status == ReferralStatus.BOOKED,
               balance_expression() > 0)).one()
    return {ATTENDED: int(counted[0] or 0), BOOKED: int(counted[1] or 0)}


def record_read(*, filters: Filters, shown: Sequence[int], actor: Any, now: dt.datetime) -> None:
    """The audit row for a page of the list: the filters and the referrals shown, by id."""
    record(action="fees_outstanding.view", category=AuditCategory.CONSULTATION, now=now,
           actor=actor, details={**filters.as_details(), "rows": len(shown),
                                 **shown_details(shown)})


def record_export(*, filters: Filters, actor: Any, now: dt.datetime) -> None:
    record(action="fees_outstanding.export", category=AuditCategory.DISCLOSURE, now=now,
           actor=actor, details=filters.as_details())
