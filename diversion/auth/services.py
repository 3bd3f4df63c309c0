"""Accounts: creating, signing in, throttling, changing passwords, ending sessions."""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import re
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from diversion.auth import guards, sessions, throttle
from diversion.auth.devices import KnownDevice
from diversion.auth.models import ApiToken, Force, Role, SignInGuard, User, UserSession
from diversion.auth.passwords import (
    burn_verification_time,
    hash_password,
    needs_rehash,
    password_problem,
    verify_password,
)
from diversion.auth.signals import account_event
from diversion.core.errors import Conflict, DomainError, NotFound, ValidationFailed
from diversion.core.extensions import db
from diversion.core.parsing import has_control_characters

SIGN_IN_FAILED = "Enter a correct email address and password"


class SignInRefused(DomainError):
    status = 401
    title = "Sign-in refused"


def _audit(**event: Any) -> None:
    """Have the audit log record an account event (see diversion.auth.signals)."""
    account_event.send(None, **event)


def audit_account_event(**event: Any) -> None:
    """An account event for the audit log, from the views (auth.second_factor's sign-in step)."""
    _audit(**event)


def normalise_email(email: str) -> str:
    return email.strip().lower()


def account_key(email: str) -> str:
    return throttle.key_digest(normalise_email(email))


def new_session_token() -> str:
    return sessions.new_user_token()


def get_user_by_email(email: str) -> User | None:
    # No address holds a control character (and PostgreSQL cannot compare a NUL): nobody.
    if has_control_characters(email):
        return None
    return db.session.scalar(select(User).where(User.email == normalise_email(email)))


def get_user_by_session_token(token: str) -> User | None:
    return db.session.scalar(select(User).where(User.session_token == token))


def get_force_by_code(code: str) -> Force | None:
    if has_control_characters(code):
        return None
    return db.session.scalar(select(Force).where(Force.code == code.strip().upper()))


def list_forces() -> list[Force]:
    return list(db.session.scalars(select(Force).order_by(Force.name)))


DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


def _email_domain(text: str | None, errors: dict[str, str]) -> str | None:
    """A force's email domain, lower case without a leading @; None when blank."""
    domain = (text or "").strip().lower().lstrip("@")
    if not domain:
        return None
    if not DOMAIN.match(domain):
        errors["email_domain"] = "Enter a domain like wyp.police.example, without the part before @"
    return domain


def is_outside_force_domain(email: str, force: Force | None) -> bool:
    """True when the force's email domain is known and the address is not in it (or under it)."""
    if force is None or not force.email_domain:
        return False
    domain = email.rsplit("@", 1)[-1].strip().lower()
    return not (domain == force.email_domain or domain.endswith("." + force.email_domain))


def domain_warning(force: Force) -> str:
    return (f"This email address is not a {force.name} address (@{force.email_domain}). "
            "Check the address, or confirm you have checked it")


def _check_force_fields(*, code: str, name: str) -> dict[str, str]:
    errors: dict[str, str] = {}
    if not code or len(code) > 16 or not code.replace("-", "").isalnum():
        errors["code"] = "Enter a force code of up to 16 letters and numbers"
    if not name.strip():
        errors["name"] = "Enter the force's name"
    elif len(name) > 200 or has_control_characters(name):
        errors["name"] = "Enter the force's name on one line, in up to 200 characters"
    return errors


def force_problems(*, code: str, name: str, email_domain: str | None) -> dict[str, str]:
    """Every problem with a new force at once, by field, a taken code among them, so a page
    reports them all in one round."""
    code = code.strip().upper()
    errors = _check_force_fields(code=code, name=name)
    _email_domain(email_domain, errors)
    if "code" not in errors and get_force_by_code(code):
        errors["code"] = f"A force with code {code} already exists"
    return errors


