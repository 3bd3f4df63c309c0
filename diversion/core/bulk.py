"""Writing many rows at once, as fast as each database takes them.

`BulkInsert(table, columns, dialect, skip_taken=None)` is made once for a table and executed
for each batch (the referral import's chunks); `insert_rows(table, rows, skip_taken=None)` is
a one-off batch of dicts (auto-allocation's history, audit rows and messages, the reminder
states). Either is `db.session.execute(insert(table), rows)`: the same values go in,
converted by each column's own type, in the caller's transaction. What differs is how they
travel: on PostgreSQL one COPY stream rather than a statement a row (the server's cost of a
statement is most of a small row's), on SQLite a few multi-row INSERTs, without SQLAlchemy's
work per row; and each distinct value of a column is converted once (a batch shares a few
instants, actors and dates; a JSON object shared by rows is dumped once, on PostgreSQL too).
A COPY converts and sends its rows a thousand at a time, so the server stores one part while
the next is converted, and writes a part's text itself, a column at a time (the bytes psycopg's
dumpers would send, without their call a value); with `skip_taken` it goes straight into the
table under a savepoint, and through a temporary table (ON CONFLICT DO NOTHING) only when a
value turns out taken.

`one_of(column, values)` is `column.in_(values)` for a long list of ids: on PostgreSQL one
array parameter (`= ANY(...)`), not one parameter a value that SQLAlchemy renders and psycopg
parses again for every statement (a fifth of an allocation's own time on PostgreSQL); the
array goes as one text in the array's own syntax (`{1,2,3}`), not through psycopg's list
dumper, which calls an element dumper a value.

`sent_ahead()` sends the statements executed in its block without waiting for their results
(PostgreSQL's pipeline mode), so the caller makes what comes next while the server runs them.
`insert_pairings(table, ids, same=)` writes rows that pair up ids and share their other values
(auto-allocation's bookings) as one statement that can be sent ahead, where COPY cannot.

`cycle_collection_paused()` holds off Python's cycle collector while a bulk operation makes
its tens of thousands of objects; `bulk_write()` does that and, on SQLite, gives the session's
connection a larger page cache for the block.
"""

from __future__ import annotations

import datetime as dt
import decimal
import gc
import itertools
import json
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from operator import itemgetter
from typing import Any

