"""Dashboard panels: each feature adds, in its init_app, the work its users need to see first.

A panel is a titled list of lines; a line says what needs doing ("12 people must book within 7
days"), and links to the list it counts, filtered so that list shows exactly those rows. Work
panels come first; panels marked `summary` (figures that are not work) follow under "Summary".
Every count is one bounded, indexed query (docs/DESIGN.md, "Dashboard"). A panel gives its
counts as statements (`SELECT count(*) …`) rather than numbers where it can: `panels_for` then
makes every panel's counts in one statement, one round trip and one pass through the ORM for the
whole page rather than one a line. A count whose cost
follows the programme's open work rather than a bounded range (the fees owed over every booked
referral: some 14,000 at a million referrals) is made at most once a minute in each worker
(`counted_recently`), and its panel says when it was counted.

The dashboard page (diversion.home) shows the panels for the acting user's role in the order
the features were added to the app.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from flask import Flask, current_app, url_for
from sqlalchemy import Select, select

from diversion.core.db import set_local
from diversion.core.extensions import db


@dataclass(frozen=True)
class Line:
    """One line of a panel: `count` rows of the list at `endpoint` with `args` (its filters).
    A count of None is a plain link (something to do that cannot be counted); a statement is a
    count still to make (`panels_for` makes it, with the page's others, before the page sees
    the line)."""

    label: str
    count: int | Select[int] | None
    endpoint: str | None = None
    args: Mapping[str, Any] = field(default_factory=dict)
    none_text: str = "Nothing to do"

    @property
    def href(self) -> str | None:
        return url_for(self.endpoint, **self.args) if self.endpoint else None


@dataclass
class Panel:
    title: str
    # Lines, or (label, n, endpoint) tuples as features added them before lines had filters.
    counts: Sequence[Line | tuple[str, int, str | None]] = field(default_factory=list)
    description: str | None = None
    summary: bool = False  # figures to know, not work to do: shown after the work
    # The one thing the panel's users most often start (a label and endpoint, no count): a
    # button at the top of the page, so a phone's folded menu is not in the way.
    action: Line | None = None

    @property
    def lines(self) -> list[Line]:
        return [item if isinstance(item, Line) else Line(item[0], item[1], item[2])
                for item in self.counts]


PanelBuilder = Callable[[Any, dt.datetime], Panel | None]
_EXTENSION = "diversion.dashboard_panels"
_COUNTED = "diversion.dashboard_counted"
T = TypeVar("T")


def counted_recently(name: str, count: Callable[[], T], *, now: dt.datetime) -> tuple[T, dt.datetime]:
    """`count()` and when it was made: made again only when the last one in this process is
    older than DASHBOARD_COUNTS_MAX_AGE_SECONDS (0: every time). For counts that are the same
    for every user who sees them; the panel shows the time it returns."""
    max_age = dt.timedelta(seconds=current_app.config.get("DASHBOARD_COUNTS_MAX_AGE_SECONDS", 0))
    kept: dict[str, tuple[Any, dt.datetime]] = current_app.extensions.setdefault(_COUNTED, {})
    found = kept.get(name)
    if found is not None and found[1] <= now < found[1] + max_age:
        return found
    kept[name] = (count(), now)
    return kept[name]


def add_panel(app: Flask, builder: PanelBuilder, *, roles: Iterable[Any], order: int = 100) -> None:
    """Show the panel `builder(user, now)` makes (None: no panel) to users with these roles,
    lowest `order` first (the order of the day's work), then in the order added."""
    app.extensions.setdefault(_EXTENSION, []).append((order, frozenset(roles), builder))


def panels_for(user: Any, *, now: dt.datetime) -> list[Panel]:
    """The panels the user's role sees, every count made: work first, then summaries."""
    panels = []
    added = current_app.extensions.get(_EXTENSION, [])
    for _, allowed, builder in sorted(added, key=lambda item: item[0]):
        if user.role in allowed:
            panel = builder(user, now)
            if panel is not None:
                panels.append(panel)
    _count_together(panels)
    return [p for p in panels if not p.summary] + [p for p in panels if p.summary]


def _count_together(panels: Sequence[Panel]) -> None:
    """Make the counts the panels gave as statements, all in one `SELECT (…), (…), …`: each
    stays its own bounded, indexed count, but the page pays the round trip, the statement's
    compiling (cached) and the ORM's work once instead of once a line."""
    pending = [line.count for panel in panels for line in panel.lines
               if isinstance(line.count, Select)]
    if not pending:
        return
    # No JIT: PostgreSQL prices a correlated lookup once a candidate row as if every index entry
    # of the open work were one (the overdue registers: 13,000 active bookings for some 800
    # sessions), which puts the page over `jit_above_cost`, and compiling costs some 50 ms
    # where the counts take a few.
    set_local(db.session, "jit = off")
    made = iter(db.session.execute(
        select(*(count.scalar_subquery() for count in pending))).one())
    for panel in panels:
        panel.counts = [replace(line, count=next(made) or 0)
                        if isinstance(line.count, Select) else line for line in panel.lines]
