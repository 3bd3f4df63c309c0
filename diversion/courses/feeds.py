"""Facilitators' calendar feeds: a secret address per facilitator, stored as a digest.

- `get_calendar_feed(user)`; `reset_calendar_feed(user=, actor=, now=)` -> the new token
- `user_for_calendar_token(token, now=)` -> User | None
- `feed_sessions(user=, now=)`: his sessions from 90 days ago onwards
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from sqlalchemy import select

from diversion.audit.models import AuditCategory
from diversion.audit.services import record
from diversion.auth.models import Role, User
from diversion.core.errors import ValidationFailed
from diversion.core.extensions import db
from diversion.courses.models import CalendarFeed, CourseSession
from diversion.courses.sessions import SessionFilter, list_sessions

FEED_PREFIX = "cal_"


FEED_HISTORY = dt.timedelta(days=90)


def _feed_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def get_calendar_feed(user: User) -> CalendarFeed | None:
    return db.session.scalar(select(CalendarFeed).where(CalendarFeed.user_id == user.id))


def reset_calendar_feed(*, user: User, actor: User | None, now: dt.datetime) -> str:
    """Issue a new secret feed address for a facilitator; the old one stops working.

    The clear token is returned once; only its digest is stored.
    """
    if user.role is not Role.FACILITATOR:
        raise ValidationFailed({"user": "Only facilitators have a calendar feed"})
    token = FEED_PREFIX + secrets.token_urlsafe(32)
    feed = get_calendar_feed(user)
    if feed is None:
        feed = CalendarFeed(user_id=user.id, token_hash=_feed_digest(token), created_at=now)
        db.session.add(feed)
    else:
        feed.token_hash, feed.created_at, feed.last_used_at = _feed_digest(token), now, None
    db.session.flush()
    record(action="calendar_feed.reset", category=AuditCategory.SECURITY, now=now, actor=actor,
           object_type="user", object_id=user.id)
    return token


def user_for_calendar_token(token: str, *, now: dt.datetime) -> User | None:
    """The active facilitator a feed token belongs to, or None."""
    if not token.startswith(FEED_PREFIX):
        return None
    feed = db.session.scalar(select(CalendarFeed).where(CalendarFeed.token_hash
                                                        == _feed_digest(token)))
    if feed is None or not feed.user.is_active_account or feed.user.role is not Role.FACILITATOR:
        return None
    if feed.last_used_at is None or now - feed.last_used_at > dt.timedelta(hours=1):
        feed.last_used_at = now
    return feed.user


def feed_sessions(*, user: User, now: dt.datetime) -> list[CourseSession]:
    """A facilitator's sessions for their calendar: recent past and all future, cancelled too."""
    page = list_sessions(where=SessionFilter(starts_from=now - FEED_HISTORY,
                                             facilitator_id=user.id),
                         per_page=5000, count_total=False)
    return [row.session for row in page.rows]
