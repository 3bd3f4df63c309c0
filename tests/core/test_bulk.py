"""core.bulk: rows written in bulk (COPY on PostgreSQL, multi-row INSERTs on SQLite) are the
rows SQLAlchemy's own insert writes, over several statements too; taken keys are skipped,
refusals raised as SQLAlchemy's, naive instants refused, Python-side defaults required;
`one_of` finds what an IN list finds; the cycle collector is held off for a block and given
back."""

from __future__ import annotations

import datetime as dt
import decimal
import enum
import gc
import time
from typing import Any, cast

import pytest
from psycopg._copy_base import TextFormatter
from psycopg.adapt import Transformer
from sqlalchemy import Table, insert, select, text, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from diversion.audit.models import AuditCategory, AuditEvent
from diversion.bookings.models import Booking, BookingStatus
from diversion.core import bulk
from diversion.core.bulk import (
    BulkInsert,
    bulk_write,
    cycle_collection_paused,
    insert_pairings,
    insert_rows,
    one_of,
    sent_ahead,
)
from diversion.core.db import SQLITE_BULK_CACHE_KIB
from diversion.core.extensions import db
from diversion.outbox.models import Channel, MessageStatus, OutboxMessage
from tests.builders import NOW, create_referral, create_user, future_session

pytestmark = pytest.mark.usefixtures("app")

TABLE = cast(Table, OutboxMessage.__table__)
LONDON_SUMMER = dt.timezone(dt.timedelta(hours=1))


def message(key: str, **overrides: Any) -> dict[str, Any]:
    """An outbox row with every column a bulk insert needs, awkward values included: text with
    tabs, new lines, backslashes and quotes; nested JSON; an instant in another zone; NULLs."""
    row: dict[str, Any] = {
        "dedupe_key": key, "channel": Channel.EMAIL, "recipient": "a@example.org",
        "template": "booking_confirmation",
        "context": {"given_name": "Zoë \\ \"Ann\"\tO'Neil\nline", "places": [1, 2],
                    "nested": {"ok": True, "none": None}},
        "subject_type": "booking", "subject_id": "7", "status": MessageStatus.PENDING,
        "due_at": NOW.astimezone(LONDON_SUMMER), "expires_at": None,
        "next_attempt_at": NOW + dt.timedelta(minutes=5), "attempts": 0, "created_at": NOW}
    row.update(overrides)
    return row


def written(prefix: str) -> list[dict[str, Any]]:
    """Every column but the id and key of the rows whose key starts with prefix, in id order."""
    columns = [c for c in TABLE.c if c.name not in ("id", "dedupe_key")]
    rows = db.session.execute(select(*columns).where(TABLE.c.dedupe_key.startswith(prefix))
                              .order_by(TABLE.c.id)).all()
    return [dict(row._mapping) for row in rows]


def keys_in_order(prefix: str) -> list[tuple[str, str]]:
    """The (dedupe key, recipient) of the rows whose key starts with `prefix`, as inserted."""
    return [tuple(row) for row in db.session.execute(
        select(TABLE.c.dedupe_key, TABLE.c.recipient)
        .where(TABLE.c.dedupe_key.startswith(prefix)).order_by(TABLE.c.id))]


def test_bulk_rows_are_the_rows_sqlalchemys_insert_writes():
    rows = [message("bulk:1"), message("bulk:2", channel=Channel.SMS, recipient="07700900123",
                                       subject_type=None, subject_id=None,
                                       expires_at=NOW + dt.timedelta(days=3))]
    insert_rows(TABLE, rows)
    db.session.execute(insert(TABLE), [{**row, "dedupe_key": "orm" + row["dedupe_key"]}
                                       for row in rows])
    assert written("bulk:") == written("ormbulk:")
    first, second = written("bulk:")
    assert first["context"] == rows[0]["context"]  # the JSON read back whole
    assert first["due_at"] == NOW and first["due_at"].tzinfo is dt.UTC
    assert (second["channel"], second["subject_id"], second["expires_at"]) == (
        Channel.SMS, None, NOW + dt.timedelta(days=3))


