"""API: venues and sessions (create, list with availability)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any

from flask import jsonify
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from diversion.api.frame import bp
from diversion.api.schema import (
    FILLED_MULTI_LINE_PATTERN,
    FILLED_SINGLE_LINE_PATTERN,
    SPACE,
    SPACES,
    DatabaseId,
    FilledLine,
    Instant,
    Line,
    Lines,
    QueryBool,
    WholeNumber,
    operation,
    parse_body,
    parse_query,
)
from diversion.auth.access import current_actor, roles
from diversion.auth.models import Role, User
from diversion.core.errors import ValidationFailed
from diversion.core.extensions import db
from diversion.core.problems import unknown
from diversion.core.timeutils import now_utc
from diversion.courses import facilitators as courses_facilitators
from diversion.courses import planning as courses_planning
from diversion.courses import sessions as courses_sessions
from diversion.courses import venues as courses_venues
from diversion.courses.models import Venue
from diversion.programmes import services as programme_services
from diversion.programmes.models import Programme

# What courses.venues.checked_venue checks of a venue, as patterns: a UK postcode (spaces at either end
# and between its halves; the server also takes lower case), and an https:// joining link.
POSTCODE_PATTERN = rf"^{SPACES}[A-Za-z]{{1,2}}[0-9][A-Za-z0-9]?{SPACES}[0-9][A-Za-z]{{2}}{SPACES}$"
# services' rule, `^https://[^\s/$.?#].[^\s]*$` after strip(): the `.` may be a space only
# when something other than a space follows it.
JOINING_LINK_PATTERN = rf"^{SPACES}https://[^\s/$.?#](?:[^\s]+|{SPACE}[^\s]+){SPACES}$"
VENUE_KINDS: dict[str, Any] = {"oneOf": [
    {"title": "Online venue", "required": ["online", "joining_link"],
     "properties": {"online": {"const": True},
                    "joining_link": {"pattern": JOINING_LINK_PATTERN}}},
    {"title": "In-person venue", "required": ["address", "town", "postcode"],
     "properties": {"online": {"const": False},
                    "address": {"pattern": FILLED_MULTI_LINE_PATTERN},
                    "town": {"pattern": FILLED_SINGLE_LINE_PATTERN},
                    "postcode": {"pattern": POSTCODE_PATTERN}}},
]}


class NewVenue(BaseModel):
    """Online (a joining link) or in person (address, town and postcode), never neither."""

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra=VENUE_KINDS)

    name: FilledLine = Field(max_length=200)
    address: Lines = Field(default="", max_length=400,
                           description="Street address; lines separated by newlines")
    town: Line = Field(default="", max_length=100)
    postcode: Line = Field(default="", max_length=10)
    capacity: WholeNumber = Field(ge=1, le=courses_venues.MAX_VENUE_CAPACITY)
    step_free: bool = False
    online: bool = False
    joining_link: Line = Field(default="", max_length=500,
                               description="Required for an online venue: https://…")
    notes: Lines = Field(default="", max_length=2000)

    @classmethod
    def rule_errors(cls, payload: dict[str, Any]) -> dict[str, str]:
        """The online or in-person rule, checked on the raw body (see schema.validate)."""

        def text(name: str) -> str:
            value = payload.get(name)
            return value if isinstance(value, str) else ""

        capacity = payload.get("capacity")
        details = _venue_details(
            name=text("name") or "-", address=text("address"), town=text("town"),
            capacity=capacity if isinstance(capacity, int) and not isinstance(capacity, bool)
            else None, postcode=text("postcode"), step_free=payload.get("step_free") is True,
            notes=text("notes"), online=payload.get("online") is True,
            joining_link=text("joining_link"))
        try:
            courses_venues.checked_venue(details)
        except ValidationFailed as error:
            return _api_names(error.errors)
        return {}


def _venue_details(*, name: str, capacity: int | None, address: str, town: str, postcode: str,
                   step_free: bool, notes: str, online: bool,
                   joining_link: str) -> courses_venues.VenueDetails:
    lines = [line.strip() for line in re.split(r"[\r\n]+", address) if line.strip()]
    return courses_venues.VenueDetails(
        name=name, capacity=capacity, address_line_1=lines[0] if lines else "",
        address_line_2=", ".join(lines[1:]), town=town, postcode=postcode,
        step_free_access=step_free, notes=notes, is_online=online, joining_link=joining_link)


def _api_names(errors: dict[str, str]) -> dict[str, str]:
    """The service's field names as the API body names them."""
    back = {"address_line_1": "address", "address_line_2": "address",
            "step_free_access": "step_free", "is_online": "online"}
    renamed: dict[str, str] = {}
    for name, message in errors.items():
        renamed.setdefault(back.get(name, name), message)
    return renamed


