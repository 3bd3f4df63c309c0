"""Builders that fill in defaults, so each test states only what matters to it.

Every builder of a domain object lives here (like GOV.UK Notify's tests/app/db.py): it makes
the object through the app's own service where there is one, fills in what the test does not
care about, and takes overrides for what it does. Everything is dated from NOW; a test whose
pages, API calls or jobs read the clock asks for the `clock` fixture (tests/conftest.py), which
stops the app's clock at NOW, so nothing depends on the day the suite runs.
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass
from typing import Any

import pyotp
from sqlalchemy import update

from diversion.attendance import register as attendance_register
from diversion.auth import second_factor
from diversion.auth import services as auth_services
from diversion.auth.models import Force, Role, User
from diversion.bookings import places as bookings_places
from diversion.core.extensions import db
from diversion.courses import planning as courses_planning
from diversion.courses import venues as courses_venues
from diversion.referrals import pins as referrals_pins

DEFAULT_PASSWORD = "correct horse battery staple 42"
_sequence = itertools.count(1)

NOW = dt.datetime(2026, 6, 15, 9, 0, tzinfo=dt.UTC)


def create_force(code: str | None = None, name: str | None = None) -> Force:
    number = next(_sequence)
    code = code or f"F{number}"
    existing = auth_services.get_force_by_code(code)
    if existing:
        return existing
    force = Force(code=code.upper(), name=name or f"Test Force {number}")
    db.session.add(force)
    db.session.flush()
    return force


def create_user(role: str | Role = Role.MANAGER, **overrides: Any) -> User:
    role = Role(role)
    number = next(_sequence)
    force = overrides.pop("force", None)
    if role is Role.POLICE and force is None:
        force = create_force()
    values: dict[str, Any] = {
        "email": f"{role.value}{number}@example.test",
        "name": f"Test {role.value.title()} {number}",
        "password": DEFAULT_PASSWORD,
        "now": NOW,
    }
    values.update(overrides)
    user = auth_services.create_user(role=role, force=force, actor=None, **values)
    db.session.flush()
    return user


def enrolled_user(role: str | Role = Role.FACILITATOR) -> tuple[User, pyotp.TOTP, list[str]]:
    """A user with the second factor on (through the service, at NOW), its authenticator and
    its ten recovery codes; committed."""
    user = create_user(role=role)
    enrolment = second_factor.start_enrolment(user, now=NOW)
    totp = pyotp.TOTP(enrolment.secret)
    codes = second_factor.confirm_enrolment(user, code=totp.at(NOW), now=NOW)
    assert codes is not None
    db.session.commit()
    return user, totp, codes


def create_token(user: User) -> str:
    _, clear = auth_services.create_api_token(user=user, actor=None, now=NOW)
    db.session.flush()
    return clear


def create_programme(code: str = "KCRC", **overrides: Any) -> Any:
    """The programme with this code, created with the defaults when missing."""
    from diversion.programmes import services as programme_services

    existing = programme_services.get_programme_by_code(code)
    if existing:
        return existing
    settings = programme_services.ProgrammeSettings(
        code=code, name=overrides.pop("name", "Kerb-crawler re-education course"), **overrides)
    programme = programme_services.create_programme(settings=settings, actor=None, now=NOW)
    db.session.flush()
    return programme


def _letters(number: int) -> str:
    """1 -> "Ab", 2 -> "Ac": distinct names for distinct people (matching ignores digits)."""
    text = ""
    while True:
        number, digit = divmod(number, 26)
        text = "abcdefghijklmnopqrstuvwxyz"[digit] + text
        if number == 0:
            return "A" + text


def referral_input(**overrides: Any) -> Any:
    """A valid, eligible ReferralInput; a fresh crime reference and person each call."""
    from diversion.referrals.intake import ReferralInput

    number = next(_sequence)
    values: dict[str, Any] = {
        "crime_reference": f"CR/{number:06d}/26",
        "referral_date": dt.date(2026, 6, 10),
        "family_name": "Test-" + _letters(number),
        "given_names": "Adam James",
        "date_of_birth": dt.date(1980, 1, 2),
        "offence_code": "SOA2003-S51A",
        "offence_date": dt.date(2026, 6, 1),
        "officer_email": "officer@police.example",
        "admitted": True,
        "consented": True,
        "no_relevant_convictions": True,
        "email": f"person{number}@example.com",
    }
    values.update(overrides)
    return ReferralInput(**values)


def create_referral(*, actor: User | None = None, force: Force | None = None, **overrides: Any) -> Any:
    """An eligible referral (awaiting booking) made through the service; returns the Referral."""
    from diversion.referrals.creation import create_referral as create

    create_programme()
    if force is None:
        force = actor.force if actor is not None and actor.force else create_force()
    overrides.setdefault("force_code", force.code)
    created = create(data=referral_input(**overrides), actor=actor, now=NOW)
    db.session.flush()
    return created.referral


@dataclass
class Known:
    """A referral and the details its person signs in with."""

    referral: Any
    pin: str
    date_of_birth: dt.date

    @property
    def reference(self) -> str:
        return self.referral.reference


PERSON_DOB = dt.date(1984, 3, 27)


def known_referral(*, now: dt.datetime = NOW, **overrides: Any) -> Known:
    """An eligible referral made at `now` (offence five days before), committed, with its PIN."""
    from diversion.core.timeutils import london_today
    from diversion.referrals.creation import create_referral as create

    create_programme()
    today = london_today(now)
    overrides.setdefault("force_code", create_force().code)
    overrides.setdefault("date_of_birth", PERSON_DOB)
    overrides.setdefault("offence_date", today - dt.timedelta(days=5))
    overrides.setdefault("referral_date", today - dt.timedelta(days=2))
    created = create(data=referral_input(**overrides), actor=None, now=now)
    db.session.commit()
    return Known(created.referral, created.pin, overrides["date_of_birth"])


def create_person(family_name: str = "Smith", given_names: str = "John Paul",
                  date_of_birth: dt.date = dt.date(1980, 1, 2), **overrides: Any) -> Any:
    """A Person row with its matching keys, as the referrals service stores one."""
    from diversion.referrals.matching import first_given_key, name_key
    from diversion.referrals.models import ContactChannel, Person

    values: dict[str, Any] = {
        "family_name": family_name, "given_names": given_names,
        "family_name_key": name_key(family_name), "given_name_key": first_given_key(given_names),
        "date_of_birth": date_of_birth, "preferred_contact": ContactChannel.POST,
        "created_at": NOW, "updated_at": NOW,
    }
    values.update(overrides)
    person = Person(**values)
    db.session.add(person)
    db.session.flush()
    return person


def add_referrals(n: int, *, force: Force, start: dt.date = dt.date(2026, 1, 1), family: str = "Bulk",
                  same_day: bool = False) -> list[Any]:
    """Many referrals quickly (no PIN), made like the service makes them."""
    from diversion.referrals import lifecycle
    from diversion.referrals.models import Person, Referral

    programme = create_programme()
    made = []
    for i in range(n):
        person = Person(family_name=f"{family}{chr(97 + i % 26)}{chr(97 + i // 26)}",
                        given_names="Test", family_name_key=f"{family.lower()}{chr(97 + i % 26)}"
                        f"{chr(97 + i // 26)}", given_name_key="test",
                        date_of_birth=dt.date(1980, 1, 1), created_at=NOW, updated_at=NOW)
        number = next(_sequence)
        day = start if same_day else start + dt.timedelta(days=i)
        referral = Referral(
            reference=f"T{number:07d}", pin_hash=referrals_pins.NO_PIN, pin_issued_at=NOW,
            force=force, programme=programme, person=person, crime_reference=f"BULK/{number}",
            referral_date=day, offence_code="SOA2003-S51A", offence_date=day, admitted=True,
            consented=True, no_relevant_convictions=True, officer_email="pc@example.test",
            booking_deadline=day + dt.timedelta(days=28),
            completion_deadline=day + dt.timedelta(days=120), eligibility=[], created_at=NOW)
        lifecycle.start(referral, actor=None, now=NOW)
        db.session.add(referral)
        made.append(referral)
    db.session.flush()
    return made


# Venues and sessions ---------------------------------------------------------------------------

def create_venue(**overrides: Any) -> Any:
    number = next(_sequence)
    values: dict[str, Any] = {
        "name": f"Venue {number}", "capacity": 20, "address_line_1": f"{number} Park Row",
        "town": "Leeds", "postcode": "LS1 5HD", "step_free_access": True,
    }
    values.update(overrides)
    venue = courses_venues.create_venue(details=courses_venues.VenueDetails(**values), actor=None, now=NOW)
    db.session.flush()
    return venue


def create_session(*, starts_at: dt.datetime, hours: float = 7, venue: Any = None,
                   facilitators: list[User] | None = None, capacity: int = 12,
                   programme: Any = None, now: dt.datetime = NOW) -> Any:
    """A session scheduled at `now` (NOW; it must start after it), `hours` long."""

    session = courses_planning.create_session(
        programme=programme or create_programme(), venue=venue or create_venue(),
        starts_at=starts_at, ends_at=starts_at + dt.timedelta(hours=hours), capacity=capacity,
        facilitators=facilitators or [create_user("facilitator")], actor=None, now=now)
    db.session.flush()
    return session


def in_days(days: float, hour: int = 9, *, now: dt.datetime = NOW) -> dt.datetime:
    """`days` after `now`, on the hour (UTC)."""
    return (now + dt.timedelta(days=days)).replace(hour=hour, minute=0, second=0, microsecond=0)


def future_session(days: float = 10, *, now: dt.datetime = NOW, **overrides: Any) -> Any:
    """A scheduled session `days` after `now`, 9am to 4pm UTC (12 places, step-free venue)."""
    return create_session(starts_at=in_days(days, now=now), **overrides)


# Bookings, fees and registers ------------------------------------------------------------------

def create_booking(referral: Any = None, session: Any = None, *, now: dt.datetime = NOW) -> Any:
    """A place booked through the bookings service (a fresh referral and session by default)."""

    return bookings_places.book_place(referral=referral or create_referral(),
                                       session=session or future_session(), actor=None, now=now)


def clear_fee(referral: Any, manager: User | None = None) -> None:
    from diversion.bookings import fees

    manager = manager or create_user("manager")
    fees.waive_fee(referral=referral, reason="Hardship", actor=manager, now=NOW)
    db.session.flush()


def pay_fee(referral: Any, manager: User | None = None, *, now: dt.datetime = NOW) -> None:
    from diversion.bookings import fees

    manager = manager or create_user("manager")
    fees.record_payment(referral=referral, amount_pence=referral.programme.fee_pence,
                        method="card", reference="RCPT-1", actor=manager, now=now)
    db.session.flush()


def pay_online(referral: Any, stand_in: Any, *, now: dt.datetime = NOW) -> Any:
    """The referral's fee paid online through the GOV.UK Pay stand-in (the `govuk_pay` fixture):
    the attempt started as his page starts it, finished at the provider, settled; committed."""
    from diversion.payments import govukpay
    from diversion.payments import services as payments
    from diversion.selfservice.services import actor_label

    client = govukpay.client_from_settings()
    assert client is not None
    attempt, _ = payments.start_online_payment(
        referral=referral, client=client, return_url_for=lambda token: "http://127.0.0.1:5000/",
        actor_label=actor_label(referral), now=now)
    stand_in.finish(attempt.provider_payment_id, "success")
    payments.settle_online_payment(attempt=attempt, client=client, actor_label="system", now=now)
    db.session.commit()
    return attempt


# Sessions start two days after NOW, at 08:30 UTC (09:30 in London, summer time).
SESSION_START = dt.datetime(2026, 6, 17, 8, 30, tzinfo=dt.UTC)
DURING = SESSION_START + dt.timedelta(hours=3)


def session_with_people(count: int = 3, *, facilitator: User | None = None,
                        starts_at: dt.datetime = SESSION_START, capacity: int = 12,
                        **referral_overrides: Any) -> tuple[Any, list[Any]]:
    """A session with `count` referrals booked on it (booked at NOW, fee owed); `capacity`
    places (a bigger venue when it needs one)."""
    facilitator = facilitator or create_user("facilitator")
    session = create_session(starts_at=starts_at, facilitators=[facilitator], capacity=capacity,
                             venue=create_venue(capacity=max(capacity, 20)))
    referrals = []
    for _ in range(count):
        referral = create_referral(**referral_overrides)
        create_booking(referral, session)
        referrals.append(referral)
    db.session.flush()
    return session, referrals


def live_session_with_people(count: int = 2, *, facilitator: User | None = None,
                             started_minutes_ago: int = 30, capacity: int = 12,
                             now: dt.datetime = NOW,
                             **referral_overrides: Any) -> tuple[Any, list[Any]]:
    """A session that started a little before `now` (its register open), committed."""
    from diversion.core.timeutils import london_today
    from diversion.referrals.creation import create_referral as create

    facilitator = facilitator or create_user("facilitator")
    starts_at = now - dt.timedelta(minutes=started_minutes_ago)
    booked_at = starts_at - dt.timedelta(days=2)
    made_at = booked_at - dt.timedelta(days=1)
    session = create_session(starts_at=starts_at, facilitators=[facilitator], now=made_at,
                             capacity=max(capacity, count))
    referrals = []
    create_programme()
    force = create_force()
    referral_date = london_today(made_at)
    for _ in range(count):
        referral = create(data=referral_input(referral_date=referral_date,
                                              offence_date=referral_date - dt.timedelta(days=5),
                                              force_code=force.code, **referral_overrides),
                          actor=None, now=made_at).referral
        create_booking(referral, session, now=booked_at)
        referrals.append(referral)
    db.session.commit()
    return session, referrals


def completed_referral() -> tuple[Any, Any]:
    """A live session whose one person attended with their fee waived: the referral completed."""

    from diversion.attendance.models import AttendanceStatus

    session, (referral,) = live_session_with_people(1)
    clear_fee(referral)
    attendance_register.save_register(
        session=session, submit=True, actor=None, now=session.starts_at + dt.timedelta(hours=1),
        marks=[attendance_register.MarkInput(reference=referral.reference, status=AttendanceStatus.ATTENDED,
                                  id_checked=True)])
    db.session.commit()
    return session, referral


# Messages --------------------------------------------------------------------------------------

def create_message(dedupe_key: str | None = None, status: Any = None, **overrides: Any) -> Any:
    """An email in the outbox, queued through the outbox service, due at NOW.

    A status other than pending is set afterwards, as after one failed attempt.
    """
    from diversion.outbox.models import Channel, MessageStatus, OutboxMessage
    from diversion.outbox.services import enqueue

    values: dict[str, Any] = {
        "dedupe_key": dedupe_key or f"test-message-{next(_sequence)}", "channel": Channel.EMAIL,
        "recipient": "person@example.test", "template": "test_message", "due_at": NOW,
        "now": NOW, "context": {"note": "first"},
    }
    values.update(overrides)
    message = enqueue(**values)
    if message is not None and status not in (None, MessageStatus.PENDING):
        db.session.execute(update(OutboxMessage).where(OutboxMessage.id == message.id)
                           .values(status=status, attempts=1, last_error="SMTP 550: no such user"))
    return message


# A world of users and objects for the access tests ---------------------------------------------

@dataclass
class World:
    ids: dict[str, Any]
    users: dict[str, Any]
    tokens: dict[str, str]


def build_world() -> World:
    """Two facilitators each with a live session, police of two forces, a manager and an admin,
    each with an API token; committed."""
    fac1, fac2 = create_user("facilitator"), create_user("facilitator")
    s1, (referral,) = live_session_with_people(1, facilitator=fac1)
    s2, (other_referral,) = live_session_with_people(1, facilitator=fac2)
    police_a = create_user("police", force=referral.force)
    police_b = create_user("police", force=create_force())
    own_b = create_referral(force=police_b.force)
    manager, admin = create_user("manager"), create_user("admin")
    users = {"police_a": police_a, "police_b": police_b, "fac1": fac1, "fac2": fac2,
             "manager": manager, "admin": admin}
    tokens = {name: create_token(user) for name, user in users.items()}
    db.session.commit()
    return World(
        ids={"ref": referral.reference, "ref_b": own_b.reference, "s1": s1.id, "s2": s2.id,
             "other_ref": other_referral.reference, "person": referral.person.full_name,
             "programme": s1.programme_id, "venue": s1.venue_id, "user": fac1.id,
             "force_b": police_b.force.code},
        users=users, tokens=tokens)


# Referrals with an outcome, and reoffences, for reports and retention --------------------------

def referral_with_outcome(*, family_name: str, referral_date: dt.date, outcome: str | None,
                          force: Force | None = None, days_to_outcome: int = 30, **overrides: Any) -> Any:
    """A referral for the named person (one person per name), historical when `outcome`."""
    values: dict[str, Any] = {
        "family_name": family_name, "given_names": "Adam", "referral_date": referral_date,
        "offence_date": referral_date - dt.timedelta(days=5), "date_of_birth": dt.date(1980, 1, 2),
    }
    if outcome:
        values.update(outcome=outcome,
                      outcome_date=referral_date + dt.timedelta(days=days_to_outcome))
    values.update(overrides)
    return create_referral(force=force, **values)


def create_reoffence(*, person_id: int, offence_date: dt.date, outcome: str,
                     outcome_date: dt.date | None, reference: str, actor: User | None = None,
                     offence_code: str = "TH68001") -> Any:
    """A reoffence of that person, recorded through the reoffences service at NOW."""
    from diversion.referrals.models import Person
    from diversion.reoffences.services import ReoffenceInput, record_reoffence

    person = db.session.get(Person, person_id)
    assert person is not None
    data = ReoffenceInput(offence_code=offence_code, offence_date=offence_date, outcome=outcome,
                          outcome_date=outcome_date, source_reference=reference,
                          family_name=person.family_name, given_names=person.given_names,
                          date_of_birth=person.date_of_birth)
    recorded, _ = record_reoffence(data=data, actor=actor, now=NOW)
    db.session.flush()
    return recorded


def closed_referral(name: str, *, closed_on: dt.date, outcome: str = "completed",
                    **overrides: Any) -> Any:
    """A historical referral of the named person (one person per name, with a postal address but
    no email), closed on that day."""
    values: dict[str, Any] = {
        "date_of_birth": dt.date(1980, 7, 23), "pnc_id": None, "email": None,
        "mobile": "07911 123456", "postcode": "LS1 4AP", "town": "Leeds",
        "address_line_1": "1 High Street",
    }
    values.update(overrides)
    return referral_with_outcome(family_name=name, referral_date=closed_on - dt.timedelta(days=30),
                                 outcome=outcome, days_to_outcome=30, **values)
