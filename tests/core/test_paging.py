"""The shared pager: keyset next/previous, bounded page-number jumps, a capped count."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import select

from diversion.audit.models import AuditCategory, AuditEvent
from diversion.core import paging
from diversion.core.extensions import db
from tests.builders import NOW
from tests.queries import count_queries

SORTS = {
    "newest": paging.Sort("When", (AuditEvent.at, AuditEvent.id), descending=True),
    "action": paging.Sort("Action", (AuditEvent.action, AuditEvent.id)),
}


def _events(n: int) -> list[int]:
    rows = []
    for i in range(n):
        # Three rows share each timestamp: the id breaks the tie.
        rows.append(AuditEvent(at=NOW - dt.timedelta(minutes=i // 3), actor_label="system",
                               action=f"act-{i % 7}", category=AuditCategory.SECURITY,
                               details={}))
    db.session.add_all(rows)
    db.session.commit()
    return [r.id for r in rows]


def _ordering(**args: str) -> paging.Ordering:
    return paging.Ordering.from_args(args, SORTS, "newest")


def _walk(ordering: paging.Ordering, size: int) -> list[list[int]]:
    pages, args = [], {}
    while True:
        page = paging.paginate(select(AuditEvent), ordering, args=args, size=size)
        pages.append([e.id for e in page.items])
        if page.next_cursor is None:
            return pages
        args = {"page": str(page.number + 1), "after": page.next_cursor}


def test_next_by_keyset_visits_every_row_once_in_order(app):
    ids = _events(23)
    pages = _walk(_ordering(), size=5)
    assert [len(p) for p in pages] == [5, 5, 5, 5, 3]
    expected = sorted(ids, key=lambda i: (NOW - dt.timedelta(minutes=(i - ids[0]) // 3), i),
                      reverse=True)
    assert [i for p in pages for i in p] == expected


def test_previous_by_keyset_comes_back_to_the_same_page(app):
    _events(12)
    first = paging.paginate(select(AuditEvent), _ordering(), args={}, size=5)
    second = paging.paginate(select(AuditEvent), _ordering(),
                             args={"page": "2", "after": first.next_cursor}, size=5)
    back = paging.paginate(select(AuditEvent), _ordering(),
                           args={"page": "1", "before": second.previous_cursor}, size=5)
    assert [e.id for e in back.items] == [e.id for e in first.items]
    assert back.previous_cursor is None


def test_a_sort_can_be_reversed_and_a_string_key_walks_too(app):
    _events(10)
    ascending = [i for p in _walk(_ordering(sort="action", order="asc"), size=4) for i in p]
    descending = [i for p in _walk(_ordering(sort="action", order="desc"), size=4) for i in p]
    assert descending == list(reversed(ascending))
    actions = [db.session.get(AuditEvent, i).action for i in ascending]
    assert actions == sorted(actions)


def test_a_page_number_jump_lands_where_walking_does(app):
    _events(30)
    walked = _walk(_ordering(), size=5)
    jumped = paging.paginate(select(AuditEvent), _ordering(), args={"page": "4"}, size=5)
    assert [e.id for e in jumped.items] == walked[3]
    assert (jumped.first_shown, jumped.last_shown, jumped.pages) == (16, 20, 6)


def test_the_count_stops_at_the_cap_and_numbers_stop_with_it(app):
    _events(12)
    page = paging.paginate(select(AuditEvent), _ordering(), args={}, size=5, cap=10)
    assert (page.total_is_exact, page.pages) == (False, None)
    assert page.count_text == f"more than {paging.COUNT_CAP:,}"
    with pytest.raises(paging.InvalidCursor):
        paging.paginate(select(AuditEvent), _ordering(), args={"page": "3"}, size=5, cap=10)


def test_links_number_the_pages_with_ellipses(app):
    _events(100)
    page = paging.paginate(select(AuditEvent), _ordering(), args={"page": "5"}, size=5)
    page.with_links(lambda extra: "?" + "&".join(f"{k}={v}" for k, v in sorted(extra.items())))
    numbers = [link.number for link in page.links]
    assert numbers == [1, None, 4, 5, 6, None, 20]
    assert [link.current for link in page.links].index(True) == 3
    assert "after=" in (page.next_href or "") and "before=" in (page.previous_href or "")


@pytest.mark.parametrize("args", [{"after": "not a cursor"}, {"before": "W10"},
                                  {"page": "zero"}, {"page": "0"}, {"after": "WyJ4Il0"}])
def test_cursors_and_numbers_not_made_here_are_refused(app, args):
    _events(3)
    with pytest.raises(paging.InvalidCursor):
        paging.paginate(select(AuditEvent), _ordering(), args=args, size=5)


def test_a_page_is_two_queries_however_far_down(app):
    _events(40)
    first = paging.paginate(select(AuditEvent), _ordering(), args={}, size=5)
    with count_queries() as queries:
        paging.paginate(select(AuditEvent), _ordering(),
                        args={"page": "2", "after": first.next_cursor}, size=5)
    assert len(queries) == 2
