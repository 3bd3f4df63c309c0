"""`flask stats`: counts of what the database holds, for operators and monitoring."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from diversion.auth.models import Force, User
from diversion.bookings.queries import count_bookings_by_status
from diversion.core.extensions import db
from diversion.courses.sessions import count_sessions_by_status
from diversion.outbox.services import count_by_status
from diversion.referrals.reading import count_people, count_referrals_by_status
from diversion.reoffences.services import count_reoffences_by_outcome


def collect_stats() -> dict[str, Any]:
    """A JSON-ready summary. Features add their own keys here."""
    users_by_role = {
        role.value: n
        for role, n in db.session.execute(
            select(User.role, func.count()).group_by(User.role))
    }
    return {
        "forces": db.session.scalar(select(func.count()).select_from(Force)) or 0,
        "users": users_by_role,
        "messages": count_by_status(),
        "sessions": count_sessions_by_status(),
        "bookings": count_bookings_by_status(),
        "people": count_people(),
        "referrals": count_referrals_by_status(),
        "reoffences": count_reoffences_by_outcome(),
    }
