"""Password hashing (Argon2id) and the password policy."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app, has_app_context

MIN_LENGTH = 12
MAX_LENGTH = 256

# The app's PASSWORD_HASH_PROFILE picks one (outside an app, "production"). "production" is
# argon2-cffi's default: Argon2id with RFC 9106's low-memory profile (3 passes over 64 MiB, 4
# lanes), about a third of a second a hash here. "test" is Argon2id at its smallest, for the test
# suite only, which hashes and checks thousands of passwords: auth.init_app refuses it in an app
# that is not TESTING.
PROFILES = {
    "production": PasswordHasher(),
    "test": PasswordHasher(time_cost=1, memory_cost=8, parallelism=1),
}


def _hasher() -> PasswordHasher:
    return PROFILES[_profile()]


def _profile() -> str:
    return str(current_app.config["PASSWORD_HASH_PROFILE"]) if has_app_context() else "production"


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
    return _hasher().hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher().verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """True when the hash was made with parameters other than today's."""
    return _hasher().check_needs_rehash(password_hash)


def burn_verification_time() -> None:
    """Spend as long as a real check, so unknown accounts cannot be told apart by timing."""
    verify_password(_dummy_hash(_profile()), "not the password")


@lru_cache(maxsize=len(PROFILES))
def _dummy_hash(profile: str) -> str:
    return PROFILES[profile].hash("dummy password for timing")


def check_profile(*, profile: object, testing: bool) -> None:
    """Refuse an unknown PASSWORD_HASH_PROFILE, and the test profile outside the test suite."""
    if profile not in PROFILES:
        raise RuntimeError(f"PASSWORD_HASH_PROFILE must be one of {sorted(PROFILES)}")
    if profile != "production" and not testing:
        raise RuntimeError("PASSWORD_HASH_PROFILE 'test' is for the test suite only (TESTING)")