def create_force(*, code: str, name: str, actor: User | None, now: dt.datetime,
                 email_domain: str | None = None) -> Force:
    """Add a police force; codes are unique and upper case."""
    code = code.strip().upper()
    errors = _check_force_fields(code=code, name=name)
    email_domain = _email_domain(email_domain, errors)
    if errors:
        raise ValidationFailed(errors)
    if get_force_by_code(code):
        raise Conflict(f"A force with code {code} already exists", field="code")
    force = Force(code=code, name=name.strip(), email_domain=email_domain)
    db.session.add(force)
    db.session.flush()
    _audit(action="force.create", category="alteration", now=now, actor=actor,
           object_type="force", object_id=force.id, details={"code": code})
    return force


def set_force_email_domain(*, force: Force, email_domain: str | None, actor: User | None,
                           now: dt.datetime) -> Force:
    """Set (or clear, with a blank) the domain the force's officers' addresses end in."""
    errors: dict[str, str] = {}
    domain = _email_domain(email_domain, errors)
    if errors:
        raise ValidationFailed(errors)
    if domain != force.email_domain:
        _audit(action="force.update", category="alteration", now=now, actor=actor,
               object_type="force", object_id=force.id,
               details={"email_domain": [force.email_domain, domain]})
        force.email_domain = domain
    return force


def _check_domain(email: str, role: Role, force: Force | None, domain_checked: bool | None,
                  errors: dict[str, str]) -> bool:
    """Whether a police address outside its force's domain was let through (confirmed); with
    `domain_checked` False such an address is refused until confirmed. None: not asked
    (scripts, demo data)."""
    if role is not Role.POLICE or force is None or not is_outside_force_domain(email, force):
        return False
    if domain_checked is False:
        errors["domain_checked"] = domain_warning(force)
    return bool(domain_checked)


def _check_account_fields(*, email: str, name: str, role: Role | None,
                          force: Force | None) -> dict[str, str]:
    errors = {}
    if ("@" not in email or len(email) > 254 or email.startswith("@") or email.endswith("@")
            or has_control_characters(email) or " " in email.strip()):
        errors["email"] = "Enter an email address in the correct format, like name@example.com"
    if not name.strip():
        errors["name"] = "Enter the person's full name"
    elif len(name) > 200 or has_control_characters(name):
        errors["name"] = "Enter the person's full name on one line, in up to 200 characters"
    if role is None:
        errors["role"] = "Select a role"
    elif role is Role.POLICE and force is None:
        errors["force"] = "Select the police force this officer belongs to"
    return errors


def account_problems(*, email: str, name: str, role: Role | None, force: Force | None,
                     domain_checked: bool | None, password: str | None = None,
                     user: User | None = None) -> dict[str, str]:
    """Every problem with an account's details at once, by field (`user`: the account being
    changed; `password`: None when not asked), so a page reports them all in one round."""
    email = normalise_email(email)
    errors = _check_account_fields(email=email, name=name, role=role, force=force)
    if role is not None:
        _check_domain(email, role, force, domain_checked, errors)
    if password is not None and (problem := password_problem(password, email=email, name=name)):
        errors["password"] = problem
    other = get_user_by_email(email) if "email" not in errors else None
    if other is not None and (user is None or other.id != user.id):
        errors["email"] = "An account with this email address already exists"
    return errors


def create_user(*, email: str, name: str, role: Role, password: str, force: Force | None,
                actor: User | None, now: dt.datetime, domain_checked: bool | None = None,
                password_hash: str | None = None) -> User:
    """Add an account. Police users belong to a force; other roles to none. An officer's
    address outside the force's email domain needs `domain_checked` (when it is not None).
    `password_hash`: `hash_password(password)` made already, for callers that create several
    accounts with one password (`demo load`: one Argon2 hash instead of one per account)."""
    email = normalise_email(email)
    errors = _check_account_fields(email=email, name=name, role=role, force=force)
    outside = _check_domain(email, role, force, domain_checked, errors)
    problem = password_problem(password, email=email, name=name)
    if problem:
        errors["password"] = problem
    if errors:
        raise ValidationFailed(errors)
    if get_user_by_email(email):
        raise ValidationFailed({"email": "An account with this email address already exists"})
    user = User(
        email=email,
        name=name.strip(),
        role=role,
        force=force if role is Role.POLICE else None,
        is_active_account=True,
        password_hash=password_hash or hash_password(password),
        session_token=new_session_token(),
        created_at=now,
        password_changed_at=now,
    )
    db.session.add(user)
    db.session.flush()
    _audit(action="user.create", category="alteration", now=now, actor=actor,
           object_type="user", object_id=user.id,
           details={"role": role.value, **({"email_domain_checked": True} if outside else {})})
    return user


