"""Referral PINs: the person's key to their self-service page, kept only as an Argon2 hash."""

from __future__ import annotations

import re
import secrets

from diversion.auth.passwords import verify_password
from diversion.referrals.models import Referral

PIN_DIGITS = 6
NO_PIN = "!"  # not an Argon2 hash, so no PIN ever verifies against it


def new_pin() -> str:
    """Six random digits."""
    return f"{secrets.randbelow(10 ** PIN_DIGITS):0{PIN_DIGITS}d}"


def verify_pin(referral: Referral, pin: str) -> bool:
    """True when the PIN is the referral's current one, however he spaced it: spaces and
    hyphens (`123 456`, `123-456`, as people copy six digits from a letter) are dropped."""
    pin = re.sub(r"[\s-]+", "", pin or "")
    if referral.pin_hash == NO_PIN or not pin:
        return False
    return verify_password(referral.pin_hash, pin)

