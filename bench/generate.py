"""A realistic database for the benchmarks: N referrals over three years with the forces,
programme, venues, course sessions, bookings, submitted registers, reoffences and outbox
messages around them, consistent with every constraint of the schema (the app's pages render
on it: tests/test_bench_generate.py).

The few accounts, forces and the programme go through the services; the bulk goes in as raw
table rows by executemany in chunks (SQLAlchemy Core, no ORM objects), so that a million
referrals take minutes on SQLite or PostgreSQL. Everything is drawn from a seeded generator:
the same N gives the same database.

    flask --app diversion db upgrade
    python -m bench.generate --n 100000          # against DATABASE_URL

Shape (per referral): one person; ~5 % withdrawn before booking; the rest booked on a session
(a session for every PER_SESSION referrals, capacity CAPACITY, three weeks after the last of
them was referred); past sessions are held, with a submitted register marking ~85 % attended
(the referral completed) and the rest absent (missed, then not completed); future sessions
are scheduled with active bookings; the last fortnight's referrals are half still awaiting a
booking. About 15 % of people have a reoffence within a year of referral. Every referral has a
sent email in the outbox.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Table, func, insert, select, text, update

NOW = dt.datetime(2026, 6, 15, 9, 0, tzinfo=dt.UTC)
BENCH_PASSWORD = "bench password 1234"  # noqa: S105 (a throwaway database)
FORCES = 43  # the police forces of England and Wales
VENUES = 12
PER_SESSION = 24  # referrals booked on each session
CAPACITY = 30
YEARS = 3
CHUNK = 10_000
ALPHABET = "ACDEFHJKMNPRTUVWXY34679"  # diversion.referrals.reading.REFERENCE_ALPHABET
SYLLABLES = ["ab", "ber", "cart", "dal", "en", "ford", "gar", "hol", "ing", "jen", "kin", "lee",
             "mor", "nash", "ow", "par", "quin", "ros", "shaw", "ton", "vel", "war", "yat", "zel"]
GIVEN = ["Adam", "Amira", "Ben", "Chloe", "Daniel", "Ella", "Farah", "George", "Hannah", "Isaac",
         "Jade", "Kofi", "Lily", "Mohammed", "Nadia", "Oliver", "Priya", "Ryan", "Sophie", "Tom",
         "Uma", "Victor", "Wei", "Yusuf", "Zara", "Jack", "Grace", "Harry", "Olivia", "Leo"]
OFFENCES = ["SOA2003-S51A", "SA1964-S5", "CJA1988-S39", "TA1968-S1", "PA1986-S4A"]
REOFFENCE_OUTCOMES = ["conviction", "caution", "arrest", "no_further_action"]


@dataclass
class Generated:
    """What `generate` made: the accounts to sign in with and the row counts."""

    manager_email: str
    police_email: str
    facilitator_email: str
    admin_email: str
    programme_id: int
    force_ids: list[int]
    counts: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0


def _family_name(rng: random.Random) -> str:
    parts = rng.randint(2, 3)
    return "".join(rng.choice(SYLLABLES) for _ in range(parts)).capitalize()


def _reference(n: int) -> str:
    """Eight characters from the reference alphabet, different for each n (a bijection)."""
    value = (n * 7_919 + 104_729) % len(ALPHABET) ** 8
    letters = []
    for _ in range(8):
        value, digit = divmod(value, len(ALPHABET))
        letters.append(ALPHABET[digit])
    return "".join(letters)


def _next_id(connection: Connection, table: Table) -> int:
    return int(connection.execute(select(func.coalesce(func.max(table.c.id), 0))).scalar_one()) + 1


def _insert(connection: Connection, table: Table, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), CHUNK):
        connection.execute(insert(table), rows[start:start + CHUNK])


def _chunks(n: int) -> Iterator[range]:
    for start in range(0, n, CHUNK):
        yield range(start, min(n, start + CHUNK))


def _tables() -> dict[str, Table]:
    from diversion.core.extensions import db

    names = ["venues", "sessions", "registers", "register_entries", "people", "referrals",
             "referral_events", "bookings", "reoffences", "outbox_messages",
             "session_facilitators"]
    return {name: db.metadata.tables[name] for name in names}


def _accounts(now: dt.datetime) -> tuple[Generated, int]:
    """Forces, the programme and one account of each role, through the services."""
    from diversion.auth import services as auth_services
    from diversion.auth.models import Force, Role
    from diversion.auth.passwords import hash_password
    from diversion.core.extensions import db
    from diversion.programmes import services as programme_services
    from diversion.programmes.models import Programme

    existing = {force.code: force for force in db.session.scalars(select(Force))}
    forces = [existing.get(f"BF{n}") or auth_services.create_force(
        code=f"BF{n}", name=f"Bench force {n}", actor=None, now=now) for n in range(1, FORCES + 1)]
    number = db.session.scalar(select(func.count()).select_from(Programme)) or 0
    programme = programme_services.create_programme(
        settings=programme_services.ProgrammeSettings(code=f"BENCH{number + 1}",
                                                      name=f"Bench course {number + 1}"),
        actor=None, now=now)
    password_hash = hash_password(BENCH_PASSWORD)
    tag = programme.code.lower()
    users = {role: auth_services.create_user(
        email=f"{role.value}.{tag}@bench.example", name=f"Bench {role.value}", role=role,
        force=forces[0] if role is Role.POLICE else None, password=BENCH_PASSWORD,
        password_hash=password_hash, actor=None, now=now) for role in Role}
    db.session.commit()
    generated = Generated(
        manager_email=users[Role.MANAGER].email, police_email=users[Role.POLICE].email,
        facilitator_email=users[Role.FACILITATOR].email, admin_email=users[Role.ADMIN].email,
        programme_id=programme.id, force_ids=[force.id for force in forces])
    return generated, users[Role.FACILITATOR].id


def generate(n: int, *, now: dt.datetime = NOW, seed: int = 17) -> Generated:
    """Add n referrals and everything around them to the app's database (in an app context)."""
    from diversion.core.extensions import db

    begin = time.perf_counter()
    generated, facilitator_id = _accounts(now)
    db.session.close()  # on SQLite every writing transaction holds the lock: one at a time
    t = _tables()
    rng = random.Random(seed)
    first_day = (now - dt.timedelta(days=365 * YEARS)).date()
    span = (now.date() - first_day).days
    sessions = n // PER_SESSION + 1
    counts = dict.fromkeys(t, 0)
    with db.engine.begin() as connection:
        ids = {name: _next_id(connection, table) for name, table in t.items()
               if name != "session_facilitators"}
        venue_rows = [{"id": ids["venues"] + v, "name": f"Bench venue {v + 1}",
                       "address_line_1": f"{v + 1} Park Row", "town": "Leeds",
                       "postcode": "LS1 5HD", "capacity": 40, "step_free_access": v % 3 != 0,
                       "is_online": v == 0,
                       "joining_link": "https://meet.example/course" if v == 0 else None,
                       "created_at": now, "updated_at": now} for v in range(VENUES)]
        _insert(connection, t["venues"], venue_rows)
        counts["venues"] = len(venue_rows)

        # Referral i is referred on day(i); session s takes referrals s*PER_SESSION onwards and
        # starts three weeks after the last of them (at 09:00 UTC, a weekday-ish spread).
        def day(i: int) -> dt.date:
            return first_day + dt.timedelta(days=i * span // max(n, 1))

        session_rows, register_rows, starts = [], [], []
        for s in range(sessions):
            last = min(n - 1, (s + 1) * PER_SESSION - 1)
            start = dt.datetime.combine(day(last) + dt.timedelta(days=21), dt.time(9),
                                        tzinfo=dt.UTC)
            starts.append(start)
            held = start + dt.timedelta(hours=7) < now - dt.timedelta(days=1)
            session_rows.append({
                "id": ids["sessions"] + s, "programme_id": generated.programme_id,
                "venue_id": ids["venues"] + s % VENUES, "starts_at": start,
                "ends_at": start + dt.timedelta(hours=7), "capacity": CAPACITY, "booked_count": 0,
                "status": "held" if held else "scheduled", "created_at": start - dt.timedelta(days=60),
            })
            if held:
                register_rows.append({
                    "id": ids["registers"] + s, "session_id": ids["sessions"] + s,
                    "state": "submitted", "created_at": start, "updated_at": start,
                    "submitted_at": start + dt.timedelta(hours=7),
                    "submitted_by_id": facilitator_id})
        _insert(connection, t["sessions"], session_rows)
        _insert(connection, t["registers"], register_rows)
        _insert(connection, t["session_facilitators"], [
            {"session_id": row["id"], "user_id": facilitator_id} for row in session_rows[::20]])
        counts.update(sessions=len(session_rows), registers=len(register_rows),
                      session_facilitators=len(session_rows[::20]))
        held_sessions = {row["session_id"] for row in register_rows}

        for block in _chunks(n):
            people, referrals, events, bookings, entries, reoffences, messages = (
                [], [], [], [], [], [], [])
            for i in block:
                person_id, referral_id = ids["people"] + i, ids["referrals"] + i
                force_index = rng.randrange(FORCES)
                referred = day(i)
                offence = referred - dt.timedelta(days=rng.randint(1, 20))
                created = dt.datetime.combine(referred, dt.time(10), tzinfo=dt.UTC)
                family, given = _family_name(rng), rng.choice(GIVEN)
                people.append({
                    "id": person_id, "family_name": family, "given_names": given,
                    "family_name_key": family.lower(), "given_name_key": given.lower(),
                    "date_of_birth": dt.date(1950, 1, 1) + dt.timedelta(days=rng.randrange(20000)),
                    "pnc_id": f"{2000 + i % 26}/{person_id:07d}A" if i % 3 == 0 else None,
                    "email": f"p{person_id}@bench.example" if i % 5 else None,
                    "preferred_contact": "email" if i % 5 else "post",
                    "postcode": "LS1 4AP", "address_line_1": f"{i % 500 + 1} Example Road",
                    "needs_step_free": i % 17 == 0, "created_at": created, "updated_at": created})
                s = i // PER_SESSION
                session_id, start = ids["sessions"] + s, starts[s]
                draw = rng.random()
                status, closed, booking = "booked", None, None
                recent = (now.date() - referred).days < 14
                if draw < 0.05:
                    status, closed = "withdrawn", referred + dt.timedelta(days=10)
                elif recent and draw < 0.5:
                    status = "awaiting_booking"
                elif session_id not in held_sessions:
                    booking = "active"
                elif draw < 0.87:
                    status, closed, booking = "completed", start.date(), "attended"
                else:
                    booking = "missed"
                    if (now - start).days < 60:
                        status = "missed"
                    else:
                        status, closed = "not_completed", start.date() + dt.timedelta(days=42)
                referrals.append({
                    "id": referral_id, "reference": _reference(referral_id), "pin_hash": "!",
                    "pin_issued_at": created, "force_id": generated.force_ids[force_index],
                    "programme_id": generated.programme_id, "person_id": person_id,
                    "crime_reference": f"CR/{referral_id}/{referred.year % 100:02d}",
                    "referral_date": referred, "offence_code": rng.choice(OFFENCES),
                    "offence_date": offence, "admitted": True, "consented": True,
                    "no_relevant_convictions": True,
                    "officer_email": f"officer{force_index + 1}@bench.example",
                    "booking_deadline": referred + dt.timedelta(days=28),
                    "completion_deadline": referred + dt.timedelta(days=122),
                    "is_completion_deadline_given": False, "status": status,
                    "closed_on": closed, "is_historical": False, "eligibility": [],
                    "created_at": created})
                events.append({"referral_id": referral_id, "event": "created",
                               "from_status": None, "to_status": "awaiting_booking",
                               "at": created, "actor_label": "Bench"})
                if booking is not None:
                    booking_id = ids["bookings"] + i
                    ended = None if booking == "active" else start + dt.timedelta(hours=7)
                    bookings.append({
                        "id": booking_id, "referral_id": referral_id, "session_id": session_id,
                        "status": booking, "created_at": created + dt.timedelta(days=2),
                        "ended_at": ended})
                    if booking != "active":
                        attended = booking == "attended"
                        entries.append({
                            "register_id": ids["registers"] + s, "referral_id": referral_id,
                            "booking_id": booking_id,
                            "status": "attended" if attended else "absent",
                            "arrived_at": start - dt.timedelta(minutes=10) if attended else None,
                            "id_checked": attended,
                            "outcome": "completed" if attended else "missed",
                            "updated_at": start + dt.timedelta(hours=7),
                            "updated_by_id": facilitator_id})
                if rng.random() < 0.15:
                    when = referred + dt.timedelta(days=rng.randint(30, 365))
                    if when < now.date():
                        outcome = rng.choice(REOFFENCE_OUTCOMES)
                        decided = (when + dt.timedelta(days=rng.randint(0, 90))
                                   if outcome in ("conviction", "caution") else None)
                        reoffences.append({
                            "person_id": person_id, "offence_code": rng.choice(OFFENCES),
                            "offence_date": when, "outcome": outcome, "outcome_date": decided,
                            "source_reference": f"PNC-{referral_id}",
                            "force_id": generated.force_ids[force_index],
                            "recorded_at": created + dt.timedelta(days=400)})
                messages.append({
                    "dedupe_key": f"bench-{referral_id}", "channel": "email",
                    "recipient": f"p{person_id}@bench.example", "template": "test_message",
                    "context": {"note": "bench"}, "subject_type": "referral",
                    "subject_id": str(referral_id),
                    "status": "failed" if i % 1000 == 999 else "sent",
                    "due_at": created, "next_attempt_at": created, "attempts": 1,
                    "sent_at": None if i % 1000 == 999 else created, "created_at": created})
            for name, rows in (("people", people), ("referrals", referrals),
                               ("referral_events", events), ("bookings", bookings),
                               ("register_entries", entries), ("reoffences", reoffences),
                               ("outbox_messages", messages)):
                _insert(connection, t[name], rows)
                counts[name] += len(rows)
        bookings_table, sessions_table = t["bookings"], t["sessions"]
        active = (select(func.count()).where(bookings_table.c.session_id == sessions_table.c.id,
                                             bookings_table.c.status == "active")
                  .scalar_subquery())
        connection.execute(update(sessions_table)
                           .where(sessions_table.c.status == "scheduled",
                                  sessions_table.c.programme_id == generated.programme_id)
                           .values(booked_count=active))
        if connection.dialect.name == "postgresql":
            for name in ids:
                connection.execute(text(
                    f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "  # noqa: S608
                    f"(SELECT max(id) FROM {name}))"))
    with db.engine.begin() as connection:
        connection.execute(text("ANALYZE"))
    generated.counts = counts
    generated.seconds = time.perf_counter() - begin
    return generated


def found(n: int) -> Generated:
    """What `generate` made earlier in the app's database (the first bench programme and its
    accounts), for a run that reuses it rather than generating again; refused unless the
    database holds exactly n referrals."""
    from diversion.auth.models import Force, Role
    from diversion.core.extensions import db
    from diversion.programmes.models import Programme

    programme = db.session.scalar(select(Programme).where(Programme.code.like("BENCH%"))
                                  .order_by(Programme.id).limit(1))
    if programme is None:
        raise RuntimeError("no generated data here: fill it with python -m bench.generate --n N")
    tables = _tables()
    counts = {name: int(db.session.scalar(select(func.count()).select_from(table)) or 0)
              for name, table in tables.items()}
    if counts["referrals"] != n:
        raise RuntimeError(f"the database holds {counts['referrals']:,} referrals, "
                           f"not BENCH_N={n:,}")
    tag = programme.code.lower()
    email = {role: f"{role.value}.{tag}@bench.example" for role in Role}
    return Generated(
        manager_email=email[Role.MANAGER], police_email=email[Role.POLICE],
        facilitator_email=email[Role.FACILITATOR], admin_email=email[Role.ADMIN],
        programme_id=programme.id,
        force_ids=list(db.session.scalars(select(Force.id).where(Force.code.like("BF%"))
                                          .order_by(Force.id))),
        counts=counts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--n", type=int, default=int(os.environ.get("BENCH_N", "10000")),
                        help="referrals to add (default: BENCH_N or 10,000)")
    parser.add_argument("--seed", type=int, default=17)
    args = parser.parse_args(argv)

    from diversion import create_app
    from diversion.core.timeutils import now_utc

    app = create_app()
    with app.app_context():
        # Three years up to now, as `make bench` generates: the reports' default periods (the
        # last 12 months) then fall on the data when a run reuses this database.
        generated = generate(args.n, now=now_utc(), seed=args.seed)
    rows = ", ".join(f"{name} {count:,}" for name, count in generated.counts.items())
    print(f"generated in {generated.seconds:.1f}s: {rows}")
    print(f"sign in as {generated.manager_email} (or {generated.police_email}, "
          f"{generated.facilitator_email}) with {BENCH_PASSWORD!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
