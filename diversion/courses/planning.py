"""Planning sessions: one, or a weekly or monthly series that skips bank holidays; moving
them; their status (scheduled, cancelled, held). A venue or facilitator booked twice at
overlapping times is refused with the clashing sessions named (SessionClash).

- `plan_series(first_day=, start_time=, end_time=, frequency=, until=, count=, …)` -> the
  series' start and end instants (AmbiguousTimes on a clock-change day)
- `preview_sessions(programme=, venue=, first_day=, …, now=)` -> SeriesPreview: the dates and
  every clash of each, checked as `create_sessions` checks them, nothing written
- `create_sessions(programme=, venue=, first_day=, …, actor=, now=)` -> CreatedSessions
- `create_session(programme=, venue=, starts_at=, ends_at=, …, actor=, now=)`
- `update_session(session=, venue=, day=, start_time=, …, actor=, now=)`
- `change_session_status(session=, to=, reason=, actor=, now=)`; `cancel_session(…)`
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import joinedload, selectinload

from diversion.audit.models import AuditCategory
from diversion.audit.services import record
from diversion.auth.models import Role, User
from diversion.core.errors import Conflict, InvalidTransition, ValidationFailed
from diversion.core.extensions import db
from diversion.core.timeutils import format_london
from diversion.courses.models import CourseSession, SessionStatus, Venue
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
from diversion.courses.sessions import booked_counts
from diversion.programmes.models import Programme

MAX_SESSION_LENGTH = dt.timedelta(hours=12)


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


def _clashes(*, planned: list[Slot], venue: Venue,
             facilitators: Sequence[User]) -> list[dict[str, Any]]:
    """Every clash of every planned slot, described."""
    if not planned:
        return []
    ids = {u.id for u in facilitators}
    existing = _existing_slots(
        venue_id=venue.id, facilitator_ids=ids,
        earliest=min(s.starts_at for s in planned), latest=max(s.ends_at for s in planned))
    slots = [Slot(s.starts_at, s.ends_at, s.venue_id, frozenset(u.id for u in s.facilitators), s.id)
             for s in existing.values()]
    clashes = find_clashes(planned, slots)
    if not clashes:
        return []
    names = {u.id: u.name for u in facilitators}
    for session in existing.values():
        names.update({u.id: u.name for u in session.facilitators})
    return [
        _describe(clash, None if clash.existing.session_id is None
                  else existing[clash.existing.session_id], names)
        for clash in clashes
    ]


def _refuse_clashes(*, planned: list[Slot], venue: Venue, facilitators: Sequence[User]) -> None:
    """Raise SessionClash naming every clash of every planned slot, or return quietly."""
    described = _clashes(planned=planned, venue=venue, facilitators=facilitators)
    if not described:
        return
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


@dataclass
class SeriesPreview:
    """The sessions a series would create, with the clashes of each (nothing written)."""

    slots: list[tuple[dt.datetime, dt.datetime]]
    skipped: list[tuple[dt.date, str]]
    clashes: dict[dt.datetime, list[str]]  # planned start -> what it clashes with

    @property
    def clash_count(self) -> int:
        return sum(len(messages) for messages in self.clashes.values())


def _checked_series(*, venue: Venue, first_day: dt.date, start_time: dt.time, end_time: dt.time,
                    capacity: int | None, facilitators: Sequence[User], frequency: Frequency,
                    until: dt.date | None, count: int | None, now: dt.datetime,
                    start_fold: int | None, end_fold: int | None,
                    ) -> tuple[list[tuple[dt.datetime, dt.datetime]], SeriesPlan]:
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
    return slots, plan


def preview_sessions(*, venue: Venue, first_day: dt.date, start_time: dt.time,
                     end_time: dt.time, capacity: int | None, facilitators: Sequence[User],
                     frequency: Frequency = Frequency.ONCE, until: dt.date | None = None,
                     count: int | None = None, now: dt.datetime, start_fold: int | None = None,
                     end_fold: int | None = None) -> SeriesPreview:
    """What `create_sessions` would create, with every clash, writing nothing."""
    slots, plan = _checked_series(
        venue=venue, first_day=first_day, start_time=start_time, end_time=end_time,
        capacity=capacity, facilitators=facilitators, frequency=frequency, until=until,
        count=count, now=now, start_fold=start_fold, end_fold=end_fold)
    planned = [Slot(s, e, venue.id, frozenset(u.id for u in facilitators)) for s, e in slots]
    clashes: dict[dt.datetime, list[str]] = {}
    for clash in _clashes(planned=planned, venue=venue, facilitators=facilitators):
        starts_at = dt.datetime.fromisoformat(clash["planned_starts_at"])
        clashes.setdefault(starts_at, []).append(clash["message"])
    return SeriesPreview(slots, plan.skipped, clashes)


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
    slots, plan = _checked_series(
        venue=venue, first_day=first_day, start_time=start_time, end_time=end_time,
        capacity=capacity, facilitators=facilitators, frequency=frequency, until=until,
        count=count, now=now, start_fold=start_fold, end_fold=end_fold)
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
