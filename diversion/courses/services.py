"""Venues and sessions: create, change, cancel, list; conflicts; facilitators' calendar feeds."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, func, or_, select
from sqlalchemy.orm import joinedload, selectinload

from diversion.audit.models import AuditCategory
from diversion.audit.services import record
from diversion.auth.models import Role, User
from diversion.core import parsing
from diversion.core.errors import Conflict, InvalidTransition, NotFound, ValidationFailed
from diversion.core.extensions import db
from diversion.core.timeutils import format_london, london_midnight_in_utc
from diversion.courses.models import CalendarFeed, CourseSession, SessionStatus, Venue
from diversion.courses.rules import (
    AmbiguousWallClock,
    Clash,
    Frequency,
    SeriesPlan,
    Slot,
    WallClockProblem,
    find_clashes,
    london_wall_to_utc,
    series_dates,
)
from diversion.programmes.models import Programme

Q = TypeVar("Q", bound=Select[*tuple[Any, ...]])
MAX_VENUE_CAPACITY = 1000
MAX_SESSION_LENGTH = dt.timedelta(hours=12)


# Venues -------------------------------------------------------------------------------------

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


# Facilitators -------------------------------------------------------------------------------

def list_facilitators() -> list[User]:
    """Active facilitator accounts, by name."""
    return list(db.session.scalars(
        select(User).where(User.role == Role.FACILITATOR, User.is_active_account.is_(True))
        .order_by(User.name, User.id)))


def facilitators_by_email(emails: Sequence[str]) -> list[User]:
    """The active facilitators with these addresses; any other address is a field error."""
    wanted = {e.strip().lower() for e in emails if e.strip()}
    found = {u.email: u for u in db.session.scalars(select(User).where(User.email.in_(wanted)))}
    bad = sorted(e for e in wanted
                 if e not in found or found[e].role is not Role.FACILITATOR
                 or not found[e].is_active_account)
    if bad:
        raise ValidationFailed({"facilitator_emails": "Not an active facilitator: " + ", ".join(bad)})
    return [found[e] for e in sorted(wanted)]


def facilitators_by_id(ids: Sequence[int]) -> list[User]:
    if not ids:
        return []
    users = list(db.session.scalars(select(User).where(User.id.in_(set(ids))).order_by(User.name)))
    if len(users) != len(set(ids)):
        raise ValidationFailed({"facilitators": "Select facilitators from the list"})
    return users


# Sessions: rules shared by create and edit -------------------------------------------------

class SessionClash(Conflict):
    """The planned sessions overlap others at the same venue or with the same facilitators."""

    title = "Scheduling conflict"


@dataclass
class CreatedSessions:
    sessions: list[CourseSession]
    skipped: list[tuple[dt.date, str]] = field(default_factory=list)


def _check_session_shape(*, venue: Venue, capacity: int | None, facilitators: Sequence[User],
                         slots: Sequence[tuple[dt.datetime, dt.datetime]],
                         now: dt.datetime, errors: dict[str, str]) -> None:
    if capacity is None:
        errors.setdefault("capacity", "Enter the number of places")
    elif capacity < 1:
        errors.setdefault("capacity", "A session needs at least 1 place")
    elif capacity > venue.capacity:
        errors.setdefault("capacity", f"{venue.name} holds {venue.capacity} people: "
                                      f"enter {venue.capacity} places or fewer")
    if not facilitators:
        errors.setdefault("facilitators", "Select at least one facilitator")
    for user in facilitators:
        if user.role is not Role.FACILITATOR or not user.is_active_account:
            errors.setdefault("facilitators", f"{user.name} is not an active facilitator")
    for starts_at, ends_at in slots:
        if ends_at <= starts_at:
            errors.setdefault("ends_at", "The session must end after it starts")
        elif ends_at - starts_at > MAX_SESSION_LENGTH:
            errors.setdefault("ends_at", "A session cannot last more than 12 hours")
        if starts_at <= now:
            errors.setdefault("starts_at", "The session must start in the future")


def _existing_slots(*, venue_id: int, facilitator_ids: set[int], earliest: dt.datetime,
                    latest: dt.datetime) -> dict[int, CourseSession]:
    """Non-cancelled sessions in the window sharing the venue or a facilitator."""
    conditions: list[ColumnElement[bool]] = [CourseSession.venue_id == venue_id]
    if facilitator_ids:
        conditions.append(CourseSession.facilitators.any(User.id.in_(facilitator_ids)))
    rows = db.session.scalars(
        select(CourseSession)
        .where(CourseSession.status != SessionStatus.CANCELLED,
               CourseSession.starts_at < latest, CourseSession.ends_at > earliest,
               or_(*conditions))
        .options(joinedload(CourseSession.venue), selectinload(CourseSession.facilitators))
    ).unique()
    return {s.id: s for s in rows}


def _describe(clash: Clash, existing: CourseSession | None, names: dict[int, str]) -> dict[str, Any]:
    """One clash for people and programs. `existing` is None for two dates of one series."""
    planned_at = format_london(clash.planned.starts_at)
    if existing is None:
        text = (f"The session on {planned_at} overlaps the one on "
                f"{format_london(clash.existing.starts_at)} in this series")
    else:
        reasons = [f"{existing.venue.name} is in use"] if clash.venue else []
        reasons += [f"{names[i]} is running it" for i in sorted(clash.facilitator_ids)]
        text = (f"The session on {planned_at} clashes with session {existing.id} on "
                f"{format_london(existing.starts_at)}: " + "; ".join(reasons))
    return {
        "planned_starts_at": clash.planned.starts_at.isoformat(),
        "session_id": clash.existing.session_id,
        "session_starts_at": clash.existing.starts_at.isoformat(),
        "session_ends_at": clash.existing.ends_at.isoformat(),
        "venue": clash.venue,
        "facilitators": sorted(names[i] for i in clash.facilitator_ids),
        "message": text,
    }


def _refuse_clashes(*, planned: list[Slot], venue: Venue, facilitators: Sequence[User]) -> None:
    """Raise SessionClash naming every clash of every planned slot, or return quietly."""
    if not planned:
        return
    ids = {u.id for u in facilitators}
    existing = _existing_slots(
        venue_id=venue.id, facilitator_ids=ids,
        earliest=min(s.starts_at for s in planned), latest=max(s.ends_at for s in planned))
    slots = [Slot(s.starts_at, s.ends_at, s.venue_id, frozenset(u.id for u in s.facilitators), s.id)
             for s in existing.values()]
    clashes = find_clashes(planned, slots)
    if not clashes:
        return
    names = {u.id: u.name for u in facilitators}
    for session in existing.values():
        names.update({u.id: u.name for u in session.facilitators})
    described = [
        _describe(clash, None if clash.existing.session_id is None
                  else existing[clash.existing.session_id], names)
        for clash in clashes
    ]
    count = len(described)
    raise SessionClash(
        f"{count} clash{'es' if count != 1 else ''} with other sessions: nothing was saved. "
        + " ".join(d["message"] + "." for d in described[:5])
        + (f" And {count - 5} more." if count > 5 else ""),
        field="starts_at", clashes=described)


def _new_sessions(*, programme: Programme, venue: Venue, slots: Sequence[tuple[dt.datetime, dt.datetime]],
                  capacity: int, facilitators: Sequence[User], actor: User | None,
                  now: dt.datetime) -> list[CourseSession]:
    planned = [Slot(s, e, venue.id, frozenset(u.id for u in facilitators)) for s, e in slots]
    _refuse_clashes(planned=planned, venue=venue, facilitators=facilitators)
    series_key = uuid.uuid4().hex if len(slots) > 1 else None
    sessions = [
        CourseSession(programme=programme, venue=venue, starts_at=s, ends_at=e, capacity=capacity,
                      status=SessionStatus.SCHEDULED, series_key=series_key,
                      facilitators=list(facilitators), created_at=now,
                      created_by_id=getattr(actor, "id", None))
        for s, e in slots
    ]
    db.session.add_all(sessions)
    db.session.flush()
    for session in sessions:
        record(action="session.create", category=AuditCategory.ALTERATION, now=now, actor=actor,
               object_type="session", object_id=session.id,
               details={"venue_id": venue.id, "series_key": series_key})
    return sessions


# Sessions: services -------------------------------------------------------------------------

class AmbiguousTimes(ValidationFailed):
    """A start or end time that happens twice on a clock-change day: the person is asked which
    one is meant. `ambiguous` maps the field (start_time, end_time) to its (day, time)."""

    def __init__(self, errors: dict[str, str],
                 ambiguous: dict[str, tuple[dt.date, dt.time]]) -> None:
        super().__init__(errors)
        self.ambiguous = ambiguous


def plan_series(*, first_day: dt.date, start_time: dt.time, end_time: dt.time,
                frequency: Frequency, until: dt.date | None = None,
                count: int | None = None, start_fold: int | None = None,
                end_fold: int | None = None,
                ) -> tuple[list[tuple[dt.datetime, dt.datetime]], SeriesPlan]:
    """The UTC start and end of each date of a series entered in London time.

    A time in the spring gap is refused; one in the autumn overlap needs `start_fold` /
    `end_fold` (rules.FIRST or rules.SECOND), else AmbiguousTimes asks which is meant.
    """
    try:
        plan = series_dates(first_day, frequency=frequency, until=until, count=count)
    except ValueError as error:
        field_name = "count" if count is not None else "until"
        raise ValidationFailed({field_name: str(error).capitalize()}) from error
    slots = []
    problems: dict[str, str] = {}
    ambiguous: dict[str, tuple[dt.date, dt.time]] = {}
    for day in plan.dates:
        instants = []
        for name, time, fold in (("start_time", start_time, start_fold),
                                 ("end_time", end_time, end_fold)):
            try:
                instants.append(london_wall_to_utc(day, time, fold=fold))
            except AmbiguousWallClock as problem:
                ambiguous.setdefault(name, (day, time))
                problems.setdefault(name, str(problem))
            except WallClockProblem as problem:
                problems.setdefault(name, str(problem))
        if len(instants) == 2:
            slots.append((instants[0], instants[1]))
    if ambiguous and set(ambiguous) == set(problems):
        raise AmbiguousTimes(problems, ambiguous)
    if problems:
        raise ValidationFailed(problems)
    return slots, plan


def create_sessions(*, programme: Programme, venue: Venue, first_day: dt.date, start_time: dt.time,
                    end_time: dt.time, capacity: int | None, facilitators: Sequence[User],
                    frequency: Frequency = Frequency.ONCE, until: dt.date | None = None,
                    count: int | None = None, actor: User | None,
                    now: dt.datetime, start_fold: int | None = None,
                    end_fold: int | None = None) -> CreatedSessions:
    """Create one session or a weekly or monthly series, in London time, all or nothing.

    Bank holidays are skipped; every clash of every date is reported at once. A time that
    happens twice on a clock-change day needs its fold (see plan_series).
    """
    slots, plan = plan_series(first_day=first_day, start_time=start_time, end_time=end_time,
                              frequency=frequency, until=until, count=count,
                              start_fold=start_fold, end_fold=end_fold)
    errors: dict[str, str] = {}
    if not slots:
        errors["first_day"] = "Every date in this series is a bank holiday"
    if end_time <= start_time:
        errors["end_time"] = "The end time must be after the start time"
    _check_session_shape(venue=venue, capacity=capacity, facilitators=facilitators, slots=slots,
                         now=now, errors=errors)
    if "starts_at" in errors:
        errors["first_day"] = errors.pop("starts_at")
    errors.pop("ends_at", None) if "end_time" in errors else None
    if errors:
        raise ValidationFailed(errors)
    assert capacity is not None
    sessions = _new_sessions(programme=programme, venue=venue, slots=slots, capacity=capacity,
                             facilitators=facilitators, actor=actor, now=now)
    return CreatedSessions(sessions, plan.skipped)


def create_session(*, programme: Programme, venue: Venue, starts_at: dt.datetime, ends_at: dt.datetime,
                   capacity: int | None, facilitators: Sequence[User], actor: User | None,
                   now: dt.datetime) -> CourseSession:
    """Create one session from two instants (the API's way in)."""
    errors: dict[str, str] = {}
    _check_session_shape(venue=venue, capacity=capacity, facilitators=facilitators,
                         slots=[(starts_at, ends_at)], now=now, errors=errors)
    if errors:
        raise ValidationFailed(errors)
    assert capacity is not None
    return _new_sessions(programme=programme, venue=venue, slots=[(starts_at, ends_at)],
                         capacity=capacity, facilitators=facilitators, actor=actor, now=now)[0]


def update_session(*, session: CourseSession, venue: Venue, day: dt.date, start_time: dt.time,
                   end_time: dt.time, capacity: int | None, facilitators: Sequence[User],
                   actor: User | None, now: dt.datetime, start_fold: int | None = None,
                   end_fold: int | None = None) -> CourseSession:
    """Move or change a scheduled session; the same checks as creating one."""
    if session.status is not SessionStatus.SCHEDULED:
        raise InvalidTransition(f"A {session.status.value} session cannot be changed")
    slots, _ = plan_series(first_day=day, start_time=start_time, end_time=end_time,
                           frequency=Frequency.ONCE, start_fold=start_fold, end_fold=end_fold)
    errors: dict[str, str] = {}
    if end_time <= start_time:
        errors["end_time"] = "The end time must be after the start time"
    _check_session_shape(venue=venue, capacity=capacity, facilitators=facilitators, slots=slots,
                         now=now, errors=errors)
    if "starts_at" in errors:
        errors["first_day"] = errors.pop("starts_at")
    errors.pop("ends_at", None) if "end_time" in errors else None
    booked = booked_counts([session.id]).get(session.id, 0)
    if capacity is not None and capacity < booked:
        errors.setdefault("capacity", f"{booked} people are booked: enter {booked} or more")
    if errors:
        raise ValidationFailed(errors)
    assert capacity is not None
    starts_at, ends_at = slots[0]
    _refuse_clashes(planned=[Slot(starts_at, ends_at, venue.id,
                                  frozenset(u.id for u in facilitators), session.id)],
                    venue=venue, facilitators=facilitators)
    before = {"venue_id": session.venue_id, "starts_at": session.starts_at,
              "ends_at": session.ends_at, "capacity": session.capacity,
              "facilitators": sorted(u.id for u in session.facilitators)}
    session.venue, session.starts_at, session.ends_at = venue, starts_at, ends_at
    session.capacity = capacity
    session.facilitators = list(facilitators)
    after = {"venue_id": venue.id, "starts_at": starts_at, "ends_at": ends_at,
             "capacity": capacity, "facilitators": sorted(u.id for u in facilitators)}
    changed = sorted(k for k in before if before[k] != after[k])
    record(action="session.update", category=AuditCategory.ALTERATION, now=now, actor=actor,
           object_type="session", object_id=session.id, details={"changed": changed})
    return session


ALLOWED_MOVES: dict[SessionStatus, frozenset[SessionStatus]] = {
    SessionStatus.SCHEDULED: frozenset({SessionStatus.CANCELLED, SessionStatus.HELD}),
    SessionStatus.CANCELLED: frozenset(),
    SessionStatus.HELD: frozenset(),
}


def change_session_status(*, session: CourseSession, to: SessionStatus, reason: str | None,
                          actor: User | None, now: dt.datetime) -> None:
    """The one place a session's status changes: checks the move and writes the audit row."""
    if to not in ALLOWED_MOVES[session.status]:
        raise InvalidTransition(f"A {session.status.value} session cannot be marked {to.value}")
    previous = session.status
    session.status = to
    if to is SessionStatus.CANCELLED:
        session.cancelled_at = now
        session.cancel_reason = reason
    record(action=f"session.{to.value}", category=AuditCategory.ALTERATION, now=now, actor=actor,
           object_type="session", object_id=session.id,
           details={"from": previous.value, "to": to.value})


def cancel_session(*, session: CourseSession, reason: str, actor: User | None,
                   now: dt.datetime) -> None:
    """Cancel a scheduled session, with the reason people will be given."""
    reason = reason.strip()
    if not reason:
        raise ValidationFailed({"reason": "Enter why the session is cancelled"})
    if len(reason) > 500:
        raise ValidationFailed({"reason": "The reason must be 500 characters or fewer"})
    change_session_status(session=session, to=SessionStatus.CANCELLED, reason=reason,
                          actor=actor, now=now)


def get_session(session_id: int) -> CourseSession:
    session = db.session.scalar(
        select(CourseSession).where(CourseSession.id == session_id)
        .options(joinedload(CourseSession.venue), joinedload(CourseSession.programme),
                 selectinload(CourseSession.facilitators)))
    if session is None:
        raise NotFound("No such session")
    return session


def is_facilitating(session: CourseSession, user: User) -> bool:
    return any(u.id == user.id for u in session.facilitators)


# Lists --------------------------------------------------------------------------------------

def booked_count_column() -> ColumnElement[int]:
    """Places taken in a session, as a column expression any session query can select.

    `sessions.booked_count` is kept equal to the session's active bookings by
    diversion.bookings, which takes and gives back places with guarded UPDATEs.
    """
    return CourseSession.booked_count.expression


def booked_counts(session_ids: Sequence[int]) -> dict[int, int]:
    """Places taken per session, in one query."""
    if not session_ids:
        return {}
    rows = db.session.execute(
        select(CourseSession.id, booked_count_column()).where(CourseSession.id.in_(session_ids)))
    return {session_id: int(booked) for session_id, booked in rows}


@dataclass(frozen=True)
class SessionFilter:
    """What a list of sessions is narrowed to. Days are London calendar days, inclusive."""

    from_day: dt.date | None = None
    to_day: dt.date | None = None
    starts_from: dt.datetime | None = None
    starts_before: dt.datetime | None = None
    venue_id: int | None = None
    programme_id: int | None = None
    status: SessionStatus | None = None
    facilitator_id: int | None = None
    available_only: bool = False


@dataclass
class SessionRow:
    session: CourseSession
    booked: int

    @property
    def available(self) -> int:
        if self.session.status is not SessionStatus.SCHEDULED:
            return 0
        return max(self.session.capacity - self.booked, 0)


@dataclass
class SessionPage:
    rows: list[SessionRow]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        return max((self.total + self.per_page - 1) // self.per_page, 1)


def _filtered(query: Q, where: SessionFilter) -> Q:
    if where.from_day is not None:
        query = query.where(CourseSession.starts_at >= london_midnight_in_utc(where.from_day))
    if where.to_day is not None:
        query = query.where(CourseSession.starts_at
                            < london_midnight_in_utc(where.to_day + dt.timedelta(days=1)))
    if where.starts_from is not None:
        query = query.where(CourseSession.starts_at >= where.starts_from)
    if where.starts_before is not None:
        query = query.where(CourseSession.starts_at < where.starts_before)
    if where.venue_id is not None:
        query = query.where(CourseSession.venue_id == where.venue_id)
    if where.programme_id is not None:
        query = query.where(CourseSession.programme_id == where.programme_id)
    if where.status is not None:
        query = query.where(CourseSession.status == where.status)
    if where.facilitator_id is not None:
        query = query.where(CourseSession.facilitators.any(User.id == where.facilitator_id))
    if where.available_only:
        query = query.where(CourseSession.status == SessionStatus.SCHEDULED,
                            CourseSession.capacity - booked_count_column() > 0)
    return query


def list_sessions(*, where: SessionFilter, page: int = 1, per_page: int = 50,
                  count_total: bool = True) -> SessionPage:
    """A page of sessions, earliest first, with their bookings, in a fixed number of queries."""
    page = max(page, 1)
    query = _filtered(select(CourseSession, booked_count_column()), where)
    total = 0
    if count_total:
        total = db.session.scalar(
            _filtered(select(func.count()).select_from(CourseSession), where)) or 0
    rows = db.session.execute(
        query.order_by(CourseSession.starts_at, CourseSession.id)
        .options(joinedload(CourseSession.venue), joinedload(CourseSession.programme),
                 selectinload(CourseSession.facilitators))
        .limit(per_page).offset((page - 1) * per_page)
    ).unique().all()
    return SessionPage([SessionRow(s, int(b)) for s, b in rows], total, page, per_page)


def sessions_between(*, start: dt.datetime, end: dt.datetime,
                     facilitator_id: int | None = None) -> list[SessionRow]:
    """Every session starting in [start, end), for the calendar."""
    return list_sessions(where=SessionFilter(starts_from=start, starts_before=end,
                                             facilitator_id=facilitator_id),
                         per_page=2000, count_total=False).rows


def count_sessions(*, where: SessionFilter) -> int:
    return db.session.scalar(_filtered(select(func.count()).select_from(CourseSession), where)) or 0


def count_sessions_by_status() -> dict[str, int]:
    """Sessions per status, every status present, for `flask stats`."""
    counts = dict(db.session.execute(
        select(CourseSession.status, func.count()).group_by(CourseSession.status)).all())
    return {status.value: int(counts.get(status, 0)) for status in SessionStatus}


# Facilitators' calendar feeds ---------------------------------------------------------------

FEED_PREFIX = "cal_"
FEED_HISTORY = dt.timedelta(days=90)


def _feed_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def get_calendar_feed(user: User) -> CalendarFeed | None:
    return db.session.scalar(select(CalendarFeed).where(CalendarFeed.user_id == user.id))


def reset_calendar_feed(*, user: User, actor: User | None, now: dt.datetime) -> str:
    """Issue a new secret feed address for a facilitator; the old one stops working.

    The clear token is returned once; only its digest is stored.
    """
    if user.role is not Role.FACILITATOR:
        raise ValidationFailed({"user": "Only facilitators have a calendar feed"})
    token = FEED_PREFIX + secrets.token_urlsafe(32)
    feed = get_calendar_feed(user)
    if feed is None:
        feed = CalendarFeed(user_id=user.id, token_hash=_feed_digest(token), created_at=now)
        db.session.add(feed)
    else:
        feed.token_hash, feed.created_at, feed.last_used_at = _feed_digest(token), now, None
    db.session.flush()
    record(action="calendar_feed.reset", category=AuditCategory.SECURITY, now=now, actor=actor,
           object_type="user", object_id=user.id)
    return token


def user_for_calendar_token(token: str, *, now: dt.datetime) -> User | None:
    """The active facilitator a feed token belongs to, or None."""
    if not token.startswith(FEED_PREFIX):
        return None
    feed = db.session.scalar(select(CalendarFeed).where(CalendarFeed.token_hash
                                                        == _feed_digest(token)))
    if feed is None or not feed.user.is_active_account or feed.user.role is not Role.FACILITATOR:
        return None
    if feed.last_used_at is None or now - feed.last_used_at > dt.timedelta(hours=1):
        feed.last_used_at = now
    return feed.user


def feed_sessions(*, user: User, now: dt.datetime) -> list[CourseSession]:
    """A facilitator's sessions for their calendar: recent past and all future, cancelled too."""
    page = list_sessions(where=SessionFilter(starts_from=now - FEED_HISTORY,
                                             facilitator_id=user.id),
                         per_page=5000, count_total=False)
    return [row.session for row in page.rows]
