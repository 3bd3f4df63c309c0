"""One scheduler at a time: a PostgreSQL advisory lock, or a lock file beside the SQLite file."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine

# An arbitrary constant shared by every scheduler process of this application.
ADVISORY_LOCK_KEY = 0x0D1_7E25_10


class AlreadyRunning(RuntimeError):
    """Another scheduler process holds the lock."""


def sqlite_lock_path(engine: Engine, instance_path: str) -> Path:
    """The lock file: beside the database file, so every app using that file shares it."""
    database = engine.url.database
    if database in (None, "", ":memory:"):
        return Path(instance_path) / "memory.scheduler.lock"
    return Path(database).resolve().with_name(Path(database).name + ".scheduler.lock")


@contextmanager
def scheduler_lock(engine: Engine, instance_path: str) -> Iterator[None]:
    """Hold the single-scheduler lock for the life of the block, or raise AlreadyRunning.

    Both locks belong to the process: if it dies, the operating system closes the file (flock
    released) or the connection (advisory lock released), so a crash never leaves a stale lock.
    """
    if engine.dialect.name == "postgresql":
        connection: Any = engine.connect()
        try:
            got = connection.execute(
                text("SELECT pg_try_advisory_lock(:key)"), {"key": ADVISORY_LOCK_KEY}
            ).scalar()
            connection.commit()
            if not got:
                raise AlreadyRunning("another scheduler holds the PostgreSQL advisory lock")
            try:
                yield
            finally:
                try:
                    connection.execute(text("SELECT pg_advisory_unlock(:key)"),
                                       {"key": ADVISORY_LOCK_KEY})
                    connection.commit()
                except Exception:  # the server session is gone, and the lock with it
                    connection.invalidate()
        finally:
            # Closing returns the connection to the pool; unlocking above matters for that.
            connection.close()
        return
    lock_path = sqlite_lock_path(engine, instance_path)
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    handle = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise AlreadyRunning(f"another scheduler holds {lock_path}") from exc
        yield
    finally:
        os.close(handle)
