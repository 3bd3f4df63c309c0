"""The referrals list on a million referrals (SQLite): first page, a deep keyset page, a name
search and a status filter, through the same query code the page uses.

`main`: the database is built by the migrations, then filled by INSERT ... SELECT over a
recursive CTE (a million people and a million referrals in a few seconds), and each query is
timed alone: `python -m bench.bench_referral_list [N]`.

`rows` (`make bench`): on the run's generated database, the page through the whole app in
requests a second against a bare Flask route (goal >= 0.25x), and a name search (goal <= 50 ms
on PostgreSQL).
"""

from __future__ import annotations

import datetime as dt
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import event, select, text

from .common import Context, Row, database_label, signed_in, standalone_sqlite
from .served import page_rows

ROWS = 1_000_000
FORCES = 43  # the police forces of England and Wales
REPEATS = 7
BENCH_PASSWORD = "bench password 1234"  # noqa: S105 (a throwaway database)
NOW = dt.datetime(2026, 6, 15, 9, 0, tzinfo=dt.UTC)
TODAY = NOW.date()

_LETTERS = "char(97 + ({n} / {d}) % 26)"


def _key(n: str) -> str:
    """A 4-letter family name key from a number: about 457,000 different names."""
    return " || ".join(_LETTERS.format(n=n, d=d) for d in (1, 26, 676, 17576))


def _reference(n: str) -> str:
    """Seven characters from the reference alphabet spelling out a number."""
    return " || ".join(f"substr('ACDEFHJKMN', 1 + ({n} / {10 ** i}) % 10, 1)" for i in range(7))


def _fill(connection: Any, rows: int, programme_id: int) -> None:
    connection.execute(text(f"""
        INSERT INTO forces (code, name)
        WITH RECURSIVE f(n) AS (SELECT 2 UNION ALL SELECT n + 1 FROM f WHERE n < {FORCES})
        SELECT 'BF' || n, 'Bench force ' || n FROM f"""))  # noqa: S608 (numbers only)
    key = _key("(n * 7919)")
    connection.execute(text(f"""
        INSERT INTO people (id, family_name, given_names, family_name_key, given_name_key,
                            date_of_birth, pnc_id, preferred_contact, needs_step_free,
                            created_at, updated_at)
        WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < {rows})
        SELECT n, upper(substr({key}, 1, 1)) || substr({key}, 2) || 'son', 'Adam', {key}, 'adam',
               date('1960-01-01', '+' || (n % 15000) || ' days'),
               CASE WHEN n % 3 = 0 THEN printf('20%02d/%07d', n % 20, n) END,
               'post', 0, '2026-06-15 09:00:00.000000', '2026-06-15 09:00:00.000000'
        FROM s"""))  # noqa: S608 (numbers only)
    connection.execute(text(f"""
        INSERT INTO referrals (id, reference, pin_hash, pin_issued_at, force_id, programme_id,
            person_id, crime_reference, referral_date, offence_code, offence_date, admitted,
            consented, no_relevant_convictions, officer_email, booking_deadline,
            completion_deadline, is_completion_deadline_given, status, closed_on, is_historical,
            eligibility, created_at)
        WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < {rows})
        SELECT n, 'R' || {_reference("n")}, '!', '2026-06-15 09:00:00.000000',
               1 + n % {FORCES}, {programme_id}, n, 'CR/' || n || '/B',
               date('2016-06-15', '+' || (n * 3653 / {rows}) || ' days'), 'SOA2003-S51A',
               date('2016-06-13', '+' || (n * 3653 / {rows}) || ' days'), 1, 1, 1,
               'officer@bench.example',
               date('2016-06-15', '+' || (n * 3653 / {rows} + 28) || ' days'),
               date('2016-10-13', '+' || (n * 3653 / {rows}) || ' days'), 0,
               CASE WHEN n > {rows} - 3000 THEN
                        CASE n % 3 WHEN 0 THEN 'awaiting_booking' WHEN 1 THEN 'booked'
                        ELSE 'missed' END
                    ELSE CASE n % 10 WHEN 0 THEN 'withdrawn' WHEN 1 THEN 'not_completed'
                                     WHEN 2 THEN 'not_completed' ELSE 'completed' END END,
               CASE WHEN n > {rows} - 3000 THEN NULL
                    ELSE date('2016-10-13', '+' || (n * 3653 / {rows}) || ' days') END,
               0, '[]', '2026-06-15 09:00:00.000000'
        FROM s"""))  # noqa: S608 (numbers only)


def _time(call: Callable[[], Any]) -> tuple[float, Any]:
    timings, result = [], None
    for _ in range(REPEATS):
        start = time.perf_counter()
        result = call()
        timings.append((time.perf_counter() - start) * 1000)
    return statistics.median(timings), result


