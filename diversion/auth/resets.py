"""Password reset links: asked for by email address, used once, within an hour.

The link's token is an HMAC, under the app's secret key, of a random nonce. The reset row keeps
only a SHA-256 digest of the token; the email's outbox row keeps only the nonce, and the outbox
makes the link when it sends the email (outbox.dispatcher.add_secret_maker). So nothing stored
in the database, read on its own, can be turned into a working link.

- `request_password_reset(email=, address=, now=, rules=) -> ResetRequest | None`: a link for
  an active account with that address (None otherwise: the caller answers the same either way).
- `check_reset_link(token, now=) -> PasswordResetToken` or `ResetLinkRefused`.
- `complete_password_reset(token=, new_password=, now=, address=) -> User`.
- `reset_token(nonce, secret_key=) -> str`; `forget_expired_reset_links(before=) -> int`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from base64 import urlsafe_b64encode
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select, update

from diversion.auth import guards, sessions, throttle
from diversion.auth.models import PasswordResetToken, User
from diversion.auth.passwords import hash_password, password_problem
from diversion.auth.services import account_key, get_user_by_email
from diversion.auth.signals import account_event
from diversion.core.errors import DomainError, ValidationFailed
from diversion.core.extensions import db

TOKEN_PATTERN = re.compile(r"^[A-Za-z0-9_-]{43}$")
# At most this many links for one account an hour, whoever asks: no flooding an inbox.
MAX_LINKS_PER_ACCOUNT_AN_HOUR = 3

NOT_VALID = "This link to reset your password is not valid"
ALREADY_USED = "This link to reset your password has already been used"
EXPIRED = "This link to reset your password has expired"
TOO_MANY = ("There have been too many requests to reset a password from your network. Wait "
            "{minutes}, then try again")


class ResetLinkRefused(DomainError):
    """A link that cannot be used; `message` says why (not valid, already used, expired)."""

    status = 404
    title = "Link not valid"


@dataclass(frozen=True)
class ResetRules:
    lifetime: dt.timedelta
    max_per_address: int
    address_window: dt.timedelta
    secret_key: str


@dataclass(frozen=True)
class ResetRequest:
    user: User
    link: PasswordResetToken
    nonce: str


def _audit(**event: Any) -> None:
    account_event.send(None, **event)


def reset_token(nonce: str, *, secret_key: str) -> str:
    """The token in the link for this nonce (43 URL-safe characters)."""
    mac = hmac.new(secret_key.encode(), b"password-reset:" + nonce.encode(), hashlib.sha256)
    return urlsafe_b64encode(mac.digest()).decode().rstrip("=")


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def request_password_reset(*, email: str, address: str, now: dt.datetime,
                           rules: ResetRules) -> ResetRequest | None:
    """Make a link for the active account with this email address; None when there is none (or
    it has had its share of links this hour). Both ways do the same work up to the insert, and
    both are audited, without the address typed."""
    window_ends = guards.claim_counted(guards.RESET_ADDRESS, address, now=now,
                                       window=rules.address_window, limit=rules.max_per_address)
    if window_ends is not None:
        minutes = max(1, -(-int((window_ends - now).total_seconds()) // 60))
        raise throttle.Throttled(TOO_MANY.format(
            minutes=f"{minutes} minute{'' if minutes == 1 else 's'}"))
    nonce = secrets.token_urlsafe(32)
    digest = _digest(reset_token(nonce, secret_key=rules.secret_key))
    user = get_user_by_email(email)
    recent = db.session.scalar(select(func.count()).select_from(PasswordResetToken).where(
        PasswordResetToken.user_id == (user.id if user else -1),
        PasswordResetToken.created_at > now - dt.timedelta(hours=1))) or 0
    sent = user is not None and user.is_active_account and recent < MAX_LINKS_PER_ACCOUNT_AN_HOUR
    _audit(action="auth.password_reset_requested", category="security", now=now,
           actor_label="anonymous", address=address,
           object_type="user" if user else None, object_id=user.id if user else None,
           details={"link_sent": sent})
    if not sent:
        return None
    assert user is not None
    link = PasswordResetToken(user=user, token_hash=digest, created_at=now,
                              expires_at=now + rules.lifetime)
    db.session.add(link)
    db.session.flush()
    return ResetRequest(user=user, link=link, nonce=nonce)


def check_reset_link(token: str, *, now: dt.datetime) -> PasswordResetToken:
    """The unused, unexpired link with this token, for an active account."""
    link = (db.session.scalar(select(PasswordResetToken).where(
        PasswordResetToken.token_hash == _digest(token))) if TOKEN_PATTERN.match(token) else None)
    if link is None or not link.user.is_active_account:
        raise ResetLinkRefused(NOT_VALID)
    if link.used_at is not None:
        raise ResetLinkRefused(ALREADY_USED)
    if link.expires_at <= now:
        raise ResetLinkRefused(EXPIRED)
    return link


def complete_password_reset(*, token: str, new_password: str, now: dt.datetime,
                            address: str | None) -> User:
    """Set the new password through a link, once: every sign-in of the account ends, every other
    link of theirs stops working, and the failures counted against the account are forgotten."""
    link = check_reset_link(token, now=now)
    user = link.user
    problem = password_problem(new_password, email=user.email, name=user.name)
    if problem:
        raise ValidationFailed({"new_password": problem})
    # One statement claims the link: of two requests racing with it, one finds it used.
    claimed = db.session.execute(
        update(PasswordResetToken)
        .where(PasswordResetToken.id == link.id, PasswordResetToken.used_at.is_(None))
        .values(used_at=now).execution_options(synchronize_session=False))
    if getattr(claimed, "rowcount", 0) != 1:
        raise ResetLinkRefused(ALREADY_USED)
    db.session.execute(
        update(PasswordResetToken)
        .where(PasswordResetToken.user_id == user.id, PasswordResetToken.used_at.is_(None))
        .values(used_at=now).execution_options(synchronize_session=False))
    user.password_hash = hash_password(new_password)
    user.password_changed_at = now
    sessions.end_all(user, now=now, reason="password_reset")
    guards.clear(guards.ACCOUNT, account_key(user.email))
    _audit(action="auth.password_reset_completed", category="security", now=now, actor=user,
           object_type="user", object_id=user.id, address=address)
    return user


def forget_expired_reset_links(*, before: dt.datetime) -> int:
    """Housekeeping: forget links that expired before this instant."""
    result = db.session.execute(delete(PasswordResetToken)
                                .where(PasswordResetToken.expires_at < before)
                                .execution_options(synchronize_session=False))
    return int(getattr(result, "rowcount", 0) or 0)
