"""Authenticator secrets sealed at rest (DESIGN.md "Second factor").

A TOTP secret is as good as the authenticator itself, so the database keeps it sealed: Fernet
(AES-128-CBC with an HMAC-SHA256 tag, from `cryptography`) under a key derived from SECRET_KEY
by HKDF-SHA256 with this purpose's own label, so a copy of the database alone (a backup, an
export) gives nobody a user's codes, and the key is not the one that signs cookies.

When SECRET_KEY is changed, the previous keys go in SECRET_KEY_FALLBACKS: a secret sealed under
one of them still opens, and is sealed again under the current key when it is next used.
"""

from __future__ import annotations

import base64
import functools
from collections.abc import Sequence
from typing import TYPE_CHECKING

from flask import current_app

if TYPE_CHECKING:
    from cryptography.fernet import Fernet

PURPOSE = b"diversion: authenticator secrets at rest, v1"
# A secret held in the cookie between a form's post and the page that shows it once
# (diversion.auth.shown_once): its own key, so a sealed cookie value is no stored secret's.
SHOWN_ONCE = b"diversion: a secret held for one display, v1"


class SealBroken(Exception):
    """No key (SECRET_KEY or one of SECRET_KEY_FALLBACKS) opens the stored secret."""


@functools.lru_cache(maxsize=8)
def _fernet(secret_key: str, purpose: bytes = PURPOSE) -> Fernet:
    # Imported when a second factor is used, not at start-up (issue 17), as pyotp is.
    from cryptography.fernet import Fernet  # noqa: PLC0415
    from cryptography.hazmat.primitives import hashes  # noqa: PLC0415
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF  # noqa: PLC0415

    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(
        secret_key.encode())
    return Fernet(base64.urlsafe_b64encode(key))


def _secret_keys() -> tuple[str, Sequence[str]]:
    config = current_app.config
    return config["SECRET_KEY"], config.get("SECRET_KEY_FALLBACKS") or ()


def seal(secret: str, *, secret_key: str | None = None, purpose: bytes = PURPOSE) -> str:
    """`secret` sealed under the current key (or `secret_key`'s, for a migration)."""
    key = secret_key if secret_key is not None else _secret_keys()[0]
    return _fernet(key, purpose).encrypt(secret.encode()).decode("ascii")


def unseal(stored: str, *, secret_keys: Sequence[str] | None = None,
           purpose: bytes = PURPOSE) -> tuple[str, bool]:
    """The secret, and whether it was sealed under an older key (so should be sealed again).
    SealBroken when no key opens it."""
    if secret_keys is None:
        current, fallbacks = _secret_keys()
        secret_keys = (current, *fallbacks)
    from cryptography.fernet import InvalidToken  # noqa: PLC0415  (lazy: see _fernet)

    token = stored.encode("ascii", "replace")
    for position, key in enumerate(secret_keys):
        try:
            return _fernet(key, purpose).decrypt(token).decode(), position > 0
        except InvalidToken:
            continue
    raise SealBroken


__all__ = ["SHOWN_ONCE", "SealBroken", "seal", "unseal"]
