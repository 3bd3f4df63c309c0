"""Facilitators: the users who run sessions.

- `list_facilitators()`; `facilitators_by_email(emails)`, `facilitators_by_id(ids)` (NotFound
  naming the unknown ones)
- `is_facilitating(session, user)`
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select

from diversion.auth.models import Role, User
from diversion.core.errors import ValidationFailed
from diversion.core.extensions import db
from diversion.courses.models import CourseSession


def list_facilitators() -> list[User]:
    """Active facilitator accounts, by name."""
    return list(db.session.scalars(
        select(User).where(User.role == Role.FACILITATOR, User.is_active_account.is_(True))
        .order_by(User.name, User.id)))


def facilitators_by_email(emails: Sequence[str]) -> list[User]:
    """The active facilitators with these addresses; any other address is a field error."""
    wanted = {e.strip().lower() for e in emails if e.strip()}
    found = {u.email: u for u in db.session.scalars(select(User).where(User.email.in_(wanted)))}
    bad = sorted(e for e in wanted
                 if e not in found or found[e].role is not Role.FACILITATOR
                 or not found[e].is_active_account)
    if bad:
        raise ValidationFailed({"facilitator_emails": "Not an active facilitator: " + ", ".join(bad)})
    return [found[e] for e in sorted(wanted)]


def facilitators_by_id(ids: Sequence[int]) -> list[User]:
    if not ids:
        return []
    users = list(db.session.scalars(select(User).where(User.id.in_(set(ids))).order_by(User.name)))
    if len(users) != len(set(ids)):
        raise ValidationFailed({"facilitators": "Select facilitators from the list"})
    return users


def is_facilitating(session: CourseSession, user: User) -> bool:
    return any(u.id == user.id for u in session.facilitators)
