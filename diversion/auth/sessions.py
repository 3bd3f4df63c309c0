"""Staff sign-ins held on the server: one UserSession row per sign-in.

A sign-in gets a new random identifier (32 bytes) when every factor is proven; the cookie holds
it, the row only its SHA-256 digest. Each request finds the row by that digest, and the idle
and absolute limits are measured from the row's `last_seen_at` and `created_at`: a cookie's own
claims (even one signed with the key and dated 2099) extend nothing. A new identifier replaces
the old one at each privilege change (the old row ends, "rotated"); ending every session of a
user (sign-out everywhere, password reset, deactivation, a change of role) ends the rows, so a
stolen cookie dies with them and a new sign-in never revives or shares an old identifier.

`last_seen_at` is written at most once a minute (TOUCH_EVERY) so that page views do not queue
on writes; the idle limit is therefore measured from a time up to a minute earlier than the
latest request, never later.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, delete, or_, select, update

from diversion.auth.models import User, UserSession
from diversion.auth.signals import account_event
from diversion.core.extensions import db

TOUCH_EVERY = dt.timedelta(minutes=1)
USER_AGENT_LENGTH = 200
# Ended or expired rows are kept this long (for "Your sessions" and investigations), then
# deleted by housekeeping, at most SWEEP_BATCH a run.
KEEP_ENDED_FOR = dt.timedelta(days=30)
SWEEP_BATCH = 1000

IDLE, ABSOLUTE = "idle", "absolute"


@dataclass(frozen=True)
class Limits:
    """A sign-in ends after `idle` with no request, or `absolute` after it began."""

    idle: dt.timedelta
    absolute: dt.timedelta


def limits_from(config: Mapping[str, Any]) -> Limits:
    """The limits in the app's settings (IDLE_TIMEOUT_SECONDS, ABSOLUTE_TIMEOUT_SECONDS)."""
    return Limits(idle=dt.timedelta(seconds=config["IDLE_TIMEOUT_SECONDS"]),
                  absolute=dt.timedelta(seconds=config["ABSOLUTE_TIMEOUT_SECONDS"]))


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _audit(**event: Any) -> None:
    account_event.send(None, **event)


def new_user_token() -> str:
    """A new value for users.session_token (which a sign-in waiting for its second factor
    holds)."""
    return secrets.token_urlsafe(32)


def start(user: User, *, now: dt.datetime, address: str, user_agent: str) -> str:
    """Begin a sign-in: a new row and a new random identifier, returned once (for the cookie)
    and also put on `user.sign_in_key` for Flask-Login's `get_id`."""
    key = secrets.token_urlsafe(32)
    db.session.add(UserSession(user_id=user.id, key_hash=_digest(key), created_at=now,
                               last_seen_at=now, address=address[:64],
                               user_agent=user_agent[:USER_AGENT_LENGTH]))
    db.session.flush()
    setattr(user, "sign_in_key", key)  # noqa: B010  (transient, not a column)
    return key


# Every request runs it: made once, not a new statement (and cache key) a request.
_FIND = select(UserSession).where(UserSession.key_hash == bindparam("key_hash"))


def find(key: str) -> UserSession | None:
    """The sign-in a cookie's identifier names, ended or not; None for an unknown one."""
    if not key or len(key) > 100:
        return None
    return db.session.scalar(_FIND, {"key_hash": _digest(key)})


def limit_passed(row: UserSession, *, now: dt.datetime, limits: Limits) -> str | None:
    """Which limit this sign-in is past, from the row's times: "absolute", "idle" or None."""
    if now - row.created_at > limits.absolute:
        return ABSOLUTE
    if now - row.last_seen_at > limits.idle:
        return IDLE
    return None


def seconds_left(row: UserSession, *, now: dt.datetime, limits: Limits) -> tuple[float, float]:
    """Seconds before the idle limit and before the absolute limit (never below 0)."""
    idle_end = row.last_seen_at + limits.idle
    absolute_end = row.created_at + limits.absolute
    return (max(0.0, (idle_end - now).total_seconds()),
            max(0.0, (absolute_end - now).total_seconds()))


def touch(row: UserSession, *, now: dt.datetime, always: bool = False) -> None:
    """Restart the idle limit: written at most once a minute unless `always` ("Stay signed
    in")."""
    if always or now - row.last_seen_at >= TOUCH_EVERY:
        row.last_seen_at = now


def end(row: UserSession, *, now: dt.datetime, reason: str) -> bool:
    """End one sign-in (if it has not ended already). Returns whether it was live."""
    if row.ended_at is not None:
        return False
    row.ended_at, row.end_reason = now, reason
    return True


