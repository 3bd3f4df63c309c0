"""Venues: in person (address, capacity, step-free access) or online (a joining link).

- `checked_venue(details)` -> the venue's columns, or ValidationFailed naming the fields
- `create_venue(details=, actor=, now=)`, `update_venue(venue=, details=, actor=, now=)`
- `get_venue(venue_id)` (NotFound), `list_venues()`
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from diversion.audit.models import AuditCategory
from diversion.audit.services import record
from diversion.auth.models import User
from diversion.core import parsing
from diversion.core.errors import NotFound, ValidationFailed
from diversion.core.extensions import db
from diversion.courses.models import CourseSession, SessionStatus, Venue

MAX_VENUE_CAPACITY = 1000


@dataclass(frozen=True)
class VenueDetails:
    """What a manager enters about a venue."""

    name: str
    capacity: int | None
    address_line_1: str = ""
    address_line_2: str = ""
    town: str = ""
    postcode: str = ""
    step_free_access: bool = False
    notes: str = ""
    is_online: bool = False
    joining_link: str = ""


def checked_venue(details: VenueDetails) -> dict[str, Any]:
    """The venue's columns, or ValidationFailed listing every problem with the details."""
    errors: dict[str, str] = {}
    name = details.name.strip()
    if not name:
        errors["name"] = "Enter the venue's name"
    elif len(name) > 200:
        errors["name"] = "Venue name must be 200 characters or fewer"
    if details.capacity is None:
        errors["capacity"] = "Enter how many people the venue holds"
    elif not 1 <= details.capacity <= MAX_VENUE_CAPACITY:
        errors["capacity"] = f"Capacity must be between 1 and {MAX_VENUE_CAPACITY}"
    values: dict[str, Any] = {
        "name": name, "capacity": details.capacity, "is_online": details.is_online,
        "step_free_access": details.step_free_access, "notes": details.notes.strip() or None,
        "address_line_1": None, "address_line_2": None, "town": None, "postcode": None,
        "joining_link": None,
    }
    if details.is_online:
        link = details.joining_link.strip()
        if not link:
            errors["joining_link"] = "Enter the joining link for the online venue"
        elif not re.match(r"^https://[^\s/$.?#].[^\s]*$", link) or len(link) > 500:
            errors["joining_link"] = "Enter a joining link that starts with https://"
        values["joining_link"] = link
        # People joining from home need no step-free route.
        values["step_free_access"] = True
    else:
        if not details.address_line_1.strip():
            errors["address_line_1"] = "Enter the first line of the address"
        elif len(details.address_line_1.strip()) > 200:
            errors["address_line_1"] = "Address line 1 must be 200 characters or fewer"
        if len(details.address_line_2.strip()) > 200:
            errors["address_line_2"] = "Address line 2 must be 200 characters or fewer"
        if not details.town.strip():
            errors["town"] = "Enter the town or city"
        postcode = parsing.normalise_postcode(details.postcode)
        if postcode is None:
            errors["postcode"] = "Enter a full UK postcode, like LS1 1UR"
        values.update(address_line_1=details.address_line_1.strip(),
                      address_line_2=details.address_line_2.strip() or None,
                      town=details.town.strip(), postcode=postcode)
    if errors:
        raise ValidationFailed(errors)
    return values


def create_venue(*, details: VenueDetails, actor: User | None, now: dt.datetime) -> Venue:
    """Add a venue: an address with a capacity, or an online room with a joining link."""
    venue = Venue(**checked_venue(details), created_at=now, updated_at=now)
    db.session.add(venue)
    db.session.flush()
    record(action="venue.create", category=AuditCategory.ALTERATION, now=now, actor=actor,
           object_type="venue", object_id=venue.id)
    return venue


def update_venue(*, venue: Venue, details: VenueDetails, actor: User | None,
                 now: dt.datetime) -> Venue:
    """Change a venue. Its capacity cannot drop below an upcoming session's places."""
    values = checked_venue(details)
    largest = db.session.scalar(
        select(func.max(CourseSession.capacity)).where(
            CourseSession.venue_id == venue.id, CourseSession.starts_at >= now,
            CourseSession.status == SessionStatus.SCHEDULED))
    if largest is not None and values["capacity"] < largest:
        raise ValidationFailed({"capacity": f"An upcoming session here has {largest} places: "
                                            "reduce its places first"})
    changed = sorted(k for k, v in values.items() if getattr(venue, k) != v)
    for key, value in values.items():
        setattr(venue, key, value)
    venue.updated_at = now
    record(action="venue.update", category=AuditCategory.ALTERATION, now=now, actor=actor,
           object_type="venue", object_id=venue.id, details={"changed": changed})
    return venue


def get_venue(venue_id: int) -> Venue:
    venue = db.session.get(Venue, venue_id)
    if venue is None:
        raise NotFound("No such venue")
    return venue


def list_venues() -> list[Venue]:
    return list(db.session.scalars(select(Venue).order_by(Venue.name, Venue.id)))
