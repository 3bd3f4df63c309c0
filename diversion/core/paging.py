"""Lists that scale: a result count that stops at a cap, pages by keyset, and page numbers.

Every staff list (referrals, attendees, messages, audit, payments) pages the same way:

- **Sort keys.** A list offers named sorts (`Sort`): one or more columns, the last a unique id, all
  in one direction, none nullable (coalesce a nullable column in the sort expression). The rows
  are ordered by that tuple, so the tuple is a keyset.
- **Next and previous are keyset.** A page's link to the next page carries `after=<cursor>`,
  the sort key of its last row; the previous link carries `before=<cursor>`, the key of its
  first row. Walking a million rows costs what the first page costs.
- **Page numbers are a bounded jump.** The numbered links (1, 2, … 9, 10) carry only `page=N`
  and are found by OFFSET, which is bounded: numbers are offered only inside the counted range,
  and the count stops at `COUNT_CAP` rows ("more than 10,000"). Past the cap the numbers stop,
  and Next (keyset) goes on. `page=N` travels with `after`/`before` so the page knows its number.
- **The count is capped** (`SELECT count(*) FROM (… LIMIT cap + 1)`): a page request never
  walks the whole table, however large the result.

Cursors are URL-safe text made from the key values; a text that is not one raises
InvalidCursor (the web lists answer 404, "That page of results no longer exists"). A forged
cursor can only move within the same scoped, filtered query, so cursors are not signed.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Select, func, literal, select, tuple_

from diversion.core.extensions import db

PAGE_SIZE = 25
COUNT_CAP = 10_000
NO_SUCH_PAGE = "That page of results no longer exists"


class InvalidCursor(ValueError):
    """A page cursor, page number or sort that was not made by this module."""


@dataclass(frozen=True)
class Sort:
    """A named order for a list: `columns` (the last one unique), all ascending or all descending
    by default; the reader may reverse it."""

    label: str
    columns: tuple[ColumnElement[Any], ...]
    descending: bool = False


@dataclass(frozen=True)
class Ordering:
    """The sort a request asked for: its key, the Sort, and the direction."""

    key: str
    sort: Sort
    descending: bool

    @classmethod
    def from_args(cls, args: Mapping[str, str], sorts: Mapping[str, Sort],
                  default: str) -> Ordering:
        """`?sort=<key>&order=asc|desc`; an unknown key falls back to the default sort (a sort
        is a presentation choice, not worth an error page)."""
        key = args.get("sort") or default
        if key not in sorts:
            key = default
        sort = sorts[key]
        order = args.get("order")
        descending = sort.descending if order not in ("asc", "desc") else order == "desc"
        return cls(key, sort, descending)

    @property
    def order(self) -> str:
        return "desc" if self.descending else "asc"

    def args(self) -> dict[str, str]:
        return {"sort": self.key, "order": self.order}


def _encode_value(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return {"t": value.isoformat()}
    if isinstance(value, dt.date):
        return {"d": value.isoformat()}
    if hasattr(value, "value") and not isinstance(value, (int, str)):  # an enum
        return value.value
    return value


def _decode_value(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"t"} and isinstance(value["t"], str):
            return dt.datetime.fromisoformat(value["t"])
        if set(value) == {"d"} and isinstance(value["d"], str):
            return dt.date.fromisoformat(value["d"])
        raise ValueError(value)
    if isinstance(value, (int, str)) and not isinstance(value, bool):
        return value
    raise ValueError(value)


def encode_cursor(values: Sequence[Any]) -> str:
    text = json.dumps([_encode_value(v) for v in values], separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(text: str, *, width: int) -> tuple[Any, ...]:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        values = json.loads(raw)
        if not isinstance(values, list) or len(values) != width:
            raise ValueError(text)
        return tuple(_decode_value(v) for v in values)
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError) as error:
        raise InvalidCursor(text) from error


@dataclass(frozen=True)
class PageLink:
    number: int | None  # None: an ellipsis
    href: str = ""
    current: bool = False


@dataclass
class Page:
    """One page of a list, with what its pagination needs."""

    items: list[Any]
    number: int
    size: int
    total: int  # capped at COUNT_CAP + 1
    total_is_exact: bool
    next_cursor: str | None
    previous_cursor: str | None
    links: list[PageLink] = field(default_factory=list)
    next_href: str | None = None
    previous_href: str | None = None

    @property
    def pages(self) -> int | None:
        """How many pages, when the count is exact."""
        if not self.total_is_exact:
            return None
        return max(1, -(-self.total // self.size))

    @property
    def first_shown(self) -> int:
        return (self.number - 1) * self.size + 1 if self.items else 0

    @property
    def last_shown(self) -> int:
        return (self.number - 1) * self.size + len(self.items)

    @property
    def count_text(self) -> str:
        """"1,234" or "more than 10,000"."""
        if self.total_is_exact:
            return f"{self.total:,}"
        return f"more than {COUNT_CAP:,}"

    def with_links(self, href: Callable[[dict[str, Any]], str]) -> Page:
        """Fill in the pagination links; `href(args)` makes a URL for extra query args (the
        list's filters and sort must already be in it)."""
        if self.previous_cursor is not None:
            self.previous_href = href({"page": self.number - 1, "before": self.previous_cursor})
        elif self.number > 1:
            self.previous_href = href({"page": self.number - 1})
        if self.next_cursor is not None:
            self.next_href = href({"page": self.number + 1, "after": self.next_cursor})
        counted = self.pages if self.pages is not None else COUNT_CAP // self.size
        last = counted if self.total_is_exact else None
        wanted = {1, self.number - 1, self.number, self.number + 1}
        if last is not None:
            wanted.add(last)
        numbers = sorted(n for n in wanted if 1 <= n <= max(counted, self.number))
        links: list[PageLink] = []
        for n in numbers:
            if links and links[-1].number is not None and n - (links[-1].number or 0) > 1:
                links.append(PageLink(None))
            if n == self.number:
                links.append(PageLink(n, href({"page": n} if n > 1 else {}), current=True))
            elif n == self.number + 1 and self.next_href:
                links.append(PageLink(n, self.next_href))
            elif n == self.number - 1 and self.previous_href:
                links.append(PageLink(n, self.previous_href))
            elif n <= counted:
                links.append(PageLink(n, href({"page": n} if n > 1 else {})))
        if last is None and self.next_cursor is not None:
            links.append(PageLink(None))
        self.links = links if (self.next_href or self.previous_href) else []
        return self


def capped_count(query: Select[Any], *, cap: int = COUNT_CAP) -> tuple[int, bool]:
    """How many rows `query` gives, counting at most cap + 1: (n, exact)."""
    inner = query.order_by(None).limit(cap + 1).subquery()
    n = db.session.scalar(select(func.count()).select_from(inner)) or 0
    return n, n <= cap


def paginate(query: Select[Any], ordering: Ordering, *, args: Mapping[str, str],
             size: int = PAGE_SIZE, cap: int = COUNT_CAP) -> Page:
    """One page of `query` in `ordering`, as `args` ask (`page`, `after`, `before`).

    Raises InvalidCursor for a cursor not made here or a page number past the counted range.
    Two queries: the capped count and the page.
    """
    columns = ordering.sort.columns
    key = tuple_(*columns)
    width = len(query.column_descriptions)
    number = _page_number(args.get("page"))
    after, before = args.get("after") or None, args.get("before") or None
    total, exact = capped_count(query, cap=cap)
    backwards = before is not None and after is None
    descending = ordering.descending
    paged = query.add_columns(*columns)
    offset = 0
    if after is not None:
        edge = _edge(after, columns)
        paged = paged.where(key < edge if descending else key > edge)
    elif before is not None:
        edge = _edge(before, columns)
        paged = paged.where(key > edge if descending else key < edge)
    else:
        offset = (number - 1) * size
        if offset and offset >= min(total, cap):
            raise InvalidCursor(str(number))
    reverse = descending != backwards  # order of the SQL scan
    paged = paged.order_by(*(c.desc() if reverse else c.asc() for c in columns))
    rows = list(db.session.execute(paged.offset(offset).limit(size + 1)).unique())
    has_more = len(rows) > size
    rows = rows[:size]
    if backwards:
        rows.reverse()
    items = [row[0] if width == 1 else tuple(row[:width]) for row in rows]
    keys = [tuple(row[width:]) for row in rows]
    if backwards:
        next_cursor = encode_cursor(keys[-1]) if keys else None
        previous_cursor = encode_cursor(keys[0]) if keys and has_more else None
    else:
        next_cursor = encode_cursor(keys[-1]) if keys and has_more else None
        previous_cursor = encode_cursor(keys[0]) if keys and number > 1 else None
    return Page(items=items, number=number, size=size, total=total, total_is_exact=exact,
                next_cursor=next_cursor, previous_cursor=previous_cursor)


def _edge(cursor: str, columns: Sequence[ColumnElement[Any]]) -> Any:
    values = decode_cursor(cursor, width=len(columns))
    return tuple_(*(literal(value, column.type) for value, column in zip(values, columns,
                                                                        strict=True)))


def _page_number(text: str | None) -> int:
    if not text:
        return 1
    try:
        number = int(text)
    except ValueError as error:
        raise InvalidCursor(text) from error
    if not 1 <= number <= 1_000_000:
        raise InvalidCursor(text)
    return number
