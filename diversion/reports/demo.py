"""Two years of demonstration history, so every report shows real-looking figures.

For the 24 months before the current one: referrals from two forces, sessions at two venues
with submitted registers, the bookings, payments and fee waivers behind them, and later
offences (convictions, cautions, arrests, no further action) for about 15% of the people.

Why rows are written here rather than replayed through the services: replaying two years of
bookings and registers through `lifecycle.transition` would put thousands of notices for long
settled events in the outbox (for the scheduler to send) and hash a PIN per referral, taking
minutes at `make run`. So the history is written as the rows those services would have
written, in bulk: every status a referral reaches, and its history row, is written by the
lifecycle (`lifecycle.start`, `lifecycle.record_past_move`: an impossible move raises), each
mark a register line with its outcome, each ended booking has the status the booking listener
gives it.

Seeded, so a load plans the same history for the same day; the first run writes it all in one
transaction and later runs find the `HIST/` crime references and add nothing.
"""

from __future__ import annotations

import calendar
import datetime as dt
import itertools
import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from sqlalchemy import select

from diversion.attendance.models import (
    Register,
    RegisterAction,
    RegisterChange,
    RegisterEntry,
    RegisterState,
)
from diversion.attendance.rules import AttendanceStatus, Outcome, grace_closes_at
from diversion.audit.models import AuditCategory
from diversion.audit.services import actor_label_for, record
from diversion.auth import services as auth_services
from diversion.auth.demo import DEMO_PASSWORD
from diversion.auth.models import Force, Role, User
from diversion.bookings.models import Booking, BookingStatus, FeeWaiver, Payment, PaymentMethod
from diversion.core.extensions import db
from diversion.core.timeutils import add_months, london_to_utc, london_today
from diversion.courses import venues as courses_venues
from diversion.courses.models import CourseSession, SessionStatus, Venue
from diversion.courses.rules import bank_holiday_name
from diversion.programmes.models import Programme
from diversion.referrals import lifecycle
from diversion.referrals.matching import first_given_key, name_key
from diversion.referrals.models import (
    ContactChannel,
    Person,
    Referral,
    ReferralEventType,
    ReferralStatus,
)
from diversion.referrals.pins import NO_PIN
from diversion.referrals.pnc import check_letter
from diversion.referrals.reading import REFERENCE_ALPHABET, REFERENCE_LENGTH
from diversion.reoffences.models import (
    ComparisonCase,
    ComparisonDisposal,
    Reoffence,
    ReoffenceOutcome,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

A = AttendanceStatus
E = ReferralEventType
S = ReferralStatus
HISTORY_MONTHS = 24
CRIME_PREFIX = "HIST/"
PNC_YEAR = 2023  # the other demo people's PNC IDs are from 2004 to 2022
DEMO_DOMAIN = "diversion.example"
SECOND_FORCE = ("SYP", "South Yorkshire Police", "syp.police.example")
# South Yorkshire's referrals came from its case system; the officers have no account here.
SECOND_OFFICER_EMAIL = "cju.referrals@syp.police.example"
FACILITATORS = (("jo.coursewell@diversion.example", "Jo Coursewell"),  # also in DEMO_USERS
                ("sam.sessionby@diversion.example", "Sam Sessionby"))
VENUES = {
    "WYP": courses_venues.VenueDetails(
        name="Wakefield Town Hall, Room 4", capacity=16, address_line_1="Wood Street",
        town="Wakefield", postcode="WF1 2HQ", step_free_access=True),
    "SYP": courses_venues.VenueDetails(
        name="Sheffield Town Hall, Room 2", capacity=14, address_line_1="Pinstone Street",
        town="Sheffield", postcode="S1 2HH", step_free_access=True),
}
TOWNS = {"WYP": [("Leeds", "LS9 8DT"), ("Bradford", "BD3 9AB"), ("Wakefield", "WF1 3JP")],
         "SYP": [("Sheffield", "S2 4QW"), ("Rotherham", "S60 1AA"), ("Doncaster", "DN1 3BU")]}
REFERRALS_PER_MONTH = {"WYP": (10, 18), "SYP": (6, 12)}
GIVEN = ["Aaron", "Brian", "Carl", "Dean", "Elliot", "Glen", "Howard", "Imran", "Jake", "Kevin",
         "Liam", "Mark", "Nathan", "Oliver", "Peter", "Ray", "Simon", "Tony", "Vince", "Wayne",
         "Zak", "Colin", "Derek", "Graham", "Luke", "Mohammed", "Stuart", "Terry", "Adrian", "Rob"]
FAMILY_START = ["Ex", "Sam", "Dem", "Fic", "Mock", "Pret", "Test", "Trial", "Dumm", "Spec",
                "Proto", "Mod"]
FAMILY_END = ["ampleby", "leton", "owick", "hurst", "ington", "erfield"]
STREETS = ["Example Road", "Sample Street", "Placeholder Lane", "Demo Terrace", "Mock Avenue",
           "Fiction Close"]
WITHDRAW_REASONS = ["Charged instead after further evidence",
                    "Entered in error: duplicate of an earlier referral",
                    "Moved out of the area; dealt with by another force"]
EXCUSES = ["Hospital appointment; letter seen", "Child taken ill; GP note seen",
           "Car broke down on the way; breakdown report seen"]
MISSED_REASONS = {A.LATE_REFUSED: "Arrived after the late cut-off",
                  A.LEFT_EARLY: "Left at lunch and did not return",
                  A.REMOVED: "Asked to leave after repeated disruption", A.ABSENT: None}
# (mark, weight) at a first session, and at a second one after an excused absence.
FIRST_MARKS = [(A.ATTENDED, 79), (A.ABSENT, 7), (A.LATE_REFUSED, 4), (A.LEFT_EARLY, 3),
               (A.REMOVED, 1), (A.EXCUSED, 6)]
SECOND_MARKS = [(A.ATTENDED, 85), (A.ABSENT, 10), (A.LATE_REFUSED, 5)]
# Later offences: the programme's own (counted by scope "programme") and others. Illustrative
# codes in the style of Home Office offence codes.
OFFENCE_CODES = ["SOA2003-S51A"] * 3 + ["SOA1985-S1", "TH68001", "TH68010", "RT88191",
                                          "PU86018", "CD71001", "HO22001"]
REOFFENCE_OUTCOMES = [(ReoffenceOutcome.CONVICTION, 40), (ReoffenceOutcome.CAUTION, 20),
                      (ReoffenceOutcome.ARREST, 25), (ReoffenceOutcome.NO_FURTHER_ACTION, 15)]
# Chance of any later offence, by how the referral ended.
REOFFENCE_CHANCE = {S.COMPLETED: 0.15, S.NOT_COMPLETED: 0.40}
OTHER_REOFFENCE_CHANCE = 0.20
# The comparison cohort: people dealt with otherwise for the same kind of offence, over the same
# two years, with more earlier offences and more later ones than the programme's people.
COMPARISON_PER_MONTH = (24, 36)
PROGRAMME_PRIORS = [(0, 72), (1, 22), (2, 6)]
COMPARISON_FAMILY = ["Norm", "Base", "Bench", "Para", "Stand", "Ref", "Cohort", "Match"]
COMPARISON_DISPOSALS = [(ComparisonDisposal.CHARGED, 45), (ComparisonDisposal.CAUTIONED, 30),
                        (ComparisonDisposal.COMMUNITY_RESOLUTION, 15), (ComparisonDisposal.OTHER, 10)]
COMPARISON_PRIORS = [(0, 50), (1, 22), (2, 13), (3, 8), (4, 4), (6, 3)]
COMPARISON_REOFFENCE_CHANCE = 0.24  # plus 0.05 for each earlier offence


def _weighted(rng: random.Random, choices: Sequence[tuple[T, int]]) -> T:
    return rng.choices([c for c, _ in choices], weights=[w for _, w in choices])[0]


def _at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return london_to_utc(dt.datetime.combine(day, dt.time(hour, minute)))


def _nth_weekday(year: int, month: int, weekday: int, week: int) -> dt.date:
    days = [d for d in calendar.Calendar().itermonthdates(year, month)
            if d.month == month and d.weekday() == weekday]
    return days[week - 1]


@dataclass
class _Session:
    row: CourseSession
    force: str
    day: dt.date
    facilitators: list[User]
    bookings: list[tuple[Booking, Referral, AttendanceStatus, str | None]] = field(
        default_factory=list)

    @property
    def is_open(self) -> bool:
        return (self.row.status is not SessionStatus.CANCELLED
                and len(self.bookings) < self.row.capacity)


class _History:
    """Builds the rows; `moves` keeps every status change inside the lifecycle's table."""

    def __init__(self, *, rng: random.Random, now: dt.datetime, programme: Programme,
                 manager: User) -> None:
        self.rng, self.now, self.programme, self.manager = rng, now, programme, manager
        self.today = london_today(now)
        self.references: set[str] = set()
        self.sessions: list[_Session] = []
        self.payments: list[tuple[Referral, dt.datetime, bool]] = []  # (referral, when, waived)
        # After an excused absence: the mark at the next session and the days until rebooking.
        self.rebooks: dict[Referral, tuple[AttendanceStatus, int]] = {}

    def move(self, referral: Referral, event: ReferralEventType, *, at: dt.datetime,
             actor: User | None, reason: str | None = None) -> None:
        lifecycle.record_past_move(referral, event, at=at, actor=actor, reason=reason)

    def reference(self) -> str:
        while True:
            value = "".join(self.rng.choice(REFERENCE_ALPHABET) for _ in range(REFERENCE_LENGTH))
            if value not in self.references:
                self.references.add(value)
                return value

    def next_session(self, force: str, *, earliest: dt.date, latest: dt.date) -> _Session | None:
        for session in self.sessions:
            if session.force == force and earliest <= session.day <= latest and session.is_open:
                return session
        return None


def _plan_sessions(history: _History, *, first_month: dt.date, venues: dict[str, Venue],
                   facilitators: list[User]) -> None:
    """Wakefield on the 2nd and 4th Tuesday, Sheffield on the 3rd Thursday, 09:30 to 16:30,
    bank holidays skipped, up to a week before today; about one in 30 cancelled."""
    rng, jo, sam = history.rng, facilitators[0], facilitators[1]
    last_day = history.today - dt.timedelta(days=7)
    month = first_month
    while month <= last_day:
        planned = [("WYP", _nth_weekday(month.year, month.month, 1, 2), [jo], 12),
                   ("WYP", _nth_weekday(month.year, month.month, 1, 4), [jo, sam], 12),
                   ("SYP", _nth_weekday(month.year, month.month, 3, 3), [sam], 14)]
        for force, day, people, capacity in planned:
            cancelled = rng.random() < 0.035
            if day > last_day or bank_holiday_name(day):
                continue
            starts_at = _at(day, 9, 30)
            row = CourseSession(
                programme_id=history.programme.id, venue_id=venues[force].id,
                starts_at=starts_at, ends_at=_at(day, 16, 30), capacity=capacity,
                booked_count=0, series_key=f"demo-history-{force.lower()}",
                status=SessionStatus.CANCELLED if cancelled else SessionStatus.HELD,
                cancelled_at=starts_at - dt.timedelta(days=9) if cancelled else None,
                cancel_reason="Room unavailable: heating failure" if cancelled else None,
                created_at=starts_at - dt.timedelta(days=60), created_by_id=history.manager.id)
            row.facilitators = list(people)
            db.session.add(row)
            history.sessions.append(_Session(row=row, force=force, day=day,
                                             facilitators=list(people)))
        month = add_months(month, 1)
    history.sessions.sort(key=lambda s: (s.day, s.force))


def _book(history: _History, referral: Referral, force: str, *, on: dt.date,
          mark: AttendanceStatus, reason: str | None) -> _Session | None:
    """Book the earliest open session a week or more ahead, before the completion deadline."""
    session = history.next_session(force, earliest=on + dt.timedelta(days=7),
                                   latest=referral.completion_deadline)
    if session is None:
        return None
    history.move(referral, E.BOOKED, at=_at(on, 11), actor=history.manager)
    booking = Booking(status=BookingStatus.ACTIVE, created_at=_at(on, 11),
                      created_by_id=history.manager.id)
    booking.referral, booking.session = referral, session.row
    db.session.add(booking)
    session.bookings.append((booking, referral, mark, reason))
    session.row.booked_count += 1
    return session


def _after_register(history: _History, session: _Session, referral: Referral,
                    booking: Booking, mark: AttendanceStatus, reason: str | None) -> None:
    """What submitting this line did: the referral's moves and the booking's end."""
    submitted = session.row.ends_at + dt.timedelta(minutes=30)
    actor = session.facilitators[0]
    booking.ended_at = submitted
    if mark is A.ATTENDED:
        text = "Register: attended in full"
        history.move(referral, E.ATTENDED_COMPLETED, at=submitted, actor=actor, reason=text)
        booking.status, booking.end_reason = BookingStatus.ATTENDED, text
    elif mark is A.EXCUSED:
        text = f"Excused from the session: {reason}"
        history.move(referral, E.BOOKING_CANCELLED, at=submitted, actor=actor, reason=text)
        booking.status, booking.end_reason = BookingStatus.CLOSED, text
        second_mark, days = history.rebooks[referral]
        _book(history, referral, session.force, on=session.day + dt.timedelta(days=days),
              mark=second_mark, reason=MISSED_REASONS.get(second_mark))
    else:
        text = f"Register: {mark.label.lower()}" + (f". {reason}" if reason else "")
        history.move(referral, E.MISSED, at=submitted, actor=actor, reason=text)
        booking.status, booking.end_reason = BookingStatus.MISSED, text
        history.move(referral, E.GRACE_EXPIRED, actor=None, reason=None,
                     at=grace_closes_at(submitted, history.programme.grace_days))


def _outcome_of(mark: AttendanceStatus) -> Outcome:
    if mark is A.ATTENDED:
        return Outcome.COMPLETED
    return Outcome.EXCUSED if mark is A.EXCUSED else Outcome.MISSED


def load_demo_history(*, force: Force, officer: User, manager: User, programme: Programme,
                      now: dt.datetime, seed: int = 2024) -> dict[str, int]:
    """Write the two years of history once; return what was written (all zeros when it is
    there already)."""
    written = {"referrals": 0, "sessions": 0, "registers": 0, "reoffences": 0}
    if db.session.scalar(select(Referral.id).where(
            Referral.crime_reference.startswith(CRIME_PREFIX)).limit(1)) is not None:
        return written
    rng = random.Random(seed)
    today = london_today(now)
    second = auth_services.get_force_by_code(SECOND_FORCE[0]) or auth_services.create_force(
        code=SECOND_FORCE[0], name=SECOND_FORCE[1], actor=None, now=now,
        email_domain=SECOND_FORCE[2])

    def facilitator(email: str, name: str) -> User:
        return auth_services.get_user_by_email(email) or auth_services.create_user(
            email=email, name=name, role=Role.FACILITATOR, password=DEMO_PASSWORD, force=None,
            actor=None, now=now)

    forces = {"WYP": force, "SYP": second}
    officers: dict[str, User | None] = {"WYP": officer, "SYP": None}
    officer_ids = {key: user.id if user else None for key, user in officers.items()}
    officer_emails = {"WYP": officer.email, "SYP": SECOND_OFFICER_EMAIL}
    facilitators = [facilitator(email, name) for email, name in FACILITATORS]
    existing_venues = {v.name: v for v in courses_venues.list_venues()}
    venues = {key: existing_venues.get(details.name) or courses_venues.create_venue(
        details=details, actor=None, now=now) for key, details in VENUES.items()}
    history = _History(rng=rng, now=now, programme=programme, manager=manager)
    history.references.update(db.session.scalars(select(Referral.reference)))
    taken_pncs = set(db.session.scalars(select(Person.pnc_id).where(
        Person.pnc_id.startswith(f"{PNC_YEAR}/"))))
    first_month = add_months(today.replace(day=1), -HISTORY_MONTHS)
    _plan_sessions(history, first_month=first_month, venues=venues, facilitators=facilitators)

    # People and referrals, month by month, in referral-date order so sessions fill in turn.
    family = [a + b for a, b in itertools.product(FAMILY_START, FAMILY_END)]
    names = list(itertools.product(GIVEN, family))
    rng.shuffle(names)
    planned: list[tuple[dt.date, str]] = []
    month = first_month
    while month < today.replace(day=1):
        days = calendar.monthrange(month.year, month.month)[1]
        for key, (low, high) in REFERRALS_PER_MONTH.items():
            for _ in range(rng.randint(low, high)):
                day = month.replace(day=rng.randint(1, days))
                if day.weekday() >= 5:
                    day -= dt.timedelta(days=day.weekday() - 4)
                planned.append((day, key))
        month = add_months(month, 1)
    planned.sort()
    referrals: list[tuple[Referral, str]] = []
    for number, ((referral_date, key), (given, family_name)) in enumerate(
            zip(planned, itertools.cycle(names)), start=1):
        # Every random value is drawn for every referral, so each keeps its values.
        offence_date = referral_date - dt.timedelta(
            days=rng.choice([1, 2, 2, 3, 4, 5, 7, 9, 12, 16, 21, 30, 45]))
        born = dt.date(rng.randint(1958, 2003), rng.randint(1, 12), rng.randint(1, 28))
        town, postcode = rng.choice(TOWNS[key])
        path = rng.random()
        mark = _weighted(rng, FIRST_MARKS)
        second_mark = _weighted(rng, SECOND_MARKS)
        reason = rng.choice(EXCUSES) if mark is A.EXCUSED else MISSED_REASONS.get(mark)
        booking_delay, rebook_delay = rng.randint(2, 10), rng.randint(2, 6)
        fee = rng.random()
        with_pnc = rng.random() < 0.6
        channel = rng.choice([ContactChannel.EMAIL, ContactChannel.EMAIL, ContactChannel.POST])
        created_at = _at(referral_date, rng.randint(9, 16), rng.choice([0, 15, 30, 45]))
        pnc = f"{PNC_YEAR}/{100000 + number:07d}{check_letter(PNC_YEAR, 100000 + number)}"
        person = Person(
            family_name=family_name, given_names=given, family_name_key=name_key(family_name),
            given_name_key=first_given_key(given), date_of_birth=born,
            pnc_id=pnc if with_pnc and pnc not in taken_pncs else None,
            gender="male", email=f"{given}.{family_name}.{number}@example.com".lower(),
            address_line_1=f"{rng.randint(1, 150)} {rng.choice(STREETS)}", town=town,
            postcode=postcode, preferred_contact=channel, needs_step_free=False,
            created_at=created_at, updated_at=created_at)
        referral = Referral(
            reference=history.reference(), pin_hash=NO_PIN, pin_issued_at=created_at,
            force_id=forces[key].id, programme_id=programme.id,
            crime_reference=f"{CRIME_PREFIX}{number:05d}/{referral_date:%y}",
            referral_date=referral_date, offence_code=rng.choice(["SOA2003-S51A"] * 5
                                                                 + ["SOA1985-S1"]),
            offence_date=offence_date, offence_location=f"{rng.choice(STREETS)}, {town}",
            disposal="Conditional caution", admitted=True, consented=True,
            no_relevant_convictions=True, officer_email=officer_emails[key],
            officer_user_id=officer_ids[key],
            booking_deadline=referral_date + dt.timedelta(days=programme.booking_deadline_days),
            completion_deadline=add_months(offence_date, programme.completion_deadline_months),
            is_completion_deadline_given=False, is_historical=False, eligibility=[],
            created_at=created_at,
            created_by_user_id=officer_ids[key])
        referral.person = person
        lifecycle.start(referral, actor=officers[key], now=created_at)
        db.session.add(referral)
        referrals.append((referral, key))
        if path < 0.05:
            day = min(referral_date + dt.timedelta(days=booking_delay + 5), today)
            history.move(referral, E.WITHDRAWN, at=_at(day, 15), actor=officers[key],
                         reason=WITHDRAW_REASONS[number % len(WITHDRAW_REASONS)])
            continue
        booked_on = referral_date + dt.timedelta(days=booking_delay)
        # 4% never book; the rest take the earliest open session (the registers below decide).
        if path >= 0.09 and booked_on < today and _book(
                history, referral, key, on=booked_on, mark=mark, reason=reason):
            # Attendees had cleared the fee (completion needs it); most others had paid too.
            if mark is A.ATTENDED or fee < 0.6:
                history.payments.append((referral, _at(booked_on + dt.timedelta(days=1), 14),
                                         mark is A.ATTENDED and fee >= 0.9))
            history.rebooks[referral] = (second_mark, rebook_delay)

    # Registers, in date order: an excused person is booked again on a later session.
    registers = []
    entry_bookings: list[tuple[RegisterEntry, Booking]] = []
    for session in history.sessions:
        if session.row.status is SessionStatus.CANCELLED or not session.bookings:
            continue
        submitted = session.row.ends_at + dt.timedelta(minutes=30)
        register = Register(state=RegisterState.SUBMITTED, created_at=session.row.starts_at,
                            updated_at=submitted, submitted_at=submitted,
                            submitted_by_id=session.facilitators[0].id)
        register.session = session.row
        for booking, referral, mark, reason in list(session.bookings):
            arrived = None
            if mark is A.ATTENDED:
                arrived = session.row.starts_at - dt.timedelta(minutes=rng.randint(0, 20))
            elif mark is A.LATE_REFUSED:
                arrived = session.row.starts_at + dt.timedelta(minutes=rng.randint(20, 50))
            elif mark in (A.LEFT_EARLY, A.REMOVED):
                arrived = session.row.starts_at - dt.timedelta(minutes=5)
            entry = RegisterEntry(status=mark, arrived_at=arrived, id_checked=mark is A.ATTENDED,
                                  reason=reason, outcome=_outcome_of(mark), updated_at=submitted,
                                  updated_by_id=session.facilitators[0].id)
            entry.referral = referral
            register.entries.append(entry)
            entry_bookings.append((entry, booking))
            _after_register(history, session, referral, booking, mark, reason)
        registers.append((register, session))
        db.session.add(register)
    # Never booked, or not rebooked in time: the deadline sweep closed them.
    for referral, _ in referrals:
        passed = referral.completion_deadline + dt.timedelta(days=1)
        if referral._status is S.AWAITING_BOOKING and passed < today:
            history.move(referral, E.DEADLINE_PASSED, at=_at(passed, 2), actor=None)
    db.session.flush()

    for entry, booking in entry_bookings:
        entry.booking_id = booking.id
    for register, session in registers:
        db.session.add(RegisterChange(
            register_id=register.id, action=RegisterAction.SUBMITTED, at=register.submitted_at,
            actor_user_id=session.facilitators[0].id,
            actor_label=actor_label_for(session.facilitators[0]),
            changes={"people": len(register.entries)}))
    for referral, paid_at, waived in history.payments:
        if waived:
            db.session.add(FeeWaiver(referral_id=referral.id, reason="Receiving benefits",
                                     waived_at=paid_at, waived_by_id=manager.id))
        else:
            db.session.add(Payment(
                referral_id=referral.id, amount_pence=programme.fee_pence,
                method=rng.choice([PaymentMethod.CARD, PaymentMethod.CARD,
                                   PaymentMethod.BANK_TRANSFER]),
                reference=f"DEMO-PAY-{referral.id}", recorded_at=paid_at,
                recorded_by_id=manager.id))

    # Later offences: about 15% of people, more often among those who did not complete.
    number = 0
    for referral, key in referrals:
        chance = REOFFENCE_CHANCE.get(referral._status, OTHER_REOFFENCE_CHANCE)
        roll, how_many = rng.random(), _weighted(rng, [(1, 75), (2, 20), (3, 5)])
        if roll >= chance:
            continue
        start = referral.referral_date
        for _ in range(how_many):
            delay = int(rng.expovariate(1 / 170)) + 3
            outcome = _weighted(rng, REOFFENCE_OUTCOMES)
            code = rng.choice(OFFENCE_CODES)
            to_outcome = {ReoffenceOutcome.CONVICTION: rng.randint(40, 240),
                          ReoffenceOutcome.CAUTION: rng.randint(3, 60),
                          ReoffenceOutcome.NO_FURTHER_ACTION: rng.randint(10, 90)}.get(outcome)
            offence_date = start + dt.timedelta(days=delay)
            if offence_date >= today:
                continue
            outcome_date = offence_date + dt.timedelta(days=to_outcome) if to_outcome else None
            if outcome_date is not None and outcome_date >= today:
                # Not yet disposed of: recorded as the arrest it still is.
                outcome, outcome_date = ReoffenceOutcome.ARREST, None
            number += 1
            db.session.add(Reoffence(
                person_id=referral.person_id, offence_code=code, offence_date=offence_date,
                outcome=outcome, outcome_date=outcome_date,
                source_reference=f"DEMO-RO-{number:05d}", force_id=forces[key].id,
                recorded_by_user_id=officer_ids[key],
                recorded_at=_at(outcome_date or offence_date + dt.timedelta(days=2), 10)))
            start = offence_date
    db.session.flush()
    cases, comparison_reoffences = _load_comparison_cohort(
        rng, referrals=referrals, forces=forces, first_month=first_month, today=today, now=now,
        first_number=number)
    written.update(referrals=len(referrals), reoffences=number + comparison_reoffences,
                   registers=len(registers), sessions=len(history.sessions))
    written["comparison_cases"] = cases
    record(action="demo.history_loaded", category=AuditCategory.COLLECTION, now=now,
           actor=None, object_type="demo", object_id="history", details=written)
    log.info("demo history: %s", written)
    return written


def _load_comparison_cohort(rng: random.Random, *, referrals: Sequence[tuple[Referral, str]],
                            forces: dict[str, Force], first_month: dt.date, today: dt.date,
                            now: dt.datetime, first_number: int) -> tuple[int, int]:
    """A comparison cohort of a few hundred people (DESIGN.md "Comparison group") and their
    later offences, and some earlier offences of the programme's people (cautions in the two
    years before the referral, the prior offences the matching compares), written in bulk:
    (cases, reoffences)."""
    written: list[ComparisonCase | Reoffence] = []
    number = first_number
    for referral, key in referrals:
        for _ in range(_weighted(rng, PROGRAMME_PRIORS)):
            offence_date = referral.referral_date - dt.timedelta(days=rng.randint(60, 700))
            number += 1
            written.append(Reoffence(
                person_id=referral.person_id, offence_code=rng.choice(OFFENCE_CODES),
                offence_date=offence_date, outcome=ReoffenceOutcome.CAUTION,
                outcome_date=offence_date + dt.timedelta(days=rng.randint(3, 40)),
                source_reference=f"DEMO-RO-{number:05d}", force_id=forces[key].id,
                recorded_by_user_id=None, recorded_at=_at(offence_date, 10)))
    names = list(itertools.product(GIVEN, (a + b for a, b in itertools.product(
        COMPARISON_FAMILY, FAMILY_END))))
    rng.shuffle(names)
    planned: list[tuple[dt.date, str]] = []
    month = first_month
    while month < today.replace(day=1):
        days = calendar.monthrange(month.year, month.month)[1]
        for _ in range(rng.randint(*COMPARISON_PER_MONTH)):
            planned.append((month.replace(day=rng.randint(1, days)),
                            rng.choice(["WYP", "WYP", "SYP"])))
        month = add_months(month, 1)
    planned.sort()
    people: list[tuple[Person, dt.date, str, int]] = []
    for (index_date, key), (given, family_name) in zip(planned, itertools.cycle(names),
                                                      strict=False):
        person = Person(
            family_name=family_name, given_names=given, family_name_key=name_key(family_name),
            given_name_key=first_given_key(given),
            date_of_birth=dt.date(rng.randint(1956, 2004), rng.randint(1, 12), rng.randint(1, 28)),
            preferred_contact=ContactChannel.POST, needs_step_free=False,
            created_at=now, updated_at=now)
        people.append((person, index_date, key, _weighted(rng, COMPARISON_PRIORS)))
    db.session.add_all(person for person, *_ in people)
    db.session.flush()
    cases = written
    for position, (person, index_date, key, prior) in enumerate(people, start=1):
        cases.append(ComparisonCase(
            person_id=person.id, force_id=forces[key].id, index_date=index_date,
            prior_offences=prior, disposal=_weighted(rng, COMPARISON_DISPOSALS),
            source_reference=f"DEMO-CMP-{position:05d}", imported_at=now,
            imported_by_user_id=None))
        if rng.random() >= COMPARISON_REOFFENCE_CHANCE + 0.05 * prior:
            continue
        offence_date = index_date + dt.timedelta(days=int(rng.expovariate(1 / 150)) + 3)
        outcome = _weighted(rng, REOFFENCE_OUTCOMES)
        to_outcome = {ReoffenceOutcome.CONVICTION: rng.randint(40, 240),
                      ReoffenceOutcome.CAUTION: rng.randint(3, 60),
                      ReoffenceOutcome.NO_FURTHER_ACTION: rng.randint(10, 90)}.get(outcome)
        if offence_date >= today:
            continue
        outcome_date = offence_date + dt.timedelta(days=to_outcome) if to_outcome else None
        if outcome_date is not None and outcome_date >= today:
            outcome, outcome_date = ReoffenceOutcome.ARREST, None
        number += 1
        cases.append(Reoffence(
            person_id=person.id, offence_code=rng.choice(OFFENCE_CODES), offence_date=offence_date,
            outcome=outcome, outcome_date=outcome_date, source_reference=f"DEMO-RO-{number:05d}",
            force_id=forces[key].id, recorded_by_user_id=None,
            recorded_at=_at(outcome_date or offence_date + dt.timedelta(days=2), 10)))
    db.session.add_all(cases)
    db.session.flush()
    return len(people), number - first_number