def update_user(*, user: User, email: str, name: str, role: Role, force: Force | None,
                actor: User, now: dt.datetime, domain_checked: bool | None = None) -> User:
    """Change an account's details; a change of role or force ends its sessions. An officer's
    address outside the force's email domain needs `domain_checked` (when it is not None)."""
    email = normalise_email(email)
    errors = _check_account_fields(email=email, name=name, role=role, force=force)
    outside = _check_domain(email, role, force, domain_checked, errors)
    other = get_user_by_email(email)
    if other is not None and other.id != user.id:
        errors["email"] = "An account with this email address already exists"
    if errors:
        raise ValidationFailed(errors)
    new_force = force if role is Role.POLICE else None
    changed = sorted(
        field
        for field, old, new in (
            ("email", user.email, email),
            ("name", user.name, name.strip()),
            ("role", user.role, role),
            ("force", user.force_id, new_force.id if new_force else None),
        )
        if old != new
    )
    if user.id == actor.id and role is not Role.ADMIN:
        raise ValidationFailed({"role": "You cannot remove your own administrator role"})
    user.email, user.name, user.role, user.force = email, name.strip(), role, new_force
    if {"role", "force"} & set(changed):
        sessions.end_all(user, now=now, reason="privilege_change")
    _audit(action="user.update", category="alteration", now=now, actor=actor,
           object_type="user", object_id=user.id,
           details={"changed": changed, **({"email_domain_checked": True} if outside else {})})
    return user


def set_active(*, user: User, active: bool, actor: User, now: dt.datetime) -> None:
    """Deactivate (ending every session and API token use) or reactivate an account."""
    if user.id == actor.id and not active:
        raise ValidationFailed({"active": "You cannot deactivate your own account"})
    user.is_active_account = active
    sessions.end_all(user, now=now, reason="deactivated")
    _audit(action="user.activate" if active else "user.deactivate",
           category="alteration", now=now, actor=actor,
           object_type="user", object_id=user.id)


def reset_password(*, user: User, new_password: str, actor: User, now: dt.datetime) -> None:
    """An administrator sets a new password for someone; their sessions end."""
    problem = password_problem(new_password, email=user.email, name=user.name)
    if problem:
        raise ValidationFailed({"password": problem})
    user.password_hash = hash_password(new_password)
    user.password_changed_at = now
    sessions.end_all(user, now=now, reason="password_reset")
    _audit(action="user.password_reset", category="security", now=now, actor=actor,
           object_type="user", object_id=user.id)


def change_own_password(*, user: User, current_password: str, new_password: str,
                        now: dt.datetime, address: str | None = None) -> None:
    """A user changes their own password; every session of theirs ends, this one is renewed."""
    if not verify_password(user.password_hash, current_password):
        raise ValidationFailed({"current_password": "Your current password is not correct"})
    problem = password_problem(new_password, email=user.email, name=user.name)
    if problem:
        raise ValidationFailed({"new_password": problem})
    user.password_hash = hash_password(new_password)
    user.password_changed_at = now
    sessions.end_all(user, now=now, reason="password_change")
    _audit(action="auth.password_change", category="security", now=now, actor=user,
           object_type="user", object_id=user.id, address=address)


