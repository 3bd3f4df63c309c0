"""Asking for a password reset link: auth.resets makes it, the outbox sends it."""

from __future__ import annotations

import datetime as dt

from diversion.auth import resets
from diversion.outbox.models import Channel
from diversion.outbox.services import enqueue

# The outbox names the link by this kind; views.make_reset_link makes it when the email goes.
LINK_KIND = "password_reset_link"


def send_reset_link(*, email: str, address: str, now: dt.datetime,
                    rules: resets.ResetRules) -> None:
    """Email a link to the active account with this address, if there is one; the caller says
    the same either way. Raises auth.throttle.Throttled when the address has asked too often."""
    asked = resets.request_password_reset(email=email, address=address, now=now, rules=rules)
    if asked is None:
        return
    enqueue(dedupe_key=f"password_reset:{asked.link.id}", channel=Channel.EMAIL,
            recipient=asked.user.email, template="password_reset", due_at=now, now=now,
            context={"name": asked.user.name, "minutes": int(rules.lifetime.total_seconds()) // 60,
                     "secret": {"kind": LINK_KIND, "nonce": asked.nonce}},
            subject_type="user", subject_id=asked.user.id, expires_at=asked.link.expires_at)
