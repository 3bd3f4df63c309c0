"""Auto-allocation of 10,000 referrals awaiting a booking into 1,000 sessions (SQLite).

Everything the service does is timed: the bulk loads, the in-memory matching, the bulk place
and booking writes, each referral's move to `booked` (history and audit rows) and its
confirmation in the outbox, the reminders planned for every booking, and the commit. The target
is under 15 s for 10,000 x 1,000 (moves and reminders are written in bulk:
`lifecycle.transition_many`, `reminders.plan_reminders_in_bulk`). Run with `make bench` or
`python -m bench.bench_allocation [REFERRALS] [SESSIONS]`.
"""

from __future__ import annotations

import datetime as dt
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import text

REFERRALS = 10_000
SESSIONS = 1_000
CAPACITY = 12
NOW = dt.datetime(2026, 6, 15, 9, 0, tzinfo=dt.UTC)
TARGET_SECONDS = 15


def _fill(connection, *, referrals: int, sessions: int, programme_id: int,  # type: ignore[no-untyped-def]
          force_id: int, venue_ids: list[int]) -> None:
    stamp = "'2026-06-15 09:00:00.000000'"
    connection.execute(text(f"""
        INSERT INTO sessions (programme_id, venue_id, starts_at, ends_at, capacity, booked_count,
                              status, created_at)
        WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < {sessions})
        SELECT {programme_id},
               CASE n % 3 WHEN 0 THEN {venue_ids[0]} WHEN 1 THEN {venue_ids[1]}
                          ELSE {venue_ids[2]} END,
               datetime('2026-06-16 09:00:00', '+' || (n * 180 / {sessions}) || ' days',
                        '+' || (n % 4) || ' hours') || '.000000',
               datetime('2026-06-16 16:00:00', '+' || (n * 180 / {sessions}) || ' days',
                        '+' || (n % 4) || ' hours') || '.000000',
               {CAPACITY}, 0, 'scheduled', {stamp}
        FROM s"""))  # noqa: S608 (numbers only)
    connection.execute(text(f"""
        INSERT INTO people (id, family_name, given_names, family_name_key, given_name_key,
                            date_of_birth, email, preferred_contact, needs_step_free,
                            created_at, updated_at)
        WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < {referrals})
        SELECT n, 'Bench', 'Adam', 'bench', 'adam', '1980-01-01',
               CASE WHEN n % 5 = 0 THEN NULL ELSE 'p' || n || '@bench.example' END,
               CASE WHEN n % 5 = 0 THEN 'post' ELSE 'email' END, n % 11 = 0, {stamp}, {stamp}
        FROM s"""))  # noqa: S608 (numbers only)
    connection.execute(text(f"""
        INSERT INTO referrals (id, reference, pin_hash, pin_issued_at, force_id, programme_id,
            person_id, crime_reference, referral_date, offence_code, offence_date, admitted,
            consented, no_relevant_convictions, officer_email, booking_deadline,
            completion_deadline, is_completion_deadline_given, status, is_historical,
            eligibility, created_at)
        WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < {referrals})
        SELECT n, printf('B%07d', n), '!', {stamp}, {force_id}, {programme_id}, n,
               'CR/' || n, '2026-06-10', 'SOA2003-S51A', '2026-06-01', 1, 1, 1,
               'officer@bench.example', '2026-07-08',
               date('2026-06-20', '+' || (n % 170) || ' days'), 0, 'awaiting_booking', 0,
               '[]', {stamp}
        FROM s"""))  # noqa: S608 (numbers only)


def main(referrals: int = REFERRALS, sessions: int = SESSIONS) -> None:
    from flask_migrate import upgrade

    from diversion.auth import services as auth_services
    from diversion.bookings.allocation import allocate
    from diversion.core.extensions import db
    from diversion.courses import venues as courses_venues
    from diversion.programmes import services as programme_services
    from tests.conftest import PROJECT_ROOT, make_app

    with tempfile.TemporaryDirectory() as folder:
        app = make_app(f"sqlite:///{Path(folder) / 'bench.sqlite'}", Path(folder))
        with app.app_context():
            upgrade(directory=str(PROJECT_ROOT / "migrations"), revision="heads")
            force = auth_services.create_force(code="BF1", name="Bench force", actor=None,
                                               now=NOW)
            programme = programme_services.create_programme(
                settings=programme_services.ProgrammeSettings(code="KCRC", name="Course"),
                actor=None, now=NOW)
            Details = courses_venues.VenueDetails
            venues = [
                courses_venues.create_venue(details=Details(
                    name="Hall", capacity=50, address_line_1="1 Park Row", town="Leeds",
                    postcode="LS1 5HD", step_free_access=True), actor=None, now=NOW),
                courses_venues.create_venue(details=Details(
                    name="Upstairs", capacity=50, address_line_1="2 Park Row", town="Leeds",
                    postcode="LS1 5HD", step_free_access=False), actor=None, now=NOW),
                courses_venues.create_venue(details=Details(
                    name="Online", capacity=50, is_online=True,
                    joining_link="https://meet.example/course"), actor=None, now=NOW),
            ]
            db.session.flush()
            ids, programme_id, force_id = [v.id for v in venues], programme.id, force.id
            db.session.commit()
            db.session.close()  # every SQLite transaction here takes the write lock
            with db.engine.begin() as connection:
                _fill(connection, referrals=referrals, sessions=sessions,
                      programme_id=programme_id, force_id=force_id, venue_ids=ids)

            start = time.perf_counter()
            preview = allocate(actor=None, now=NOW, dry_run=True)
            dry_seconds = time.perf_counter() - start
            db.session.rollback()

            start = time.perf_counter()
            result = allocate(actor=None, now=NOW)
            db.session.commit()
            seconds = time.perf_counter() - start
            booked = db.session.scalar(text("SELECT count(*) FROM bookings"))
            places = db.session.scalar(text("SELECT sum(booked_count) FROM sessions"))
            messages = db.session.scalar(text("SELECT count(*) FROM outbox_messages"))
            planned = db.session.scalar(text("SELECT count(*) FROM booking_reminder_states"))
            history = db.session.scalar(text(
                "SELECT count(*) FROM referral_events WHERE event = 'booked'"))
        assert booked == places == len(result.placed) == len(preview.placed) == planned == history
        print(f"referrals {referrals}, sessions {sessions} x {CAPACITY} places")
        print(f"dry run (load + match): {dry_seconds:.2f} s")
        print(f"allocate and commit: {seconds:.2f} s; placed {len(result.placed)}, "
              f"not placed {len(result.unplaced)}, messages {messages} "
              f"(target: under {TARGET_SECONDS} s)")


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:3]]
    main(*args)
