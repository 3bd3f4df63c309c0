"""The second factor: a TOTP authenticator (RFC 6238, 30-second steps, 6 digits) and ten
single-use recovery codes.

Enrolment makes an unconfirmed secret, shown as a QR code and as text until the user types a
code from it; then it is switched on, the recovery codes are made and shown once, and the
secret is never shown again. A code is accepted one step either side of now, and never twice:
the step of the last accepted code is kept, and no code from that step or before it passes.
Recovery codes are kept as SHA-256 digests (each is 50 random bits) and each works once.
The secret is kept sealed (`auth.sealing`): a copy of the database alone does not give anyone
a user's codes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, select, update

from diversion.auth import guards, sealing, sessions
from diversion.auth.models import RecoveryCode, SecondFactor, User
from diversion.auth.signals import account_event
from diversion.auth.throttle import key_digest
from diversion.core.extensions import db

if TYPE_CHECKING:
    import pyotp

ISSUER = "Diversion"
STEP_SECONDS = 30
RECOVERY_CODE_COUNT = 10
# Crockford-like: no 0/O or 1/I/L to misread.
_RECOVERY_ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"
_RECOVERY_LENGTH = 10
TOTP_CODE = re.compile(r"^[0-9]{6}$")

log = logging.getLogger(__name__)


def _audit(**event: Any) -> None:
    account_event.send(None, **event)


def get_second_factor(user: User) -> SecondFactor | None:
    return db.session.scalar(select(SecondFactor).where(SecondFactor.user_id == user.id))


def has_second_factor(user: User) -> bool:
    factor = get_second_factor(user)
    return factor is not None and factor.is_confirmed


def guard_key(user: User) -> str:
    """What wrong codes are counted under in the sign-in guards (scope "second_factor")."""
    return key_digest(f"user:{user.id}")


def is_required(user: User, required_roles: frozenset[str]) -> bool:
    return user.role.value in required_roles


def _step(now: dt.datetime) -> int:
    return int(now.timestamp()) // STEP_SECONDS


def _opened(factor: SecondFactor) -> str | None:
    """The factor's secret, sealed again under the current key if an older one opened it;
    None when no key opens it (SECRET_KEY changed without the old one in
    SECRET_KEY_FALLBACKS): then no code matches it and a recovery code is the way in."""
    try:
        secret, under_older_key = sealing.unseal(factor.secret)
    except sealing.SealBroken:
        log.warning("an authenticator's secret could not be opened with SECRET_KEY or "
                    "SECRET_KEY_FALLBACKS")
        return None
    if under_older_key:
        factor.secret = sealing.seal(secret)
        db.session.flush()
    return secret


def _totp(secret: str) -> pyotp.TOTP:
    # pyotp and segno are imported when a second factor is used, not at start-up (issue 17).
    import pyotp  # noqa: PLC0415

    return pyotp.TOTP(secret, interval=STEP_SECONDS, digits=6)


@dataclass(frozen=True)
class Enrolment:
    """What the enrolment page shows: the secret as text (in fours), the URI and a QR code."""

    secret: str
    uri: str

    @property
    def grouped_secret(self) -> str:
        return " ".join(self.secret[i:i + 4] for i in range(0, len(self.secret), 4))

    @property
    def qr_svg(self) -> str:
        """An inline SVG (no XML declaration), with a title for screen readers."""
        import segno  # noqa: PLC0415  (lazy: see _totp)

        label = "QR code for your authenticator app"
        svg = str(segno.make(self.uri, error="m").svg_inline(scale=5, border=4, title=label))
        return svg.replace("<svg ", f'<svg role="img" aria-label="{label}" ', 1)


def start_enrolment(user: User, *, now: dt.datetime) -> Enrolment:
    """The unconfirmed secret to show (kept, so that a reload shows the same one); refused
    once the second factor is on."""
    factor = get_second_factor(user)
    if factor is not None and factor.is_confirmed:
        raise ValueError("the second factor is already set up: reset it first")
    secret = _opened(factor) if factor is not None else None
    if secret is None:
        import pyotp  # noqa: PLC0415  (lazy: see _totp)

        secret = pyotp.random_base32(length=32)
        if factor is None:
            factor = SecondFactor(user_id=user.id, created_at=now)
            db.session.add(factor)
        factor.secret = sealing.seal(secret)  # a new one, when the old no longer opens
        db.session.flush()
    return Enrolment(secret=secret,
                     uri=_totp(secret).provisioning_uri(name=user.email, issuer_name=ISSUER))


def _normalise_code(text: str) -> str:
    return re.sub(r"[\s-]", "", text).lower()


def _matching_step(factor: SecondFactor, code: str, now: dt.datetime) -> int | None:
    """The step (now, or one either side) whose code this is, if it is later than the last
    accepted one."""
    if not TOTP_CODE.match(code):
        return None
    secret = _opened(factor)
    if secret is None:
        return None
    totp = _totp(secret)
    current = _step(now)
    for step in (current - 1, current, current + 1):
        if factor.last_used_step is not None and step <= factor.last_used_step:
            continue
        if secrets.compare_digest(totp.at(step * STEP_SECONDS), code):
            return step
    return None


def _use_step(factor: SecondFactor, step: int) -> bool:
    """Record the step, atomically: False when another request used it (or a later) first."""
    result = db.session.execute(
        update(SecondFactor)
        .where(SecondFactor.id == factor.id,
               (SecondFactor.last_used_step.is_(None)) | (SecondFactor.last_used_step < step))
        .values(last_used_step=step)
        .execution_options(synchronize_session=False))
    db.session.refresh(factor)
    return bool(getattr(result, "rowcount", 0))


def _recovery_hash(code: str) -> str:
    return hashlib.sha256(_normalise_code(code).encode()).hexdigest()


def _new_recovery_code() -> str:
    raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(_RECOVERY_LENGTH))
    return f"{raw[:5]}-{raw[5:]}"


def confirm_enrolment(user: User, *, code: str, now: dt.datetime,
                      address: str | None = None) -> list[str] | None:
    """Switch the second factor on when `code` is from the unconfirmed secret; return the ten
    recovery codes (shown once). None: the code is wrong."""
    factor = get_second_factor(user)
    if factor is None or factor.is_confirmed:
        return None
    step = _matching_step(factor, _normalise_code(code), now)
    if step is None or not _use_step(factor, step):
        return None
    factor.confirmed_at = now
    codes = _replace_recovery_codes(user, now=now)
    _audit(action="auth.second_factor_enrol", category="security", now=now, actor=user,
           object_type="user", object_id=user.id, address=address)
    return codes


def _replace_recovery_codes(user: User, *, now: dt.datetime) -> list[str]:
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id)
                       .execution_options(synchronize_session=False))
    codes = [_new_recovery_code() for _ in range(RECOVERY_CODE_COUNT)]
    db.session.add_all(RecoveryCode(user_id=user.id, code_hash=_recovery_hash(code),
                                    created_at=now) for code in codes)
    db.session.flush()
    return codes


def recovery_codes_left(user: User) -> int:
    return len(list(db.session.scalars(select(RecoveryCode.id).where(
        RecoveryCode.user_id == user.id, RecoveryCode.used_at.is_(None)))))


def check_code(user: User, *, code: str, now: dt.datetime) -> str | None:
    """Whether `code` proves the second factor: "totp" or "recovery" (that recovery code is
    now used), or None. A TOTP code is used once only; so is a recovery code."""
    factor = get_second_factor(user)
    if factor is None or not factor.is_confirmed:
        return None
    typed = _normalise_code(code)
    if TOTP_CODE.match(typed):
        step = _matching_step(factor, typed, now)
        return "totp" if step is not None and _use_step(factor, step) else None
    if len(typed) != _RECOVERY_LENGTH:
        return None
    result = db.session.execute(
        update(RecoveryCode)
        .where(RecoveryCode.user_id == user.id, RecoveryCode.code_hash == _recovery_hash(typed),
               RecoveryCode.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False))
    return "recovery" if getattr(result, "rowcount", 0) else None


def reset_second_factor(*, user: User, actor: User, now: dt.datetime) -> bool:
    """An administrator removes a user's authenticator and recovery codes (they set up a new
    one at their next sign-in, or when they choose); their sessions end. Audited. Returns
    whether there was one."""
    factor = get_second_factor(user)
    had = factor is not None and factor.is_confirmed
    db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id)
                       .execution_options(synchronize_session=False))
    if factor is not None:
        db.session.delete(factor)
    guards.clear(guards.SECOND_FACTOR, guard_key(user))
    sessions.end_all(user, now=now, reason="second_factor_reset")
    _audit(action="user.second_factor_reset", category="security", now=now, actor=actor,
           object_type="user", object_id=user.id, details={"had_second_factor": had})
    return had


@dataclass(frozen=True)
class Resealed:
    """What `reseal_all` did: secrets sealed again under the current key, secrets already
    under it, and secrets no key opens (their users need a reset or a recovery code)."""

    resealed: int
    current: int
    unopened: int


def reseal_all(*, now: dt.datetime) -> Resealed:
    """Seal every kept secret under the current SECRET_KEY (after the key was changed, before
    the old one leaves SECRET_KEY_FALLBACKS), so that nobody depends on signing in meanwhile."""
    resealed = current = unopened = 0
    for factor in db.session.scalars(select(SecondFactor).order_by(SecondFactor.id)):
        try:
            secret, under_older_key = sealing.unseal(factor.secret)
        except sealing.SealBroken:
            unopened += 1
            continue
        if under_older_key:
            factor.secret = sealing.seal(secret)
            resealed += 1
        else:
            current += 1
    db.session.flush()
    _audit(action="auth.second_factors_resealed", category="security", now=now, actor=None,
           object_type="second_factor", object_id=None,
           details={"resealed": resealed, "current": current, "unopened": unopened})
    return Resealed(resealed, current, unopened)
