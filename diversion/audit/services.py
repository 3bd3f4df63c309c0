"""Writing audit rows. Every feature records through `record`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from diversion.audit.models import AuditCategory, AuditEvent
from diversion.core.transactions import add_after_read


def actor_label_for(user: Any | None) -> str:
    """How an actor is named in the audit log: a user's id, or `system`."""
    if user is None:
        return "system"
    return f"user:{user.id}"


def record(
    *,
    action: str,
    category: AuditCategory,
    now: dt.datetime,
    actor: Any | None = None,
    actor_label: str | None = None,
    object_type: str | None = None,
    object_id: Any = None,
    address: str | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Add an audit row in the caller's transaction (in a page that only reads, on SQLite, in a
    short transaction once its reads are committed: core.transactions). No secrets in details."""
    event = AuditEvent(
        at=now,
        actor_user_id=getattr(actor, "id", None),
        actor_label=actor_label or actor_label_for(actor),
        action=action,
        category=category,
        object_type=object_type,
        object_id=None if object_id is None else str(object_id),
        address=address,
        details=details or {},
    )
    add_after_read(event)
    return event


# The ids of what a list showed are kept in its audit row up to this many; `count` says how many
# there were in all. Ids only: never names or other personal data. Under the key "shown" they are
# always referral ids (the admin audit page finds a person's rows by them); a list of something
# else names its key ("messages", "events").
SHOWN_LIMIT = 200


def shown_details(ids: Iterable[Any], key: str = "shown", **details: Any) -> dict[str, Any]:
    """Audit details for a list or export: its filters (`details`), the first SHOWN_LIMIT ids
    of what was shown (referral ids under "shown"), and how many there were."""
    every = list(ids)
    return {**details, key: every[:SHOWN_LIMIT], "count": len(every),
            "shown_cut": len(every) > SHOWN_LIMIT}
