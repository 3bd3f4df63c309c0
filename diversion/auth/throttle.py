"""Throttling guesses at whatever lets someone in: staff sign-in and the self-service page,
and guesses at certificate verification codes.

Every refused attempt is a row (auth.models.RefusedAttempt), so the limits hold across every web
worker. Attempts are counted within their kind, per key (a digest of the account or reference as
typed) and per address, over a sliding window.

- `Throttle(kind, window, max_per_key, max_per_address)`: one kind's limits.
- `is_throttled(throttle, key=, address=, now=) -> bool`: either limit reached.
- `note_refusal(kind, key=, address=, now=)`, `forget_refusals(kind, key=)` (after a success).
- `forget_old_refusals(before=) -> int`: housekeeping, every kind.
- `Throttled`: the one error (429) for a throttled attempt; the caller supplies its message.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import ColumnElement, delete, func, select

from diversion.auth.models import RefusedAttempt
from diversion.core.errors import DomainError
from diversion.core.extensions import db

Kind = Literal["sign_in", "self_service", "certificate_verify"]
SIGN_IN: Kind = "sign_in"
SELF_SERVICE: Kind = "self_service"
CERTIFICATE_VERIFY: Kind = "certificate_verify"


class Throttled(DomainError):
    status = 429
    title = "Too many attempts"


@dataclass(frozen=True)
class Throttle:
    """How many refusals one kind of attempt allows in a window, per key and per address."""

    kind: Kind
    window: dt.timedelta
    max_per_key: int
    max_per_address: int


def key_digest(text: str) -> str:
    """The digest stored in place of what was typed (already normalised by the caller)."""
    return hashlib.sha256(text.encode()).hexdigest()


def _count(kind: Kind, which: ColumnElement[bool], *, since: dt.datetime) -> int:
    return db.session.scalar(select(func.count()).select_from(RefusedAttempt).where(
        RefusedAttempt.kind == kind, which, RefusedAttempt.at >= since)) or 0


def is_throttled(throttle: Throttle, *, key: str, address: str, now: dt.datetime) -> bool:
    """True when this key or this address has had its share of refusals in the window."""
    since = now - throttle.window
    return (_count(throttle.kind, RefusedAttempt.key == key, since=since) >= throttle.max_per_key
            or _count(throttle.kind, RefusedAttempt.address == address, since=since)
            >= throttle.max_per_address)


def note_refusal(kind: Kind, *, key: str, address: str, now: dt.datetime) -> None:
    """Count one refused attempt."""
    db.session.add(RefusedAttempt(kind=kind, key=key, address=address, at=now))


def forget_refusals(kind: Kind, *, key: str) -> None:
    """Clear a key's refusals (a correct sign-in); the address's count is left as it is."""
    db.session.execute(delete(RefusedAttempt).where(RefusedAttempt.kind == kind,
                                                    RefusedAttempt.key == key))


def forget_old_refusals(*, before: dt.datetime) -> int:
    """Housekeeping: forget refusals older than any throttle window."""
    result = db.session.execute(delete(RefusedAttempt).where(RefusedAttempt.at < before))
    return int(getattr(result, "rowcount", 0) or 0)
