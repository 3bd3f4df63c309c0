"""Builders for venues and sessions, filling in defaults."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

from diversion.auth.models import User
from diversion.core.extensions import db
from diversion.courses import planning as courses_planning
from diversion.courses import venues as courses_venues
from diversion.courses.models import CourseSession, Venue
from tests.builders import NOW, create_programme, create_user

_numbers = itertools.count(1)


def create_venue(**overrides: Any) -> Venue:
    number = next(_numbers)
    values: dict[str, Any] = {
        "name": f"Venue {number}", "capacity": 20, "address_line_1": f"{number} Park Row",
        "town": "Leeds", "postcode": "LS1 5HD", "step_free_access": True,
    }
    values.update(overrides)
    venue = courses_venues.create_venue(details=courses_venues.VenueDetails(**values), actor=None, now=NOW)
    db.session.flush()
    return venue


def create_session(*, starts_at: dt.datetime, hours: float = 7, venue: Venue | None = None,
                   facilitators: list[User] | None = None, capacity: int = 12,
                   programme: Any = None) -> CourseSession:
    session = courses_planning.create_session(
        programme=programme or create_programme(), venue=venue or create_venue(),
        starts_at=starts_at, ends_at=starts_at + dt.timedelta(hours=hours), capacity=capacity,
        facilitators=facilitators or [create_user("facilitator")], actor=None, now=NOW)
    db.session.flush()
    return session
