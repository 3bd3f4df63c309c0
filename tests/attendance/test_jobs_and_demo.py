"""The register's sweeps as scheduler jobs, and the demo registers."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select

from diversion.attendance.models import Register, RegisterState
from diversion.core.extensions import db
from diversion.core.jobs import jobs_of
from diversion.core.timeutils import london_today, now_utc
from diversion.demo import load_demo_data
from diversion.referrals.models import Referral, ReferralStatus
from tests.builders import create_referral

pytestmark = pytest.mark.usefixtures("clock")  # the app reads a clock stopped at NOW


def test_grace_window_and_deadline_are_scheduler_jobs_runnable_once(app) -> None:
    assert {"grace_window", "deadline"} <= set(jobs_of(app))
    referral = create_referral(referral_date=dt.date(2025, 1, 10), offence_date=dt.date(2025, 1, 5))
    db.session.commit()
    reference = referral.reference

    result = app.test_cli_runner().invoke(args=["scheduler", "run-once", "grace_window", "deadline"])

    assert result.exit_code == 0, result.output
    closed = db.session.scalar(select(Referral).where(Referral.reference == reference))
    assert closed.status is ReferralStatus.NOT_COMPLETED


def test_demo_load_gives_past_submitted_registers_and_one_to_take_today(app) -> None:
    from diversion.bookings.models import Booking
    from diversion.courses.models import CourseSession

    now = now_utc()
    load_demo_data(now=now)
    db.session.commit()
    load_demo_data(now=now)  # idempotent
    db.session.commit()

    demo = db.session.scalars(select(Referral).where(
        Referral.crime_reference.like("DEMOREG/%"))).all()
    assert len(demo) == 11
    session_ids = set(db.session.scalars(select(Booking.session_id).where(
        Booking.referral_id.in_([r.id for r in demo]))))
    sessions = db.session.scalars(select(CourseSession).where(
        CourseSession.id.in_(session_ids))).all()
    today = [s for s in sessions if london_today(s.starts_at) == london_today(now)]
    past = [s for s in sessions if s not in today]
    assert len(today) == 1 and len(past) == 2
    registers = {r.session_id: r for r in db.session.scalars(
        select(Register).where(Register.session_id.in_(session_ids)))}
    assert {registers[s.id].state for s in past} == {RegisterState.SUBMITTED}
    assert today[0].id not in registers and today[0].booked_count == 5
    outcomes = {r.status for r in demo}
    assert {ReferralStatus.COMPLETED, ReferralStatus.MISSED, ReferralStatus.BOOKED,
            ReferralStatus.AWAITING_BOOKING} <= outcomes
    assert db.session.scalar(select(func.count()).select_from(Referral).where(
        Referral.crime_reference.like("DEMOREG/%"))) == 11
