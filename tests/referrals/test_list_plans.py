"""The referrals list's page queries are served by indexes on SQLite at national scale (issue 17):
with statistics for a million referrals in 40 forces, the first page of each sort reads an index
in order and never sorts the table (no "USE TEMP B-TREE FOR ORDER BY" over the referrals)."""

import datetime as dt

import pytest
from sqlalchemy import text

from diversion.core import paging as pager
from diversion.core.extensions import db
from diversion.referrals import queries
from diversion.referrals.models import ReferralStatus
from tests.builders import create_force, create_user

# What ANALYZE would find in a million referrals of 40 forces (rows, then rows per key prefix).
STATS = {
    ("referrals", "ix_referrals_date"): "1000000 8 1",
    ("referrals", "ix_referrals_force_date"): "1000000 25000 8 1",
    ("referrals", "ix_referrals_force_status_date"): "1000000 25000 4000 8 1",
    ("referrals", "ix_referrals_status_date"): "1000000 166000 8 1",
    ("referrals", "ix_referrals_status_booking_deadline"): "1000000 166000 8",
    ("referrals", "ix_referrals_status_completion_deadline"): "1000000 166000 8",
    ("referrals", "ix_referrals_booking_deadline"): "1000000 8 1",
    ("referrals", "ix_referrals_officer_date"): "1000000 300 8 1",
    ("referrals", "ix_referrals_person"): "1000000 1 1",
    ("referrals", "ix_referrals_crime_reference"): "1000000 1",
    ("referrals", "ix_referrals_programme_id"): "1000000 500000",
    ("people", "ix_people_name_sort"): "1000000 7 1 1",
    ("people", "ix_people_match_keys"): "1000000 7 6 1",
    ("people", "ix_people_given_name"): "1000000 100",
    ("people", "ix_people_date_of_birth"): "1000000 500",
}
ROWS_PER_VALUE = {"force_id": 25000, "status": 166000, "programme_id": 500000}


@pytest.fixture
def analysed(app):
    if db.engine.dialect.name != "sqlite":
        pytest.skip("SQLite's planner")
    db.session.execute(text("ANALYZE"))
    db.session.execute(text("DELETE FROM sqlite_stat1"))
    stats = dict(STATS)
    for table in ("referrals", "people"):  # the unique constraints' own indexes
        for index in db.session.execute(text(f"PRAGMA index_list({table})")).mappings():
            if (table, index["name"]) not in stats:
                columns = [c["name"] for c in db.session.execute(
                    text(f"PRAGMA index_info({index['name']})")).mappings()]
                stats[(table, index["name"])] = " ".join(
                    ["1000000"] + [str(ROWS_PER_VALUE.get(c, 1)) for c in columns])
    for (table, index), stat in stats.items():
        db.session.execute(text("INSERT INTO sqlite_stat1 (tbl, idx, stat) VALUES (:t, :i, :s)"),
                           {"t": table, "i": index, "s": stat})
    db.session.execute(text("ANALYZE sqlite_schema"))  # load the statistics
    yield app
    # The reset empties tables, not statistics: later tests in this worker plan without them
    # (they are in the database only if a test committed).
    db.session.rollback()
    if db.session.execute(text("SELECT 1 FROM sqlite_schema WHERE name = 'sqlite_stat1'")).first():
        db.session.execute(text("DELETE FROM sqlite_stat1"))
    db.session.commit()
    db.session.remove()
    db.engine.dispose()  # every pooled connection loaded the statistics with the schema


def plan(actor, filters: queries.ReferralFilters, sort: str) -> str:
    ordering = pager.Ordering.from_args({"sort": sort}, queries.SORTS, queries.DEFAULT_SORT)
    columns = ordering.sort.columns
    query = (queries._sorted_query(actor, filters, ordering, today=dt.date(2026, 6, 15))
             .add_columns(*columns)
             .order_by(*(c.desc() if ordering.descending else c.asc() for c in columns))
             .limit(pager.PAGE_SIZE + 1))
    sql = str(query.compile(db.engine, compile_kwargs={"literal_binds": True}))
    rows = db.session.execute(text("EXPLAIN QUERY PLAN " + sql))
    return "\n".join(row[3] for row in rows)


@pytest.mark.parametrize(("who", "sort", "index"), [
    ("manager", "referred", "ix_referrals_date"),
    ("police", "referred", "ix_referrals_force_date"),
    ("manager", "name", "ix_people_name_sort"),
    ("police", "name", "ix_people_name_sort"),
    ("manager", "deadline", "ix_referrals_booking_deadline"),
    ("police", "deadline", "ix_referrals_booking_deadline"),
    ("manager", "status", "ix_referrals_status_date"),
    ("police", "status", "ix_referrals_force_status_date"),
    ("police", "reference", "sqlite_autoindex_referrals_"),  # the unique reference
])
def test_the_first_page_of_each_sort_reads_an_index_in_order(analysed, who, sort, index):
    force = create_force("WYP")
    actor = create_user(who, **({"force": force} if who == "police" else {}))
    found = plan(actor, queries.ReferralFilters(), sort)
    assert index in found, found
    assert "USE TEMP B-TREE FOR ORDER BY" not in found, found


def test_a_manager_filtering_by_force_and_status_reads_the_force_index(analysed):
    force = create_force("WYP")
    manager = create_user("manager")
    found = plan(manager, queries.ReferralFilters(force_id=force.id,
                                                  status=ReferralStatus.BOOKED), "referred")
    assert "ix_referrals_force_status_date" in found
    assert "TEMP B-TREE" not in found


def test_a_search_looks_up_indexes_and_never_scans(analysed):
    officer = create_user("police", force=create_force("WYP"))
    found = plan(officer, queries.ReferralFilters(search="Ian Trialby"), "referred")
    assert "ix_people_name_sort" in found
    assert "SCAN referrals" not in found and "SCAN people" not in found, found
    found = plan(officer, queries.ReferralFilters(search="Ian"), "name")
    assert "ix_people_given_name" in found and "SCAN referrals" not in found, found
