"""API: venues and sessions (create, list with availability)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from flask import jsonify
from pydantic import BaseModel, ConfigDict, Field, field_validator

from diversion.access import current_actor, roles
from diversion.api import bp
from diversion.api.schema import DatabaseId, operation, parse_body, parse_query
from diversion.auth.models import Role
from diversion.errors import ValidationFailed
from diversion.extensions import db
from diversion.programmes import services as programme_services
from diversion.programmes.models import Programme
from diversion.scheduling import services
from diversion.scheduling.models import Venue
from diversion.timeutils import now_utc

# RFC 3339 date-time: the offset (Z or ±hh:mm) is not optional.
RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


def parse_instant(value: Any) -> dt.datetime:
    """An RFC 3339 date-time with an offset, as an aware datetime; anything else is refused."""
    if not isinstance(value, str) or not RFC3339.match(value.strip()):
        raise ValueError("Give a date and time with an offset, like 2026-03-05T09:30:00+00:00")
    return dt.datetime.fromisoformat(value.strip().replace("z", "Z"))


class NewVenue(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(max_length=200)
    address: str = Field(default="", max_length=400,
                         description="Street address; lines separated by newlines")
    town: str = Field(default="", max_length=100)
    postcode: str = Field(default="", max_length=10)
    capacity: int
    step_free: bool = False
    online: bool = False
    joining_link: str = Field(default="", max_length=500)
    notes: str = Field(default="", max_length=2000)


class Created(BaseModel):
    id: int


class NewSession(BaseModel):
    model_config = ConfigDict(extra="forbid")

    venue_id: DatabaseId
    starts_at: dt.datetime = Field(description="RFC 3339 with an offset")
    ends_at: dt.datetime = Field(description="RFC 3339 with an offset")
    capacity: int
    facilitator_emails: list[str] = Field(min_length=1)
    programme_code: str | None = Field(
        default=None, description="Needed only when there is more than one programme")

    @field_validator("starts_at", "ends_at", mode="before")
    @classmethod
    def _with_offset(cls, value: Any) -> dt.datetime:
        return parse_instant(value)


class SessionQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    from_: dt.datetime | None = Field(default=None, alias="from",
                                      description="RFC 3339; default now")
    to: dt.datetime | None = Field(default=None, description="RFC 3339, exclusive")
    available: bool = Field(default=False, description="Only sessions with places left")

    @field_validator("from_", "to", mode="before")
    @classmethod
    def _with_offset(cls, value: Any) -> dt.datetime | None:
        return None if value in (None, "") else parse_instant(value)


class SessionVenue(BaseModel):
    id: int
    name: str
    town: str | None
    postcode: str | None
    online: bool
    step_free: bool


class SessionItem(BaseModel):
    id: int
    starts_at: dt.datetime
    ends_at: dt.datetime
    status: str
    programme_code: str
    venue: SessionVenue
    capacity: int
    booked: int
    available: int


class SessionList(BaseModel):
    items: list[SessionItem]


class Clashes(BaseModel):
    clashes: list[dict[str, Any]]


MAX_LISTED = 1000


@bp.post("/venues")
@roles(Role.MANAGER)
@operation("Add a venue", body=NewVenue, responses={201: Created, 422: None}, tags=("sessions",))
def create_venue() -> Any:
    body = parse_body(NewVenue)
    lines = [line.strip() for line in re.split(r"[\r\n]+", body.address) if line.strip()]
    details = services.VenueDetails(
        name=body.name, capacity=body.capacity,
        address_line_1=lines[0] if lines else "", address_line_2=", ".join(lines[1:]),
        town=body.town, postcode=body.postcode, step_free_access=body.step_free,
        notes=body.notes, is_online=body.online, joining_link=body.joining_link)
    try:
        venue = services.create_venue(details=details, actor=current_actor(), now=now_utc())
    except ValidationFailed as error:
        renamed = {"address": "address_line_1", "step_free": "step_free_access",
                   "online": "is_online"}
        back = {v: k for k, v in renamed.items()}
        raise ValidationFailed({back.get(k, k): m for k, m in error.errors.items()},
                               error.message) from error
    db.session.commit()
    return jsonify(Created(id=venue.id).model_dump()), 201


def _programme(code: str | None) -> Programme:
    if code:
        programme = programme_services.get_programme_by_code(code)
        if programme is None:
            raise ValidationFailed({"programme_code": f"No programme with code {code}"})
        return programme
    programmes = programme_services.list_programmes()
    if len(programmes) != 1:
        raise ValidationFailed({"programme_code": "Give the programme code" if programmes
                                else "No programme exists yet"})
    return programmes[0]


@bp.post("/sessions")
@roles(Role.MANAGER)
@operation("Schedule a session", body=NewSession,
           responses={201: Created, 409: Clashes, 422: None}, tags=("sessions",))
def create_session() -> Any:
    body = parse_body(NewSession)
    venue = db.session.get(Venue, body.venue_id)
    if venue is None:
        raise ValidationFailed({"venue_id": "No such venue"})
    session = services.create_session(
        programme=_programme(body.programme_code), venue=venue, starts_at=body.starts_at,
        ends_at=body.ends_at, capacity=body.capacity,
        facilitators=services.facilitators_by_email(body.facilitator_emails),
        actor=current_actor(), now=now_utc())
    db.session.commit()
    return jsonify(Created(id=session.id).model_dump()), 201


@bp.get("/sessions")
@roles(Role.MANAGER, Role.FACILITATOR)
@operation("Sessions with their places (a facilitator sees their own)", query=SessionQuery,
           responses={200: SessionList}, tags=("sessions",))
def list_sessions() -> Any:
    query = parse_query(SessionQuery)
    user = current_actor()
    assert user is not None
    page = services.list_sessions(
        where=services.SessionFilter(
            starts_from=query.from_ or now_utc(), starts_before=query.to,
            facilitator_id=user.id if user.role is Role.FACILITATOR else None,
            available_only=query.available),
        per_page=MAX_LISTED, count_total=False)
    items = [
        SessionItem(
            id=row.session.id, starts_at=row.session.starts_at, ends_at=row.session.ends_at,
            status=row.session.status.value, programme_code=row.session.programme.code,
            venue=SessionVenue(id=row.session.venue.id, name=row.session.venue.name,
                               town=row.session.venue.town, postcode=row.session.venue.postcode,
                               online=row.session.venue.is_online,
                               step_free=row.session.venue.step_free_access),
            capacity=row.session.capacity, booked=row.booked, available=row.available)
        for row in page.rows
    ]
    return jsonify(SessionList(items=items).model_dump(mode="json"))


