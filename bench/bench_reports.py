"""The proven reoffending report against a hand-written SQL aggregate of the same figures (the
baseline), written in SQLite's SQL and in PostgreSQL's for the run's database. Standalone
(`main`, SQLite): ten years of referrals (bench_referral_list's generator), one person in seven
referred twice, and a reoffence for one person in three.

Rounds interleave the report and the baseline (the order alternating), each timed alone; the
medians are printed with their ratio. The goal (issue 17) is the report within 2x the
baseline. With its chart (the page and the PDF), the baseline also counts the days to each
person's first reoffence by hand. Run with `make bench` or `python -m bench.bench_reports [N]`.
"""

from __future__ import annotations

import datetime as dt
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import text

from bench.bench_referral_list import NOW, ROWS, TODAY, _fill
from bench.common import Context, Row, server_url, standalone_sqlite

ROUNDS = 5
GOAL = 2.0
FROM, TO = dt.date(2016, 6, 15), dt.date(2026, 6, 14)
OUTCOMES = ("conviction", "caution", "arrest", "no_further_action")

# The figures the report shows, written by hand for SQLite: each person's earliest completed
# or not completed referral per quarter and over the range, their proven reoffences, added up.
# (SQLite's own month arithmetic does not clamp to the month end; as a cost it is the same.)
BASELINE = """
WITH cohort AS (
    SELECT id, person_id, referral_date, status,
           CAST(strftime('%Y', referral_date) AS INTEGER) * 4
               + (CAST(strftime('%m', referral_date) AS INTEGER) - 1) / 3 AS quarter,
           row_number() OVER (PARTITION BY person_id,
                                  CAST(strftime('%Y', referral_date) AS INTEGER) * 4
                                  + (CAST(strftime('%m', referral_date) AS INTEGER) - 1) / 3
                              ORDER BY referral_date, CAST(id AS TEXT)) AS in_quarter,
           row_number() OVER (PARTITION BY person_id
                              ORDER BY referral_date, CAST(id AS TEXT)) AS in_range
    FROM referrals
    WHERE referral_date BETWEEN :date_from AND :date_to
      AND status IN ('completed', 'not_completed')),
members AS (
    SELECT *, date(referral_date, '+18 months') <= :as_of AS is_over,
           (SELECT count(*) FROM reoffences o
            WHERE o.person_id = cohort.person_id AND o.outcome IN ('conviction', 'caution')
              AND o.offence_date > cohort.referral_date
              AND o.offence_date <= date(cohort.referral_date, '+12 months')
              AND o.outcome_date <= date(cohort.referral_date, '+18 months')) AS reoffences
    FROM cohort WHERE in_quarter = 1 OR in_range = 1)
SELECT quarter, status, sum(is_over), sum(is_over AND reoffences > 0),
       sum(CASE WHEN is_over THEN reoffences ELSE 0 END), sum(NOT is_over)
FROM members WHERE in_quarter = 1 GROUP BY quarter, status
UNION ALL
SELECT -1, status, sum(is_over), sum(is_over AND reoffences > 0),
       sum(CASE WHEN is_over THEN reoffences ELSE 0 END), sum(NOT is_over)
FROM members WHERE in_range = 1 GROUP BY status
"""
# The chart's figures by hand: days to each person's first proven reoffence (or to the end of
# his 12 months), counted per outcome and day.
CURVES = """
WITH cohort AS (
    SELECT id, person_id, referral_date, status,
           row_number() OVER (PARTITION BY person_id
                              ORDER BY referral_date, CAST(id AS TEXT)) AS in_range
    FROM referrals
    WHERE referral_date BETWEEN :date_from AND :date_to
      AND status IN ('completed', 'not_completed')),
members AS (
    SELECT status, referral_date, date(referral_date, '+12 months') AS window_end,
           (SELECT min(o.offence_date) FROM reoffences o
            WHERE o.person_id = cohort.person_id AND o.outcome IN ('conviction', 'caution')
              AND o.offence_date > cohort.referral_date
              AND o.offence_date <= date(cohort.referral_date, '+12 months')
              AND o.outcome_date <= date(cohort.referral_date, '+18 months')) AS first_date
    FROM cohort WHERE in_range = 1 AND date(referral_date, '+18 months') <= :as_of)
SELECT status, CAST(julianday(coalesce(first_date, window_end)) - julianday(referral_date)
                    AS INTEGER) AS days, first_date IS NOT NULL AS event, count(*)
FROM members GROUP BY status, days, event
"""
# The same two aggregates by hand for PostgreSQL (its date + interval clamps to the month end,
# as the report does; ids compared as text byte by byte, as the report orders ties).
_PG_QUARTER = ("CAST(extract(year FROM referral_date) AS INTEGER) * 4"
               " + (CAST(extract(month FROM referral_date) AS INTEGER) - 1) / 3")