from sqlalchemy import (
    JSON,
    ColumnElement,
    Connection,
    Dialect,
    Table,
    TypeDecorator,
    any_,
    bindparam,
    exc,
    func,
    insert,
    literal,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import QueryableAttribute

from diversion.core.db import SQLITE_BULK_CACHE_KIB, redact_driver_error
from diversion.core.extensions import db

# Bound values a statement may carry: SQLite's limit (since 3.32), within PostgreSQL's 65,535.
MAX_STATEMENT_PARAMETERS = 32_766
# Rows of a COPY converted at a time: small enough that the server is busy storing a part while
# the next is converted, large enough that converting a column at a time pays.
COPY_PART_ROWS = 1_000
UNIQUE_VIOLATION = "23505"  # PostgreSQL's SQLSTATE


class BulkInsert:
    """`INSERT INTO table (columns) VALUES (...), (...), ...` of many rows, made once for a
    table and its columns and executed for as many batches as needed (an import's chunks):
    what `session.execute(insert(table), dicts)` writes, without its cost a value and a row.

    Values go through the columns' own types (`UTCDateTime` refuses naive datetimes here as
    everywhere), each distinct value of a column once: a batch's rows share the instant, the
    actor, most dates, and often one JSON object, and Core would put each of them into the
    driver's form again for every row. Equal values are stored alike, so remembering them
    changes nothing that is written. On SQLite the rows go as few multi-row statements as the
    parameter limit allows; on PostgreSQL as one COPY stream (psycopg parses a statement with
    thousands of placeholders in Python at every call). Rows are sequences of values in the
    order of `columns`; a column left out must have no Python-side default (it would not be
    filled in).

    `skip_taken` names a unique column: a row whose value is already taken (in the table or
    earlier in the rows) is left out, as ON CONFLICT DO NOTHING. A refused row raises
    SQLAlchemy's IntegrityError, as `execute` would."""

    def __init__(self, table: Table, columns: Sequence[str], dialect: Dialect, *,
                 skip_taken: str | None = None) -> None:
        missing = [c.name for c in table.columns
                   if c.default is not None and c.name not in columns]
        if missing:
            raise ValueError(f"{table.name}: give {', '.join(missing)} (Python-side defaults)")
        if dialect.paramstyle not in ("qmark", "format", "pyformat"):
            raise ValueError(f"no positional parameters for {dialect.paramstyle}")
        quote = dialect.identifier_preparer.quote
        self.table, self.skip_taken = quote(table.name), skip_taken
        self.names = ", ".join(quote(table.c[column].name) for column in columns)
        # Quoted names of our own table and columns: nothing from outside.
        self.head = f"INSERT INTO {self.table} ({self.names}) VALUES "  # noqa: S608
        self.tail = f" ON CONFLICT ({quote(skip_taken)}) DO NOTHING" if skip_taken else ""
        mark = "?" if dialect.paramstyle == "qmark" else "%s"
        self.row = "(" + ", ".join([mark] * len(columns)) + ")"
        self.column_index = {column: i for i, column in enumerate(columns)}
        self.on_postgresql = dialect.name == "postgresql"
        self.rows_a_statement = MAX_STATEMENT_PARAMETERS // len(columns)
        self.statements: dict[int, str] = {}
        self.processors: list[tuple[int, _Remembered]] = []
        for i, column in enumerate(columns):
            processor: Callable[[Any], Any] | None = (
                table.c[column].type.dialect_impl(dialect).bind_processor(dialect))
            if (processor is not None and self.on_postgresql
                    and isinstance(table.c[column].type, JSON)
                    and getattr(dialect, "_json_serializer", None) is None):
                processor = _json_text(processor)
            if processor is not None:
                self.processors.append((i, _Remembered(processor)))

    def execute(self, connection: Connection, rows: Iterable[Sequence[Any]]) -> None:
        """Insert the rows in the connection's transaction. They may be made as they are
        written (a generator): on PostgreSQL the server stores them meanwhile, so a generator
        must not use the database (the connection is busy with the COPY)."""
        if self.on_postgresql:
            self._copy(connection, rows)
            return
        if not isinstance(rows, Sequence):
            rows = list(rows)
        if not rows:
            return
        step = self.rows_a_statement
        for start in range(0, len(rows), step):
            part = rows[start:start + step]
            connection.exec_driver_sql(
                self._statement(len(part)),
                tuple(itertools.chain.from_iterable(self.processed(part))))

    def processed(self, rows: Sequence[Sequence[Any]]) -> list[tuple[Any, ...]]:
        """The rows with their values as the driver takes them, converted a column at a time."""
        if not rows:
            return []
        values = list(zip(*rows, strict=True))
        for i, remembered in self.processors:
            try:
                values[i] = tuple(map(remembered.__getitem__, values[i]))
            except TypeError:  # unhashable (a JSON value): each object once
                values[i] = _by_identity(remembered.processor, values[i])
        return list(zip(*values, strict=True))

    def _statement(self, rows: int) -> str:
        if rows not in self.statements:
            self.statements[rows] = self.head + ", ".join([self.row] * rows) + self.tail
        return self.statements[rows]

    def _copy(self, connection: Connection, rows: Iterable[Sequence[Any]]) -> None:
        """COPY the rows straight into the table, converted and sent a part at a time so that
        the server stores one part while the next is made ready.

        With `skip_taken`, a value repeated in the rows keeps its first row, and the rows go
        in under a savepoint: when a value is already in the table (a rare case: the callers
        skip the values they know of) the copy is undone and the rows go through a temporary
        table instead, on into the table in their order, leaving out the taken ones."""
        parts = self._parts(rows)
        first = next(parts, None)
        if first is None:
            return
        parts = itertools.chain([first], parts)
        sent: list[tuple[Any, ...]] = []
        with _driver_errors(connection, self.table) as cursor:
            if self.skip_taken is None:
                self._stream(cursor, parts, sent)
                return
            cursor.execute("SAVEPOINT bulk_copy")
            try:
                self._stream(cursor, parts, sent)
            except connection.dialect.loaded_dbapi.IntegrityError as error:
                if getattr(error, "sqlstate", None) != UNIQUE_VIOLATION:
                    raise
                cursor.execute("ROLLBACK TO SAVEPOINT bulk_copy")
                cursor.execute("RELEASE SAVEPOINT bulk_copy")
                self._copy_skipping_taken(
                    cursor, [*sent, *(row for part in parts for row in self.processed(part))])
                return
            cursor.execute("RELEASE SAVEPOINT bulk_copy")

    def _parts(self, rows: Iterable[Sequence[Any]]) -> Iterator[list[Sequence[Any]]]:
        """The rows in lists of COPY_PART_ROWS, as they come; with `skip_taken`, without the
        rows whose value an earlier row has (as ON CONFLICT DO NOTHING leaves them out)."""
        index = None if self.skip_taken is None else self.column_index[self.skip_taken]
        seen: set[Any] = set()
        part: list[Sequence[Any]] = []
        for row in rows:
            if index is not None:
                if row[index] in seen:
                    continue
                seen.add(row[index])
            part.append(row)
            if len(part) == COPY_PART_ROWS:
                yield part
                part = []
        if part:
            yield part

    def _stream(self, cursor: Any, parts: Iterable[list[Sequence[Any]]],
                sent: list[tuple[Any, ...]]) -> None:
        """COPY the parts' rows into the table, each part converted while the server stores
        the one before; the converted rows are kept in `sent`.

        A part goes as COPY's text, made a column at a time (`_copy_text`); a part with a
        value of another kind goes row by row through psycopg's own dumpers, and so does
        every part after it (psycopg holds its rows back, and the rows keep their order)."""
        by_row = False
        with cursor.copy(f"COPY {self.table} ({self.names}) FROM STDIN") as copy:
            for part in parts:
                converted = self.processed(part)
                sent += converted
                text = None if by_row else _copy_text(converted)
                if text is not None:
                    copy.write(text)
                    continue
                by_row = True
                for row in converted:
                    copy.write_row(row)

    def _copy_skipping_taken(self, cursor: Any, values: list[tuple[Any, ...]]) -> None:
        staging = f"bulk_{self.table.strip(chr(34))}"
        cursor.execute(f"CREATE TEMPORARY TABLE {staging} AS "  # noqa: S608 (our own names)
                       f"SELECT 0 AS bulk_order, {self.names} FROM {self.table} WITH NO DATA")
        with cursor.copy(f"COPY {staging} (bulk_order, {self.names}) FROM STDIN") as copy:
            for order, row in enumerate(values):
                copy.write_row((order, *row))
        cursor.execute(f"INSERT INTO {self.table} ({self.names}) "  # noqa: S608 (ours)
                       f"SELECT {self.names} FROM {staging} ORDER BY bulk_order{self.tail}")
        cursor.execute(f"DROP TABLE {staging}")


# COPY's text format: a column's values joined by tabs, rows ended by a newline, NULL as \N;
# a backslash, tab, newline or carriage return in a value is written as its escape.
_COPY_ESCAPES = (("\\", "\\\\"), ("\t", "\\t"), ("\n", "\\n"), ("\r", "\\r"))
_COPY_NULL = "\\N"


class _NotText(Exception):
    """A value `_copy_text` does not write itself (psycopg's dumpers do)."""


def _copy_text(rows: Sequence[Sequence[Any]]) -> str | None:
    """The rows (values as the driver takes them) as COPY's text, or None when a value is of a
    kind left to psycopg. What psycopg's text dumpers send for the same values (ISO 8601
    dates and instants, "t"/"f", decimal numbers), made a column at a time with str's own
    methods rather than a dumper call a value: a third of an allocation's client time went to
    psycopg's `write_row`."""
    if not rows:
        return ""
    try:
        columns = [_text_column(column) for column in zip(*rows, strict=True)]
    except _NotText:
        return None
    return "\n".join(map("\t".join, zip(*columns, strict=True))) + "\n"


def _text_column(values: tuple[Any, ...]) -> Sequence[str]:
    kinds = set(map(type, values))
    if kinds <= {str, type(None)}:
        # Escaped all at once: the values joined by NUL, which no text value may hold.
        joined = "\0".join(["" if value is None else value for value in values])
        if joined.count("\0") != len(values) - 1:
            raise _NotText  # a NUL in a value: psycopg's dumper says what is wrong
        for plain, escaped in _COPY_ESCAPES:
            if plain in joined:
                joined = joined.replace(plain, escaped)
        texts = joined.split("\0")
        if type(None) in kinds:
            texts = [_COPY_NULL if value is None else text
                     for value, text in zip(values, texts, strict=True)]
        return texts
    if kinds <= {int, type(None)}:
        return [_COPY_NULL if value is None else str(value) for value in values]
    texts_of: dict[Any, str] = {}
    try:
        return [texts_of[value] if value in texts_of
                else texts_of.setdefault(value, _text_value(value)) for value in values]
    except TypeError as error:  # unhashable
        raise _NotText from error


def _text_value(value: Any) -> str:
    kind = type(value)
    if value is None:
        return _COPY_NULL
    if kind is bool:
        return "t" if value else "f"
    if kind is int:
        return str(value)
    if kind is str:
        return _text_column((value,))[0]
    if kind is dt.date:
        return str(value.isoformat())
    if kind is dt.datetime and (value.tzinfo is None or value.utcoffset() is not None):
        return str(value.isoformat(" "))
    if kind is decimal.Decimal and value.is_finite():
        return str(value)
    raise _NotText


def insert_rows(table: Table, rows: Sequence[Mapping[str, Any]], *,
                skip_taken: str | None = None) -> None:
    """Insert rows (dicts of column values, every row with the first row's keys) in the
    session's transaction, as a `BulkInsert` of those columns: a one-off batch. Column
    defaults are not filled in: give every value the row needs."""
    if not rows:
        return
    connection = db.session.connection()
    columns = list(rows[0])
    # itemgetter of several keys gives each row's values as a tuple, at C speed.
    values = (list(map(itemgetter(*columns), rows)) if len(columns) > 1
              else [(row[columns[0]],) for row in rows])
    BulkInsert(table, columns, connection.dialect, skip_taken=skip_taken).execute(
        connection, values)


def insert_pairings(table: Table, ids: Mapping[str, Sequence[int]], *,
                    same: Mapping[str, Any]) -> None:
    """Insert rows that pair up ids and share every other value: row i has `ids[column][i]` in
    each column of `ids` and `same[column]` in each of `same`, inserted in the rows' order (so
    their own ids are taken in that order), in the session's transaction; the values converted
    by the columns' own types. What `insert_rows` writes for the same rows; on PostgreSQL as
    one statement, `INSERT ... SELECT ... FROM unnest(an array a column) WITH ORDINALITY`,
    which `sent_ahead` can send without waiting for it (COPY cannot be), so that the caller
    works while the server stores the rows and checks their foreign keys."""
    columns = list(ids)
    count = len(ids[columns[0]]) if columns else 0
    if count == 0:
        return
    connection = db.session.connection()
    if connection.dialect.name != "postgresql":
        shared = tuple(same.values())
        BulkInsert(table, [*columns, *same], connection.dialect).execute(connection, [
            (*values, *shared) for values in zip(*(ids[c] for c in columns), strict=True)])
        return
    arrays = [bindparam(None, list(ids[column]), type_=_ArrayText(table.c[column].type))
              for column in columns]
    given = func.unnest(*arrays).table_valued(*columns, with_ordinality="n").render_derived()
    db.session.execute(insert(table).from_select(
        [*columns, *same],
        select(*(given.c[column] for column in columns),
               *(literal(value, table.c[column].type) for column, value in same.items()))
        .order_by(given.c.n)))


def one_of(column: ColumnElement[Any] | QueryableAttribute[Any],
           values: Collection[Any]) -> ColumnElement[bool]:
    """`column IN values`; on PostgreSQL `column = ANY(values)`, the values one array."""
    if db.session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, list(values), type_=_ArrayText(column.type)))
    return column.in_(values)


