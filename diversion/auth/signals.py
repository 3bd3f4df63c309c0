"""What the auth feature tells the features built on it (blinker signals)."""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

account_event = _signals.signal("account-event", doc="""
Something happened to an account, a force or a token that the audit log must hold (sign-in,
sign-out, a failed or throttled sign-in, a password change, an account, force or token made or
changed). The sender is None; the keyword arguments are `diversion.audit.services.record`'s,
with `category` given as an audit category's value ("security" or "alteration"). The audit
feature records it in the caller's transaction.
""")
