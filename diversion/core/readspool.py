"""The rows a reading request must write on SQLite — the audit row of a read of personal data —
written without the page ever waiting for the write lock, and never lost.

A page that only reads runs in a deferred transaction (core.db) and never waits for SQLite's
one write lock; its audit rows (`core.transactions.add_after_read`) still have to be written,
and an audit row is a legal record: every read of personal data must leave one, even if the
process dies just after the page went out. So once the page's reads are committed, and only if
its handling returned (a refused page leaves no row), `write_after_read`:

1. asks for the write lock *without waiting* (busy timeout 0). Free — the usual case — the rows
   are inserted and committed at once, exactly as any short write, before the response leaves.
2. Held by another connection (an import, a scheduler job, a long form post), the rows are
   appended to the *spool* instead: a small SQLite database of its own beside the main file
   (`<database>.audit-spool`, WAL, the same `synchronous=NORMAL` durability as the database),
   with its own write lock, which only these one-row INSERTs and the fold below ever take. The
   page is answered as soon as that INSERT is committed: a row is on disk before a byte of the
   page is sent, and nothing waits for the main database's writer.
3. This process's *folder*, a daemon thread woken by the spooling, moves the spool into the
   database as soon as the write lock is free: under the database's write lock and then the
   spool's, it inserts the spooled rows in spool order, commits the database, then deletes them
   from the spool. Two folders (two gunicorn workers) take the same locks in the same order, so
   a row is folded by one of them only. A fold that fails (the writer held the lock longer than
   the busy timeout) leaves the rows in the spool and is tried again.

Nothing else can lose a spooled row: a worker that exits folds once more (atexit); one killed
outright leaves its rows in the spool, where the next fold by any process takes them — the
next contended page in any worker, the first audited page of each new worker, or the
scheduler's `fold_read_spool` job every minute. The one window left is a crash between the
database's commit and the spool's delete, which folds those rows a second time: a duplicate,
never a loss. A spooled row's `at` is the instant of the read; its id is given at the fold, so
the audit log orders by `at` (then id), as it always has.

Other options weighed: writing the rows after the response from memory (`call_on_close`, a
queue) loses them if the process dies before the writer gets the lock, and a spool written only
on failure is written too late; a spool that every read goes through would cost each page a
second database's commit even when the lock is free. PostgreSQL readers never wait for
writers, so there the rows stay in the request's own transaction; an in-memory SQLite database
(one connection, nothing to wait for) writes them at once as well.
"""

from __future__ import annotations

import atexit
import datetime as dt
import enum
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any, cast

from flask import Flask, current_app
from sqlalchemy import Date, DateTime, Table, insert, inspect
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError
from sqlalchemy.types import TypeDecorator

from diversion.core.db import SQLITE_BUSY_TIMEOUT_MS, is_lock_refused, take_write_lock
from diversion.core.extensions import db

log = logging.getLogger(__name__)

_EXTENSION = "diversion.readspool"
# Rows folded in one transaction of the database: a long backlog does not hold the lock long.
FOLD_BATCH = 500
# A failed fold is tried again after this long, doubling up to the last.
RETRY_SECONDS = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0)

Row = tuple[Table, dict[str, Any]]


def spool_path(database: str) -> Path:
    """Where the spool of the SQLite database file `database` lives: beside it."""
    return Path(f"{database}.audit-spool")


def write_after_read(rows: Iterable[Any]) -> None:
    """Write a reading request's rows (ORM objects, never added to a session) now if the write
    lock is free, else spool them for the folder: either way without waiting for a writer."""
    values = [_row_values(row) for row in rows]
    path = _spool_path_of_engine()
    if path is None:
        _insert_waiting(values)
        return
    folder = folder_of(current_app._get_current_object())  # type: ignore[attr-defined]
    first = folder.first_look()
    held = take_write_lock()
    try:
        written = _insert_without_waiting(values)
    finally:
        take_write_lock(held)
    if not written:
        _spool(path, values)
        folder.wake()
    elif first and _has_rows(path):
        folder.wake()  # rows a worker that died left behind