class _ArrayText(TypeDecorator[list[Any]]):
    """An array of integers or strings bound as one text in PostgreSQL's array syntax
    (`{1,2,3}`), of no declared type, cast by the statement to the column's array type
    (`%(param)s::INTEGER[]`): the server reads it as a constant of that type, as it reads a
    list psycopg sends, so the planner's estimates are the same. psycopg's list dumper calls an
    element dumper a value (a tenth of an allocation's client time on PostgreSQL, where its
    10,000 ids go through a dozen statements). Values of any other kind go as a list."""

    impl = ARRAY
    cache_ok = True

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        return _array_text


def _array_text(values: list[Any] | None) -> Any:
    if values is None:
        return None
    kinds = set(map(type, values))
    if kinds <= {int}:
        return "{" + ",".join(map(str, values)) + "}"
    if kinds <= {str}:
        # Every element quoted, its backslashes and double quotes escaped: no text can be
        # read as NULL, a separator or a nested array.
        return "{" + ",".join(
            '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
            for value in values) + "}"
    return values


class _Remembered(dict[Any, Any]):
    """A column's bind processor's answers, each distinct value's once."""

    def __init__(self, processor: Callable[[Any], Any]) -> None:
        super().__init__()
        self.processor = processor

    def __missing__(self, value: Any) -> Any:
        processed = self[value] = self.processor(value)
        return processed


