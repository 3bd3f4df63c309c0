"""Demonstration referrals in every state, made through the services and the lifecycle.

Seeded, so every load plans the same referrals; each is skipped when its crime reference is
already there. Names are made up and look it.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import random
from dataclasses import dataclass

from diversion.auth.models import Force, User
from diversion.auth.passwords import hash_password
from diversion.core.timeutils import london_to_utc, london_today
from diversion.programmes import services as programme_services
from diversion.programmes.models import Programme
from diversion.referrals import lifecycle
from diversion.referrals.creation import create_referral
from diversion.referrals.intake import ReferralInput
from diversion.referrals.models import Referral, ReferralEventType
from diversion.referrals.pins import new_pin
from diversion.referrals.pnc import check_letter
from diversion.referrals.reading import get_referral_by_crime_reference

E = ReferralEventType
GIVEN = ["Adam", "Barry", "Craig", "Darren", "Eddie", "Frank", "Gary", "Harvey", "Ian",
         "Jason", "Keith", "Lee", "Martin", "Neil", "Owen", "Paul"]
FAMILY = ["Demoson", "Sampleton", "Examplewood", "Fictionley", "Mockford", "Pretendall",
          "Madeupson", "Placeholder", "Trialby", "Testerfield", "Dummett", "Specimen"]
STREETS = ["Example Road", "Sample Street", "Placeholder Lane", "Demo Terrace", "Mock Avenue"]
POSTCODES = ["LS1 4AP", "LS6 2QB", "LS9 8DT", "BD1 1HY", "WF1 2EB", "HX1 1UJ"]
WITHDRAW_REASONS = ["Charged instead after further evidence",
                    "Entered in error: duplicate of an earlier referral",
                    "Moved out of the area; dealt with by another force"]


@dataclass(frozen=True)
class Plan:
    """One demo referral: how long ago it was made, and the events that follow."""

    days_ago: int
    events: tuple[ReferralEventType, ...]
    outcome: str | None = None


PLANS: list[Plan] = (
    [Plan(d, ()) for d in (1, 2, 4, 6, 9, 12, 15, 18, 22, 26)]
    + [Plan(d, (E.BOOKED,)) for d in (5, 8, 11, 16, 20, 27, 33, 38)]
    + [Plan(d, (E.BOOKED, E.MISSED)) for d in (19, 30, 44)]
    + [Plan(d, (E.BOOKED, E.ATTENDED_COMPLETED)) for d in (45, 52, 60, 71, 85, 98)]
    + [Plan(d, (E.BOOKED, E.COMPLETED_AFTER_FEE)) for d in (64,)]
    + [Plan(d, (E.DEADLINE_PASSED,)) for d in (140, 155)]
    + [Plan(132, (E.BOOKED, E.DEADLINE_PASSED)), Plan(75, (E.BOOKED, E.MISSED, E.GRACE_EXPIRED))]
    + [Plan(d, (E.BOOKED, E.MISSED, E.EXCUSE_ACCEPTED)) for d in (36,)]
    + [Plan(d, (E.WITHDRAWN,)) for d in (10, 40)] + [Plan(50, (E.BOOKED, E.WITHDRAWN))]
    + [Plan(d, (), outcome=o) for d, o in zip(
        range(500, 1100, 50),
        ["completed", "completed", "not_completed", "completed", "withdrawn", "completed",
         "not_completed", "completed", "completed", "not_completed", "completed", "completed"],
        strict=True)]
)


@functools.cache
def _shared_pin_hash() -> str:
    return hash_password(new_pin())


def create_demo_referral(*, data: ReferralInput, actor: User, now: dt.datetime) -> Referral:
    """`create_referral`, the demo's way: an open referral gets a PIN nobody is shown, as
    before, but every demo referral shares the hash of one random PIN, made once per process.
    A fresh Argon2 hash each (a deliberate fraction of a second) was most of `demo load`'s
    time (issue 17). Historical referrals get no PIN, as create_referral decides."""
    referral = create_referral(data=data, actor=actor, now=now, issue_pin=False).referral
    if data.outcome is None:
        referral.pin_hash = _shared_pin_hash()
    return referral


def _at(day: dt.date, hour: int) -> dt.datetime:
    return london_to_utc(dt.datetime.combine(day, dt.time(hour)))


def ensure_demo_programme(*, now: dt.datetime) -> Programme:
    programme = programme_services.get_programme_by_code("KCRC")
    if programme is None:
        programme = programme_services.create_programme(
            settings=programme_services.ProgrammeSettings(
                code="KCRC", name="Kerb-crawler re-education course"),
            actor=None, now=now)
    return programme


def load_demo_referrals(*, force: Force, officer: User, manager: User, now: dt.datetime) -> int:
    """Create the demo referrals that are missing; return how many were created."""
    ensure_demo_programme(now=now)
    rng = random.Random(2026)
    today = london_today(now)
    names = list(itertools.product(GIVEN, FAMILY))
    rng.shuffle(names)
    created = 0
    for number, (plan, (given, family)) in enumerate(zip(PLANS, names, strict=False), start=1):
        # Draw every random value before deciding to skip, so each plan keeps its values.
        referral_date = today - dt.timedelta(days=plan.days_ago)
        delay = rng.choice([1, 2, 3, 5, 7, 10, 14, 35 if number == 7 else 20])
        offence_date = referral_date - dt.timedelta(days=delay)
        dob = dt.date(rng.randint(1962, 2000), rng.randint(1, 12), rng.randint(1, 28))
        pnc_year, pnc_serial = rng.randint(2004, 2022), rng.randint(1, 999999)
        with_pnc = rng.random() < 0.6
        offence_code = rng.choice(["SOA2003-S51A"] * 4 + ["SOA1985-S1"])
        street, postcode = rng.choice(STREETS), rng.choice(POSTCODES)
        house = rng.randint(1, 120)
        channel = rng.choice(["email", "email", "post"])
        step_free = rng.random() < 0.1
        crime_reference = f"DEMO/{number:04d}/{referral_date:%y}"
        if get_referral_by_crime_reference(force_id=force.id, crime_reference=crime_reference):
            continue
        historical = plan.outcome is not None
        data = ReferralInput(
            crime_reference=crime_reference, referral_date=referral_date,
            family_name=family, given_names=given, date_of_birth=dob,
            offence_code=offence_code, offence_date=offence_date,
            officer_email=officer.email, admitted=True, consented=True,
            no_relevant_convictions=None if historical else True,
            force_code=force.code,
            pnc_id=(f"{pnc_year}/{pnc_serial:07d}{check_letter(pnc_year, pnc_serial)}"
                    if with_pnc else None),
            email=f"{given}.{family}@example.com".lower(),
            address_line_1=f"{house} {street}", town="Leeds", postcode=postcode,
            preferred_contact=channel, needs_step_free=step_free,
            access_needs="Uses a wheelchair: needs step-free access" if step_free else None,
            offence_location=f"{rng.choice(STREETS)}, Leeds", disposal="Conditional caution",
            outcome=plan.outcome,
            outcome_date=referral_date + dt.timedelta(days=90) if historical else None,
        )
        made_at = now if historical else _at(referral_date, 11)
        referral = create_demo_referral(data=data, actor=officer, now=made_at)
        day = referral_date
        for event in plan.events:
            day = min(day + dt.timedelta(days=7), today)
            if event is E.DEADLINE_PASSED:
                day = min(referral.completion_deadline + dt.timedelta(days=1), today)
            if event is E.MISSED and event is plan.events[-1]:
                # Missed yesterday: still inside the grace window, so a manager can accept an
                # excuse (and the scheduler's grace sweep does not close it at once).
                day = max(day, today - dt.timedelta(days=1))
            actor = None if event in (E.DEADLINE_PASSED, E.GRACE_EXPIRED) else manager
            reason = None
            if event is E.WITHDRAWN:
                actor, reason = officer, WITHDRAW_REASONS[number % len(WITHDRAW_REASONS)]
            elif event is E.EXCUSE_ACCEPTED:
                reason = "Hospital appointment; letter seen"
            elif event is E.MISSED:
                reason = "Arrived 40 minutes late and was refused entry"
            lifecycle.transition(referral, event, actor=actor, now=_at(day, 16), reason=reason)
        created += 1
    return created
