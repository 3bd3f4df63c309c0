"""Every dashboard panel of every role on a million referrals (SQLite), ten years of history:
referrals (bench_referral_list's generator), a course session for every 12 of them, one booking
each, a submitted register for every past session, and a message each.

`main`: each panel builder is timed alone (median of REPEATS, an empty identity map each
time, as a request starts); the goal is at most 20 ms a panel:
`python -m bench.bench_dashboard [N]`.

`rows` (`make bench`): the manager's and a police officer's dashboard through the whole app on
the run's generated database, in requests a second against a bare Flask route (goal >= 0.25x,
and a cost independent of the database's size: compare the figures at two values of N).
"""

from __future__ import annotations

import statistics
import sys
import time
from typing import Any

from sqlalchemy import text

from bench.bench_referral_list import BENCH_PASSWORD, NOW, ROWS, _fill

from .common import Context, Row, standalone_sqlite
from .served import page_rows

REPEATS = 7
PER_SESSION = 12


def _fill_history(connection: Any, rows: int, programme_id: int, facilitator_id: int) -> None:
    sessions = rows // PER_SESSION + 1
    connection.execute(text("""
        INSERT INTO venues (id, name, capacity, step_free_access, is_online, created_at,
                            updated_at)
        VALUES (1, 'Bench venue', 30, 1, 0, '2016-01-01 00:00:00.000000',
                '2016-01-01 00:00:00.000000')"""))
    # Session s starts on the day its referrals were referred + 21 days, at 09:00 UTC: ten
    # years of history, the last few weeks still to come.
    day = f"(s * {PER_SESSION} * 3653 / {rows} + 21)"
    connection.execute(text(f"""
        INSERT INTO sessions (id, programme_id, venue_id, starts_at, ends_at, capacity, status,
                              created_at, booked_count)
        WITH RECURSIVE t(s) AS (SELECT 0 UNION ALL SELECT s + 1 FROM t WHERE s < {sessions - 1})
        SELECT s + 1, {programme_id}, 1,
               datetime('2016-06-15 09:00:00', '+' || {day} || ' days') || '.000000',
               datetime('2016-06-15 13:00:00', '+' || {day} || ' days') || '.000000', 30,
               CASE WHEN datetime('2016-06-15 09:00:00', '+' || {day} || ' days')
                         < '2026-06-15 09:00:00' THEN 'held' ELSE 'scheduled' END,
               '2016-01-01 00:00:00.000000', 0
        FROM t"""))  # noqa: S608 (numbers only)
    connection.execute(text(f"""
        INSERT INTO session_facilitators (session_id, user_id)
        SELECT id, {facilitator_id} FROM sessions WHERE id % 20 = 0"""))  # noqa: S608
    connection.execute(text(f"""
        INSERT INTO bookings (id, referral_id, session_id, status, created_at, ended_at)
        SELECT r.id, r.id, 1 + r.id / {PER_SESSION},
               CASE r.status WHEN 'booked' THEN 'active' WHEN 'completed' THEN 'attended'
                             WHEN 'awaiting_booking' THEN 'cancelled'
                             WHEN 'missed' THEN 'missed' ELSE 'closed' END,
               '2016-01-01 00:00:00.000000',
               CASE r.status WHEN 'booked' THEN NULL ELSE '2016-01-02 00:00:00.000000' END
        FROM referrals r"""))  # noqa: S608 (numbers only)
    connection.execute(text("""
        UPDATE sessions SET booked_count = min(capacity, (SELECT count(*) FROM bookings b
            WHERE b.session_id = sessions.id AND b.status = 'active'))"""))
    connection.execute(text("""
        INSERT INTO registers (session_id, state, created_at, updated_at, submitted_at)
        SELECT id, CASE WHEN id % 97 = 0 THEN 'draft' ELSE 'submitted' END,
               starts_at, starts_at, CASE WHEN id % 97 = 0 THEN NULL ELSE ends_at END
        FROM sessions WHERE status = 'held' AND starts_at < '2026-06-13 00:00:00'"""))
    connection.execute(text("""
        INSERT INTO outbox_messages (id, dedupe_key, channel, recipient, template, context,
            status, due_at, next_attempt_at, attempts, created_at, sent_at)
        SELECT id, 'bench-' || id, 'email', 'man' || id || '@bench.example', 'offer', '{}',
               CASE WHEN id % 1000 = 0 THEN 'failed' ELSE 'sent' END,
               created_at, created_at, 1, created_at, created_at
        FROM referrals"""))


def rows(ctx: Context) -> list[Row]:
    note = "cost independent of size: compare N"
    return page_rows(ctx, [("manager dashboard", ctx.generated.manager_email, "/dashboard"),
                           ("police dashboard", ctx.generated.police_email, "/dashboard")],
                     note=note)


def main(rows: int = ROWS) -> None:
    from diversion.auth import services as auth_services
    from diversion.auth.models import Role, User
    from diversion.core.extensions import db

    with standalone_sqlite(NOW) as made:
        app, path, force, programme = made.app, made.path, made.force, made.programme
        users = {role: auth_services.create_user(
            email=f"{role.value}@bench.example", name=role.value, role=role,
            force=force if role is Role.POLICE else None, password=BENCH_PASSWORD,
            actor=None, now=NOW) for role in Role}
        db.session.commit()
        ids = {role: user.id for role, user in users.items()}
        programme_id = programme.id
        db.session.close()
        start = time.perf_counter()
        with db.engine.begin() as connection:
            _fill(connection, rows, programme_id)
            connection.execute(text(
                "UPDATE referrals SET officer_email = 'police@bench.example' WHERE id % 43 = 1"))
            _fill_history(connection, rows, programme_id, ids[Role.FACILITATOR])
        with db.engine.begin() as connection:
            connection.execute(text("ANALYZE"))
        print(f"built {rows:,} referrals with sessions, bookings, registers and messages in "
              f"{time.perf_counter() - start:.1f}s ({path.stat().st_size / 2**20:.0f} MiB)")

        added = app.extensions.get("diversion.dashboard_panels", [])
        for role in (Role.MANAGER, Role.POLICE, Role.FACILITATOR, Role.ADMIN):
            with app.test_request_context("/dashboard"):
                for _, allowed, builder in sorted(added, key=lambda item: item[0]):
                    if role not in allowed:
                        continue
                    timings, panel = [], None
                    for _ in range(REPEATS):
                        db.session.expunge_all()
                        user = db.session.get_one(User, ids[role])
                        begin = time.perf_counter()
                        panel = builder(user, NOW)
                        timings.append((time.perf_counter() - begin) * 1000)
                    figures = "" if panel is None else ", ".join(
                        str(line.count) for line in panel.lines)
                    print(f"{role.value:12s} {builder.__qualname__:32s} "
                          f"{statistics.median(timings):8.2f} ms  [{figures}]")
                db.session.remove()
        db.engine.dispose()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else ROWS)