def test_taken_keys_are_skipped_and_the_rest_keep_their_order():
    insert_rows(TABLE, [message("taken:b")])
    insert_rows(TABLE, [message("taken:c", recipient="c@example.org"),
                        message("taken:b", recipient="again@example.org"),
                        message("taken:a", recipient="a2@example.org"),
                        message("taken:c", recipient="twice@example.org")],
                skip_taken="dedupe_key")
    assert keys_in_order("taken:") == [("taken:b", "a@example.org"),
                                        ("taken:c", "c@example.org"),
                                        ("taken:a", "a2@example.org")]


def test_a_taken_key_far_into_a_long_batch_is_skipped_and_the_rest_keep_their_order():
    # Longer than a part of a COPY (PostgreSQL sends the rows a part at a time): the taken key
    # is found after parts have gone in, and the batch is written as if it had been seen first.
    insert_rows(TABLE, [message("long:02400", recipient="first@example.org")])
    insert_rows(TABLE, [message(f"long:{n:05d}", recipient=f"{n}@example.org")
                        for n in (*range(3000), 7, 2999)], skip_taken="dedupe_key")
    assert keys_in_order("long:") == [("long:02400", "first@example.org"), *(
        (f"long:{n:05d}", f"{n}@example.org") for n in range(3000) if n != 2400)]


def test_rows_made_as_they_are_written_go_in_as_a_list_of_them_would():
    # A generator (the reminders of a bulk run are made while COPY sends them), with a key
    # taken in the table and one repeated, over several parts; and an empty one.
    insert_rows(TABLE, [message("gen:00007")])
    columns = list(message("gen:x"))
    connection = db.session.connection()
    writer = BulkInsert(TABLE, columns, connection.dialect, skip_taken="dedupe_key")
    writer.execute(connection, (tuple(message(f"gen:{n:05d}", recipient=f"{n}@x.org").values())
                                for n in (*range(2500), 3)))
    writer.execute(connection, (row for row in ()))
    assert keys_in_order("gen:") == [("gen:00007", "a@example.org"), *(
        (f"gen:{n:05d}", f"{n}@x.org") for n in range(2500) if n != 7)]


def test_copy_text_is_byte_for_byte_what_psycopgs_own_dumpers_send():
    # Made a column at a time on PostgreSQL instead of by psycopg's write_row: the same bytes.
    rows = [("tab\there \\ back\\slash\nnew\rline Zoë \"q\" \\N", 1, None, True,
             dt.datetime(2026, 6, 15, 9, tzinfo=dt.UTC), dt.date(2026, 1, 2),
             decimal.Decimal("1.50"), dt.datetime(2026, 6, 15, 9, 30, 5, 123, tzinfo=LONDON_SUMMER),
             dt.datetime(2026, 1, 1), -7),
            (None, None, "plain", False, None, None, None, None, None, 0),
            ("", 2**40, "", True, NOW, dt.date(2100, 12, 31), decimal.Decimal("-0.001"), NOW,
             dt.datetime(1900, 1, 1, 0, 0, 1), None)]
    formatter = TextFormatter(Transformer())
    for row in rows:
        formatter.write_row(row)
    assert bulk._copy_text(rows).encode() == bytes(formatter.end())


class Kind(enum.StrEnum):
    BOOKING = "booking"


def test_a_value_left_to_psycopg_sends_its_part_and_the_rest_row_by_row_in_order(monkeypatch):
    # A str subclass is not COPY text made here: its part, and those after it, go by write_row.
    monkeypatch.setattr(bulk, "COPY_PART_ROWS", 2)
    assert bulk._copy_text([(Kind.BOOKING,)]) is None
    insert_rows(TABLE, [message(f"mixed:{n}", subject_type=Kind.BOOKING if n == 3 else "booking",
                                recipient=f"{n}@example.org") for n in range(7)],
                skip_taken="dedupe_key")
    rows = db.session.execute(select(TABLE.c.dedupe_key, TABLE.c.recipient, TABLE.c.subject_type)
                              .where(TABLE.c.dedupe_key.startswith("mixed:"))
                              .order_by(TABLE.c.id)).all()
    assert [tuple(r) for r in rows] == [(f"mixed:{n}", f"{n}@example.org", "booking")
                                        for n in range(7)]


