"""What every staff list page does with its query string: links that keep the filters, sort
links, and the CSV download (docs/DESIGN.md "Staff lists")."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from flask import Response, redirect, request, url_for
from sqlalchemy import Select
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response as WerkzeugResponse

from diversion.core import paging
from diversion.core.csvout import to_csv
from diversion.core.errors import NotFound
from diversion.core.timeutils import to_london

PAGING_ARGS = ("page", "after", "before")


def kept_args(args: MultiDict[str, str], *, drop: Sequence[str] = ()) -> list[tuple[str, str]]:
    """The query string's filters and sort (repeated keys kept), without the page position."""
    return [(key, value) for key, value in args.items(multi=True)
            if key not in PAGING_ARGS and key not in drop and value != ""]


def hrefs(endpoint: str, kept: list[tuple[str, str]], **view_args: Any
          ) -> tuple[Callable[[dict[str, Any]], str], Callable[[str, str | None], str]]:
    """`href(extra)` for the pager (filters and sort kept) and `sort_href(key, order)` for the
    column headings (filters kept, back to page 1)."""

    def make(pairs: list[tuple[str, str]]) -> str:
        base = url_for(endpoint, **view_args)
        return base + ("?" + urlencode(pairs) if pairs else "")

    def href(extra: dict[str, Any]) -> str:
        return make([(k, v) for k, v in kept if k not in extra]
                     + [(k, str(v)) for k, v in extra.items()])

    def sort_href(key: str, order: str | None) -> str:
        pairs = [(k, v) for k, v in kept if k not in ("sort", "order")] + [("sort", key)]
        return make(pairs + ([("order", order)] if order else []))

    return href, sort_href


@dataclass
class Listed:
    """A list page's page of rows, its sort, and the links that keep its filters."""

    page: paging.Page
    ordering: paging.Ordering
    sort_href: Callable[[str, str | None], str]
    csv_href: str


def listed(query: Select[Any], *, sorts: Mapping[str, paging.Sort], default_sort: str,
           endpoint: str, csv_endpoint: str,
           rows: Callable[[list[Any]], list[Any]] | None = None) -> Listed:
    """The page the request's query string asks for (`?sort`, `?order`, `?page`, `?after`,
    `?before`) of `query`, with its pager's and sort headings' links to `endpoint` and the CSV
    download's to `csv_endpoint`, both keeping the filters. `rows` turns the page's items into
    what the template shows. A cursor not made here, or a page past the end: 404."""
    ordering = paging.Ordering.from_args(request.args, sorts, default_sort)
    try:
        page = paging.paginate(query, ordering, args=request.args)
    except paging.InvalidCursor:
        raise NotFound(paging.NO_SUCH_PAGE) from None
    if rows is not None:
        page.items = rows(page.items)
    kept = kept_args(request.args)
    href, sort_href = hrefs(endpoint, kept)
    page.with_links(href)
    return Listed(page, ordering, sort_href,
                  url_for(csv_endpoint) + ("?" + urlencode(kept) if kept else ""))


def back_to_list(endpoint: str) -> WerkzeugResponse:
    """The answer to a CSV download asked with filters its list refuses: the list itself, with
    the same filters, whose error summary names each problem (never the bare 400 page)."""
    kept = kept_args(request.args)
    return redirect(url_for(endpoint) + ("?" + urlencode(kept) if kept else ""))


def london(value: dt.datetime | None) -> str:
    """A CSV cell for an instant: London wall-clock time with its offset, to the minute."""
    return "" if value is None else to_london(value).isoformat(timespec="minutes")


def csv_download(filename: str, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Response:
    """A CSV attachment, every cell guarded against spreadsheet formulas (core/csvout.py)."""
    return Response(to_csv(header, rows, bom=True), content_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="{filename}"',
                             "Cache-Control": "no-store"})