def end_all(user: User, *, now: dt.datetime, reason: str,
            keep: UserSession | None = None) -> int:
    """End every live sign-in of this user but `keep`, and any sign-in waiting for its second
    factor. Returns how many ended."""
    query = (update(UserSession)
             .where(UserSession.user_id == user.id, UserSession.ended_at.is_(None))
             .values(ended_at=now, end_reason=reason)
             .execution_options(synchronize_session="fetch"))
    if keep is not None:
        query = query.where(UserSession.id != keep.id)
    result = db.session.execute(query)
    user.session_token = new_user_token()
    return int(getattr(result, "rowcount", 0) or 0)


def rotate(row: UserSession, user: User, *, now: dt.datetime) -> tuple[UserSession, str]:
    """A privilege change in this browser: the old identifier ends ("rotated") and a new
    one, with a new row, replaces it; the limits restart from now."""
    end(row, now=now, reason="rotated")
    key = start(user, now=now, address=row.address, user_agent=row.user_agent)
    new_row = find(key)
    assert new_row is not None
    return new_row, key


def list_live(user: User, *, now: dt.datetime, limits: Limits) -> list[UserSession]:
    """The user's sign-ins still open (not ended, within both limits), newest first."""
    rows = db.session.scalars(
        select(UserSession)
        .where(UserSession.user_id == user.id, UserSession.ended_at.is_(None),
               UserSession.created_at >= now - limits.absolute,
               UserSession.last_seen_at >= now - limits.idle)
        .order_by(UserSession.last_seen_at.desc(), UserSession.id.desc()))
    return list(rows)


def count_live(user: User, *, now: dt.datetime, limits: Limits) -> int:
    return len(list_live(user, now=now, limits=limits))


def end_one(user: User, session_id: int, *, now: dt.datetime, actor: User,
            address: str | None, reason: str) -> bool:
    """End one of this user's sign-ins by its row id (audited). False when it is not theirs
    or has ended already."""
    row = db.session.get(UserSession, session_id)
    if row is None or row.user_id != user.id or not end(row, now=now, reason=reason):
        return False
    _audit(action="auth.session_end", category="security", now=now, actor=actor,
           object_type="user", object_id=user.id, address=address,
           details={"session_id": row.id, "reason": reason})
    return True


def end_all_audited(user: User, *, now: dt.datetime, actor: User, address: str | None,
                    reason: str, keep: UserSession | None = None) -> int:
    """End every sign-in of this user but `keep` (audited, with how many)."""
    ended = end_all(user, now=now, reason=reason, keep=keep)
    _audit(action="auth.sessions_end_others" if keep is not None else "user.sessions_end",
           category="security", now=now, actor=actor, object_type="user", object_id=user.id,
           address=address, details={"ended": ended, "reason": reason})
    return ended


def forget_old_sessions(*, now: dt.datetime, limits: Limits) -> int:
    """Housekeeping: delete sign-ins ended, or past a limit, more than KEEP_ENDED_FOR ago
    (at most SWEEP_BATCH rows a run)."""
    before = now - KEEP_ENDED_FOR
    old = (select(UserSession.id)
           .where(or_(UserSession.ended_at < before,
                      UserSession.last_seen_at < before - limits.idle,
                      UserSession.created_at < before - limits.absolute))
           .order_by(UserSession.id).limit(SWEEP_BATCH))
    ids = list(db.session.scalars(old))
    if not ids:
        return 0
    result = db.session.execute(delete(UserSession).where(UserSession.id.in_(ids))
                                .execution_options(synchronize_session=False))
    return int(getattr(result, "rowcount", 0) or 0)


_BROWSERS = (("Edge", re.compile(r"Edg(?:e|A|iOS)?/")),
             ("Opera", re.compile(r"OPR/|Opera")),
             ("Samsung Internet", re.compile(r"SamsungBrowser/")),
             ("Firefox", re.compile(r"Firefox/|FxiOS/")),
             ("Chrome", re.compile(r"Chrome/|CriOS/|Chromium/")),
             ("Safari", re.compile(r"Safari/")))
_SYSTEMS = (("iPhone", re.compile(r"iPhone")), ("iPad", re.compile(r"iPad")),
            ("Android", re.compile(r"Android")), ("Windows", re.compile(r"Windows")),
            ("ChromeOS", re.compile(r"CrOS")), ("Mac", re.compile(r"Macintosh|Mac OS X")),
            ("Linux", re.compile(r"Linux")))


def describe_browser(user_agent: str) -> str:
    """A readable "Firefox on Windows" from a user agent header; "Unknown browser" when it
    says nothing recognisable."""
    browser = next((name for name, pattern in _BROWSERS if pattern.search(user_agent)), None)
    system = next((name for name, pattern in _SYSTEMS if pattern.search(user_agent)), None)
    if browser and system:
        return f"{browser} on {system}"
    return browser or (f"A browser on {system}" if system else "Unknown browser")