BASELINE_POSTGRESQL = f"""
WITH cohort AS (
    SELECT id, person_id, referral_date, status, {_PG_QUARTER} AS quarter,
           row_number() OVER (PARTITION BY person_id, {_PG_QUARTER}
                              ORDER BY referral_date, CAST(id AS TEXT) COLLATE "C") AS in_quarter,
           row_number() OVER (PARTITION BY person_id
                              ORDER BY referral_date, CAST(id AS TEXT) COLLATE "C") AS in_range
    FROM referrals
    WHERE referral_date BETWEEN :date_from AND :date_to
      AND status IN ('completed', 'not_completed')),
members AS (
    SELECT *, CAST(referral_date + interval '18 months' AS date) <= :as_of AS is_over,
           (SELECT count(*) FROM reoffences o
            WHERE o.person_id = cohort.person_id AND o.outcome IN ('conviction', 'caution')
              AND o.offence_date > cohort.referral_date
              AND o.offence_date <= CAST(cohort.referral_date + interval '12 months' AS date)
              AND o.outcome_date <= CAST(cohort.referral_date + interval '18 months' AS date)
           ) AS reoffences
    FROM cohort WHERE in_quarter = 1 OR in_range = 1)
SELECT quarter, status, count(*) FILTER (WHERE is_over),
       count(*) FILTER (WHERE is_over AND reoffences > 0),
       sum(CASE WHEN is_over THEN reoffences ELSE 0 END), count(*) FILTER (WHERE NOT is_over)
FROM members WHERE in_quarter = 1 GROUP BY quarter, status
UNION ALL
SELECT -1, status, count(*) FILTER (WHERE is_over),
       count(*) FILTER (WHERE is_over AND reoffences > 0),
       sum(CASE WHEN is_over THEN reoffences ELSE 0 END), count(*) FILTER (WHERE NOT is_over)
FROM members WHERE in_range = 1 GROUP BY status
"""  # noqa: S608 (constants only)
CURVES_POSTGRESQL = """
WITH cohort AS (
    SELECT id, person_id, referral_date, status,
           row_number() OVER (PARTITION BY person_id
                              ORDER BY referral_date, CAST(id AS TEXT) COLLATE "C") AS in_range
    FROM referrals
    WHERE referral_date BETWEEN :date_from AND :date_to
      AND status IN ('completed', 'not_completed')),
members AS (
    SELECT status, referral_date,
           CAST(referral_date + interval '12 months' AS date) AS window_end,
           (SELECT min(o.offence_date) FROM reoffences o
            WHERE o.person_id = cohort.person_id AND o.outcome IN ('conviction', 'caution')
              AND o.offence_date > cohort.referral_date
              AND o.offence_date <= CAST(cohort.referral_date + interval '12 months' AS date)
              AND o.outcome_date <= CAST(cohort.referral_date + interval '18 months' AS date)
           ) AS first_date
    FROM cohort
    WHERE in_range = 1 AND CAST(referral_date + interval '18 months' AS date) <= :as_of)
SELECT status, coalesce(first_date, window_end) - referral_date AS days,
       first_date IS NOT NULL AS event, count(*)
FROM members GROUP BY status, days, event
"""
EXCLUDED = """SELECT status, count(*) FROM referrals
              WHERE referral_date BETWEEN :date_from AND :date_to GROUP BY status"""


def _fill_reoffences(connection: Any, rows: int) -> None:
    # One person in seven referred a second time, a day after his first referral.
    connection.execute(text("UPDATE referrals SET person_id = person_id - 1 WHERE id % 7 = 0"))
    outcome = "CASE id % 4 " + " ".join(
        f"WHEN {i} THEN '{name}'" for i, name in enumerate(OUTCOMES)) + " END"
    connection.execute(text(f"""
        INSERT INTO reoffences (id, person_id, offence_code, offence_date, outcome, outcome_date,
                                source_reference, recorded_at)
        SELECT id, person_id, CASE WHEN id % 5 = 0 THEN 'SOA2003-S51A' ELSE 'TH68001' END,
               date(referral_date, '+' || (id % 600) || ' days'), {outcome},
               CASE WHEN id % 4 < 2 THEN date(referral_date, '+' || (id % 600 + 90) || ' days')
               END,
               'BENCH-' || id, '2026-06-15 09:00:00.000000'
        FROM referrals WHERE id % 3 = 0 AND id <= {rows}"""))  # noqa: S608 (numbers only)