class Created(BaseModel):
    id: int


class NewSession(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    venue_id: DatabaseId
    starts_at: Instant
    ends_at: Instant = Field(description="After starts_at, at most 12 hours later")
    capacity: WholeNumber = Field(ge=1, le=courses_venues.MAX_VENUE_CAPACITY,
                                  description="No more than the venue holds")
    facilitator_emails: list[Annotated[FilledLine, Field(max_length=254)]] = Field(
        min_length=1, max_length=20)
    programme_code: Line | None = Field(
        default=None, max_length=32,
        description="Needed only when there is more than one programme")


class SessionQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    from_: Instant | None = Field(default=None, alias="from", description="Default now")
    to: Instant | None = Field(default=None, description="Exclusive")
    available: QueryBool = Field(default=False, description="Only sessions with places left")


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
    details = _venue_details(name=body.name, capacity=body.capacity, address=body.address,
                             town=body.town, postcode=body.postcode, step_free=body.step_free,
                             notes=body.notes, online=body.online,
                             joining_link=body.joining_link)
    try:
        venue = courses_venues.create_venue(details=details, actor=current_actor(), now=now_utc())
    except ValidationFailed as error:
        raise ValidationFailed(_api_names(error.errors), error.message) from error
    return jsonify(Created(id=venue.id).model_dump()), 201


def _programme(code: str | None) -> Programme:
    if code:
        programme = programme_services.get_programme_by_code(code)
        if programme is None:
            raise unknown("programme_code",
                          f"No programme has the code {code.strip().upper()}")
        return programme
    programmes = programme_services.list_programmes()
    if len(programmes) != 1:
        raise ValidationFailed({"programme_code": "Give the programme code" if programmes
                                else "No programme exists yet"})
    return programmes[0]


def _facilitators(emails: list[str]) -> list[User]:
    """The facilitators named; an address naming no active facilitator is a 404 naming it."""
    wanted = sorted({email.strip().lower() for email in emails})
    found = {user.email: user
             for user in db.session.scalars(select(User).where(User.email.in_(wanted)))}
    missing = [email for email in wanted
               if email not in found or found[email].role is not Role.FACILITATOR
               or not found[email].is_active_account]
    if missing:
        raise unknown("facilitator_emails",
                      "No active facilitator has the email " + ", ".join(missing))
    return courses_facilitators.facilitators_by_email(emails)


@bp.post("/sessions")
@roles(Role.MANAGER)
@operation("Schedule a session", body=NewSession,
           responses={201: Created, 404: None, 409: Clashes, 422: None}, tags=("sessions",),
           descriptions={
               404: "The venue_id, programme_code or a facilitator's email names none stored "
                    "(the detail says which)",
               409: "It clashes with another session at the venue or of a facilitator "
                    "(`clashes` lists them)",
               422: "Refused by rules no schema states: it must start in the future and end "
                    "after it starts, at most 12 hours later; its capacity no more than the "
                    "venue holds; the programme_code given when there is more than one "
                    "programme"})
def create_session() -> Any:
    body = parse_body(NewSession)
    venue = db.session.get(Venue, body.venue_id)
    if venue is None:
        raise unknown("venue_id", f"No venue has the id {body.venue_id}")
    programme = _programme(body.programme_code)
    facilitators = _facilitators(body.facilitator_emails)
    session = courses_planning.create_session(
        programme=programme, venue=venue, starts_at=body.starts_at,
        ends_at=body.ends_at, capacity=body.capacity, facilitators=facilitators,
        actor=current_actor(), now=now_utc())
    return jsonify(Created(id=session.id).model_dump()), 201


@bp.get("/sessions")
@roles(Role.MANAGER, Role.FACILITATOR)
@operation("Sessions with their places (a facilitator sees their own)", query=SessionQuery,
           responses={200: SessionList}, tags=("sessions",))
def list_sessions() -> Any:
    query = parse_query(SessionQuery)
    user = current_actor()
    assert user is not None
    page = courses_sessions.list_sessions(
        where=courses_sessions.SessionFilter(
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


