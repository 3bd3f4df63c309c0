"""Server-side drafts of the referral form and the one-time PIN slot for the offer letter.

The browser's cookie carries only a random token (`new_token`); the table keeps its SHA-256
digest, the owner, the draft and, for 30 minutes at most, a PIN just issued. A draft belongs to
the user who started it: another user's token is NotFound. Expired rows are removed by the
`referral_drafts` scheduler job (`purge_expired_drafts`); reads ignore them anyway.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from typing import Any

from sqlalchemy import and_, delete, or_, select, update

from diversion.auth.models import User
from diversion.core.errors import NotFound
from diversion.core.extensions import db
from diversion.referrals.models import ReferralDraft

DRAFT_LIFETIME = dt.timedelta(hours=2)
PIN_LIFETIME = dt.timedelta(minutes=30)

__all__ = ["DRAFT_LIFETIME", "PIN_LIFETIME", "clear_draft", "find_draft", "new_token",
           "purge_expired_drafts", "put_pin", "save_draft", "show_pin", "take_pin"]


def new_token() -> str:
    """A fresh random token for the cookie: 32 bytes, URL-safe."""
    return secrets.token_urlsafe(32)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def find_draft(*, token: str | None, user: User, now: dt.datetime) -> ReferralDraft | None:
    """The user's live draft row for the token; None when there is none or it has expired.
    Raises NotFound for a token that belongs to another user."""
    if not token or not isinstance(token, str):
        return None
    row = db.session.scalar(select(ReferralDraft).where(
        ReferralDraft.token_hash == _digest(token)))
    if row is None:
        return None
    if row.user_id != user.id:
        raise NotFound("No such draft")
    if row.expires_at <= now:
        db.session.delete(row)
        db.session.flush()
        return None
    if row.pin_expires_at is not None and row.pin_expires_at <= now:
        _forget_pin(row)
    return row


def _row(*, token: str, user: User, now: dt.datetime) -> ReferralDraft:
    row = find_draft(token=token, user=user, now=now)
    if row is None:
        row = ReferralDraft(token_hash=_digest(token), user_id=user.id, created_at=now,
                            expires_at=now + DRAFT_LIFETIME, is_pin_shown=False)
        db.session.add(row)
    return row


def save_draft(*, token: str, user: User, data: dict[str, Any], now: dt.datetime) -> None:
    """Keep the form's answers and the person chosen, for DRAFT_LIFETIME from now."""
    row = _row(token=token, user=user, now=now)
    row.data = data
    row.expires_at = max(row.expires_at, now + DRAFT_LIFETIME)
    db.session.flush()


def clear_draft(*, token: str | None, user: User, now: dt.datetime) -> None:
    """Forget the form's answers (the PIN slot, if any, stays)."""
    row = find_draft(token=token, user=user, now=now)
    if row is not None:
        row.data = None
        _drop_if_empty(row)


def put_pin(*, token: str, user: User, reference: str, pin: str, now: dt.datetime) -> None:
    """Hold a PIN just issued, for the confirmation page (once) and the letter (once)."""
    row = _row(token=token, user=user, now=now)
    row.pin_reference, row.pin, row.is_pin_shown = reference, pin, False
    row.pin_expires_at = now + PIN_LIFETIME
    row.expires_at = max(row.expires_at, row.pin_expires_at)
    db.session.flush()


def _slot(token: str | None, user: User, reference: str, now: dt.datetime) -> ReferralDraft | None:
    row = find_draft(token=token, user=user, now=now)
    if row is None or row.pin is None or row.pin_reference != reference:
        return None
    return row


def show_pin(*, token: str | None, user: User, reference: str,
             now: dt.datetime) -> tuple[str | None, bool]:
    """(the PIN if not shown yet, whether the letter can still carry it). Marks it shown."""
    row = _slot(token, user, reference, now)
    if row is None:
        return None, False
    pin = None if row.is_pin_shown else row.pin
    row.is_pin_shown = True
    db.session.flush()
    return pin, True


def take_pin(*, token: str | None, user: User, reference: str, now: dt.datetime) -> str | None:
    """The PIN for the letter, once: the slot is emptied."""
    row = _slot(token, user, reference, now)
    if row is None:
        return None
    pin = row.pin
    _forget_pin(row)
    _drop_if_empty(row)
    return pin


def _forget_pin(row: ReferralDraft) -> None:
    row.pin_reference = row.pin = row.pin_expires_at = None
    row.is_pin_shown = False
    db.session.flush()


def _drop_if_empty(row: ReferralDraft) -> None:
    if row.data is None and row.pin is None:
        db.session.delete(row)
    db.session.flush()


def purge_expired_drafts(*, now: dt.datetime) -> dict[str, int]:
    """Remove expired drafts and clear PINs held past their 30 minutes."""
    pins = db.session.execute(
        update(ReferralDraft).where(ReferralDraft.pin_expires_at <= now).values(
            pin_reference=None, pin=None, pin_expires_at=None, is_pin_shown=False))
    drafts = db.session.execute(
        delete(ReferralDraft).where(or_(
            ReferralDraft.expires_at <= now,
            and_(ReferralDraft.data.is_(None), ReferralDraft.pin.is_(None)))))
    return {"drafts_removed": int(getattr(drafts, "rowcount", 0) or 0),
            "pins_cleared": int(getattr(pins, "rowcount", 0) or 0)}