@dataclass(frozen=True)
class SignInLimits:
    """The sign-in guards' settings (core.config): the delay per account and per known device,
    and the failures one address may have in a window."""

    delay: guards.DelayRule
    max_per_address: int
    address_window: dt.timedelta


def _wait_words(wait: dt.timedelta) -> str:
    seconds = max(1, math.ceil(wait.total_seconds()))
    if seconds < 60:
        return f"{seconds} second{'' if seconds == 1 else 's'}"
    minutes = math.ceil(seconds / 60)
    return f"{minutes} minute{'' if minutes == 1 else 's'}"


def sign_in_delayed_message(wait: dt.timedelta) -> str:
    return (f"You have tried to sign in too many times. Wait {_wait_words(wait)}, "
            "then try again")


def address_limited_message(wait: dt.timedelta) -> str:
    return ("There have been too many failed sign-ins from your network. Wait "
            f"{_wait_words(wait)}, then try again")


def _refuse_throttled(message: str, *, address: str, now: dt.datetime,
                      user: User | None) -> throttle.Throttled:
    _audit(action="auth.sign_in_throttled", category="security", now=now,
           actor_label="anonymous", address=address,
           object_type="user" if user else None, object_id=user.id if user else None)
    return throttle.Throttled(message)


def authenticate(*, email: str, password: str, address: str, now: dt.datetime,
                 limits: SignInLimits, known_device: KnownDevice | None = None) -> User:
    """Check a sign-in. The message is the same whether or not the account exists.

    Each attempt is claimed from the sign-in guards before the password is looked at
    (diversion.auth.guards): from an unknown browser, from the address's failures in the
    window and then the account's progressive delay; from a browser known to be this user's
    (auth.devices), from that device's own delay only, so strangers' failures never delay it.
    An attempt that finds no room is refused (Throttled, 429) without checking the password.
    """
    user = get_user_by_email(email)
    trusted = known_device is not None and user is not None and known_device.user_id == user.id
    if trusted:
        assert known_device is not None
        scope, key = guards.DEVICE, known_device.key
    else:
        # The address first, then the account: every worker takes the two rows in one order.
        address_wait = guards.claim_counted(guards.ADDRESS, address, now=now,
                                            window=limits.address_window,
                                            limit=limits.max_per_address)
        if address_wait is not None:
            raise _refuse_throttled(address_limited_message(address_wait - now),
                                    address=address, now=now, user=user)
        scope, key = guards.ACCOUNT, account_key(email)
    next_attempt_at = guards.claim_delayed(scope, key, now=now, rule=limits.delay)
    if next_attempt_at is not None:
        if not trusted:
            guards.give_back(guards.ADDRESS, address)  # not a failure: nothing was checked
        raise _refuse_throttled(sign_in_delayed_message(next_attempt_at - now),
                                address=address, now=now, user=user)
    if user is None:
        burn_verification_time()
        is_valid = False
    else:
        is_valid = verify_password(user.password_hash, password) and user.is_active_account
    if not is_valid:
        # The claims stand: this was a failure.
        _audit(action="auth.sign_in_failed", category="security", now=now,
               actor_label="anonymous", address=address,
               object_type="user" if user else None, object_id=user.id if user else None,
               details={"known_device": True} if trusted else None)
        raise SignInRefused(SIGN_IN_FAILED)
    assert user is not None
    guards.clear(scope, key)
    if not trusted:
        guards.give_back(guards.ADDRESS, address)
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.last_signed_in_at = now
    _audit(action="auth.sign_in", category="security", now=now, actor=user,
           object_type="user", object_id=user.id, address=address)
    return user


def get_sign_in_delay(user: User, *, now: dt.datetime) -> SignInGuard | None:
    """The guard delaying sign-ins to this account from unknown browsers, if any."""
    guard = guards.get_guard(guards.ACCOUNT, account_key(user.email))
    if guard is None or guard.next_attempt_at is None or guard.next_attempt_at <= now:
        return None
    return guard


