"""The UTC datetime column: naive datetimes refused, aware ones stored and read back as UTC;
BulkInsert, which writes through the columns' types as Core does."""

import datetime as dt

import pytest
from sqlalchemy import insert, select, text
from sqlalchemy.exc import StatementError

from diversion.audit.models import AuditCategory, AuditEvent
from diversion.core.db import BulkInsert
from diversion.core.extensions import db
from diversion.outbox.models import Channel, OutboxMessage
from tests.builders import NOW


def _message(**overrides):
    values = dict(dedupe_key="db-test", channel=Channel.EMAIL, recipient="a@example.test",
                  template="test_message", context={}, due_at=NOW, next_attempt_at=NOW,
                  created_at=NOW)
    values.update(overrides)
    return OutboxMessage(**values)


def test_a_naive_datetime_is_refused_and_nothing_is_stored(app):
    db.session.add(_message(due_at=dt.datetime(2026, 6, 15, 9, 0)))
    with pytest.raises(StatementError) as raised:
        db.session.flush()
    assert isinstance(raised.value.orig, ValueError)
    db.session.rollback()
    assert db.session.scalar(select(OutboxMessage.id)) is None


def test_an_aware_datetime_in_another_zone_reads_back_as_the_same_instant_in_utc(app):
    bst = dt.timezone(dt.timedelta(hours=1))
    due = dt.datetime(2026, 7, 1, 10, 30, tzinfo=bst)
    db.session.add(_message(due_at=due))
    db.session.commit()
    db.session.expire_all()
    stored = db.session.scalar(select(OutboxMessage))
    assert stored.due_at == due
    assert stored.due_at.utcoffset() == dt.timedelta(0)
    assert stored.due_at.replace(tzinfo=None) == dt.datetime(2026, 7, 1, 9, 30)


def test_comparisons_in_sql_order_instants_not_wall_clock_strings(app):
    # 10:30+01:00 is 09:30 UTC, earlier than 10:00 UTC.
    db.session.add(_message(due_at=dt.datetime(2026, 7, 1, 10, 30,
                                               tzinfo=dt.timezone(dt.timedelta(hours=1)))))
    db.session.commit()
    cutoff = dt.datetime(2026, 7, 1, 10, 0, tzinfo=dt.UTC)
    assert db.session.scalar(select(OutboxMessage.id).where(OutboxMessage.due_at < cutoff))


def test_the_database_session_runs_in_utc(app):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("only PostgreSQL has a session time zone")
    assert db.session.scalar(text("SHOW TIME ZONE")) == "UTC"


def test_sqlite_connections_enforce_foreign_keys(app):
    if db.engine.dialect.name != "sqlite":
        pytest.skip("a SQLite pragma")
    assert db.session.scalar(text("PRAGMA foreign_keys")) == 1


AUDIT_COLUMNS = ("at", "actor_user_id", "actor_label", "action", "category", "object_type",
                 "object_id", "address", "details")


def _bulk_insert():
    return BulkInsert(AuditEvent.__table__, AUDIT_COLUMNS, db.session.get_bind().dialect)


def test_bulk_insert_writes_what_a_core_insert_writes_over_several_statements(app):
    bst = dt.timezone(dt.timedelta(hours=1))
    shared = {"warnings": ["timing"]}  # one object on several rows, serialised once
    rows = [(dt.datetime(2026, 7, 1, 10, n, tzinfo=bst if n % 2 else dt.UTC), None, "system",
             f"test.{n}", AuditCategory.COLLECTION if n % 3 else AuditCategory.ALTERATION,
             "referral", str(n), None, shared if n % 2 else {"n": n}) for n in range(7)]
    writer = _bulk_insert()
    writer.rows_a_statement = 3  # 7 rows: three statements on SQLite (PostgreSQL copies)
    writer.execute(db.session.connection(), rows)
    db.session.execute(insert(AuditEvent.__table__), [
        dict(zip(AUDIT_COLUMNS, (*row[:3], row[3].replace("test", "core"), *row[4:]),
                 strict=True)) for row in rows])
    db.session.commit()

    def read(prefix):
        return [(e.at, e.actor_label, e.action.split(".")[1], e.category, e.object_id,
                 e.details) for e in db.session.scalars(
            select(AuditEvent).where(AuditEvent.action.startswith(prefix))
            .order_by(AuditEvent.id))]

    bulk = read("test.")
    assert bulk == read("core.")
    assert [r[0] for r in bulk] == [row[0] for row in rows]
    assert bulk[1][5] == {"warnings": ["timing"]} and bulk[2][5] == {"n": 2}


def test_bulk_insert_refuses_a_naive_datetime_and_writes_nothing(app):
    rows = [(NOW, None, "system", "test.aware", AuditCategory.COLLECTION, None, None, None, {}),
            (dt.datetime(2026, 6, 15, 9, 0), None, "system", "test.naive",
             AuditCategory.COLLECTION, None, None, None, {})]
    with pytest.raises(ValueError, match="naive datetime refused"):
        _bulk_insert().execute(db.session.connection(), rows)
    db.session.rollback()
    assert db.session.scalar(select(AuditEvent.id).where(
        AuditEvent.action.startswith("test."))) is None


def test_bulk_insert_wants_every_column_with_a_python_side_default(app):
    with pytest.raises(ValueError, match="details"):
        BulkInsert(AuditEvent.__table__, AUDIT_COLUMNS[:-1], db.session.get_bind().dialect)
