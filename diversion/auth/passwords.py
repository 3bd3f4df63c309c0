"""Password hashing (Argon2id) and the password policy."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 12
MAX_LENGTH = 256

_hasher = PasswordHasher()  # argon2-cffi's defaults are Argon2id with RFC 9106's low-memory profile


@lru_cache(maxsize=1)
def _common_passwords() -> frozenset[str]:
    text = resources.files("diversion.auth").joinpath("common_passwords.txt").read_text("utf-8")
    return frozenset(line.strip().lower() for line in text.splitlines() if line.strip())


def password_problem(password: str, *, email: str = "", name: str = "") -> str | None:
    """Why a new password cannot be used, or None. Length and commonness only, no composition rules."""
    if len(password) < MIN_LENGTH:
        return f"Password must be {MIN_LENGTH} characters or more"
    if len(password) > MAX_LENGTH:
        return f"Password must be {MAX_LENGTH} characters or fewer"
    lowered = password.lower()
    if lowered in _common_passwords() or len(set(lowered)) < 4:
        return "Password is too common. Choose a password that is harder to guess"
    if email and lowered == email.lower():
        return "Password must not be your email address"
    if email and email.split("@")[0].lower() in lowered and len(email.split("@")[0]) >= 5:
        return "Password must not contain your email address"
    if name and lowered.replace(" ", "") == name.lower().replace(" ", ""):
        return "Password must not be your name"
    return None


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """True when the hash was made with parameters other than today's."""
    return _hasher.check_needs_rehash(password_hash)


def burn_verification_time() -> None:
    """Spend as long as a real check, so unknown accounts cannot be told apart by timing."""
    verify_password(_dummy_hash(), "not the password")


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return _hasher.hash("dummy password for timing")
