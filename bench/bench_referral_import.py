"""The CSV import of referrals (SQLite): a file of new referrals and a file of historical ones,
through `import_referrals` exactly as `flask referrals import` runs it, then the same file again
(which must create nothing); and, as the baseline (issue 17: the goal is >= 5,000 rows/s and
>= 0.5x), raw executemany of the people and referrals rows such an import writes.
Run with `python -m bench.bench_referral_import [N]`; `make bench` takes its row from `rows`:
three interleaved rounds of raw executemany and an import of a new file, ROWS rows each, on an
empty database (SQLite, or DATABASE_URL's PostgreSQL).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path

from .common import Context, Row, scratch_database

ROWS = 10_000
ROUNDS = 3
GOAL_RATE = 5_000
GOAL_RATIO = 0.5
NOW = dt.datetime(2026, 6, 15, 9, 0, tzinfo=dt.UTC)
COLUMNS = ["force_code", "crime_reference", "referral_date", "family_name", "given_names",
           "date_of_birth", "offence_code", "offence_date", "officer_email", "admitted",
           "consented", "no_relevant_convictions", "email", "postcode", "address_line_1",
           "outcome", "outcome_date"]


def _name(n: int) -> str:
    """A distinct family name per number (matching ignores digits, so letters only)."""
    letters = []
    for _ in range(4):
        n, rest = divmod(n, 26)
        letters.append(chr(97 + rest))
    return "".join(letters).capitalize() + "son"


def _file(rows: int, *, prefix: str, historical: bool, offset: int) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for i in range(rows):
        n = offset + i
        writer.writerow({
            "force_code": "BF1", "crime_reference": f"{prefix}/{i:06d}/26",
            "referral_date": "2026-06-10" if not historical else "2025-03-10",
            "family_name": _name(n), "given_names": "Adam John",
            "date_of_birth": (dt.date(1960, 1, 1) + dt.timedelta(days=n % 15000)).isoformat(),
            "offence_code": "SOA2003-S51A",
            "offence_date": "2026-06-01" if not historical else "2025-03-01",
            "officer_email": "pc@bench.example", "admitted": "yes", "consented": "yes",
            "no_relevant_convictions": "yes", "email": f"person{n}@example.com",
            "postcode": "LS1 4AP", "address_line_1": f"{n} Example Road",
            "outcome": "completed" if historical else "",
            "outcome_date": "2025-05-20" if historical else "",
        })
    return out.getvalue().encode()


def _raw_executemany(rows: int, *, force_id: int) -> float:
    """Rows a second for the people and referrals rows alone, by executemany, rolled back."""
    from sqlalchemy import insert, select

    from diversion.core.extensions import db
    from diversion.programmes.models import Programme
    from diversion.referrals.models import ContactChannel, Person, Referral, ReferralStatus

    programme_id = db.session.scalar(select(Programme.id))
    db.session.commit()
    start = time.perf_counter()
    people = [{"id": 10_000_000 + n, "family_name": _name(n), "given_names": "Adam John",
               "family_name_key": _name(n).lower(), "given_name_key": "adam",
               "date_of_birth": dt.date(1960, 1, 1) + dt.timedelta(days=n % 15000),
               "email": f"raw{n}@example.com", "preferred_contact": ContactChannel.EMAIL.value,
               "needs_step_free": False, "created_at": NOW, "updated_at": NOW}
              for n in range(rows)]
    referrals = [{"reference": f"R{n:07d}", "pin_hash": "!", "pin_issued_at": NOW,
                  "force_id": force_id, "programme_id": programme_id,
                  "person_id": 10_000_000 + n, "crime_reference": f"RAW/{n:06d}/26",
                  "referral_date": dt.date(2026, 6, 10), "offence_code": "SOA2003-S51A",
                  "offence_date": dt.date(2026, 6, 1), "admitted": True, "consented": True,
                  "no_relevant_convictions": True, "officer_email": "pc@bench.example",
                  "booking_deadline": dt.date(2026, 7, 8),
                  "completion_deadline": dt.date(2026, 12, 1),
                  "is_completion_deadline_given": False, "status": ReferralStatus.AWAITING_BOOKING.value,
                  "is_historical": False, "eligibility": [], "created_at": NOW}
                 for n in range(rows)]
    db.session.execute(insert(Person.__table__), people)  # the tables: raw rows
    db.session.execute(insert(Referral.__table__), referrals)
    db.session.flush()
    took = time.perf_counter() - start
    db.session.rollback()
    return rows / took


def _set_up() -> int:
    from diversion.auth import services as auth_services
    from diversion.auth.models import Role
    from diversion.core.extensions import db
    from diversion.programmes import services as programme_services

    force = auth_services.create_force(code="BF1", name="Bench force 1", actor=None, now=NOW)
    programme_services.create_programme(
        settings=programme_services.ProgrammeSettings(code="KCRC", name="Course"),
        actor=None, now=NOW)
    auth_services.create_user(email="pc@bench.example", name="Officer", role=Role.POLICE,
                              force=force, password="bench password 1234",  # noqa: S106
                              actor=None, now=NOW)
    db.session.commit()
    return force.id


def rows(ctx: Context) -> list[Row]:
    from diversion.core.extensions import db
    from diversion.referrals.imports import import_referrals
    from tests.conftest import PROJECT_ROOT, make_app

    raw_rates, import_rates = [], []
    with tempfile.TemporaryDirectory() as folder, scratch_database("import") as url:
        from flask_migrate import upgrade

        app = make_app(url, Path(folder))
        with app.app_context():
            upgrade(directory=str(PROJECT_ROOT / "migrations"), revision="heads")
            force_id = _set_up()
            for number in range(ROUNDS):
                raw_rates.append(_raw_executemany(ROWS, force_id=force_id))
                content = _file(ROWS, prefix=f"N{number}", historical=False,
                                offset=number * ROWS)
                start = time.perf_counter()
                result = import_referrals(content=content, actor=None, now=NOW)
                db.session.commit()
                import_rates.append(ROWS / (time.perf_counter() - start))
                assert result.imported == ROWS, result
                db.session.expunge_all()
            db.session.remove()
            db.engine.dispose()
    rate, raw = statistics.median(import_rates), statistics.median(raw_rates)
    return [Row(f"referrals import ({ROWS:,} new rows a round)",
                f">= {GOAL_RATE:,} rows/s and >= {GOAL_RATIO}x raw executemany", rate, "rows/s",
                baseline=raw, ratio=rate / raw, met=rate >= GOAL_RATE and rate / raw >= GOAL_RATIO,
                note="raw: people and referrals rows by executemany")]


def main(rows: int = ROWS) -> None:
    from flask_migrate import upgrade

    from diversion.core.extensions import db
    from diversion.referrals.imports import import_referrals
    from tests.conftest import PROJECT_ROOT, make_app

    with tempfile.TemporaryDirectory() as folder:
        app = make_app(f"sqlite:///{Path(folder) / 'bench.sqlite'}", Path(folder))
        with app.app_context():
            upgrade(directory=str(PROJECT_ROOT / "migrations"), revision="heads")
            force_id = _set_up()
            files = {"new": _file(rows, prefix="N", historical=False, offset=0),
                     "historical": _file(rows, prefix="H", historical=True, offset=rows)}
            raw_rate = _raw_executemany(rows, force_id=force_id)
            print(f"{'raw':>10} {'':>5}: {rows:,} people and referrals by executemany "
                  f"({raw_rate:,.0f} rows/s)")
            for label, content in files.items():
                for attempt in ("first", "again"):
                    start = time.perf_counter()
                    result = import_referrals(content=content, actor=None, now=NOW)
                    db.session.commit()
                    took = time.perf_counter() - start
                    db.session.expunge_all()
                    print(f"{label:>10} {attempt:>5}: {rows:,} rows in {took:6.1f}s "
                          f"({rows / took:,.0f} rows/s; {rows / took / raw_rate:.3f}x raw); "
                          f"imported {result.imported:,}, "
                          f"already present {result.already_present:,}")
            db.session.remove()
            db.engine.dispose()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else ROWS)
