"""Writing many rows at once, as fast as each database takes them.

`insert_rows(table, rows, skip_taken=None)` is `db.session.execute(insert(table), rows)` for
the bulk paths (auto-allocation's bookings, history, audit rows and messages): the same values
go in, converted by each column's own type, in the caller's transaction. What differs is how
they travel: on PostgreSQL one COPY stream rather than a statement a row (the server's cost of
a statement is most of a small row's), on SQLite the driver's executemany of one prepared
INSERT, without SQLAlchemy's work per row. Instants are converted once per distinct value
(a batch shares a few: now, each session's start).

`one_of(column, values)` is `column.in_(values)` for a long list of ids: on PostgreSQL one
array parameter (`= ANY(...)`), not one parameter a value that SQLAlchemy renders and psycopg
parses again for every statement (a fifth of an allocation's own time on PostgreSQL).

`cycle_collection_paused()` holds off Python's cycle collector while a bulk operation makes
its tens of thousands of objects.
"""

from __future__ import annotations

import gc
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Column, ColumnElement, Connection, Date, DateTime, Table, any_, bindparam, exc
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import QueryableAttribute
from sqlalchemy.types import TypeDecorator

from diversion.core.extensions import db


def insert_rows(table: Table, rows: Sequence[Mapping[str, Any]], *,
                skip_taken: str | None = None) -> None:
    """Insert rows (dicts of column values, every row with the first row's keys) in the
    caller's transaction. Column defaults are not filled in: give every value the row needs.

    `skip_taken` names a unique column: a row whose value is already taken (in the table or
    earlier in `rows`) is left out, as ON CONFLICT DO NOTHING. A refused row raises
    SQLAlchemy's IntegrityError, as `execute` would.
    """
    if not rows:
        return
    connection = db.session.connection()
    columns = [table.c[name] for name in rows[0]]
    values = _bound_values(columns, rows, connection)
    if connection.dialect.name == "postgresql":
        _copy(connection, table, columns, values, skip_taken)
        return
    quote = connection.dialect.identifier_preparer.quote
    names = ", ".join(quote(column.name) for column in columns)
    conflict = f" ON CONFLICT ({quote(skip_taken)}) DO NOTHING" if skip_taken else ""
    connection.exec_driver_sql(
        f"INSERT INTO {quote(table.name)} ({names}) "  # noqa: S608 (our own table and columns)
        f"VALUES ({', '.join('?' for _ in columns)}){conflict}", values)


def one_of(column: ColumnElement[Any] | QueryableAttribute[Any],
           values: Collection[Any]) -> ColumnElement[bool]:
    """`column IN values`; on PostgreSQL `column = ANY(values)`, the values one array."""
    if db.session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, list(values), type_=ARRAY(column.type)))
    return column.in_(values)


def _bound_values(columns: Sequence[Column[Any]], rows: Sequence[Mapping[str, Any]],
                  connection: Connection) -> list[tuple[Any, ...]]:
    """Each row's values as the driver takes them (what each column's type makes of them),
    converted a column at a time; an instant once per distinct value."""
    dialect = connection.dialect
    converted = []
    for column in columns:
        values = [row[column.name] for row in rows]
        process = column.type.dialect_impl(dialect).bind_processor(dialect)
        if process is not None and _is_instant(column):
            once = {value: process(value) for value in set(values)}
            values = list(map(once.__getitem__, values))
        elif process is not None:
            values = list(map(process, values))
        converted.append(values)
    return list(zip(*converted, strict=True))


def _is_instant(column: Column[Any]) -> bool:
    kind = column.type.impl_instance if isinstance(column.type, TypeDecorator) else column.type
    return isinstance(kind, DateTime | Date)


def _copy(connection: Connection, table: Table, columns: Sequence[Column[Any]],
          values: list[tuple[Any, ...]], skip_taken: str | None) -> None:
    """COPY the rows in; with `skip_taken`, into a temporary table first, then on into the
    table in their order, leaving out the rows whose value is taken."""
    quote = connection.dialect.identifier_preparer.quote
    names = ", ".join(quote(column.name) for column in columns)
    target = quote(table.name)
    with _driver_errors(connection, target) as cursor:
        if skip_taken is None:
            with cursor.copy(f"COPY {target} ({names}) FROM STDIN") as copy:
                for row in values:
                    copy.write_row(row)
            return
        staging = quote(f"bulk_{table.name}")
        cursor.execute(f"CREATE TEMPORARY TABLE {staging} AS "  # noqa: S608 (our own names)
                       f"SELECT 0 AS bulk_order, {names} FROM {target} WITH NO DATA")
        with cursor.copy(f"COPY {staging} (bulk_order, {names}) FROM STDIN") as copy:
            for order, row in enumerate(values):
                copy.write_row((order, *row))
        cursor.execute(f"INSERT INTO {target} ({names}) "  # noqa: S608 (our own names)
                       f"SELECT {names} FROM {staging} ORDER BY bulk_order "
                       f"ON CONFLICT ({quote(skip_taken)}) DO NOTHING")
        cursor.execute(f"DROP TABLE {staging}")


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
        raise exc.DBAPIError.instance(f"COPY {target}", None, error, dialect.loaded_dbapi.Error,
                                      hide_parameters=True, dialect=dialect) from error


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
