"""The UTC datetime column: naive datetimes refused, aware ones stored and read back as UTC."""

import datetime as dt

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import StatementError

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
