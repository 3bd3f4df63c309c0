"""Sign-in guards: a progressive delay per account (and per known device), and limits per address,
each held in one row of `sign_in_guards` that is changed only by single atomic statements.

An attempt is counted before its password is checked ("claimed"): the one UPDATE that counts
it also checks the limit, so two workers, or two hundred, cannot both see room for one more
guess. On PostgreSQL that UPDATE locks the row until the request commits, and a concurrent
UPDATE waiting for it re-checks its condition on the row as the first one left it; SQLite
serialises writers (BEGIN IMMEDIATE, core.db). A claim that turns out not to be a failure is
undone: the row is cleared (a correct password) or the count given back (an address's).

- `claim_delayed(scope, key, now=, rule=) -> dt.datetime | None`: count one attempt, or say
  when the next may be made (the attempt is then refused without checking anything).
- `claim_counted(scope, key, now=, window=, limit=) -> dt.datetime | None`: the same for a
  count in a window that starts at the first one.
- `give_back(scope, key)`, `clear(scope, key)`, `get_guard(scope, key)`,
  `forget_quiet_guards(before=)`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import ColumnElement, and_, case, delete, literal, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from diversion.auth.models import SignInGuard
from diversion.core.db import UTCDateTime
from diversion.core.extensions import db

Scope = Literal["account", "device", "address", "reset_address", "second_factor"]
ACCOUNT: Scope = "account"
DEVICE: Scope = "device"
ADDRESS: Scope = "address"
RESET_ADDRESS: Scope = "reset_address"
SECOND_FACTOR: Scope = "second_factor"


@dataclass(frozen=True)
class DelayRule:
    """After `free_failures` failures, each further attempt waits 1, 2, 4 … seconds after the
    one before, never more than `max_delay`."""

    free_failures: int
    max_delay: dt.timedelta


def delay_after(failures: int, rule: DelayRule) -> dt.timedelta:
    """How long the next attempt must wait after this many failures in a row."""
    if failures < rule.free_failures:
        return dt.timedelta(0)
    exponent = failures - rule.free_failures
    if exponent >= 30:  # 2**30 seconds is far past any cap
        return rule.max_delay
    return min(dt.timedelta(seconds=2 ** exponent), rule.max_delay)


# A row deleted by another request between our insert and our update is made again, once.
_TRIES = 2


def _instant(value: dt.datetime) -> ColumnElement[dt.datetime]:
    return literal(value, UTCDateTime())


def _ensure_row(scope: Scope, key: str, now: dt.datetime) -> None:
    values = {"scope": scope, "key": key, "failures": 0, "window_started_at": now,
              "next_attempt_at": None, "last_attempt_at": now}
    insert = pg_insert if db.session.get_bind().dialect.name == "postgresql" else sqlite_insert
    db.session.execute(insert(SignInGuard).values(**values).on_conflict_do_nothing(
        index_elements=["scope", "key"]))


def _this(scope: Scope, key: str) -> ColumnElement[bool]:
    return and_(SignInGuard.scope == scope, SignInGuard.key == key)


def get_guard(scope: Scope, key: str) -> SignInGuard | None:
    return db.session.scalar(select(SignInGuard).where(_this(scope, key)))


def claim_delayed(scope: Scope, key: str, *, now: dt.datetime,
                  rule: DelayRule) -> dt.datetime | None:
    """Count one attempt as a failure, unless it comes before the delay has passed: then return
    the instant the next attempt may be made, and count nothing."""
    for _ in range(_TRIES):
        _ensure_row(scope, key, now)
        claimed = db.session.execute(
            update(SignInGuard)
            .where(_this(scope, key), or_(SignInGuard.next_attempt_at.is_(None),
                                           SignInGuard.next_attempt_at <= now))
            .values(failures=SignInGuard.failures + 1, last_attempt_at=now)
            .returning(SignInGuard.failures)
            .execution_options(synchronize_session=False)).first()
        if claimed is not None:
            break
        guard = get_guard(scope, key)
        if guard is not None and guard.next_attempt_at is not None:
            return guard.next_attempt_at
        # The row went (a correct password or an unlock committed while we waited): again.
    else:
        raise RuntimeError("the sign-in guard kept vanishing")
    delay = delay_after(int(claimed[0]), rule)
    # The row is ours until the request commits (PostgreSQL's row lock; SQLite's one writer).
    db.session.execute(
        update(SignInGuard).where(_this(scope, key))
        .values(next_attempt_at=now + delay if delay else None)
        .execution_options(synchronize_session=False))
    return None


def claim_counted(scope: Scope, key: str, *, now: dt.datetime, window: dt.timedelta,
                  limit: int) -> dt.datetime | None:
    """Count one attempt in the window, unless the window already holds `limit`: then return
    when it ends, and count nothing. A window starts at the first attempt after the last ended."""
    ended = SignInGuard.window_started_at <= now - window
    for _ in range(_TRIES):
        _ensure_row(scope, key, now)
        claimed = db.session.execute(
            update(SignInGuard)
            .where(_this(scope, key), or_(ended, SignInGuard.failures < limit))
            .values(failures=case((ended, 1), else_=SignInGuard.failures + 1),
                    window_started_at=case((ended, _instant(now)),
                                           else_=SignInGuard.window_started_at),
                    last_attempt_at=now)
            .returning(SignInGuard.failures)
            .execution_options(synchronize_session=False)).first()
        if claimed is not None:
            return None
        guard = get_guard(scope, key)
        if guard is not None:
            return guard.window_started_at + window
    raise RuntimeError("the sign-in guard kept vanishing")


def give_back(scope: Scope, key: str) -> None:
    """Undo one claim that was not a failure (an address's count)."""
    db.session.execute(
        update(SignInGuard).where(_this(scope, key), SignInGuard.failures > 0)
        .values(failures=SignInGuard.failures - 1)
        .execution_options(synchronize_session=False))


def clear(scope: Scope, key: str) -> int:
    """Forget the failures (a correct password; an administrator's unlock); how many there were."""
    guard = get_guard(scope, key)
    failures = guard.failures if guard is not None else 0
    db.session.execute(delete(SignInGuard).where(_this(scope, key))
                       .execution_options(synchronize_session=False))
    return failures


def list_delayed(scope: Scope, keys: list[str], *, now: dt.datetime) -> dict[str, SignInGuard]:
    """The guards among these keys whose next attempt must wait, by key."""
    if not keys:
        return {}
    rows = db.session.scalars(select(SignInGuard).where(
        SignInGuard.scope == scope, SignInGuard.key.in_(keys),
        SignInGuard.next_attempt_at > now))
    return {row.key: row for row in rows}


def forget_quiet_guards(*, before: dt.datetime) -> int:
    """Housekeeping: forget guards with no attempt since `before` (a day of quiet forgives)."""
    result = db.session.execute(delete(SignInGuard).where(SignInGuard.last_attempt_at < before)
                                .execution_options(synchronize_session=False))
    return int(getattr(result, "rowcount", 0) or 0)
