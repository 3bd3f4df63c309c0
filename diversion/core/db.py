"""Declarative base, constraint naming, and a datetime column that only holds UTC."""

from __future__ import annotations

import datetime as dt
import enum
import re
from typing import Any

from flask import has_request_context, request
from sqlalchemy import DateTime, Enum, MetaData, event, text
from sqlalchemy.engine import Dialect, Engine, ExceptionContext
from sqlalchemy.orm import DeclarativeBase, Session, scoped_session
from sqlalchemy.types import TypeDecorator

# Ids are INTEGER columns: PostgreSQL's is 32-bit. A larger number can name no row.
MAX_DATABASE_INT = 2**31 - 1

# How long a SQLite writer waits for another's commit before "database is locked".
SQLITE_BUSY_TIMEOUT_MS = 15000

# A bulk write's SQLite page cache, at most (taken only as pages are used): its pages
# (auto-allocation writes some 40 MB of rows and index entries) stay in memory until the commit
# instead of spilling to the log mid-transaction, as with SQLite's default of 2 MB. Only for the
# block of a bulk write (`core.bulk.bulk_write`): every connection of a web worker holding 64 MB
# would put its memory over issue 17's 150 MB.
SQLITE_BULK_CACHE_KIB = 64 * 1024

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """An instant stored in UTC. Naive datetimes are refused rather than guessed at."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if not isinstance(value, dt.datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("naive datetime refused: attach a timezone before storing")
        instant = value.astimezone(dt.UTC)
        if dialect.name == "sqlite":
            # SQLite has no timezone type; store naive UTC so strings sort as instants.
            return instant.replace(tzinfo=None)
        return instant

    def process_result_value(self, value: Any, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if not isinstance(value, dt.datetime):
            raise TypeError(f"the database returned {type(value).__name__} for a datetime")
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


# A web request with one of these methods only reads (HTTP's safe methods): on SQLite its
# transaction is deferred, so it reads a WAL snapshot and never waits for, nor holds, the write
# lock. Every other transaction (forms, API writes, CLI, scheduler jobs) begins IMMEDIATE.
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_WRITE_LOCK_KEY = "diversion.write_lock"


def is_read_request() -> bool:
    """True inside a safe-method request that has not asked for the write lock: its SQLite
    transactions begin deferred."""
    return (has_request_context() and request.method in READ_METHODS
            and not request.environ.get(_WRITE_LOCK_KEY, False))


def take_write_lock(take: bool = True) -> bool:
    """Make this request's next transactions begin IMMEDIATE (the write lock), or, with False,
    deferred again; returns what was asked before."""
    before = bool(request.environ.get(_WRITE_LOCK_KEY, False))
    request.environ[_WRITE_LOCK_KEY] = take
    return before


def set_local(session: Session | scoped_session[Any], *settings: str) -> None:
    """On PostgreSQL, `SET LOCAL` each of these planner settings ("jit = off") for the rest of
    the session's transaction (so nothing outlives it on a pooled connection); elsewhere
    nothing."""
    if session.get_bind().dialect.name == "postgresql":
        for setting in settings:
            session.execute(text(f"SET LOCAL {setting}"))


def is_lock_refused(error: BaseException) -> bool:
    """SQLite's answer to a deferred reader that tried to write while another held the lock."""
    return "database is locked" in str(error) or "database table is locked" in str(error)


# The value PostgreSQL quotes at the end of some first lines: `invalid input syntax for type
# date: "Smith"`.
_QUOTED_VALUE = re.compile(r': ".*"$', re.S)


def _first_line(message: str) -> str:
    return _QUOTED_VALUE.sub(': "…"', message.split("\n", 1)[0])


def redact_driver_error(error: BaseException) -> None:
    """Keep only the first line of a database error's message, in place. PostgreSQL adds the
    values to it (`DETAIL: Key (email)=(…) already exists`, `Failing row contains (…)`, `CONTEXT:
    COPY referrals, line 5: "…"`), which `hide_parameters` does not hide, and a logged traceback
    (a 500, a failed job) would carry them: personal data never goes in logs. The error's class,
    SQLSTATE and constraint name (`diag`) are kept for the code that needs them."""
    if error.args and isinstance(error.args[0], str):
        error.args = (_first_line(error.args[0]), *error.args[1:])


def _redact_statement_error(context: ExceptionContext) -> None:
    redact_driver_error(context.original_exception)
    if context.sqlalchemy_exception is not None:
        redact_driver_error(context.sqlalchemy_exception)


def redact_statement_errors(engine: Engine) -> None:
    """Every statement's error keeps only its first line (redact_driver_error)."""
    event.listen(engine, "handle_error", _redact_statement_error)


def configure_sqlite(engine: Engine) -> None:
    """WAL, a busy timeout and foreign keys; a deferred transaction for a request that only
    reads, BEGIN IMMEDIATE for everything else, so writers queue instead of failing."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN DEFERRED" if is_read_request() else "BEGIN IMMEDIATE")


def enum_column(enum_cls: type[enum.Enum], name: str) -> Enum:
    """A portable enum column stored as its values, checked by the database."""
    return Enum(
        enum_cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=32,
        values_callable=lambda members: [m.value for m in members],
        validate_strings=True,
    )
