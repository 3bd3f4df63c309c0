"""Builders for register tests: a session with people booked on it, and the clock around it."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from diversion.auth.models import User
from diversion.bookings import fees
from diversion.bookings import places as bookings_places
from diversion.core.extensions import db
from diversion.courses.models import CourseSession
from diversion.outbox.models import OutboxMessage
from diversion.referrals.models import Referral
from tests.builders import NOW, create_referral, create_user
from tests.courses.helpers import create_session

# Sessions start two days after NOW, at 08:30 UTC (09:30 in London, summer time).
SESSION_START = dt.datetime(2026, 6, 17, 8, 30, tzinfo=dt.UTC)
DURING = SESSION_START + dt.timedelta(hours=3)


def session_with_people(count: int = 3, *, facilitator: User | None = None,
                        starts_at: dt.datetime = SESSION_START,
                        **referral_overrides: Any) -> tuple[CourseSession, list[Referral]]:
    """A session with `count` referrals booked on it (booked at NOW, fee owed)."""
    facilitator = facilitator or create_user("facilitator")
    session = create_session(starts_at=starts_at, facilitators=[facilitator])
    referrals = []
    for _ in range(count):
        referral = create_referral(**referral_overrides)
        bookings_places.book_place(referral=referral, session=session, actor=None, now=NOW)
        referrals.append(referral)
    db.session.flush()
    return session, referrals


def clear_fee(referral: Referral, manager: User | None = None) -> None:
    manager = manager or create_user("manager")
    fees.waive_fee(referral=referral, reason="Hardship", actor=manager, now=NOW)
    db.session.flush()


def pay_fee(referral: Referral, manager: User | None = None, *, now: dt.datetime = NOW) -> None:
    manager = manager or create_user("manager")
    fees.record_payment(referral=referral, amount_pence=referral.programme.fee_pence,
                        method="card", reference="RCPT-1", actor=manager, now=now)
    db.session.flush()


def messages(template: str) -> list[OutboxMessage]:
    db.session.flush()
    return list(db.session.scalars(select(OutboxMessage).where(OutboxMessage.template == template)
                                   .order_by(OutboxMessage.id)))


def live_session_with_people(count: int = 2, *, facilitator: User | None = None,
                             started_minutes_ago: int = 30) -> tuple[CourseSession, list[Referral]]:
    """A session that started a little before the real clock, for pages and the API."""
    from diversion.core.timeutils import london_today, now_utc

    now = now_utc()
    facilitator = facilitator or create_user("facilitator")
    starts_at = now - dt.timedelta(minutes=started_minutes_ago)
    booked_at = starts_at - dt.timedelta(days=2)
    session = create_session(starts_at=starts_at, facilitators=[facilitator])
    referrals = []
    from diversion.referrals.creation import create_referral as create
    from tests.builders import create_force, create_programme, referral_input

    create_programme()
    force = create_force()
    made_at = booked_at - dt.timedelta(days=1)
    referral_date = london_today(made_at)
    for _ in range(count):
        referral = create(data=referral_input(referral_date=referral_date,
                                              offence_date=referral_date - dt.timedelta(days=5),
                                              force_code=force.code),
                          actor=None, now=made_at).referral
        bookings_places.book_place(referral=referral, session=session, actor=None, now=booked_at)
        referrals.append(referral)
    db.session.commit()
    return session, referrals
