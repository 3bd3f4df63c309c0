"""Declarative base, constraint naming, and a datetime column that only holds UTC."""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterator, Sequence
from typing import Any

from flask import has_request_context, request
from sqlalchemy import DateTime, Enum, MetaData, Table, event
from sqlalchemy.engine import Connection, Dialect, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

# Ids are INTEGER columns: PostgreSQL's is 32-bit. A larger number can name no row.
MAX_DATABASE_INT = 2**31 - 1

# How long a SQLite writer waits for another's commit before "database is locked".
SQLITE_BUSY_TIMEOUT_MS = 15000

# Each SQLite connection's page cache, at most (taken only as pages are used): a bulk write's
# pages (auto-allocation writes some 40 MB of rows and index entries) stay in memory until the
# commit instead of spilling to the log mid-transaction, as with SQLite's default of 2 MB.
SQLITE_CACHE_KIB = 64 * 1024

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


def is_lock_refused(error: BaseException) -> bool:
    """SQLite's answer to a deferred reader that tried to write while another held the lock."""
    return "database is locked" in str(error) or "database table is locked" in str(error)


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
        cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
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


# Bound values a statement may carry: SQLite's limit (since 3.32), within PostgreSQL's 65,535.
MAX_STATEMENT_PARAMETERS = 32_766


class BulkInsert:
    """`INSERT INTO table (columns) VALUES (...), (...), ...` of many rows, for bulk imports:
    what `session.execute(insert(table), dicts)` writes, without its cost a value and a row.

    Values go through the columns' own types (`UTCDateTime` refuses naive datetimes here as
    everywhere), each distinct hashable value of a column once: an import's rows share the
    instant, the actor and most dates, and Core would put each of them into the driver's form
    again for every row. Equal values are stored alike, so remembering them changes nothing
    that is written. The rows go as few multi-row statements as the parameter limit allows
    (an executemany sends the statement's work once a row). Rows are sequences of values in
    the order of `columns`; a column left out must have no Python-side default."""

    def __init__(self, table: Table, columns: Sequence[str], dialect: Dialect) -> None:
        missing = [c.name for c in table.columns
                   if c.default is not None and c.name not in columns]
        if missing:
            raise ValueError(f"{table.name}: give {', '.join(missing)} (Python-side defaults)")
        preparer = dialect.identifier_preparer
        names = ", ".join(preparer.format_column(table.c[column]) for column in columns)
        # Quoted names of the table and its columns: nothing from outside.
        self.head = f"INSERT INTO {preparer.format_table(table)} ({names}) VALUES "  # noqa: S608
        mark = "?" if dialect.paramstyle == "qmark" else "%s"
        if dialect.paramstyle not in ("qmark", "format", "pyformat"):
            raise ValueError(f"no positional parameters for {dialect.paramstyle}")
        self.row = "(" + ", ".join([mark] * len(columns)) + ")"
        # PostgreSQL takes the rows fastest by COPY (psycopg's statements with thousands of
        # placeholders are parsed in Python at every call).
        self.copy = (f"COPY {preparer.format_table(table)} ({names}) FROM STDIN"
                     if dialect.name == "postgresql" else None)
        self.dbapi_error = dialect.loaded_dbapi.Error
        self.rows_a_statement = MAX_STATEMENT_PARAMETERS // len(columns)
        self.statements: dict[int, str] = {}
        self.processors: list[tuple[int, Any]] = []
        for i, column in enumerate(columns):
            processor = table.c[column].type.dialect_impl(dialect).bind_processor(dialect)
            if processor is not None:
                self.processors.append((i, _Remembered(processor)))

    def statement(self, rows: int) -> str:
        if rows not in self.statements:
            self.statements[rows] = self.head + ", ".join([self.row] * rows)
        return self.statements[rows]

    def processed(self, rows: Sequence[Sequence[Any]]) -> Iterator[tuple[Any, ...]]:
        """The rows with their values as the driver takes them, a column at a time."""
        if not rows:
            return iter(())
        values = list(zip(*rows, strict=True))
        for i, remembered in self.processors:
            try:
                values[i] = tuple(map(remembered.__getitem__, values[i]))
            except TypeError:  # unhashable (a JSON value): each object once
                values[i] = _by_identity(remembered.processor, values[i])
        return zip(*values, strict=True)

    def parameters(self, rows: Sequence[Sequence[Any]]) -> list[Any]:
        """The rows' values in one flat list, for a multi-row statement."""
        return [value for row in self.processed(rows) for value in row]

    def execute(self, connection: Connection, rows: Sequence[Sequence[Any]]) -> None:
        if self.copy is not None:
            self._copy(connection, rows)
            return
        step = self.rows_a_statement
        for start in range(0, len(rows), step):
            part = rows[start:start + step]
            connection.exec_driver_sql(self.statement(len(part)), tuple(self.parameters(part)))


    def _copy(self, connection: Connection, rows: Sequence[Sequence[Any]]) -> None:
        """COPY in the connection's transaction; a refusal raised as SQLAlchemy raises it
        (an IntegrityError for a broken constraint), as for any statement."""
        if not rows:
            return
        cursor = connection.connection.cursor()
        try:
            with cursor.copy(self.copy) as copy:
                for row in self.processed(rows):
                    copy.write_row(row)
        except self.dbapi_error as error:
            raise DBAPIError.instance(self.copy, None, error, self.dbapi_error) from error
        finally:
            cursor.close()


class _Remembered(dict[Any, Any]):
    """A column's bind processor's answers, each distinct value's once."""

    def __init__(self, processor: Any) -> None:
        super().__init__()
        self.processor = processor

    def __missing__(self, value: Any) -> Any:
        processed = self[value] = self.processor(value)
        return processed


def _by_identity(processor: Any, values: Sequence[Any]) -> tuple[Any, ...]:
    """A bind processor's answers for one column of one call, each object once: the rows that
    share a value object (an import's rows whose eligibility results are alike) have it
    processed once. The rows keep their objects alive for the call, so no id is reused."""
    keys = list(map(id, values))
    objects = dict(zip(keys, values, strict=True))
    processed = {key: processor(value) for key, value in objects.items()}
    return tuple(map(processed.__getitem__, keys))
