"""A secret shown once, after a redirect: post/redirect/get for pages that make one.

A form that makes a secret (an API token, a calendar feed's address) answers with a redirect,
not with the secret: reloading the page that shows it must not make another. The secret waits
in the cookie for that one page, sealed (diversion.auth.sealing, under this purpose's own key:
the cookie is signed, not encrypted) and bound to the signed-in user; the page takes it out, so
a reload finds nothing and says the secret can no longer be shown. It lasts `LIFETIME` at most,
and a new sign-in (a fresh cookie) drops it.
"""

from __future__ import annotations

import datetime as dt

from flask import session

from diversion.auth import sealing
from diversion.auth.models import User
from diversion.core.timeutils import now_utc

HELD_KEY = "shown_once"
LIFETIME = dt.timedelta(minutes=10)


def hold(what: str, secret: str, *, user: User) -> None:
    """Keep `secret` for the next page that takes `what` for `user` (one at a time)."""
    session[HELD_KEY] = {"what": what, "user": user.id, "at": now_utc().isoformat(),
                         "sealed": sealing.seal(secret, purpose=sealing.SHOWN_ONCE)}


def take(what: str, *, user: User) -> str | None:
    """The secret held for `what` and `user`, gone from the cookie once taken; None when there
    is none (already shown, expired, another user's or another page's)."""
    held = session.get(HELD_KEY)
    if not isinstance(held, dict) or held.get("what") != what:
        return None
    session.pop(HELD_KEY, None)
    try:
        at = dt.datetime.fromisoformat(str(held.get("at")))
        secret = sealing.unseal(str(held.get("sealed")), purpose=sealing.SHOWN_ONCE)[0]
    except (ValueError, sealing.SealBroken):
        return None
    if held.get("user") != user.id or at.tzinfo is None or not (
            dt.timedelta(0) <= now_utc() - at <= LIFETIME):
        return None
    return secret