def _json_text(processor: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """A JSON column's bind processor on PostgreSQL, giving the text psycopg would send for
    its answer (a `Json` wrapper, which psycopg dumps with json.dumps when the engine names no
    serializer): made once per distinct object here, rather than once a row as COPY writes
    it (many rows of a bulk write share their context object)."""
    def process(value: Any) -> Any:
        wrapped = processor(value)
        return None if wrapped is None else json.dumps(wrapped.obj)

    return process


def _by_identity(processor: Callable[[Any], Any], values: Sequence[Any]) -> tuple[Any, ...]:
    """A bind processor's answers for one column of one call, each object once: the rows that
    share a value object (an import's rows whose eligibility results are alike) have it
    processed once. The rows keep their objects alive for the call, so no id is reused."""
    keys = list(map(id, values))
    objects = dict(zip(keys, values, strict=True))
    processed = {key: processor(value) for key, value in objects.items()}
    return tuple(map(processed.__getitem__, keys))


@contextmanager
def _driver_errors(connection: Connection, target: str) -> Iterator[Any]:
    """A cursor of the driver's own connection (COPY is not a statement SQLAlchemy runs), its
    errors raised as SQLAlchemy's (IntegrityError for a refused row), without the values."""
    dialect = connection.dialect
    driver = connection.connection.driver_connection
    if driver is None:
        raise RuntimeError("the connection is closed")
    try:
        with driver.cursor() as cursor:
            yield cursor
    except dialect.loaded_dbapi.Error as error:
        redact_driver_error(error)  # COPY's CONTEXT quotes the refused row
        raise exc.DBAPIError.instance(f"COPY {target}", None, error, dialect.loaded_dbapi.Error,
                                      hide_parameters=True, dialect=dialect) from error


@contextmanager
def sent_ahead() -> Iterator[None]:
    """Statements executed in the block are sent without waiting for their results, on
    PostgreSQL (psycopg's pipeline mode): the block goes on making what comes next (rows for a
    bulk write, say) while the server runs them, and leaving the block waits for them and
    raises their errors, as SQLAlchemy's. A read in the block waits for everything sent
    before it. Nothing else changes: the statements run in the session's transaction, in
    order; on SQLite (in the process: nothing to overlap) each runs when executed. No bulk
    write in the block: PostgreSQL refuses COPY in pipeline mode."""
    connection = db.session.connection()
    dbapi = connection.dialect.loaded_dbapi
    pipeline = getattr(dbapi, "Pipeline", None)  # psycopg's, on PostgreSQL
    if pipeline is None or not pipeline.is_supported():  # libpq 14 or later
        yield
        return
    driver = connection.connection.driver_connection
    if driver is None:
        raise RuntimeError("the connection is closed")
    try:
        with driver.pipeline():
            yield
    except dbapi.Error as error:
        # As SQLAlchemy does for a statement's error: a lost connection is invalidated, so the
        # pool never lends it again (the session must roll back before going on).
        lost = connection.dialect.is_disconnect(error, driver, None)
        if lost:
            connection.invalidate(error)
        redact_driver_error(error)
        raise exc.DBAPIError.instance("statements sent ahead", None, error, dbapi.Error,
                                      hide_parameters=True, connection_invalidated=lost,
                                      dialect=connection.dialect) from error


@contextmanager
def cycle_collection_paused() -> Iterator[None]:
    """Python's cycle collector held off for the block (or decorated function). A bulk
    operation makes tens of thousands of objects, and each batch of them set off a full pass
    over every object in the process (several passes, a fifth of an allocation's time) that
    found nothing to free: rows and ORM objects are freed by reference counting. The collector
    runs as usual afterwards; a block inside another leaves it to the outer one."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@contextmanager
def bulk_write() -> Iterator[None]:
    """The block of a bulk write (auto-allocation, an import): the cycle collector held off
    and, on SQLite, the session's connection given a page cache of SQLITE_BULK_CACHE_KIB
    (core.db) so that the write's pages stay in memory until the commit; the connection's own
    cache size is put back afterwards, so the pool's connections keep SQLite's small default."""
    connection = db.session.connection()
    on_sqlite = connection.dialect.name == "sqlite"
    before = 0
    if on_sqlite:
        before = int(connection.exec_driver_sql("PRAGMA cache_size").scalar_one())
        connection.exec_driver_sql(f"PRAGMA cache_size=-{SQLITE_BULK_CACHE_KIB}")
    try:
        with cycle_collection_paused():
            yield
    finally:
        if on_sqlite and not connection.closed:
            connection.exec_driver_sql(f"PRAGMA cache_size={before}")