def test_keys_repeated_in_a_batch_keep_their_first_row():
    insert_rows(TABLE, [message("again:x", recipient="x1@example.org"),
                        message("again:y"),
                        message("again:x", recipient="x2@example.org")],
                skip_taken="dedupe_key")
    assert keys_in_order("again:") == [("again:x", "x1@example.org"),
                                        ("again:y", "a@example.org")]


def test_a_refused_row_raises_integrity_error_and_writes_nothing():
    insert_rows(TABLE, [message("refused:1")])
    with pytest.raises(IntegrityError), db.session.begin_nested():
        insert_rows(TABLE, [message("refused:2"), message("refused:1")])
    assert len(written("refused:")) == 1


def test_no_rows_is_nothing_to_do():
    insert_rows(TABLE, [])
    insert_rows(TABLE, [], skip_taken="dedupe_key")
    assert written("") == []


def test_one_of_finds_what_an_in_list_finds():
    insert_rows(TABLE, [message(f"one:{n}", subject_id=str(n)) for n in range(1, 6)])

    def found(condition: Any) -> list[str]:
        return list(db.session.scalars(select(TABLE.c.dedupe_key).where(condition)
                                       .order_by(TABLE.c.dedupe_key)))

    for wanted in (["2", "4", "9"], [], ["5"]):
        assert found(one_of(TABLE.c.subject_id, wanted)) == found(TABLE.c.subject_id.in_(wanted))
    assert found(one_of(OutboxMessage.subject_id, ["1", "3"])) == ["one:1", "one:3"]
    ids = list(db.session.scalars(select(TABLE.c.id).where(TABLE.c.subject_id == "2")))
    assert found(one_of(TABLE.c.id, ids)) == ["one:2"]



def test_one_of_finds_texts_that_look_like_an_arrays_own_syntax():
    odd = ['a "quoted", text', "back\\slash\\", "NULL", "{1,2}", "", " spaced "]
    insert_rows(TABLE, [message(f"odd:{n}", subject_id=text) for n, text in enumerate(odd)])
    for wanted in (odd, odd[:1], odd[2:4], ["null", "{1", "a"]):
        assert sorted(db.session.scalars(select(TABLE.c.subject_id).where(
            TABLE.c.dedupe_key.startswith("odd:"), one_of(TABLE.c.subject_id, wanted)))) == sorted(
            text for text in odd if text in wanted)


def test_statements_sent_ahead_run_in_order_and_raise_their_errors_as_sqlalchemys():
    insert_rows(TABLE, [message("ahead:1")])
    mine = TABLE.c.dedupe_key == "ahead:1"
    with sent_ahead():
        db.session.execute(update(TABLE).where(mine).values(recipient="b@example.org"))
        db.session.execute(update(TABLE).where(mine).values(recipient=TABLE.c.recipient + ".uk"))
        made_meanwhile = [n * n for n in range(3)]
    assert made_meanwhile == [0, 1, 4]
    assert db.session.scalar(select(TABLE.c.recipient).where(mine)) == "b@example.org.uk"
    with pytest.raises(IntegrityError), db.session.begin_nested(), sent_ahead():
        db.session.execute(update(TABLE).where(mine).values(attempts=-1))  # refused by a CHECK
    assert db.session.execute(select(TABLE.c.recipient, TABLE.c.attempts).where(mine)).one() == (
        "b@example.org.uk", 0)

def test_a_connection_lost_while_statements_are_sent_ahead_is_invalidated():
    if db.session.get_bind().dialect.name != "postgresql":
        pytest.skip("statements are sent ahead on PostgreSQL only")
    insert_rows(TABLE, [message("lost:1")])
    db.session.commit()
    pid = db.session.scalar(text("SELECT pg_backend_pid()"))
    with pytest.raises(DBAPIError) as caught, sent_ahead():
        db.session.execute(update(TABLE).where(TABLE.c.dedupe_key == "lost:1")
                           .values(recipient="lost@example.org"))
        with db.engine.connect() as other:  # the server ends this session's connection
            other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        time.sleep(0.5)
    assert caught.value.connection_invalidated
    assert db.session.connection().invalidated
    db.session.rollback()  # then the session goes on, on a new connection
    assert db.session.scalar(text("SELECT pg_backend_pid()")) != pid
    assert db.session.scalar(select(TABLE.c.recipient).where(
        TABLE.c.dedupe_key == "lost:1")) != "lost@example.org"


