"""Auto-allocation: every referral awaiting a booking gets the earliest suitable session.

Rules (the same as bookings.rules, applied in memory):
- referrals are served in order of completion deadline, then id, so the most urgent go first
  and the result is deterministic;
- each takes the earliest session (by start, then id) of its programme with a place left that
  starts after `now` and ends by the end of its completion deadline day;
- someone needing step-free access only gets a step-free venue (online counts as step-free);
- online sessions only go to people with an email address (the joining link goes by email);
- waiting lists keep their order: before anyone else is served, people on a session's waiting
  list take its free places (if it suits them), earliest to join first; someone on a waiting
  list who is placed on another session is reported as moved out of the queue (`moved`), never
  silently.
A manager previews the plan (a dry run) and confirms it with its `fingerprint`, optionally
for only some of the people: if the plan has changed since the preview, nothing is booked
(StalePreview) and the new plan is shown.
The core (`plan_allocation`) is a pure function over values; `allocate` loads in bulk, runs it
and writes in bulk. Sessions are grouped by (programme, online, step-free), and each group keeps
a pointer to its first session with a place, so a referral costs a few steps, not a scan.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
from collections import defaultdict
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import contains_eager, lazyload
from sqlalchemy.orm.attributes import set_committed_value

from diversion.audit.models import AuditCategory
from diversion.audit.services import record
from diversion.auth.models import User
from diversion.bookings import places as bookings_places
from diversion.bookings import rules
from diversion.bookings.models import Booking, BookingStatus
from diversion.bookings.waiting_list import queued_sessions
from diversion.core.bulk import bulk_write, insert_pairings, one_of, sent_ahead
from diversion.core.errors import Conflict
from diversion.core.extensions import db
from diversion.courses.models import CourseSession, SessionStatus, Venue
from diversion.referrals.models import Person, Referral, ReferralStatus

NO_SESSION = "no suitable session before the completion deadline"
ALL_FULL = "every suitable session before the completion deadline is full"


@dataclass(frozen=True)
class OpenSession:
    facts: rules.SessionFacts
    places: int


@dataclass
class AllocationPlan:
    placed: list[tuple[int, int]] = field(default_factory=list)  # (referral_id, session_id)
    unplaced: list[tuple[int, str]] = field(default_factory=list)  # (referral_id, reason)
    # referral_id -> the sessions whose waiting lists it is on, when placed on another one
    moved: dict[int, list[int]] = field(default_factory=dict)

    @property
    def fingerprint(self) -> str:
        """Names this plan, so a confirmation can tell that it is still the plan shown."""
        text = ";".join(f"{r}:{s}" for r, s in sorted(self.placed)) + "|" + ",".join(
            str(r) for r, _ in sorted(self.unplaced))
        return hashlib.sha256(text.encode()).hexdigest()[:20]


GroupKey = tuple[int, bool, bool]  # programme, online, step-free


class _Group:
    """One kind of session, in start order, with the places left and a first-with-place index."""

    def __init__(self, sessions: list[OpenSession]) -> None:
        self.sessions = sorted(sessions, key=lambda s: (s.facts.starts_at, s.facts.id))
        self.places = [s.places for s in self.sessions]
        self.first_open = 0

    def earliest(self, latest_end: dt.datetime) -> tuple[int | None, bool]:
        """(index of the earliest session with a place ending by latest_end, any in time)."""
        while self.first_open < len(self.sessions) and self.places[self.first_open] <= 0:
            self.first_open += 1
        in_time = bool(self.sessions) and self.sessions[0].facts.ends_at <= latest_end
        for index in range(self.first_open, len(self.sessions)):
            facts = self.sessions[index].facts
            if facts.starts_at >= latest_end:
                break
            if self.places[index] > 0 and facts.ends_at <= latest_end:
                return index, True
            in_time = in_time or facts.ends_at <= latest_end
        return None, in_time


def _allowed(referral: rules.ReferralFacts) -> list[tuple[bool, bool]]:
    kinds = [(False, True)]  # in person, step-free: anyone
    if not referral.needs_step_free:
        kinds.append((False, False))
    if referral.has_email:
        kinds += [(True, True), (True, False)] if not referral.needs_step_free else [(True, True)]
    return kinds


QueueEntry = tuple[dt.datetime, int, int, int]  # joined_at, entry id, referral id, session id


def plan_allocation(referrals: Iterable[rules.ReferralFacts], sessions: Iterable[OpenSession],
                    *, now: dt.datetime, queues: Sequence[QueueEntry] = ()) -> AllocationPlan:
    """Match referrals to sessions (pure, deterministic). See the module docstring."""
    referrals = list(referrals)
    by_kind: dict[GroupKey, list[OpenSession]] = defaultdict(list)
    for session in sessions:
        f = session.facts
        if f.is_scheduled and f.starts_at > now and session.places > 0:
            by_kind[(f.programme_id, f.is_online, f.is_step_free)].append(session)
    groups = {key: _Group(value) for key, value in by_kind.items()}
    plan = AllocationPlan()
    where: dict[int, tuple[_Group, int]] = {
        group.sessions[index].facts.id: (group, index)
        for group in groups.values() for index in range(len(group.sessions))}
    by_referral = {r.id: r for r in referrals}
    placed: set[int] = set()
    # First, the waiting lists' own places, in the order people joined them.
    for _, _, referral_id, session_id in sorted(queues):
        referral, found = by_referral.get(referral_id), where.get(session_id)
        if referral is None or found is None or referral_id in placed:
            continue
        home, at = found
        wanted = home.sessions[at].facts
        if (home.places[at] > 0 and not rules.why_unsuitable(referral, wanted, now=now)
                and (wanted.is_online, wanted.is_step_free) in _allowed(referral)):
            home.places[at] -= 1
            placed.add(referral_id)
            plan.placed.append((referral_id, session_id))
    queued: dict[int, list[int]] = defaultdict(list)
    for _, _, referral_id, session_id in sorted(queues):
        queued[referral_id].append(session_id)
    for referral in sorted(referrals, key=lambda r: (r.completion_deadline, r.id)):
        if referral.id in placed:
            continue
        latest_end = rules.deadline_end(referral.completion_deadline)
        best: tuple[dt.datetime, int, _Group, int] | None = None
        any_in_time = False
        for online, step_free in _allowed(referral):
            group = groups.get((referral.programme_id, online, step_free))
            if group is None:
                continue
            index, in_time = group.earliest(latest_end)
            any_in_time = any_in_time or in_time
            if index is None:
                continue
            facts = group.sessions[index].facts
            if best is None or (facts.starts_at, facts.id) < (best[0], best[1]):
                best = (facts.starts_at, facts.id, group, index)
        if best is None:
            plan.unplaced.append((referral.id, ALL_FULL if any_in_time else NO_SESSION))
            continue
        _, session_id, group, index = best
        group.places[index] -= 1
        plan.placed.append((referral.id, session_id))
        if referral.id in queued:
            plan.moved[referral.id] = queued[referral.id]
    return plan


# The service: bulk load, plan, bulk write ---------------------------------------------------

@dataclass
class AllocationResult:
    placed: list[tuple[Referral, CourseSession]]
    unplaced: list[tuple[Referral, str]]
    dry_run: bool
    # referral id -> the sessions whose waiting lists it leaves for the session it is placed on
    moved: dict[int, list[CourseSession]] = field(default_factory=dict)
    fingerprint: str = ""


class StalePreview(Conflict):
    """The plan changed after the manager looked at it: nothing was booked."""

    title = "The allocation has changed"


# The referral's own rows only: force and programme are one or a few rows each, found in the
# identity map once loaded.
_REFERRAL_ONLY = (lazyload(Referral.force), lazyload(Referral.programme))
_WAITING = ReferralStatus.AWAITING_BOOKING


def _facts(referral: Any, person: Any) -> rules.ReferralFacts:
    return rules.ReferralFacts(
        id=referral.id, programme_id=referral.programme_id,
        completion_deadline=referral.completion_deadline,
        needs_step_free=bool(person.needs_step_free), has_email=bool(person.email))


def _load_waiting_people() -> tuple[list[rules.ReferralFacts], dict[int, Referral]]:
    """The referrals awaiting a booking, as the plan's facts and as objects by id, each with
    his person (the preview shows them), in one read."""
    facts: list[rules.ReferralFacts] = []
    referrals: dict[int, Referral] = {}
    for referral, person in db.session.execute(
            select(Referral, Person).join(Person, Person.id == Referral.person_id)
            .where(Referral.status == _WAITING)
            .options(*_REFERRAL_ONLY, contains_eager(Referral.person))):
        facts.append(_facts(referral, person))
        referrals[referral.id] = referral
    return facts, referrals


def _load_waiting_rows() -> tuple[list[rules.ReferralFacts], dict[int, Any]]:
    """The referrals awaiting a booking, as the plan's facts and as rows by id of what a
    confirmed run needs of them before their objects are made (`_read_by_id`, while the
    bookings are stored): the person's id and contact details, which the confirmations use
    (given_names, preferred_contact, email, mobile). One read, before anything is written."""
    facts: list[rules.ReferralFacts] = []
    rows: dict[int, Any] = {}
    for row in db.session.execute(
            select(Referral.id, Referral.programme_id, Referral.completion_deadline,
                   Referral.person_id, Person.needs_step_free, Person.given_names,
                   Person.preferred_contact, Person.email, Person.mobile)
            .join(Person, Person.id == Referral.person_id).where(Referral.status == _WAITING)):
        facts.append(_facts(row, row))
        rows[row.id] = row
    return facts, rows


def _load_sessions(now: dt.datetime) -> list[OpenSession]:
    rows = db.session.execute(
        select(CourseSession.id, CourseSession.programme_id, CourseSession.starts_at,
               CourseSession.ends_at, CourseSession.capacity, CourseSession.booked_count,
               Venue.is_online, Venue.step_free_access)
        .join(Venue, Venue.id == CourseSession.venue_id)
        .where(CourseSession.status == SessionStatus.SCHEDULED, CourseSession.starts_at > now,
               CourseSession.booked_count < CourseSession.capacity))
    return [OpenSession(rules.SessionFacts(
        id=r.id, programme_id=r.programme_id, starts_at=r.starts_at, ends_at=r.ends_at,
        is_scheduled=True, is_online=r.is_online, is_step_free=r.step_free_access),
        r.capacity - r.booked_count) for r in rows]


def _chunks(ids: Sequence[int]) -> Iterable[list[int]]:
    """Ids in IN lists of at most 900 (well under SQLite's limit on bound parameters)."""
    for start in range(0, len(ids), 900):
        yield list(ids[start:start + 900])


def _by_id(model: Any, ids: Sequence[int], *options: Any) -> dict[int, Any]:
    found: dict[int, Any] = {}
    for chunk in _chunks(ids):
        found.update({row.id: row for row in db.session.scalars(
            select(model).where(one_of(model.id, chunk)).options(*options)).unique()})
    return found


def _read_by_id(model: Any, ids: Sequence[int], *options: Any) -> Iterator[Any]:
    """The objects of these ids, read now (a statement per 900) and made as they are iterated:
    on PostgreSQL the rows are with the client once read, so making the objects can wait for
    a moment when the server has work of its own (statements `sent_ahead`)."""
    return itertools.chain.from_iterable([
        db.session.scalars(select(model).where(one_of(model.id, chunk)).options(*options))
        for chunk in _chunks(ids)])


def _load_queues(referral_ids: Sequence[int]) -> list[QueueEntry]:
    return [(joined_at, entry_id, referral_id, session_id)
            for referral_id, entries in queued_sessions(referral_ids).items()
            for session_id, joined_at, entry_id in entries]


@bulk_write()
def allocate(*, actor: User | None, now: dt.datetime, dry_run: bool = False,
             expected: str | None = None,
             selected: Collection[int] | None = None) -> AllocationResult:
    """Book every referral awaiting a booking onto its earliest suitable session, in bulk.

    Places are taken with one guarded UPDATE per session (the CHECK refuses overfilling, so a
    booking made meanwhile makes the run fail as a Conflict rather than overbook); bookings are
    written in bulk (`core.bulk.insert_pairings`: on PostgreSQL one statement, sent ahead
    while the referrals' objects are made from rows read before); the referrals move to
    `booked` together through the lifecycle (`transition_many`: bulk history and audit rows,
    reminders planned in bulk) and are sent their confirmations in one bulk write. The cycle
    collector waits until the end, and SQLite's page cache is larger meanwhile (`bulk_write`).
    """
    if dry_run:
        waiting, referrals = _load_waiting_people()
    else:
        waiting, rows = _load_waiting_rows()
    plan = plan_allocation(waiting, _load_sessions(now), now=now,
                           queues=_load_queues([r.id for r in waiting]))
    fingerprint = plan.fingerprint
    if expected is not None and expected != fingerprint:
        raise StalePreview("Bookings, sessions or waiting lists have changed since the list was "
                           "shown, so nobody was booked. Check the new list and confirm again")
    if selected is not None:
        chosen = set(selected)
        plan.placed = [(r, s) for r, s in plan.placed if r in chosen]
        plan.moved = {r: ids for r, ids in plan.moved.items() if r in chosen}
    sessions: dict[int, CourseSession] = _by_id(
        CourseSession, sorted({s for _, s in plan.placed}
                              | {s for ids in plan.moved.values() for s in ids}))

    def result_of(referrals: dict[int, Referral]) -> AllocationResult:
        return AllocationResult(
            placed=[(referrals[r], sessions[s]) for r, s in plan.placed],
            unplaced=[(referrals[r], why) for r, why in plan.unplaced], dry_run=dry_run,
            moved={r: [sessions[s] for s in ids] for r, ids in plan.moved.items()},
            fingerprint=fingerprint)

    if dry_run:
        return result_of(referrals)
    # A confirmed run: the people it names (those moved out of a waiting list) and the
    # referrals are read before anything is written; the referrals' objects are made while the
    # server takes the places and stores the bookings (on PostgreSQL, where the rows are with
    # the client once read).
    people = _by_id(Person, sorted({rows[r].person_id for r in plan.moved}))
    loading = _read_by_id(Referral, [r.id for r in waiting], *_REFERRAL_ONLY,
                          lazyload(Referral.person))
    if not plan.placed:
        return result_of({referral.id: referral for referral in loading})
    taken: dict[int, int] = defaultdict(int)
    for _, session_id in plan.placed:
        taken[session_id] += 1
    try:
        with db.session.begin_nested(), sent_ahead():
            table = cast(Table, CourseSession.__table__)
            db.session.execute(
                update(table).where(table.c.id == bindparam("sid"))
                .values(booked_count=table.c.booked_count + bindparam("n")),
                [{"sid": sid, "n": n} for sid, n in sorted(taken.items())])
            insert_pairings(
                cast(Table, Booking.__table__),
                {"referral_id": [r for r, _ in plan.placed],
                 "session_id": [s for _, s in plan.placed]},
                same={"status": BookingStatus.ACTIVE, "created_at": now,
                      "created_by_id": getattr(actor, "id", None)})
            referrals = {referral.id: referral for referral in loading}
    except IntegrityError as error:
        raise Conflict("Places or bookings changed while allocating: nothing was booked. "
                       "Run the allocation again") from error
    for referral_id in plan.moved:
        referral = referrals[referral_id]
        set_committed_value(referral, "person", people[referral.person_id])
    result = result_of(referrals)
    # The loaded sessions are told their new counts (one read per 900, not a refresh each).
    for chunk in _chunks(sorted(taken)):
        for session_id, booked_count in db.session.execute(
                select(CourseSession.id, CourseSession.booked_count)
                .where(one_of(CourseSession.id, chunk))):
            set_committed_value(sessions[session_id], "booked_count", booked_count)
    bookings_places.confirm_allocated(placed=result.placed, actor=actor, now=now,
                                      contacts=rows)
    record(action="booking.allocate", category=AuditCategory.ALTERATION, now=now, actor=actor,
           details={"placed": len(plan.placed), "unplaced": len(plan.unplaced),
                    "moved_from_waiting_lists": len(plan.moved)})
    return result
