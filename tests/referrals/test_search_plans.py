"""The referrals list's search (`q=`) is served by index lookups on PostgreSQL at scale (issue
17: "name search ≤ 50 ms at 1M referrals"): with 30,000 referrals analysed, each kind of search
(a family name, a given name, "given family", "family, given", a reference, a crime reference,
a PNC ID) reads the matching rows through indexes and never scans or filters its way through
the table, whichever sort the list asks for. SQLite's plans are held in test_list_plans.py."""

import datetime as dt
import json
from collections.abc import Iterator

import pytest
from flask import Flask
from sqlalchemy import text

from diversion.auth.models import Force
from diversion.core import paging as pager
from diversion.core.extensions import db
from diversion.referrals import queries
from tests.builders import create_force, create_programme, create_user
from tests.conftest import _empty_all_tables

ROWS = 30_000
# A row whose filter is checked one by one: at most a page's worth and what the lookups found.
MOST_ROWS_FILTERED = 200


def _letters(n: str) -> str:
    """Four letters spelling a number: about 30,000 different name keys."""
    return " || ".join(f"chr(97 + ({n} / {d}) % 26)" for d in (1, 26, 676, 17576))


def _reference(n: str) -> str:
    return " || ".join(f"substr('ACDEFHJKMN', 1 + ({n} / {10 ** i}) % 10, 1)" for i in range(7))


@pytest.fixture(scope="module")
def analysed_referrals(migrated_app: Flask) -> Iterator[int]:
    """30,000 referrals and people (ROWS), committed and analysed once for the module (building them
    took seconds, and every test reads them alike); the force's id. Afterwards the tables are
    emptied and analysed empty, so no later test plans with these statistics."""
    with migrated_app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("PostgreSQL's planner")
        _empty_all_tables(migrated_app)
        force, programme = create_force("WYP"), create_programme()
        key = _letters("n")
        db.session.execute(text(f"""
            INSERT INTO people (id, family_name, given_names, family_name_key, given_name_key,
                                date_of_birth, pnc_id, preferred_contact, needs_step_free,
                                created_at, updated_at)
            SELECT 1000000 + n, upper({key}) || 'son', 'Adam' || ({key}), {key} || 'son',
                   'adam' || ({key}), date '1960-01-01' + (n % 15000),
                   CASE WHEN n % 3 = 0 THEN '20' || lpad((n % 20)::text, 2, '0') || '/'
                                            || lpad(n::text, 7, '0') || 'A' END,
                   'post', false, now(), now()
            FROM generate_series(1, {ROWS}) AS n"""))  # noqa: S608 (numbers only)
        db.session.execute(text(f"""
            INSERT INTO referrals (id, reference, pin_hash, pin_issued_at, force_id, programme_id,
                person_id, crime_reference, referral_date, offence_code, offence_date, admitted,
                consented, no_relevant_convictions, officer_email, booking_deadline,
                completion_deadline, is_completion_deadline_given, status, closed_on, is_historical,
                eligibility, created_at)
            SELECT 1000000 + n, 'R' || {_reference("n")}, '!', now(), :force, :programme,
                   1000000 + n, 'CR/' || n || '/B', date '2016-06-15' + (n % 3653), 'SOA2003-S51A',
                   date '2016-06-13' + (n % 3653), true, true, true, 'officer@bench.example',
                   date '2016-07-13' + (n % 3653), date '2016-10-13' + (n % 3653), false,
                   'completed', date '2016-10-13' + (n % 3653), false, '[]', now()
            FROM generate_series(1, {ROWS}) AS n"""),  # noqa: S608 (numbers only)
            {"force": force.id, "programme": programme.id})
        db.session.commit()
        db.session.execute(text("ANALYZE people"))
        db.session.execute(text("ANALYZE referrals"))
        db.session.commit()
        force_id = force.id
        db.session.remove()
    yield force_id
    with migrated_app.app_context():
        db.session.execute(text("TRUNCATE people, referrals CASCADE"))
        db.session.commit()
        db.session.execute(text("ANALYZE people"))
        db.session.execute(text("ANALYZE referrals"))
        db.session.commit()
        db.session.remove()


@pytest.fixture
def app(migrated_app: Flask, analysed_referrals: int) -> Iterator[Flask]:
    """Here a test starts from the module's referrals, not from empty tables: what it writes
    (its own user) is never committed, and is rolled back when it ends."""
    with migrated_app.app_context():
        yield migrated_app
        db.session.remove()


@pytest.fixture
def many_referrals(app: Flask, analysed_referrals: int) -> Force:
    return db.session.get(Force, analysed_referrals)


def _plan(actor, search: str, sort: str) -> list[dict]:
    ordering = pager.Ordering.from_args({"sort": sort}, queries.SORTS, queries.DEFAULT_SORT)
    columns = ordering.sort.columns
    query = (queries._sorted_query(actor, queries.ReferralFilters(search=search), ordering,
                                   today=dt.date(2026, 6, 15))
             .add_columns(*columns)
             .order_by(*(c.desc() if ordering.descending else c.asc() for c in columns))
             .limit(pager.PAGE_SIZE + 1))
    sql = str(query.compile(db.engine, compile_kwargs={"literal_binds": True}))
    found = db.session.execute(text("EXPLAIN (ANALYZE, FORMAT JSON) " + sql)).scalar()
    return found if isinstance(found, list) else json.loads(found)


def _nodes(node: dict):
    yield node
    for child in node.get("Plans", []):
        yield from _nodes(child)


SEARCHES = {
    "family name": "abaa",  # the start of one family name key ("abaason": person 26)
    "given name": "Adambaa",
    "given then family": "Adamcaaa caaason",
    "family, given": "caaason, Adamcaaa",
    "reference": "RCAAAAAA",
    "crime reference": "CR/12345/B",
    "PNC ID": "2005/0012345A",
}


@pytest.mark.parametrize("who", ["manager", "police"])
@pytest.mark.parametrize("sort", ["referred", "name", "reference"])
@pytest.mark.parametrize("kind", sorted(SEARCHES))
def test_each_kind_of_search_reads_indexes_not_the_table(many_referrals, who, sort, kind):
    actor = create_user(who, **({"force": many_referrals} if who == "police" else {}))
    (plan,) = _plan(actor, SEARCHES[kind], sort)
    nodes = list(_nodes(plan["Plan"]))
    scans = [n for n in nodes if n["Node Type"] == "Seq Scan"
             and n.get("Relation Name") in ("referrals", "people")]
    assert not scans, json.dumps(plan, indent=1)
    filtered = max((n.get("Rows Removed by Filter", 0) for n in nodes), default=0)
    assert filtered <= MOST_ROWS_FILTERED, json.dumps(plan, indent=1)
    read = max(n.get("Actual Rows", 0) * n.get("Actual Loops", 1) for n in nodes)
    assert read <= MOST_ROWS_FILTERED, json.dumps(plan, indent=1)


def test_the_searches_find_what_they_look_up(many_referrals):
    """The plans above are of searches that find rows (not of empty answers)."""
    manager = create_user("manager")
    for kind, search in SEARCHES.items():
        count = queries.count_referrals(manager, queries.ReferralFilters(search=search),
                                        today=dt.date(2026, 6, 15))
        assert count >= 1, kind
