"""Demonstration registers: two past sessions with submitted registers, one today to be taken.

Loading twice changes nothing (the first demo referral's crime reference marks it as done).
"""

from __future__ import annotations

import datetime as dt

from diversion.attendance import register as attendance_register
from diversion.attendance.rules import AttendanceStatus
from diversion.auth import services as auth_services
from diversion.auth.models import Force, User
from diversion.bookings import fees
from diversion.bookings import places as bookings_places
from diversion.core.timeutils import london_to_utc, london_today
from diversion.courses import planning as courses_planning
from diversion.courses import venues as courses_venues
from diversion.courses.demo import STEP_FREE_VENUE
from diversion.courses.models import CourseSession, SessionStatus, Venue
from diversion.programmes.models import Programme
from diversion.referrals.demo import create_demo_referral
from diversion.referrals.intake import ReferralInput
from diversion.referrals.reading import get_referral_by_crime_reference

A = AttendanceStatus
DEMO_FACILITATOR = "facilitator@diversion.example"
# The scheduling demo's step-free hall, where the demo registers were taken.
VENUE = STEP_FREE_VENUE
GIVEN = ["Rowan", "Ellis", "Jordan", "Casey", "Morgan", "Riley", "Sam", "Alex", "Jamie", "Drew",
         "Robin"]
FAMILY = ["Registerson", "Rollcall", "Attendwell", "Markham", "Presentley", "Ticksworth",
          "Signinson", "Checkley", "Hereford-Demo", "Listerby", "Countwell"]
# (weeks ago, [(mark, fee cleared, reason)]); None weeks ago = today's session, left untaken.
PLANS: list[tuple[int | None, list[tuple[AttendanceStatus | None, bool, str | None]]]] = [
    (6, [(A.ATTENDED, True, None), (A.ATTENDED, False, None),
         (A.EXCUSED, False, "Hospital appointment; letter seen")]),
    (2, [(A.ATTENDED, True, None), (A.LEFT_EARLY, True, "Left at lunch and did not return"),
         (A.LATE_REFUSED, False, "Arrived 40 minutes late")]),
    (None, [(None, False, None)] * 5),
]


def _venue(now: dt.datetime) -> Venue:
    for venue in courses_venues.list_venues():
        if venue.name == VENUE.name:
            return venue
    return courses_venues.create_venue(details=VENUE, actor=None, now=now)


def _session(*, programme: Programme, facilitator: User, starts_at: dt.datetime,
             now: dt.datetime) -> CourseSession:
    return courses_planning.create_session(
        programme=programme, venue=_venue(now), starts_at=starts_at,
        ends_at=starts_at + dt.timedelta(hours=7), capacity=12, facilitators=[facilitator],
        actor=None, now=min(now, starts_at - dt.timedelta(days=20)))


def _today_start(now: dt.datetime) -> dt.datetime:
    """A start time today (London) whose register is already open."""
    start = (now - dt.timedelta(minutes=30)).replace(second=0, microsecond=0)
    start -= dt.timedelta(minutes=start.minute % 5)
    if london_today(start) != london_today(now):
        start = now.replace(second=0, microsecond=0) + dt.timedelta(minutes=30)
    return start


def load_demo_registers(*, force: Force, officer: User, manager: User, programme: Programme,
                        now: dt.datetime) -> int:
    """Create the demo sessions, people, bookings and registers; return the sessions made."""
    facilitator = auth_services.get_user_by_email(DEMO_FACILITATOR)
    if facilitator is None or get_referral_by_crime_reference(
            force_id=force.id, crime_reference="DEMOREG/0001") is not None:
        return 0
    today = london_today(now)
    number = 0
    made = 0
    for weeks_ago, marks in PLANS:
        if weeks_ago is None:
            starts_at = _today_start(now)
        else:
            day = today - dt.timedelta(weeks=weeks_ago)
            starts_at = london_to_utc(dt.datetime.combine(day, dt.time(9, 30)))
        made_at = starts_at - dt.timedelta(days=21)
        session = _session(programme=programme, facilitator=facilitator, starts_at=starts_at,
                           now=now)
        lines = []
        for mark, cleared, reason in marks:
            number += 1
            referral_day = london_today(made_at)
            data = ReferralInput(
                crime_reference=f"DEMOREG/{number:04d}", referral_date=referral_day,
                family_name=FAMILY[(number - 1) % len(FAMILY)],
                given_names=GIVEN[(number - 1) % len(GIVEN)],
                date_of_birth=dt.date(1970 + number, 1 + number % 12, 1 + number),
                offence_code="SOA2003-S51A", offence_date=referral_day - dt.timedelta(days=4),
                officer_email=officer.email, admitted=True, consented=True,
                no_relevant_convictions=True, force_code=force.code,
                email=f"demo.register{number}@example.com",
                access_needs="Hard of hearing: please sit near the front" if number % 4 == 0 else None)
            referral = create_demo_referral(data=data, actor=officer, now=made_at)
            bookings_places.book_place(referral=referral, session=session, actor=manager,
                                       now=made_at + dt.timedelta(days=1))
            if cleared:
                fees.waive_fee(referral=referral, reason="Demo: receiving benefits", actor=manager,
                               now=made_at + dt.timedelta(days=2))
            lines.append((referral, mark, reason))
        if weeks_ago is not None:
            taken_at = starts_at + dt.timedelta(hours=7)
            attendance_register.save_register(
                session=session, submit=True, actor=facilitator, now=taken_at,
                marks=[attendance_register.MarkInput(
                    reference=referral.reference, status=mark,
                    id_checked=mark is A.ATTENDED, reason=reason,
                    arrived_at=(starts_at - dt.timedelta(minutes=10)
                                if mark is A.ATTENDED else None))
                    for referral, mark, reason in lines])
            # Past sessions are marked held, as the scheduling demo does with its own.
            courses_planning.change_session_status(session=session, to=SessionStatus.HELD,
                                                   reason=None, actor=None, now=now)
        made += 1
    return made