def fold(path: Path) -> int:
    """Move every row of the spool at `path` into the database, waiting for the write lock;
    returns how many. Needs an app context; raises if the lock is not had in time (the rows
    stay in the spool)."""
    if not path.exists():
        return 0
    folded = 0
    spool = _open_spool(path)
    while True:
        with db.engine.connect() as connection:
            transaction = connection.begin()  # BEGIN IMMEDIATE: the database's write lock
            try:
                spool.execute("BEGIN IMMEDIATE")  # and the spool's: the rows are this fold's
            except BaseException:
                transaction.rollback()
                raise
            try:
                batch = spool.execute(
                    "SELECT id, table_name, row FROM spool ORDER BY id LIMIT ?",
                    (FOLD_BATCH,)).fetchall()
                for _id, name, text in batch:
                    table = db.metadata.tables[name]
                    connection.execute(insert(table), _decode(table, json.loads(text)))
                transaction.commit()
                if batch:
                    spool.execute("DELETE FROM spool WHERE id <= ?", (batch[-1][0],))
                spool.execute("COMMIT")
            except BaseException:
                if transaction.is_active:
                    transaction.rollback()
                if spool.in_transaction:
                    spool.execute("ROLLBACK")
                raise
        folded += len(batch)
        if len(batch) < FOLD_BATCH:
            return folded


def fold_read_spool(*, now: dt.datetime) -> str:
    """Scheduler job: fold whatever a worker left in the spool. It commits through its own
    connection, the database before the spool, so unlike other jobs it does not wait for
    run_job's commit."""
    path = _spool_path_of_engine()
    if path is None:
        return "no spool: the database is not a SQLite file"
    return f"{fold(path)} spooled row(s) folded"


def wait_until_folded(app: Flask, timeout: float) -> bool:
    """True once this process's folder has nothing left to fold (at once if it never ran)."""
    return folder_of(app).wait(timeout)


class Folder:
    """This process's thread that folds the spool into the database once the lock is free."""

    def __init__(self, app: Flask) -> None:
        self._app = app
        self._guard = threading.Lock()
        self._wanted = threading.Event()
        self._idle = threading.Event()
        self._idle.set()
        self._thread: threading.Thread | None = None
        self._looked_in = 0  # the pid that looked for rows left behind
        self._exit_pid = 0

    def first_look(self) -> bool:
        """True the first time this process asks: time to look for rows left behind."""
        with self._guard:
            first = self._looked_in != os.getpid()
            self._looked_in = os.getpid()
            return first

    def wake(self) -> None:
        """Fold soon, in this process's thread (started here after a fork too)."""
        with self._guard:
            self._idle.clear()
            self._wanted.set()
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="diversion-readspool", daemon=True)
                self._thread.start()
            if self._exit_pid != os.getpid():
                self._exit_pid = os.getpid()
                atexit.register(self._fold_at_exit)

    def wait(self, timeout: float) -> bool:
        return self._idle.wait(timeout)

    def _run(self) -> None:
        failures = 0
        while True:
            self._wanted.wait()
            self._wanted.clear()
            try:
                self._fold()
            except Exception as error:  # noqa: BLE001 (the rows stay spooled; try again)
                pause = RETRY_SECONDS[min(failures, len(RETRY_SECONDS) - 1)]
                failures += 1
                if isinstance(error, OperationalError) and is_lock_refused(error):
                    log.warning("audit spool: the write lock is still held; trying again")
                else:
                    log.exception("audit spool: the fold failed; trying again in %ss", pause)
                time.sleep(pause)
                self._wanted.set()
                continue
            failures = 0
            with self._guard:
                if not self._wanted.is_set():
                    self._idle.set()

    def _fold_at_exit(self) -> None:
        if self._idle.is_set():
            return
        try:
            self._fold()
        except Exception:
            log.exception("audit spool: rows left for the next fold")

    def _fold(self) -> None:
        with self._app.app_context():
            path = _spool_path_of_engine()
            if path is not None:
                fold(path)


