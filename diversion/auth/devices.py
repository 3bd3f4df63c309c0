"""Known devices: a browser where someone has signed in with their password before.

At every successful sign-in the browser is given a long-lived cookie, signed with the app's key,
that names the user and a random device identifier. From a browser holding such a cookie for
the account being signed in to, the correct password is not delayed by failures from elsewhere
(strangers guessing at the account, or at anything from the same address): that browser's
attempts are counted against its own device identifier instead, with the same progressive
delay, so a stolen cookie buys no faster guessing. The cookie signs nobody in by itself, and a
cookie for another account counts for nothing. (Issue 16 asks that a sign-in that proved a
second factor not be blocked by strangers; until there is a second factor, this cookie is what
the real user has and a stranger has not.)
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

from flask import Request, current_app
from itsdangerous import BadSignature, URLSafeTimedSerializer
from werkzeug.wrappers import Response

from diversion.auth.models import User
from diversion.auth.throttle import key_digest

COOKIE_NAME = "diversion_known_device"
COOKIE_PATH = "/sign-in"
_SALT = "diversion.auth.known-device"


@dataclass(frozen=True)
class KnownDevice:
    user_id: int
    device_id: str

    @property
    def key(self) -> str:
        """What the device's failures are counted under (never the identifier itself)."""
        return key_digest(self.device_id)


def _lifetime() -> dt.timedelta:
    return dt.timedelta(days=current_app.config["KNOWN_DEVICE_LIFETIME_DAYS"])


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key or "", salt=_SALT)


def read_known_device(request: Request) -> KnownDevice | None:
    """The device this browser's cookie names, if the cookie is genuine and not too old."""
    value = request.cookies.get(COOKIE_NAME)
    if not value or len(value) > 512:
        return None
    try:
        data = _serializer().loads(value, max_age=int(_lifetime().total_seconds()))
    except BadSignature:
        return None
    if not isinstance(data, dict):
        return None
    user_id, device_id = data.get("user"), data.get("device")
    if (not isinstance(user_id, int) or isinstance(user_id, bool)
            or not isinstance(device_id, str) or not 16 <= len(device_id) <= 64):
        return None
    return KnownDevice(user_id=user_id, device_id=device_id)


def remember_device(response: Response, *, user: User, known: KnownDevice | None) -> None:
    """Give (or renew) this browser's cookie after a correct password; a cookie for another
    user is replaced by a new device."""
    device_id = (known.device_id if known is not None and known.user_id == user.id
                 else secrets.token_urlsafe(24))
    value = _serializer().dumps({"user": user.id, "device": device_id})
    response.set_cookie(COOKIE_NAME, value, max_age=int(_lifetime().total_seconds()),
                        path=COOKIE_PATH, httponly=True, samesite="Lax",
                        secure=bool(current_app.config.get("SESSION_COOKIE_SECURE")))