def _median(timings: list[float]) -> float:
    return statistics.median(timings)


def _compare(app: Any, date_from: dt.date, date_to: dt.date, as_of: dt.date) -> list[Row]:
    """The report with and without its chart against the hand-written aggregate, in rounds
    that alternate which goes first; medians in milliseconds."""
    from diversion.core.extensions import db
    from diversion.reports.kinds import ReportParameters
    from diversion.reports.reoffending_report import build_reoffending

    on_postgresql = server_url() is not None
    # Dates as dates on PostgreSQL (psycopg sends them typed); SQLite stores them as text.
    values: dict[str, Any] = (
        {"date_from": date_from, "date_to": date_to, "as_of": as_of} if on_postgresql else
        {"date_from": date_from.isoformat(), "date_to": date_to.isoformat(),
         "as_of": as_of.isoformat()})
    figures_sql = text(BASELINE_POSTGRESQL if on_postgresql else BASELINE)
    curves_sql = text(CURVES_POSTGRESQL if on_postgresql else CURVES)

    def baseline(with_chart: bool) -> Callable[[], Any]:
        def run() -> Any:
            with db.engine.connect() as connection:
                figures = list(connection.execute(figures_sql, values).all())
                excluded = connection.execute(text(EXCLUDED), values).all()
                if with_chart:
                    figures.extend(connection.execute(curves_sql, values).all())
            return figures, excluded
        return run

    def report(with_chart: bool) -> Callable[[], Any]:
        def run() -> Any:
            with app.test_request_context("/reports"):
                parameters = ReportParameters(date_from=date_from, date_to=date_to, as_of=as_of)
                made = build_reoffending(parameters, with_chart=with_chart)
                db.session.remove()
                return made
        return run

    found: list[Row] = []
    with app.app_context():
        for label, measured, against in (
                ("reoffending report", report(False), baseline(False)),
                ("reoffending report with its chart", report(True), baseline(True))):
            timings: dict[str, list[float]] = {"report": [], "baseline": []}
            result: Any = None
            for turn in range(ROUNDS):
                pair = [("report", measured), ("baseline", against)]
                for name, call in pair if turn % 2 == 0 else reversed(pair):
                    begin = time.perf_counter()
                    made = call()
                    timings[name].append((time.perf_counter() - begin) * 1000)
                    if name == "report":
                        result = made
            report_ms, baseline_ms = _median(timings["report"]), _median(timings["baseline"])
            everyone = next(r for r in result.data["cohorts"]
                            if r["period"] == "all" and r["group"] == "all")
            ratio = report_ms / baseline_ms
            found.append(Row(f"{label} vs hand-written SQL", f"<= {GOAL:.0f}x", report_ms, "ms",
                             baseline=baseline_ms, ratio=ratio, met=ratio <= GOAL,
                             note=f"people {everyone['people']:,}, "
                                  f"reoffences {everyone['reoffences']:,}"))
    return found


def rows(ctx: Context) -> list[Row]:
    """`make bench`: on the run's generated database, over its three years."""
    from diversion.core.timeutils import london_today, now_utc

    as_of = london_today(now_utc())  # the generator's three years end now
    return _compare(ctx.app, as_of - dt.timedelta(days=3 * 365), as_of, as_of)


def main(rows: int = ROWS) -> None:
    from diversion.core.extensions import db

    with standalone_sqlite(NOW) as made:
        app, path, programme = made.app, made.path, made.programme
        db.session.commit()
        programme_id = programme.id
        db.session.close()
        start = time.perf_counter()
        with db.engine.begin() as connection:
            _fill(connection, rows, programme_id)
            _fill_reoffences(connection, rows)
        with db.engine.begin() as connection:
            connection.execute(text("ANALYZE"))
        print(f"built {rows:,} referrals with reoffences in "
              f"{time.perf_counter() - start:.1f}s ({path.stat().st_size / 2**20:.0f} MiB)")

        for row in _compare(app, FROM, TO, TODAY):
            print(f"{row.measure:36s} goal {row.goal}  measured {row.measured:9.1f} ms  "
                  f"baseline {row.baseline:9.1f} ms  ({row.ratio:.2f}x)  [{row.note}]")
        db.engine.dispose()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else ROWS)