def folder_of(app: Flask) -> Folder:
    """The app's folder (one per app and process)."""
    folder = app.extensions.get(_EXTENSION)
    if folder is None:
        folder = app.extensions.setdefault(_EXTENSION, Folder(app))
    return cast(Folder, folder)


def _spool_path_of_engine() -> Path | None:
    url = db.engine.url
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return spool_path(str(url.database))


def _row_values(row: Any) -> Row:
    """The table of an ORM object and the column values it was given."""
    state = inspect(row)
    values = {attribute.columns[0].name: state.dict[attribute.key]
              for attribute in state.mapper.column_attrs if attribute.key in state.dict}
    return cast(Table, state.mapper.local_table), values


def _insert(connection: Connection, rows: list[Row]) -> None:
    for table, values in rows:
        connection.execute(insert(table), values)
    connection.commit()


def _insert_waiting(rows: list[Row]) -> None:
    held = take_write_lock()
    try:
        with db.engine.connect() as connection:
            _insert(connection, rows)
    finally:
        take_write_lock(held)


def _insert_without_waiting(rows: list[Row]) -> bool:
    """Insert and commit if the write lock is free this instant; False (nothing written) if
    another connection holds it."""
    with db.engine.connect() as connection:
        sqlite = connection.connection.driver_connection
        assert sqlite is not None
        sqlite.execute("PRAGMA busy_timeout=0")
        try:
            _insert(connection, rows)  # begins IMMEDIATE: the request asked for the lock
            return True
        except OperationalError as error:
            connection.rollback()
            if not is_lock_refused(error):
                raise
            return False
        finally:
            sqlite.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")


_connections = threading.local()


def _open_spool(path: Path) -> sqlite3.Connection:
    """This thread's connection to the spool, kept open: the last connection to close a WAL
    database checkpoints it and syncs the files, which cost a page 15-20 ms."""
    cache: dict[tuple[int, str], sqlite3.Connection] = _connections.__dict__.setdefault(
        "spools", {})
    key = (os.getpid(), str(path))  # a connection is never used across a fork
    spool = cache.get(key)
    if spool is None:
        spool = sqlite3.connect(path, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000,
                                isolation_level=None, check_same_thread=True)
        spool.execute("PRAGMA journal_mode=WAL")
        spool.execute("PRAGMA synchronous=NORMAL")
        spool.execute("CREATE TABLE IF NOT EXISTS spool (id INTEGER PRIMARY KEY AUTOINCREMENT,"
                      " table_name TEXT NOT NULL, row TEXT NOT NULL)")
        cache[key] = spool
    return spool


def _has_rows(path: Path) -> bool:
    if not path.exists():
        return False
    spool = _open_spool(path)
    return bool(spool.execute("SELECT EXISTS (SELECT 1 FROM spool)").fetchone()[0])


def _spool(path: Path, rows: list[Row]) -> None:
    spool = _open_spool(path)
    spool.execute("BEGIN IMMEDIATE")
    try:
        spool.executemany("INSERT INTO spool (table_name, row) VALUES (?, ?)",
                          [(table.name, json.dumps(values, default=_encode))
                           for table, values in rows])
        spool.execute("COMMIT")
    except BaseException:
        if spool.in_transaction:
            spool.execute("ROLLBACK")
        raise


def _encode(value: Any) -> Any:
    if isinstance(value, dt.date):  # and datetimes: aware instants keep their offset
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    raise TypeError(f"a {type(value).__name__} cannot be spooled")


def _decode(table: Table, values: dict[str, Any]) -> dict[str, Any]:
    decoded = dict(values)
    for name, value in values.items():
        column_type = table.c[name].type
        kind = column_type.impl_instance if isinstance(column_type, TypeDecorator) else column_type
        if isinstance(value, str) and isinstance(kind, DateTime):
            decoded[name] = dt.datetime.fromisoformat(value)
        elif isinstance(value, str) and isinstance(kind, Date):
            decoded[name] = dt.date.fromisoformat(value)
    return decoded
