"""One active scheduler at a time: a PostgreSQL advisory lock, or a lock file beside SQLite's.

Both locks belong to the process: if it dies, the operating system closes the file (flock
released) or the server ends its session (advisory lock released), so a crash never leaves a
stale lock, and a standby polling `try_acquire` takes over within one poll.
"""

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


class LockLost(RuntimeError):
    """The database session that held the advisory lock is gone, and the lock with it."""


def sqlite_lock_path(engine: Engine, instance_path: str) -> Path:
    """The lock file: beside the database file, so every app using that file shares it."""
    database = engine.url.database
    if database in (None, "", ":memory:"):
        return Path(instance_path) / "memory.scheduler.lock"
    return Path(database).resolve().with_name(Path(database).name + ".scheduler.lock")


class SchedulerLock:
    """The single-scheduler lock, tried without blocking as often as the caller likes.

    On PostgreSQL it is a session-level advisory lock held by a connection of its own, kept
    open for the life of the lock (a standby keeps its connection between tries); on SQLite an
    exclusive flock on the lock file.
    """

    def __init__(self, engine: Engine, instance_path: str) -> None:
        self.engine = engine
        self.instance_path = instance_path
        self.held = False
        self._connection: Any = None
        self._handle: int | None = None

    @property
    def description(self) -> str:
        if self.engine.dialect.name == "postgresql":
            return "the PostgreSQL advisory lock"
        return str(sqlite_lock_path(self.engine, self.instance_path))

    def try_acquire(self) -> bool:
        """Take the lock if it is free; False when another process holds it."""
        if self.held:
            return True
        if self.engine.dialect.name == "postgresql":
            self.held = self._try_advisory_lock()
        else:
            self.held = self._try_flock()
        return self.held

    def check(self) -> None:
        """Raise LockLost if the lock has gone with its database session (a server restart):
        another scheduler may hold it now, so this one must stop."""
        if not self.held or self._connection is None:
            return
        try:
            self._connection.execute(text("SELECT 1"))
            self._connection.commit()
        except Exception as exc:
            self._connection.invalidate()
            self._connection = None
            self.held = False
            raise LockLost("the database session holding the scheduler lock ended") from exc

    def release(self) -> None:
        if self._connection is not None:
            if self.held:
                try:
                    self._connection.execute(text("SELECT pg_advisory_unlock(:key)"),
                                             {"key": ADVISORY_LOCK_KEY})
                    self._connection.commit()
                except Exception:  # the server session is gone, and the lock with it
                    self._connection.invalidate()
            # Closing returns the connection to the pool; unlocking above matters for that.
            self._connection.close()
            self._connection = None
        if self._handle is not None:
            os.close(self._handle)
            self._handle = None
        self.held = False

    def _try_advisory_lock(self) -> bool:
        if self._connection is None:
            self._connection = self.engine.connect()
        try:
            got = bool(self._connection.execute(
                text("SELECT pg_try_advisory_lock(:key)"), {"key": ADVISORY_LOCK_KEY}
            ).scalar())
            self._connection.commit()
        except Exception:
            # The standby's own connection broke (a server restart): try afresh next time.
            self._connection.invalidate()
            self._connection.close()
            self._connection = None
            raise
        return got

    def _try_flock(self) -> bool:
        if self._handle is None:
            lock_path = sqlite_lock_path(self.engine, self.instance_path)
            lock_path.parent.mkdir(parents=True, exist_ok=True)
            self._handle = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True


@contextmanager
def scheduler_lock(engine: Engine, instance_path: str) -> Iterator[SchedulerLock]:
    """Hold the single-scheduler lock for the life of the block, or raise AlreadyRunning."""
    lock = SchedulerLock(engine, instance_path)
    try:
        if not lock.try_acquire():
            raise AlreadyRunning(f"another scheduler holds {lock.description}")
        yield lock
    finally:
        lock.release()