def rows(ctx: Context) -> list[Row]:
    from diversion.core.extensions import db
    from diversion.referrals.models import Person

    listing = page_rows(ctx, [("referral list, first page (manager)",
                               ctx.generated.manager_email, "/referrals")])
    with ctx.app.app_context():
        name = db.session.scalar(select(Person.family_name).order_by(Person.id)
                                 .offset(ctx.n // 2).limit(1))
        db.session.remove()
    assert name
    client = signed_in(ctx.app, ctx.generated.manager_email)
    timings = []
    for _ in range(15):
        start = time.perf_counter()
        response = client.get("/referrals", query_string={"q": name})
        timings.append((time.perf_counter() - start) * 1000)
        # The search box is `q`: a page that ignored it would be the unfiltered list.
        assert response.status_code == 200 and "Referrals that match" in response.text
        assert name.upper() in response.text
    median = statistics.median(timings)
    search = Row("name search, whole page (manager)", "<= 50 ms on PostgreSQL", median, "ms",
                 met=median <= 50,
                 note="" if database_label() == "postgresql" else "goal is PostgreSQL's")
    return [*listing, search]


def main(rows: int = ROWS) -> None:
    from diversion.auth import services as auth_services
    from diversion.auth.models import Role, User
    from diversion.core.extensions import db
    from diversion.referrals import paging as referral_paging
    from diversion.referrals import queries
    from diversion.referrals.models import ReferralStatus

    with standalone_sqlite(NOW) as made:
        path, force, programme = made.path, made.force, made.programme
        manager = auth_services.create_user(email="manager@bench.example", name="Manager",
                                            role=Role.MANAGER, force=None,
                                            password=BENCH_PASSWORD,
                                            actor=None, now=NOW)
        officer = auth_services.create_user(email="pc@bench.example", name="Officer",
                                            role=Role.POLICE, force=force,
                                            password=BENCH_PASSWORD, actor=None, now=NOW)
        db.session.commit()
        programme_id, manager_id, officer_id = programme.id, manager.id, officer.id
        db.session.close()  # every SQLite transaction here takes the write lock
        start = time.perf_counter()
        with db.engine.begin() as connection:
            _fill(connection, rows, programme_id)
        print(f"built {rows:,} people and {rows:,} referrals in "
              f"{time.perf_counter() - start:.1f}s ({path.stat().st_size / 2**20:.0f} MiB)")

        statements: list[str] = []
        event.listen(db.engine, "before_cursor_execute",
                     lambda *args: statements.append(args[2]))

        manager = db.session.get_one(User, manager_id)
        officer = db.session.get_one(User, officer_id)
        assert officer.force_id is not None

        def page(actor: Any, after: str | None = None, **filters: Any) -> Any:
            # Start from an empty identity map each time, as a request does.
            db.session.expunge_all()
            actor = db.session.merge(actor, load=False)
            return queries.list_referrals(actor=actor, today=TODAY, after=after,
                                          filters=queries.ReferralFilters(**filters))

        first = page(manager)
        deep = referral_paging.Cursor(dt.date(2021, 6, 15), rows // 2).encode()  # half-way
        cases: list[tuple[str, Callable[[], Any]]] = [
            ("first page, manager (all forces)", lambda: page(manager)),
            ("first page, police (one force)", lambda: page(officer)),
            ("second page, manager", lambda: page(manager, after=first.next_cursor)),
            ("deep keyset page (half-way), manager", lambda: page(manager, after=deep)),
            ("deep keyset page (half-way), police", lambda: page(officer, after=deep)),
            ("name search 'aab' (prefix), manager", lambda: page(manager, search="aab")),
            ("name search 'aabc', police", lambda: page(officer, search="aabc")),
            ("status filter booked, manager",
             lambda: page(manager, status=ReferralStatus.BOOKED)),
            ("status filter completed, police",
             lambda: page(officer, status=ReferralStatus.COMPLETED)),
            ("reference search", lambda: page(manager, search="R" + "".join(
                "ACDEFHJKMN"[(rows // 2) // 10 ** i % 10] for i in range(7)))),
            ("crime reference search, police",
             lambda: page(officer, search=f"CR/{rows // 43 * 43}/B")),
            ("deadline within 14 days, manager", lambda: page(manager, deadline_soon=True)),
        ]
        for label in ("without planner statistics", "after ANALYZE"):
            if label == "after ANALYZE":
                db.session.remove()
                with db.engine.begin() as connection:
                    connection.execute(text("ANALYZE"))
            print(f"-- {label} (median of {REPEATS})")
            for name, call in cases:
                statements.clear()
                median, result = _time(call)
                print(f"{name:42s} {median:8.2f} ms  rows={len(result.items):3d} "
                      f"queries/page={len(statements) // REPEATS}")
        db.session.remove()
        db.engine.dispose()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else ROWS)