def list_delayed_users(users: list[User], *, now: dt.datetime) -> set[int]:
    """Which of these accounts have sign-ins from unknown browsers delayed now."""
    keys = {account_key(user.email): user.id for user in users}
    return {keys[key] for key in guards.list_delayed(guards.ACCOUNT, list(keys), now=now)}


def unlock_sign_in(*, user: User, actor: User, now: dt.datetime) -> int:
    """An administrator forgets the failures counted against an account, so its next sign-in
    is checked at once; audited. Returns how many failures were forgotten."""
    failures = guards.clear(guards.ACCOUNT, account_key(user.email))
    _audit(action="user.sign_in_unlock", category="security", now=now, actor=actor,
           object_type="user", object_id=user.id, details={"failures": failures})
    return failures


def sign_out(*, user: User, sign_in: UserSession | None, now: dt.datetime,
             address: str | None = None, reason: str = "sign_out",
             everywhere: bool = False) -> None:
    """End this browser's sign-in, or with `everywhere` every sign-in of the user."""
    if everywhere:
        sessions.end_all(user, now=now, reason=reason)
    elif sign_in is not None:
        sessions.end(sign_in, now=now, reason=reason)
    _audit(action=f"auth.{reason}", category="security", now=now, actor=user,
           object_type="user", object_id=user.id, address=address)


# API tokens ---------------------------------------------------------------------------------

TOKEN_PREFIX = "dvn_"  # noqa: S105 (a public prefix, not a secret)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# How long a token may be given to live, in days (the form offers a few of these).
MAX_TOKEN_DAYS = 3 * 365


def create_api_token(*, user: User, actor: User | None, now: dt.datetime,
                     expires_in_days: int | None = None) -> tuple[ApiToken, str]:
    """Issue a token for a user, working until revoked or, given a number of days, until then.
    The clear token is returned once and never stored."""
    if not user.is_active_account:
        raise Conflict("This account is deactivated; reactivate it before issuing a token")
    if expires_in_days is not None and not 1 <= expires_in_days <= MAX_TOKEN_DAYS:
        raise ValidationFailed({"expires": f"A token can last from 1 to {MAX_TOKEN_DAYS} days"})
    clear = TOKEN_PREFIX + secrets.token_urlsafe(32)
    expires_at = None if expires_in_days is None else now + dt.timedelta(days=expires_in_days)
    token = ApiToken(user=user, token_hash=hash_token(clear), prefix=clear[:10], created_at=now,
                     expires_at=expires_at)
    db.session.add(token)
    db.session.flush()
    _audit(action="token.create", category="security", now=now, actor=actor,
           object_type="api_token", object_id=token.id,
           details={"user_id": user.id, "expires_in_days": expires_in_days})
    return token, clear


def get_api_token(token_id: int) -> ApiToken:
    token = db.session.get(ApiToken, token_id)
    if token is None:
        raise NotFound("No such token")
    return token


def list_api_tokens() -> list[ApiToken]:
    return list(db.session.scalars(select(ApiToken).order_by(ApiToken.created_at.desc())))


def revoke_api_token(*, token: ApiToken, actor: User, now: dt.datetime) -> None:
    if token.revoked_at is None:
        token.revoked_at = now
        _audit(action="token.revoke", category="security", now=now, actor=actor,
               object_type="api_token", object_id=token.id)


def user_for_api_token(clear: str, *, now: dt.datetime) -> User | None:
    """The active user a bearer token belongs to, or None."""
    if not clear.startswith(TOKEN_PREFIX):
        return None
    token = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(clear)))
    if (token is None or token.is_revoked or token.has_expired(now)
            or not token.user.is_active_account):
        return None
    # Touch at most once a minute so read-heavy clients do not write on every call.
    if token.last_used_at is None or now - token.last_used_at > dt.timedelta(minutes=1):
        token.last_used_at = now
    return token.user