def test_pairings_go_in_in_their_order_as_insert_rows_would_write_them():
    bookings = cast(Table, Booking.__table__)
    actor = create_user()
    first, second, third, fourth = (create_referral() for _ in range(4))
    one, two = future_session(), future_session(days=12)
    same = {"status": BookingStatus.ACTIVE, "created_at": NOW.astimezone(LONDON_SUMMER),
            "created_by_id": actor.id}
    with sent_ahead():
        insert_pairings(bookings, {"referral_id": [third.id, first.id, second.id],
                                   "session_id": [one.id, two.id, one.id]}, same=same)
    insert_rows(bookings, [{"referral_id": fourth.id, "session_id": two.id, **same}])
    insert_pairings(bookings, {"referral_id": [], "session_id": []}, same=same)
    columns = [c for c in bookings.c if c.name != "id"]
    rows = [tuple(row) for row in db.session.execute(
        select(*columns).order_by(bookings.c.id))]
    assert [row[:2] for row in rows] == [(third.id, one.id), (first.id, two.id),
                                         (second.id, one.id), (fourth.id, two.id)]
    assert len(set(row[2:] for row in rows)) == 1  # the shared values, stored alike
    assert rows[0][2:5] == (BookingStatus.ACTIVE, NOW, actor.id)


def test_a_refused_pairing_sent_ahead_raises_integrity_error_and_writes_nothing():
    bookings = cast(Table, Booking.__table__)
    referral, session = create_referral(), future_session()
    with pytest.raises(IntegrityError), db.session.begin_nested(), sent_ahead():
        insert_pairings(bookings, {"referral_id": [referral.id, referral.id + 1000],
                                   "session_id": [session.id, session.id]},
                        same={"status": BookingStatus.ACTIVE, "created_at": NOW,
                              "created_by_id": None})
    assert db.session.scalar(select(bookings.c.id)) is None


def test_the_cycle_collector_is_held_off_for_the_block_and_given_back():
    assert gc.isenabled()
    with cycle_collection_paused():
        assert not gc.isenabled()
        with cycle_collection_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the inner block leaves it to the outer one
    assert gc.isenabled()
    with pytest.raises(RuntimeError), cycle_collection_paused():
        raise RuntimeError("a failed bulk write")
    assert gc.isenabled()


AUDIT_COLUMNS = ("at", "actor_user_id", "actor_label", "action", "category", "object_type",
                 "object_id", "address", "details")


def _bulk_insert():
    return BulkInsert(AuditEvent.__table__, AUDIT_COLUMNS, db.session.get_bind().dialect)


def test_bulk_insert_writes_what_a_core_insert_writes_over_several_statements():
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


def test_bulk_insert_refuses_a_naive_datetime_and_writes_nothing():
    rows = [(NOW, None, "system", "test.aware", AuditCategory.COLLECTION, None, None, None, {}),
            (dt.datetime(2026, 6, 15, 9, 0), None, "system", "test.naive",
             AuditCategory.COLLECTION, None, None, None, {})]
    with pytest.raises(ValueError, match="naive datetime refused"):
        _bulk_insert().execute(db.session.connection(), rows)
    db.session.rollback()
    assert db.session.scalar(select(AuditEvent.id).where(
        AuditEvent.action.startswith("test."))) is None


def test_bulk_insert_wants_every_column_with_a_python_side_default():
    with pytest.raises(ValueError, match="details"):
        BulkInsert(AuditEvent.__table__, AUDIT_COLUMNS[:-1], db.session.get_bind().dialect)


def test_a_bulk_write_gives_sqlite_a_larger_page_cache_for_its_block_only():
    """Web workers keep SQLite's small default page cache (issue 17's memory goal); a bulk
    write's connection has the larger one while it writes, then its own again."""
    connection = db.session.connection()
    if connection.dialect.name != "sqlite":
        pytest.skip("a SQLite pragma")

    def cache_size() -> int:
        return int(connection.exec_driver_sql("PRAGMA cache_size").scalar_one())

    before = cache_size()
    assert before == -2000  # SQLite's default: 2 MB
    with bulk_write():
        assert cache_size() == -SQLITE_BULK_CACHE_KIB
        assert not gc.isenabled()
    assert cache_size() == before
    assert gc.isenabled()
