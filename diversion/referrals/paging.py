"""Keyset paging of referral lists: one helper and one cursor format for the web pages and the API.

Lists run newest referral date first, then newest id first. A cursor is the (referral_date, id)
of the row at the edge of a page, written `YYYY-MM-DD.id` (`2026-06-01.42`), so page 10,000
costs what page 1 costs. Clients pass back what they were given and need not read it. A text
that is not such a cursor raises InvalidCursor: the web list and the API answer 404, "That page
of results no longer exists".
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Select, tuple_

from diversion.core import parsing
from diversion.core.extensions import db
from diversion.referrals.models import Referral

NO_SUCH_PAGE = "That page of results no longer exists"


class InvalidCursor(ValueError):
    """A page cursor that was not made by this module."""


@dataclass(frozen=True)
class Cursor:
    """The (referral_date, id) of the row at the edge of a page."""

    referral_date: dt.date
    id: int

    def encode(self) -> str:
        return f"{self.referral_date.isoformat()}.{self.id}"

    @classmethod
    def decode(cls, text: str) -> Cursor:
        day, _, number = (text or "").partition(".")
        try:
            return cls(parsing.parse_date(day), parsing.parse_int(number, minimum=1,
                                                                  maximum=parsing.MAX_ID))
        except parsing.ParseError as error:
            raise InvalidCursor(text) from error

    @classmethod
    def of(cls, referral: Referral) -> Cursor:
        return cls(referral.referral_date, referral.id)


@dataclass(frozen=True)
class ReferralPage:
    items: Sequence[Referral]
    next_cursor: str | None  # older referrals
    previous_cursor: str | None  # newer referrals


def keyset_page(query: Select[Referral], *, limit: int, after: str | None = None,
                before: str | None = None) -> ReferralPage:
    """One page of `query`'s referrals, newest first: after a cursor (older) or before one
    (newer); the first page with neither. InvalidCursor for a cursor not made here."""
    key = tuple_(Referral.referral_date, Referral.id)
    backwards = before is not None and after is None
    if after is not None:
        edge = Cursor.decode(after)
        query = query.where(key < tuple_(edge.referral_date, edge.id))
    elif before is not None:
        edge = Cursor.decode(before)
        query = query.where(key > tuple_(edge.referral_date, edge.id))
    if backwards:
        query = query.order_by(Referral.referral_date.asc(), Referral.id.asc())
    else:
        query = query.order_by(Referral.referral_date.desc(), Referral.id.desc())
    rows = list(db.session.scalars(query.limit(limit + 1)).unique())
    has_more = len(rows) > limit
    rows = rows[:limit]
    if backwards:
        rows.reverse()
        next_cursor = Cursor.of(rows[-1]).encode() if rows else None
        previous_cursor = Cursor.of(rows[0]).encode() if rows and has_more else None
    else:
        next_cursor = Cursor.of(rows[-1]).encode() if rows and has_more else None
        previous_cursor = Cursor.of(rows[0]).encode() if rows and after is not None else None
    return ReferralPage(items=rows, next_cursor=next_cursor, previous_cursor=previous_cursor)
