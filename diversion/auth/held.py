"""Held forms: what a staff member posted after their sign-in had ended, kept so that nothing
typed is lost to a time-out.

- `hold_form(...) -> token`: keep the fields of a post (never the CSRF token, passwords or files);
  the caller puts the token in the browser's cookie, never in a URL.
- `get_held_form(token=, user=, now=)`: the held form that token names, when it has not expired
  and belongs to that user (or to nobody known).
- `resend_held_form`, `discard_held_form`: use it once; the row is deleted and audited.
- `forget_expired_held_forms(before=) -> int`: housekeeping.

Field values are personal data: they go in this table only, never in a log or an audit row.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import secrets
from dataclasses import dataclass

from sqlalchemy import delete, select

from diversion.auth.models import HeldForm, User
from diversion.auth.signals import account_event
from diversion.core.extensions import db

# A form bigger than this is not kept (a pasted file, a script): the person is told it was lost.
MAX_HELD_BYTES = 512 * 1024
# Field names (or words of them) never kept: the token is renewed on resending, and secrets are
# typed again.
_NEVER_KEPT_WORDS = frozenset({"csrf", "password", "passphrase", "pin", "secret", "token"})


@dataclass(frozen=True)
class Held:
    """A held form as the resend page needs it."""

    row: HeldForm
    fields: list[tuple[str, str]]
    dropped_files: list[str]


def is_kept_field(name: str) -> bool:
    """Whether a posted field's value may be kept (not a token, password or PIN)."""
    words = set(re.split(r"[^a-z0-9]+", name.lower()))
    return not words & _NEVER_KEPT_WORDS and "password" not in name.lower()


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def hold_form(*, fields: list[tuple[str, str]], file_fields: list[str], path: str, user_id: int | None,
              address: str, now: dt.datetime) -> str | None:
    """Keep a post's fields and return the token that names them, or None when they are too big
    to keep. Writes an audit row (which fields were kept is not said: their names can tell)."""
    kept = [(name, value) for name, value in fields if is_kept_field(name)]
    encoded = json.dumps(kept, ensure_ascii=False)
    if len(encoded.encode()) > MAX_HELD_BYTES or len(path) > 2000:
        return None
    token = secrets.token_urlsafe(32)
    row = HeldForm(token_hash=_digest(token), user_id=user_id, path=path, method="POST",
                   fields_json=encoded, dropped_files=",".join(sorted(set(file_fields)))[:1000],
                   created_at=now)
    db.session.add(row)
    db.session.flush()
    account_event.send(None, action="auth.held_form_kept", category="security", now=now,
                       actor_label=f"user:{user_id}" if user_id else "anonymous",
                       actor=None, object_type="held_form", object_id=row.id, address=address,
                       details={"fields": len(kept), "files_dropped": len(file_fields)})
    return token


def get_held_form(*, token: str | None, user: User, lifetime: dt.timedelta,
                  now: dt.datetime) -> Held | None:
    """The unexpired held form the token names, if `user` may use it."""
    if not token:
        return None
    row = db.session.scalar(select(HeldForm).where(HeldForm.token_hash == _digest(token)))
    if row is None or row.created_at <= now - lifetime:
        return None
    if row.user_id is not None and row.user_id != user.id:
        return None
    try:
        decoded = json.loads(row.fields_json)
        fields = [(str(name), str(value)) for name, value in decoded]
    except (ValueError, TypeError):
        fields = []
    dropped = [name for name in row.dropped_files.split(",") if name]
    return Held(row=row, fields=fields, dropped_files=dropped)


def _use(held: Held, *, action: str, user: User, address: str, now: dt.datetime) -> None:
    account_event.send(None, action=action, category="security", now=now, actor=user,
                       object_type="held_form", object_id=held.row.id, address=address,
                       details={"fields": len(held.fields)})
    db.session.delete(held.row)
    db.session.flush()


def resend_held_form(held: Held, *, user: User, address: str, now: dt.datetime) -> None:
    """Use a held form: it is deleted now, and its fields go back to where they were posted."""
    _use(held, action="auth.held_form_resent", user=user, address=address, now=now)


def discard_held_form(held: Held, *, user: User, address: str, now: dt.datetime) -> None:
    """Throw a held form away at its owner's request."""
    _use(held, action="auth.held_form_discarded", user=user, address=address, now=now)


def drop_held_form(*, token: str, now: dt.datetime) -> None:
    """Delete a held form someone else signed in over: it is never shown to them."""
    row = db.session.scalar(select(HeldForm).where(HeldForm.token_hash == _digest(token)))
    if row is None:
        return
    account_event.send(None, action="auth.held_form_discarded", category="security", now=now,
                       actor=None, actor_label="system", object_type="held_form",
                       object_id=row.id, details={"reason": "not usable by the user who signed in"})
    db.session.delete(row)
    db.session.flush()


def forget_expired_held_forms(*, before: dt.datetime) -> int:
    """Delete held forms kept before `before`; how many."""
    result = db.session.execute(delete(HeldForm).where(HeldForm.created_at < before))
    return int(getattr(result, "rowcount", 0) or 0)
