"""Dashboard panels: each feature adds, in its init_app, the counts its users need to see first.

The dashboard page (diversion.home) shows the panels for the acting user's role in the order
the features were added to the app.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, current_app


@dataclass
class Panel:
    title: str
    counts: list[tuple[str, int, str | None]] = field(default_factory=list)  # label, n, link
    description: str | None = None


PanelBuilder = Callable[[Any, dt.datetime], Panel | None]
_EXTENSION = "diversion.dashboard_panels"


def add_panel(app: Flask, builder: PanelBuilder, *, roles: Iterable[Any]) -> None:
    """Show the panel `builder(user, now)` makes (None: no panel) to users with these roles."""
    app.extensions.setdefault(_EXTENSION, []).append((frozenset(roles), builder))


def panels_for(user: Any, *, now: dt.datetime) -> list[Panel]:
    """The panels the user's role sees, in the order they were added."""
    panels = []
    for allowed, builder in current_app.extensions.get(_EXTENSION, []):
        if user.role in allowed:
            panel = builder(user, now)
            if panel is not None:
                panels.append(panel)
    return panels
