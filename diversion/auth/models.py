"""Forces, users, API tokens, the refused attempts that throttle guessing (auth.throttle), the
sign-in guards (auth.guards) and password reset links."""

from __future__ import annotations

import datetime as dt
import enum

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from diversion.core.db import UTCDateTime, enum_column
from diversion.core.extensions import Model


class Role(enum.StrEnum):
    POLICE = "police"
    FACILITATOR = "facilitator"
    MANAGER = "manager"
    ADMIN = "admin"

    @property
    def label(self) -> str:
        return {
            Role.POLICE: "Police officer",
            Role.FACILITATOR: "Facilitator",
            Role.MANAGER: "Programme manager",
            Role.ADMIN: "Administrator",
        }[self]


class Force(Model):
    __tablename__ = "forces"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    # The domain its officers' email addresses end in (wyp.police.example); None: not known.
    email_domain: Mapped[str | None] = mapped_column(String(253))

    def __repr__(self) -> str:
        return f"<Force {self.code}>"


class User(Model):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("role <> 'police' OR force_id IS NOT NULL", name="police_have_a_force"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[Role] = mapped_column(enum_column(Role, "role"))
    force_id: Mapped[int | None] = mapped_column(ForeignKey("forces.id"), index=True)
    is_active_account: Mapped[bool] = mapped_column("active", Boolean, default=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    # Rotated whenever every session of the user ends (auth.sessions.end_all): a sign-in
    # waiting for its second factor holds it, and stops at once. Signed-in cookies never hold
    # it: they hold a UserSession's own identifier.
    session_token: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    password_changed_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    last_signed_in_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    force: Mapped[Force | None] = relationship(lazy="joined")

    # Flask-Login's protocol.
    @property
    def is_active(self) -> bool:
        return self.is_active_account

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_anonymous(self) -> bool:
        return False

    def get_id(self) -> str:
        # What Flask-Login puts in the cookie: the identifier of the sign-in being started
        # (auth.sessions.start), never anything of the user's own.
        key = getattr(self, "sign_in_key", None)
        if not isinstance(key, str):
            raise RuntimeError("sign in through auth.sessions.start, which makes the key")
        return key

    def __repr__(self) -> str:
        return f"<User {self.id} {self.role.value}>"


class ApiToken(Model):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    # Only a SHA-256 digest is kept; the token itself is shown once.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    last_used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    # None: the token works until it is revoked.
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship(lazy="joined")

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    def has_expired(self, now: dt.datetime) -> bool:
        return self.expires_at is not None and now >= self.expires_at


class RefusedAttempt(Model):
    """One refused attempt to get in: a staff sign-in (`kind` "sign_in") or the self-service
    page (`kind` "self_service"), or a certificate code that matched nothing (`kind`
    "certificate_verify"). Counted per key and per address, within its kind, in a sliding
    window (diversion.auth.throttle)."""

    __tablename__ = "refused_attempts"
    __table_args__ = (
        CheckConstraint("kind IN ('sign_in', 'self_service', 'certificate_verify')", name="kind"),
        Index("ix_refused_attempts_kind_key_at", "kind", "key", "at"),
        Index("ix_refused_attempts_kind_address_at", "kind", "address", "at"),
        Index("ix_refused_attempts_at", "at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    # A digest of what was typed (the normalised email, the normalised reference), so the table
    # holds no addresses or references in clear and unknown ones look like known ones.
    key: Mapped[str] = mapped_column(String(64))
    address: Mapped[str] = mapped_column(String(64))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class HeldForm(Model):
    """What a staff member posted after their sign-in had ended, kept until they sign in again
    in the same browser and send it (or discard it), for a short while (auth.held). The token is
    the only way to it: it lives in that browser's cookie, never in a URL or a log."""

    __tablename__ = "held_forms"
    __table_args__ = (
        CheckConstraint("method IN ('POST')", name="method"),
        Index("ix_held_forms_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # A digest of the random token in the cookie: the table alone cannot be used to resend.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # Who posted it, when that was known; only that user may resend it.
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"),
                                                index=True)
    path: Mapped[str] = mapped_column(String(2000))
    method: Mapped[str] = mapped_column(String(8))
    # The fields as a JSON list of [name, value] pairs, in the order posted (repeated names
    # kept); never the CSRF token, passwords or files.
    fields_json: Mapped[str] = mapped_column(Text)
    # Names of file fields that were posted and could not be kept (the person is told).
    dropped_files: Mapped[str] = mapped_column(String(1000), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class SignInGuard(Model):
    """The failures counted against one account, one known device, or one address, each a row
    updated by a single atomic statement (auth.guards), so that concurrent guesses in any
    number of workers cannot pass a limit.

    `scope` "account" and "device" (key: a digest of the email address as typed, or of a
    known-device cookie's random part) delay each attempt after the free failures
    progressively; "address" and "reset_address" (key: the client address) count failures, or
    password reset requests, in a window that starts at the first one."""

    __tablename__ = "sign_in_guards"
    __table_args__ = (
        CheckConstraint("scope IN ('account', 'device', 'address', 'reset_address', "
                        "'second_factor')", name="scope"),
        CheckConstraint("failures >= 0", name="failures_not_negative"),
        UniqueConstraint("scope", "key", name="uq_sign_in_guards_scope_key"),
        Index("ix_sign_in_guards_last_attempt_at", "last_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scope: Mapped[str] = mapped_column(String(16))
    key: Mapped[str] = mapped_column(String(64))
    failures: Mapped[int] = mapped_column(Integer, default=0)
    # The window's start ("address", "reset_address").
    window_started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    # No attempt is checked before this instant ("account", "device"); None: no delay.
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    last_attempt_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class PasswordResetToken(Model):
    """A link sent by email to set a new password: single use, valid for an hour. Only a
    SHA-256 digest of the random token is kept; the link itself is only in the email."""

    __tablename__ = "password_reset_tokens"
    __table_args__ = (Index("ix_password_reset_tokens_expires_at", "expires_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())

    user: Mapped[User] = relationship(lazy="joined")


class SecondFactor(Model):
    """A user's TOTP authenticator (RFC 6238; auth.second_factor). Made at enrolment with
    `confirmed_at` None; switched on when the user types a code from it. The secret is shown
    only until then. `last_used_step` is the time step of the last accepted code, so that no
    code (or an earlier one) is accepted twice."""

    __tablename__ = "second_factors"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), unique=True)
    # Base32, as authenticator apps take it, sealed (auth.sealing: a Fernet token).
    secret: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    confirmed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    last_used_step: Mapped[int | None] = mapped_column(Integer)

    @property
    def is_confirmed(self) -> bool:
        return self.confirmed_at is not None


class RecoveryCode(Model):
    """One of the ten single-use codes given at enrolment, for when the authenticator is lost.
    Only a SHA-256 digest is kept (the codes are 50 random bits, shown once)."""

    __tablename__ = "recovery_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())


class UserSession(Model):
    """One staff sign-in (auth.sessions): made only once every factor is proven, its random
    identifier kept in the cookie and here only as a SHA-256 digest. Its idle and absolute
    limits are read from this row, never from the cookie; ended rows stay (for "Your
    sessions" and the audit trail) until housekeeping deletes them."""

    __tablename__ = "user_sessions"
    __table_args__ = (
        Index("ix_user_sessions_user_id_ended_at", "user_id", "ended_at"),
        Index("ix_user_sessions_last_seen_at", "last_seen_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime())
    # sign_out, signed_out_elsewhere, idle, absolute, rotated, password_change, ... (sessions)
    end_reason: Mapped[str | None] = mapped_column(String(32))
    address: Mapped[str] = mapped_column(String(64))
    user_agent: Mapped[str] = mapped_column(String(200))

    user: Mapped[User] = relationship(lazy="joined")

    @property
    def is_ended(self) -> bool:
        return self.ended_at is not None
